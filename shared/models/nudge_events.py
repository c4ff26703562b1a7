"""The events nudge itself puts on a customer's queue: a timer come due, delivery feedback; and the ids every queued
event shares (its customer, its FIFO group, its deduplication id).

Apart from the shops' Segment events (``shared.models.events``, which re-exports all of this), so that what makes
or sends only these (the channel router, the feedback and public functions) does not load the Segment schema.
"""

import hashlib
import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models.messages import OutboxMessage
from shared.models.vocabulary import Channel

# SQS allows 128 characters of [A-Za-z0-9] and ASCII punctuation in group and deduplication ids.
_SAFE_GROUP = re.compile(r"^[\x21-\x7e]{1,100}$")


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def customer_key(user_id: str | None, anonymous_id: str | None) -> str:
    """The customer a message is about: the known user if named, else the anonymous visitor."""
    if user_id:
        return f"u:{user_id}"
    if anonymous_id:
        return f"a:{anonymous_id}"
    raise ValueError("a message names userId or anonymousId")


def group_id(shop_id: str, key: str) -> str:
    """The FIFO message group of one customer of one shop (hashed when the id is not SQS-safe)."""
    candidate = f"{shop_id}#{key}"
    if _SAFE_GROUP.match(candidate):
        return candidate
    return f"{shop_id}#h:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def deduplication_id(shop_id: str, message_id: str) -> str:
    """The FIFO deduplication id of a shop's message: the same messageId from the same shop is one message."""
    return hashlib.sha256(f"{shop_id}\n{message_id}".encode()).hexdigest()


class TimerEvent(BaseModel):
    """A timer came due: Step Functions puts this back into the customer's FIFO group (architecture §3).

    The timer carries no decision: at wake-up the core guards the step (did they order? is the cart still there?).
    ``timer_id`` is deterministic (journey instance + step + arm count) and names this one wake-up: its FIFO
    deduplication id comes from it. Several wake-ups of one instance whose times are known up front ride one
    execution, named by ``execution`` (the first wake-up's ``timer_id``); a wake-up without it is an execution of
    its own, named by its ``timer_id``. ``cause`` rides along for the logs and traces only: neither the ids nor the
    execution name depend on it.
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: Literal["timer"] = "timer"
    shop_id: str
    customer: str
    journey: str
    instance: str = Field(description="journey instance id, e.g. cart_abandonment:web-1:3")
    step: int = Field(ge=0)
    timer_id: str
    due_at: datetime
    received_at: datetime | None = Field(default=None, description="stamped by the updater when it reads the event")
    message: OutboxMessage | None = Field(
        default=None, description="a deferred message (quiet hours): at wake-up it goes back on the outbox"
    )
    execution: str | None = Field(
        default=None, description="the execution that carries this wake-up with others (None: its own, timer_id)"
    )
    cause: str | None = Field(
        default=None,
        description="the id of the event that armed it (kept from wake-up to wake-up): the correlation id of the "
        "wake-up's logs and traces and of what it sends (docs/OPERATIONS.md)",
    )

    @property
    def message_id(self) -> str:
        return f"timer:{self.timer_id}"

    @property
    def execution_name(self) -> str:
        """The Step Functions execution this wake-up belongs to."""
        return self.execution or self.timer_id

    @property
    def occurred_at(self) -> datetime:
        return as_utc(self.due_at)

    @property
    def group(self) -> str:
        return group_id(self.shop_id, self.customer)


FeedbackReason = Literal[
    "hard_bounce",  # email: the address does not exist
    "complaint",  # email: marked as spam
    "sms_opt_out",  # SMS: STOP (or another opt-out keyword)
    "push_endpoint_disabled",  # push: the token is dead (app uninstalled)
    "unsubscribe_link",  # email: List-Unsubscribe one-click or the unsubscribe page
    "invalid_address",  # SMS / WhatsApp: the provider says the number cannot receive
    "push_endpoint_registered",  # push: the router registered an SNS endpoint for the token (endpoint_arn)
    "whatsapp_inbound",  # WhatsApp: the customer wrote to the shop (opens the 24 h window)
    "consent_confirmed",  # double opt-in: the customer confirmed a pending grant (confirms) on its signed link
    "preferences_changed",  # the customer saved the preference centre (preferences), source preference_centre
]
CONFIRM_JOURNEY = "consent:confirm"  # the double opt-in confirmation message's journey (no shop journey has a colon)
CONFIRM_TEMPLATE = "confirm_subscription"  # its message kind


class PreferenceChange(BaseModel):
    """What the customer saved in the preference centre: each channel and topic they switched on or off (only those
    the page showed), and a pause of all marketing (``pause_until``) or its end (``resume``)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    channels: dict[Channel, bool] = Field(default_factory=dict)
    topics: dict[str, bool] = Field(default_factory=dict, max_length=20)
    pause_until: datetime | None = None
    resume: bool = False


class FeedbackEvent(BaseModel):
    """Delivery feedback from a provider or the customer, applied in the customer's FIFO group like any event."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: Literal["feedback"] = "feedback"
    shop_id: str
    customer: str
    channel: Channel
    reason: FeedbackReason
    address: str | None = Field(default=None, description="the address it concerns (email, phone, push token)")
    endpoint_arn: str | None = Field(default=None, description="push: the SNS platform endpoint of the token")
    source: str = Field(description="where it came from, e.g. ses-notification, sms-inbound, unsubscribe-link")
    feedback_id: str = Field(description="provider's id of the notification: the dedupe key")
    occurred_at: datetime
    received_at: datetime
    confirms: str | None = Field(default=None, description="consent_confirmed: the pending grant's message_id")
    preferences: PreferenceChange | None = Field(default=None, description="preferences_changed: what changed")

    @property
    def message_id(self) -> str:
        return f"feedback:{self.feedback_id}"

    @property
    def group(self) -> str:
        return group_id(self.shop_id, self.customer)


# What the customer did with a message nudge sent. ``delivered``: the provider handed it over (SES Delivery);
# ``received``: the app got the push; ``opened``: an e-mail's pixel loaded (SES Open); ``tapped``: a push opened;
# ``read``: an in-app message marked read; ``clicked``: a tracked link followed (``/c/{token}``, or SES Click).
EngagementAction = Literal["delivered", "received", "opened", "tapped", "read", "clicked"]
OPENS: frozenset[EngagementAction] = frozenset({"opened", "tapped", "read"})  # attribution's shorter window
PUSH_MESSAGE_ID = "nudge_message_id"  # in a push's data, and in the app's Push Notification Tapped / Received


class EngagementEvent(BaseModel):
    """The customer engaged with a message nudge sent (``message``, its send-ledger id), applied in their FIFO group:
    the ledger record and the customer's recent touches learn it, and a later order may be credited to it."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: Literal["engagement"] = "engagement"
    shop_id: str
    customer: str = Field(description="the customer the message went to (its send-ledger key)")
    message: str = Field(min_length=1, max_length=200, description="the message's id in the send ledger")
    channel: Channel
    action: EngagementAction
    url: str | None = Field(default=None, max_length=2048, description="clicked: the link's target")
    source: str = Field(description="where it came from: click-redirect, ses-event, inbox, app")
    engagement_id: str = Field(min_length=1, max_length=200, description="the dedupe key")
    occurred_at: datetime
    received_at: datetime

    @property
    def message_id(self) -> str:
        return f"engagement:{self.engagement_id}"

    @property
    def group(self) -> str:
        return group_id(self.shop_id, self.customer)
