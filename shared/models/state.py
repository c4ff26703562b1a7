"""A customer's state: profile, consent ledger, carts, browsing, orders, activity.

One item per customer, kept small on purpose (a DynamoDB write is billed per started KB): lists are bounded,
only what journeys, segments and support need is kept. Consent history is append-only and never trimmed.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from shared.models.nudge_events import EngagementAction
from shared.models.vocabulary import Channel

MAX_VIEWED = 20
MAX_WISHLIST = 50
MAX_WAITS = 20  # products a customer asked to hear about when they are back in stock
MAX_PRODUCTS_BOUGHT = 50
MAX_RECENT_ORDERS = 10
MAX_PUSH_TOKENS = 5
MAX_TRAITS = 64
MAX_EVENT_NAMES = 64
MAX_ANONYMOUS_IDS = 20
MAX_ORDER_CATEGORIES = 5
# Dedupe window for messageIds: Segment promises ~24 h; a little more covers slow redeliveries.
DEDUPE_WINDOW_SECONDS = 26 * 3600
# Journeys: bounded, so a busy customer's item stays small.
MAX_ACTIVE_JOURNEYS = 12
MAX_ACTIVE_PER_JOURNEY = 3
MAX_JOURNEY_HISTORY = 5  # entries per journey: enough for re-entry rules and repeated order reports
MAX_JOURNEY_LOG = 30
MAX_LOG_REASON = 120
MAX_MERGE_REFUSALS = 10
MAX_CAMPAIGNS = 20  # campaigns remembered per customer, the latest
CAMPAIGN_CONVERSION_WINDOW_DAYS = 5  # an order this soon after a campaign reached the customer converts it
MAX_TOUCHES = 20  # the latest engagements with nudge's messages, for attribution and the timeline
MAX_RECENT_EVENTS = 10  # the latest events by name, for the support timeline
MAX_EVENT_LABEL = 64
# The cart of cart events without a cart_id (shops with one cart per customer), and the key of such instances.
DEFAULT_CART = "default"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Journey times are whole seconds, written as epoch seconds (10 bytes instead of a 22-byte ISO string).
Epoch = Annotated[datetime, PlainSerializer(_epoch, return_type=int, when_used="json")]
JourneyOutcome = Literal[
    "entered",
    "not_entered",
    "step_due",
    "held_out",  # the step was due, and the customer is in the control group: it would have been sent now
    "skipped",
    "exited",
    "completed",
    "rearmed",
    "parked",
    "ignored",
]


class _State(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")


class _Compact(_State):
    # Short aliases in the stored JSON (journey records are many and written often), full names in code.
    model_config = ConfigDict(
        defer_build=True, extra="forbid", serialize_by_alias=True, validate_by_name=True, validate_by_alias=True
    )


ConsentStatus = Literal["granted", "withdrawn", "pending"]


class ConsentRecord(_State):
    """One consent decision (GDPR Art. 7): who, which channel, granted or withdrawn, when, how, under which notice.

    With double opt-in (``channels.email.double_opt_in``, or ``channels.sms``) a grant is first ``pending``: never in
    force, it waits (until ``expires_at``) for the button behind its confirmation link. The confirmation is a
    ``granted`` record of its own that ``confirms`` the pending one and says how (``confirmed_via``) and when it was
    asked (``requested_at``).
    """

    channel: Channel
    status: ConsentStatus
    source: str
    notice_version: str
    evidence: str | None = None
    at: datetime = Field(description="when the customer decided (event time)")
    recorded_at: datetime = Field(description="when nudge received it")
    message_id: str
    expires_at: datetime | None = Field(default=None, description="pending: unconfirmed by then, it lapses")
    confirms: str | None = Field(default=None, description="a confirmation: the pending record's message_id")
    confirmed_via: str | None = Field(default=None, description="a confirmation: how, e.g. confirm-link")
    requested_at: datetime | None = Field(default=None, description="a confirmation: when the grant was asked for")


class CartItem(_State):
    product_id: str
    name: str | None = None
    price: float | None = None
    quantity: int = 1
    image_url: str | None = None
    url: str | None = None


class Cart(_State):
    items: list[CartItem] = Field(default_factory=list)
    updated_at: datetime
    checkout_started_at: datetime | None = None

    @property
    def value(self) -> float:
        return sum((item.price or 0.0) * item.quantity for item in self.items)


class ProductRef(NamedTuple):
    """A product the customer viewed or wishlisted, with what a message needs to show it.

    Stored as a JSON row ``[product_id, at, name, price, category, image_url, url]`` (rows written before 2026-12
    are objects with these keys; they load the same): twenty recent views are most of a customer's record, and a
    row is about a third shorter than an object with keys, and quicker to read and write.
    """

    product_id: str
    at: datetime
    name: str | None = None
    price: float | None = None
    category: str | None = None
    image_url: str | None = None
    url: str | None = None

    def view(self) -> dict[str, Any]:
        """Readable JSON for people (the customers API): an object with keys and ISO time, unlike the stored row."""
        return {**self._asdict(), "at": _iso(self.at)}


CreditRule = Literal["coupon", "click", "open"]


class Credit(_State):
    """The message an order is credited to (EX2), and by which rule: its offer code was the order's coupon, or the
    customer clicked it (or opened it) within the shop's attribution window before ordering."""

    message: str = Field(description="the credited message's id in the send ledger")
    recipient: str = Field(description="the customer the message went to (its ledger key; a coupon may be passed on)")
    rule: CreditRule
    channel: Channel | None = None
    touched_at: datetime | None = Field(default=None, description="the click or open it was credited for")


class OrderRef(_State):
    order_id: str
    amount: float
    at: datetime
    status: Literal["completed", "refunded", "cancelled"] = "completed"
    categories: list[str] = Field(default_factory=list, description="the order's product categories (bounded)")
    credit: Credit | None = Field(default=None, description="the message the order is credited to, if any")


class Orders(_State):
    count: int = 0
    revenue: float = 0.0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    recent: list[OrderRef] = Field(default_factory=list)
    products_bought: list[str] = Field(default_factory=list)
    categories_bought: list[str] = Field(default_factory=list)


class Engagement(_Compact):
    """The customer's engagement points, valued at ``at``: each event adds its weight, and every point loses half its
    value per half-life (``shared/core/insights.py``). Read at another moment, the points decay to it; nothing is
    stored per event and no timer runs."""

    points: float = Field(default=0.0, alias="p")
    at: Epoch = Field(alias="a")


class PushToken(_State):
    token: str
    platform: str | None = None
    updated_at: datetime
    endpoint_arn: str | None = Field(default=None, description="the SNS platform endpoint, cached on first use")


class AppState(_State):
    installed_at: datetime | None = None
    last_opened_at: datetime | None = None
    uninstalled_at: datetime | None = None


class JourneyInstance(_Compact):
    """One customer's run through one journey (for one key): where it is and the one timer it waits on."""

    journey: str = Field(alias="j")
    seq: int = Field(alias="i", description="unique per customer: the n-th instance entered")
    key: str | None = Field(default=None, alias="k", description="the keying property's value, e.g. the cart_id")
    entered_at: Epoch = Field(alias="e")
    ref_at: Epoch = Field(alias="r", description="the first step's wait runs from here (moved by lazy re-arm)")
    step: int = Field(default=0, alias="s", description="index of the next step")
    due_at: Epoch | None = Field(default=None, alias="d", description="when the pending timer fires")
    timer_id: str | None = Field(default=None, alias="t", description="the wake-up the instance waits on next")
    arms: int = Field(default=0, alias="n", description="timer executions started for this instance so far")
    execution: str | None = Field(
        default=None, alias="x", description="the execution carrying that wake-up (None: named like the wake-up)"
    )
    planned: list[tuple[int, Epoch]] = Field(
        default_factory=list,
        alias="p",
        description="(step, due) of that execution's later wake-ups, in order: they need no execution of their own",
    )
    held: bool = Field(
        default=False, alias="h", description="triggered, but enters only once a channel reaches the customer"
    )

    @property
    def id(self) -> str:
        """``journey:key:seq`` (``journey:seq`` without a key): names the instance in timers, logs and messages."""
        return f"{self.journey}:{self.key}:{self.seq}" if self.key is not None else f"{self.journey}:{self.seq}"

    def view(self) -> dict[str, Any]:
        """Readable JSON for people (APIs, simulate): full names and ISO times, unlike the stored form."""
        return {
            "instance": self.id,
            "journey": self.journey,
            "key": self.key,
            "entered_at": _iso(self.entered_at),
            "reference_at": _iso(self.ref_at),
            "next_step": self.step,
            "due_at": _iso(self.due_at) if self.due_at else None,
            "timer_id": self.timer_id,
            "execution": self.execution or self.timer_id,
            "planned": [{"step": step, "due_at": _iso(due)} for step, due in self.planned],
            "arms": self.arms,
            "held": self.held,
        }


class Touch(NamedTuple):
    """One engagement with a message nudge sent: stored as a JSON row ``[at, message, channel, action, recipient]``."""

    at: int  # epoch seconds
    message: str  # the message's id in the send ledger
    channel: Channel
    action: EngagementAction
    recipient: str  # the customer the message went to (its ledger key: a merged visitor's differs from this one's)

    def view(self) -> dict[str, Any]:
        return {
            "at": _iso(datetime.fromtimestamp(self.at, UTC)),
            "message_id": self.message,
            "channel": self.channel,
            "action": self.action,
        }


class EventMark(NamedTuple):
    """One event the customer's state took in, for the timeline: stored as a JSON row ``[at, label]``."""

    at: int  # epoch seconds of the event's time
    label: Annotated[str, Field(max_length=MAX_EVENT_LABEL)]  # the track event's name, or identify, page, screen...


class JourneyOutcomes(_Compact):
    """When the customer last completed a journey, and last ordered while in it (a conversion), for segments; and
    for the reports, when the latest entry's first step was due (sent or held out) and whether an order after it was
    counted already (once per entry)."""

    completed_at: Epoch | None = Field(default=None, alias="c")
    converted_at: Epoch | None = Field(default=None, alias="v")
    reached_at: Epoch | None = Field(default=None, alias="r", description="the latest entry's first step was due")
    counted_reach: Epoch | None = Field(default=None, alias="u", description="the reach whose order was counted")


class CampaignMarks(_Compact):
    """A campaign that reached the customer (its message decided) and, if they ordered within
    ``CAMPAIGN_CONVERSION_WINDOW`` after, when: what segments read."""

    entered_at: Epoch = Field(alias="e")
    converted_at: Epoch | None = Field(default=None, alias="v")
    held_out: bool = Field(default=False, alias="h", description="in the campaign's control group: sent nothing")


class JourneyLogEntry(NamedTuple):
    """Why a customer entered, did not enter, got a step, skipped one or left: what support and simulate read.

    Stored as a JSON row ``[at, journey, outcome, seq, step, reason]`` (rows written before 2026-12 drop trailing
    empties; they load the same): the log is the largest journey field, and a row is about half the bytes of an
    object with keys. A named tuple, not a model: pydantic reads a row into it natively, where a model would need
    a Python validator per entry (which was a third of the time to load a customer with a full log).
    """

    # When, in epoch seconds: an int from the start, as a datetime it would take a Python call per entry to write.
    at: int
    journey: str
    outcome: JourneyOutcome
    seq: int | None = None  # the instance (None: none was entered)
    step: int | None = None
    reason: Annotated[str, Field(max_length=MAX_LOG_REASON)] = ""

    def view(self) -> dict[str, Any]:
        """Readable JSON for people (the messages API, simulate): an object with ISO time, unlike the stored row."""
        return {
            "at": _iso(datetime.fromtimestamp(self.at, UTC)),
            "journey": self.journey,
            "outcome": self.outcome,
            "instance": self.seq,
            "step": self.step,
            "reason": self.reason,
        }


MergeRefusalReason = Literal["known_customer_needs_secret_key"]


class MergeRefusal(_State):
    """An alias or identify that asked to merge another known customer into this one, and was refused.

    Kept on the customer the event was about (the other customer's record stays untouched), for support to see.
    """

    at: datetime = Field(description="when nudge received the event")
    other: str = Field(description="the customer record it named, e.g. u:<userId>")
    reason: MergeRefusalReason
    message_id: str


OFFER_SHOWN = "Offer Shown"  # the track event that records a ShownOffer (from the secret authority only)


class ShownOffer(_State):
    """An offer the real-time decision showed the customer (``POST /v1/offers/decide``); an ``Offer Shown`` event's
    properties are these fields but ``at``."""

    at: datetime
    code: str | None = None
    tier: str
    percent: int | None = None
    free_shipping: bool = False
    expires_at: datetime | None = None


class ProductWait(_State):
    """The customer asked to hear when ``product_id`` is back in stock ("notify me"), at ``since``."""

    product_id: str
    since: datetime


class CustomerState(_State):
    """Everything nudge knows about one customer of one shop."""

    user_id: str | None = None
    anonymous_ids: list[str] = Field(default_factory=list)
    traits: dict[str, Any] = Field(default_factory=dict)
    locale: str | None = None
    timezone: str | None = None
    push_tokens: list[PushToken] = Field(default_factory=list)
    app: AppState = Field(default_factory=AppState)
    consents: list[ConsentRecord] = Field(default_factory=list)
    carts: dict[str, Cart] = Field(default_factory=dict)
    viewed: list[ProductRef] = Field(default_factory=list)
    wishlist: list[ProductRef] = Field(default_factory=list)
    waits: list[ProductWait] = Field(default_factory=list, description="back-in-stock requests, oldest first")
    orders: Orders = Field(default_factory=Orders)
    newsletter_subscribed_at: datetime | None = None
    first_seen_at: datetime | None = None
    last_activity_at: datetime | None = None
    activity_by_hour: list[int] = Field(default_factory=lambda: [0] * 24)
    event_counts: dict[str, int] = Field(default_factory=dict)
    events_applied: int = 0
    engagement: Engagement | None = Field(default=None, description="decaying points for visits, views, orders, ...")
    seen: dict[str, int] = Field(default_factory=dict, description="recent messageId digests -> epoch received")
    undeliverable: dict[Channel, list[str]] = Field(
        default_factory=dict, description="addresses/tokens that bounced, died or are invalid (bounded per channel)"
    )
    offers_shown: list[ShownOffer] = Field(default_factory=list, description="the latest few, oldest first")
    whatsapp_inbound_at: datetime | None = Field(
        default=None, description="when the customer last wrote on WhatsApp (opens the 24 h window)"
    )
    touches: list[Touch] = Field(default_factory=list, description="the latest engagements with messages, oldest first")
    recent_events: list[EventMark] = Field(default_factory=list, description="the latest events, oldest first")
    journeys: list[JourneyInstance] = Field(default_factory=list, description="active journey instances")
    journey_history: dict[str, list[tuple[str, Epoch]]] = Field(
        default_factory=dict, description="journey -> recent entries as (key, entered_at), for re-entry rules"
    )
    journey_log: list[JourneyLogEntry] = Field(default_factory=list, description="the last journey decisions")
    campaigns: dict[str, CampaignMarks] = Field(
        default_factory=dict,
        description=f"campaign id -> when it reached them and they converted (last {MAX_CAMPAIGNS})",
    )
    journey_outcomes: dict[str, JourneyOutcomes] = Field(
        default_factory=dict, description="journey -> when last completed and last converted in (segments read it)"
    )
    journey_seq: int = Field(default=0, description="instances entered so far (numbers the next one)")
    merge_refusals: list[MergeRefusal] = Field(
        default_factory=list, description="merges of another known customer this customer's events asked for, refused"
    )
    topics_off: list[str] = Field(
        default_factory=list, description="the shop's topics the customer switched off (the preference centre)"
    )
    paused_until: datetime | None = Field(
        default=None, description="the customer paused all marketing until then (the preference centre)"
    )

    def consent(self, channel: Channel) -> ConsentRecord | None:
        """The decision in force for ``channel``: the latest by event time (history may arrive out of order). A
        pending grant is never in force: until confirmed, the decision before it stands."""
        latest: ConsentRecord | None = None
        for record in self.consents:
            if record.channel == channel and record.status != "pending" and (latest is None or record.at >= latest.at):
                latest = record
        return latest

    def pending(self, channel: Channel, now: datetime) -> ConsentRecord | None:
        """The grant on ``channel`` that waits for its confirmation at ``now``: the latest pending one, newer than
        the decision in force and not expired; None if there is none."""
        in_force = self.consent(channel)
        found: ConsentRecord | None = None
        for record in self.consents:
            if (
                record.channel == channel
                and record.status == "pending"
                and (in_force is None or record.at > in_force.at)
                and (record.expires_at is None or record.expires_at > now)
                and (found is None or record.at >= found.at)
            ):
                found = record
        return found

    def paused(self, now: datetime) -> bool:
        """Whether the customer paused all marketing at ``now``."""
        return self.paused_until is not None and self.paused_until > now

    def has_consent(self, channel: Channel) -> bool:
        record = self.consent(channel)
        return record is not None and record.status == "granted"
