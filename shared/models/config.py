"""Shop configuration: one validated YAML document per shop (shop settings, channels, journeys).

Keys may be written in the clear (``demo-write-key``) or already hashed (``sha256:<hex>``); nudge only ever stores
the hash, so a config repository does not have to hold live keys either.
"""

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.models.channels import (
    EmailSettings,
    HttpsUrl,
    InAppSettings,
    PushSettings,
    SmsSettings,
    WhatsAppSettings,
)
from shared.models.content import TemplateSettings
from shared.models.journeys import MAX_HOLDOUT, Journey, Journeys
from shared.models.segments import Segment as SegmentRule
from shared.models.segments import SegmentName
from shared.models.vocabulary import CHANNELS as CHANNELS
from shared.models.vocabulary import KEY_HASH_PREFIX as KEY_HASH_PREFIX
from shared.models.vocabulary import Channel as Channel
from shared.models.vocabulary import KeyKind as KeyKind
from shared.models.vocabulary import OfferCode as OfferCode
from shared.models.vocabulary import PoolName as PoolName
from shared.models.vocabulary import TimeZoneName as TimeZoneName
from shared.models.vocabulary import hash_key as hash_key


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive ISO 8601 duration such as PT1H or P3D")
    return value


Duration = Annotated[timedelta, AfterValidator(_positive)]
ApiKey = Annotated[str, Field(min_length=8, max_length=200)]


def _origin(value: str) -> str:
    # Browsers send Origin as scheme://host[:port], lower-case, without a path; a config may add a trailing slash.
    origin = value.strip().rstrip("/").lower()
    if origin != "*" and not re.fullmatch(r"https?://[a-z0-9.\-\[\]:]+", origin):
        raise ValueError("must be '*' or an origin such as https://shop.example or http://127.0.0.1:8000 (no path)")
    return origin


Origin = Annotated[str, Field(max_length=300), AfterValidator(_origin)]


class _Strict(BaseModel):
    # A typo in a config key is an error, never silently ignored.
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class ShopSettings(_Strict):
    """Who the shop is and how it is reached."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="lower-case letters, digits and '-'")
    name: str = Field(min_length=1, max_length=200)
    retention: Duration | None = Field(
        default=None,
        description="customers inactive this long (an ISO 8601 duration such as P3Y) are erased by the daily sweep",
    )
    write_keys: list[ApiKey] = Field(min_length=1, description="public keys the shop's tracking clients send")
    secret_keys: list[ApiKey] = Field(min_length=1, description="private keys for the support read API")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    default_locale: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    timezone: TimeZoneName = "UTC"
    country: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166 alpha-2: the occasions and public holidays of customers whose traits name no country",
    )
    url: str | None = Field(
        default=None,
        pattern=r"^https://\S+$",
        max_length=2000,
        description="the storefront's base URL; messages link back to the cart and products from it",
    )

    free_shipping_threshold: float | None = Field(
        default=None, gt=0, description="orders from this amount (the shop's currency) ship free; none: no such offer"
    )
    allowed_origins: list[Origin] = Field(
        default_factory=list,
        description="web origins (scheme://host[:port]) whose pages may send events from the browser; '*' for any",
    )

    @field_validator("write_keys", "secret_keys")
    @classmethod
    def _store_hashed(cls, keys: list[str]) -> list[str]:
        hashed = [key if key.startswith(KEY_HASH_PREFIX) else hash_key(key) for key in keys]
        if len(set(hashed)) != len(hashed):
            raise ValueError("keys must be unique")
        return hashed


class ChannelSettings(_Strict):
    """Channel policy: the order in which permitted channels are tried, and each channel's provider settings."""

    preference: list[Channel] = Field(default_factory=lambda: list(CHANNELS), min_length=1)
    push: PushSettings | None = None
    email: EmailSettings | None = None
    sms: SmsSettings | None = None
    whatsapp: WhatsAppSettings | None = None
    in_app: InAppSettings | None = None

    @field_validator("preference")
    @classmethod
    def _unique(cls, preference: list[Channel]) -> list[Channel]:
        if len(set(preference)) != len(preference):
            raise ValueError("each channel may appear once")
        return preference

    def configured(self, channel: Channel) -> bool:
        """Whether the router can send on ``channel``: its provider settings are given (the inbox needs none)."""
        return channel == "in_app" or getattr(self, channel) is not None

    def double_opt_in(self, channel: Channel) -> timedelta | None:
        """How long a grant on ``channel`` waits for its confirmation, if the shop asks for one there (e-mail, SMS)."""
        settings = self._confirmable(channel)
        return settings.confirm_within if settings is not None and settings.double_opt_in else None

    def confirmations_per_hour(self, channel: Channel) -> int | None:
        """How many double opt-in confirmations ``channel`` may carry an hour (None: the channel asks for none)."""
        settings = self._confirmable(channel)
        return settings.confirmations_per_hour if settings is not None else None

    def _confirmable(self, channel: Channel) -> EmailSettings | SmsSettings | None:
        """The settings of ``channel`` if it is one that double opt-in can ask a confirmation on."""
        return self.email if channel == "email" else self.sms if channel == "sms" else None


TopicName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
LocaleName = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]


class Topic(_Strict):
    """A kind of message customers can switch on and off in the preference centre (e.g. newsletter, offers,
    product alerts): journeys and campaigns name theirs as ``topic``. Its label and description per language."""

    label: dict[LocaleName, Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        min_length=1, description="language (en, de) -> what the preference centre calls it"
    )
    description: dict[LocaleName, Annotated[str, Field(max_length=300)]] = Field(default_factory=dict)

    def text(self, locale: str, fallback: str) -> tuple[str, str]:
        """The label and description in ``locale``, else in ``fallback``, else in any language the shop gave."""
        label = self.label.get(locale) or self.label.get(fallback) or next(iter(self.label.values()))
        return label, self.description.get(locale) or self.description.get(fallback) or ""


class FrequencyCap(_Strict):
    """At most ``max`` marketing messages to one customer in any window of length ``per`` (on ``channel`` only, when
    given; else on every channel together)."""

    per: Duration = Field(description="the window, an ISO 8601 duration such as P1D or P7D")
    max: int = Field(description="messages allowed in any such window, at least 1")
    channel: Channel | None = Field(default=None, description="count only this channel's messages")

    @field_validator("max")
    @classmethod
    def _satisfiable(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1: a cap of 0 could never be met and would drop every message")
        if value > 10_000:
            raise ValueError("must be at most 10000")
        return value


class QuietHours(_Strict):
    """A span of the customer's local day when no marketing message goes out (``start`` to ``end``, across midnight
    when ``end`` is earlier): a message due then is deferred to ``end``."""

    start: time = Field(description="local time the quiet hours begin, e.g. '21:00'")
    end: time = Field(description="local time they end, e.g. '08:00'")

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("start and end must differ (an empty or whole-day span is not quiet hours)")
        return self

    def covers(self, local: time) -> bool:
        """Whether ``local`` (the customer's wall-clock time) falls in the quiet hours."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


# The channels quiet hours apply to when the shop gives them once for all: those that reach the customer's device.
# The in-app inbox is read when the customer opens the app, so it is quiet only where the shop says so per channel.
QUIET_CHANNELS: tuple[Channel, ...] = ("push", "email", "sms", "whatsapp")


class ContactPolicy(_Strict):
    """How often and when marketing messages may reach one customer, across all journeys (EX3). Transactional
    messages are exempt. A message that hits a cap or quiet hours is deferred to the first moment it is allowed;
    it is dropped, with the reason on record, if that is later than ``max_deferral`` after it was due or a message of
    higher ``priority`` takes the slot."""

    caps: list[FrequencyCap] = Field(default_factory=list, max_length=10)
    quiet_hours: QuietHours | None = Field(default=None, description="for every channel that reaches a device")
    channel_quiet_hours: dict[Channel, QuietHours | None] = Field(
        default_factory=dict, description="per channel, over quiet_hours; null: none on that channel"
    )
    max_deferral: Duration = Field(
        default=timedelta(days=2), description="how long a deferred message may wait before it is dropped"
    )
    best_hour: int = Field(
        default=10,
        ge=0,
        le=23,
        description="send_time best: the local hour for customers with too little activity to learn theirs from",
    )

    def quiet_hours_for(self, channel: Channel) -> QuietHours | None:
        """The quiet hours of ``channel``: its own if the shop gave them, else the shop's default for devices."""
        if channel in self.channel_quiet_hours:
            return self.channel_quiet_hours[channel]
        return self.quiet_hours if channel in QUIET_CHANNELS else None

    def caps_for(self, channel: Channel) -> list[FrequencyCap]:
        """The caps a message on ``channel`` counts against."""
        return [cap for cap in self.caps if cap.channel in (None, channel)]

    @property
    def longest_cap(self) -> timedelta:
        return max((cap.per for cap in self.caps), default=timedelta(0))


class OfferSource(_Strict):
    """Where the codes of one offer (named by its ``prefix`` in the journey step) come from: one ``static`` code the
    shop's checkout already honours; a ``pool`` of codes the shop uploaded, each handed out once; or codes nudge makes
    and registers with the shop's ``webhook`` first. An offer the shop does not list gets codes nudge makes (prefix +
    10 characters), which ``GET /v1/offers/{code}`` confirms."""

    static: OfferCode | None = None
    pool: PoolName | None = None
    webhook: HttpsUrl | None = Field(
        default=None,
        description="nudge makes the code and registers it here (signed POST) before the message carrying it goes out",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if sum(source is not None for source in (self.static, self.pool, self.webhook)) != 1:
            raise ValueError(
                "give exactly one of static (a code), pool (the name of an uploaded pool) or webhook (an https URL)"
            )
        return self


Segment = Literal["new_visitor", "new_customer", "repeat", "loyal", "at_risk"]


class DecisionOffer(_Strict):
    """What a tier offers: a percentage off and/or free shipping, with one ``static`` code or codes nudge makes
    (``prefix`` + 10 characters, valid ``valid_for`` from when it is first shown)."""

    percent: int | None = Field(default=None, ge=1, le=100)
    free_shipping: bool = False
    static: OfferCode | None = None
    prefix: str = Field(default="", pattern=r"^[A-Z0-9]{0,12}$")
    valid_for: Duration = timedelta(days=2)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.percent is None and not self.free_shipping:
            raise ValueError("give percent, free_shipping: true, or both")
        return self


class DecisionTier(_Strict):
    """Customers of these ``segments`` get ``offer`` (null: no offer; e.g. loyal customers who buy at full price)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    segments: list[Segment] = Field(min_length=1)
    offer: DecisionOffer | None = None


class CatalogSettings(_Strict):
    """What the catalogue's journeys go by (J7 back in stock, price drop): how long a customer waits for a product,
    how fast a restock or a price drop may reach customers, what counts as a price drop and as a recent view."""

    wait_expiry: Duration = Field(
        default=timedelta(days=90),
        description="a wait (notify me, or a wishlist or cart add while out of stock) lapses after this long",
    )
    restock_rate: int = Field(
        default=50,
        ge=1,
        le=3000,
        description="customers per second a restock or a price drop tells at most (the providers' limits)",
    )
    price_drop_percent: int = Field(
        default=10, ge=1, le=90, description="a price drop counts when the price a customer pays falls this much"
    )
    viewed_within: Duration = Field(
        default=timedelta(days=14), description="a product viewed this recently counts as wanted (price drop)"
    )
    low_stock: int = Field(
        default=5, ge=0, le=1000, description="a message says 'only N left' from this many units in stock down"
    )


class OfferDecisions(_Strict):
    """``POST /v1/offers/decide`` (J13, IN6): which offer a customer on an exit-intent, cart or checkout page sees
    now. The first tier whose segments include the customer's wins; at most one offer per customer per
    ``once_per`` (asking again in that time shows the same one). Segments come from the customer's orders:
    ``new_visitor`` (none), ``new_customer`` (one), ``repeat`` (fewer than ``loyal_orders``), ``loyal`` (at least
    ``loyal_orders``), ``at_risk`` (ordered, but not within ``at_risk_after``)."""

    tiers: list[DecisionTier] = Field(min_length=1, max_length=20)
    once_per: Duration = timedelta(days=7)
    loyal_orders: int = Field(default=4, ge=2, le=1000)
    at_risk_after: Duration = timedelta(days=90)


# Engagement points per event (IN1): ``visit`` is a page or screen view that starts a visit (30 minutes after the
# last activity); every other key is a track event's name. A shop's ``insights.engagement.points`` adds to these and
# may set any of them to 0.
DEFAULT_ENGAGEMENT_POINTS: dict[str, float] = {
    "visit": 1,
    "Application Opened": 1,
    "Product Viewed": 1,
    "Product Added": 2,
    "Product Added to Wishlist": 2,
    "Checkout Started": 3,
    "Order Completed": 5,
    "Email Opened": 1,
    "Email Link Clicked": 3,
    "Push Notification Tapped": 3,
}


class EngagementSettings(_Strict):
    """The engagement score: each event's points, each point worth half as much per ``half_life`` that passes."""

    half_life: Duration = Field(default=timedelta(days=30), description="an ISO 8601 duration such as P30D")
    points: dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[float, Field(ge=0, le=100)]] = Field(
        default_factory=dict, description="event name (or visit) -> points, over the defaults"
    )

    def points_for(self, name: str) -> float:
        return self.points.get(name, DEFAULT_ENGAGEMENT_POINTS.get(name, 0.0))


class LifecycleSettings(_Strict):
    """Where a customer stands (IN2): prospect, new, repeat, loyal, at risk, lapsed. Left out, ``at_risk_after`` and
    ``lapsed_after`` come from the shop's own purchase intervals (``shared/core/insights.py``)."""

    loyal_orders: int = Field(default=4, ge=2, le=1000, description="orders from which a customer is loyal")
    at_risk_after: Duration | None = Field(default=None, description="no order for this long: at risk")
    lapsed_after: Duration | None = Field(default=None, description="no order for this long: lapsed")

    @model_validator(mode="after")
    def _lapsed_after_at_risk(self) -> Self:
        if self.at_risk_after and self.lapsed_after and self.lapsed_after <= self.at_risk_after:
            raise ValueError(
                f"lapsed_after ({self.lapsed_after}) must be longer than at_risk_after ({self.at_risk_after})"
            )
        return self


DEFAULT_UTM: dict[str, str] = {
    "utm_source": "nudge",
    "utm_medium": "{channel}",
    "utm_campaign": "{journey}",
    "utm_content": "{template}",
}
UTM_FIELDS = ("channel", "journey", "step", "template")


def _utm_values(utm: dict[str, str]) -> dict[str, str]:
    for name, value in utm.items():
        try:
            value.format(**dict.fromkeys(UTM_FIELDS, ""))
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                f"tracking.utm.{name}: {value!r} may name only {{{'}, {'.join(UTM_FIELDS)}}}, not {error}"
            ) from None
    return utm


class TrackingSettings(_Strict):
    """How nudge sees engagement (EX2): ``clicks`` routes every web link of an e-mail, SMS or WhatsApp message through
    the signed redirect ``/c/{token}`` (which records the click), adding the ``utm`` parameters a link does not have
    already (``{channel}``, ``{journey}``, ``{step}``, ``{template}`` are filled in; ``utm: {}`` adds none)."""

    clicks: bool = True
    utm: Annotated[
        dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")], Annotated[str, Field(max_length=100)]],
        AfterValidator(_utm_values),
    ] = Field(default_factory=lambda: dict(DEFAULT_UTM))


class AttributionWindows(_Strict):
    """How long after a click, and after an open (a read, a tapped push), an order is credited to the message."""

    click: Duration | None = None
    open: Duration | None = None


class AttributionSettings(_Strict):
    """Which message an order is credited to (EX2), at most one: the message whose offer code is the order's coupon,
    else the last one clicked within ``click`` before the order, else the last one opened within ``open``
    (Klaviyo's defaults: 5 days, 1 day). ``channels`` sets other windows per channel (``sms: {click: P1D}``).
    ``journey`` is the window of the journeys' own conversions, treated and held out alike (the uplift)."""

    click: Duration = timedelta(days=5)
    open: Duration = timedelta(days=1)
    channels: dict[Channel, AttributionWindows] = Field(default_factory=dict)
    journey: Duration = Field(
        default=timedelta(days=7),
        description="an order this long after entering a journey converts it, in the customer's group (the uplift)",
    )

    def windows(self, channel: Channel) -> tuple[timedelta, timedelta]:
        """The click and the open window of ``channel``."""
        own = self.channels.get(channel)
        return (
            own.click if own is not None and own.click is not None else self.click,
            own.open if own is not None and own.open is not None else self.open,
        )


class InsightsSettings(_Strict):
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    engagement: EngagementSettings = Field(default_factory=EngagementSettings)


# What the router needs under ``channels:`` to send on a channel, for messages that say what is missing.
PROVIDER_SETTINGS: dict[Channel, str] = {
    "push": "channels.push.platform_applications (an SNS platform application ARN per platform)",
    "email": "channels.email.from_address (a verified SES identity)",
    "sms": "channels.sms.origination_identity (an End User Messaging SMS phone number, pool or sender id)",
    "whatsapp": "channels.whatsapp.phone_number_id (an End User Messaging Social WhatsApp number)",
    "in_app": "nothing",
}


class ShopConfig(_Strict):
    """The whole per-shop configuration document."""

    shop: ShopSettings
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    journeys: Journeys = Field(default_factory=dict, description="journey name -> journey (presets applied)")
    templates: TemplateSettings = Field(default_factory=TemplateSettings)
    contact_policy: ContactPolicy = Field(default_factory=ContactPolicy)
    offer_decisions: OfferDecisions | None = None
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    insights: InsightsSettings = Field(default_factory=InsightsSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    attribution: AttributionSettings = Field(default_factory=AttributionSettings)
    global_holdout: int = Field(
        default=0, ge=0, le=MAX_HOLDOUT, description="percent of customers who get no marketing at all (EX1)"
    )
    paused: frozenset[str] = Field(
        default=frozenset(),
        exclude=True,
        description="journeys an operator paused (`nudge journey pause`): stored beside the config, not in it",
    )
    topics: dict[TopicName, Topic] = Field(
        default_factory=dict, max_length=20, description="the topics customers switch on and off (preference centre)"
    )
    segments: dict[SegmentName, SegmentRule] = Field(default_factory=dict, description="segment name -> its rule")
    offers: dict[Annotated[str, Field(pattern=r"^[A-Z0-9]{0,12}$")], OfferSource] = Field(
        default_factory=dict, description="offer prefix (a step's offer.prefix) -> where its codes come from"
    )

    def static_offer(self, code: str) -> tuple[str, OfferSource] | None:
        """The offer whose static code is ``code``: (prefix, source), or None."""
        return next(((prefix, source) for prefix, source in self.offers.items() if source.static == code), None)

    @model_validator(mode="after")
    def _best_time_within_deferral(self) -> Self:
        longest = self.contact_policy.max_deferral
        for name, journey in self.journeys.items():
            for index, step in enumerate(journey.steps):
                if step.send_time == "best" and step.within > longest:
                    raise ValueError(
                        f"journeys.{name}.steps[{index}].within ({step.within}) is longer than"
                        f" contact_policy.max_deferral ({longest}): the message would be dropped before its best time"
                    )
        return self

    @model_validator(mode="after")
    def _segments_refer_to_what_exists(self) -> Self:
        for name, segment in self.segments.items():
            for rule in segment.walk():
                if rule.segment is not None and rule.segment not in self.segments:
                    raise ValueError(f"segments.{name}: no segment {rule.segment!r} in this config")
                if rule.journey is not None and rule.journey.name not in self.journeys:
                    raise ValueError(f"segments.{name}: no journey {rule.journey.name!r} in this config")
        for name in self.segments:
            self._no_cycle(name, ())
        for name, journey in self.journeys.items():
            if journey.entry.segment is not None and journey.entry.segment not in self.segments:
                known = sorted(self.segments)
                raise ValueError(f"journeys.{name}.entry.segment: no segment {journey.entry.segment!r}; one of {known}")
        return self

    @model_validator(mode="after")
    def _topics_exist(self) -> Self:
        for name, journey in self.journeys.items():
            if journey.topic is not None and journey.topic not in self.topics:
                known = sorted(self.topics)
                raise ValueError(f"journeys.{name}.topic: no topic {journey.topic!r} under topics; one of {known}")
        return self

    def topic_of(self, journey: str) -> str | None:
        """The topic of ``journey``'s messages (None: none, or not a journey of this config)."""
        found = self.journeys.get(journey)
        return found.topic if found is not None else None

    def _no_cycle(self, name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"segments.{path[0]}: refers to itself ({' -> '.join((*path, name))})")
        for rule in self.segments[name].walk():
            if rule.segment is not None:
                self._no_cycle(rule.segment, (*path, name))

    def journeys_triggered_by(self, event: str) -> list[str]:
        """The enabled journeys a track ``event`` starts (e.g. a restock's ``Back In Stock``)."""
        return [
            name
            for name, journey in self.journeys.items()
            if journey.enabled and any(trigger.event == event for trigger in journey.trigger)
        ]

    def dated_journeys(self) -> dict[str, Journey]:
        """The enabled journeys a date or occasion starts (the daily date sweep's: none, no sweep)."""
        return {name: journey for name, journey in self.journeys.items() if journey.enabled and journey.dated}

    def priority_of(self, journey: str) -> int:
        """The priority of messages of ``journey`` when they compete for a capped slot (higher wins; 0 if unknown)."""
        found = self.journeys.get(journey)
        return found.priority if found is not None else 0

    def channel_warnings(self) -> list[str]:
        """Every channel the shop prefers (or a journey step names) that it cannot send on, with its path and the
        missing setting: each message routed there would be suppressed as ``channel_not_configured``."""
        named: list[tuple[str, Channel]] = [
            (f"channels.preference[{index}]", channel) for index, channel in enumerate(self.channels.preference)
        ]
        for name, journey in self.journeys.items():
            for step_index, step in enumerate(journey.steps):
                for index, channel in enumerate(step.channels or ()):
                    named.append((f"journeys.{name}.steps[{step_index}].channels[{index}]", channel))
        return [
            f"{path}: {channel} has no provider settings, so nothing is ever sent on it (suppressed as "
            f"channel_not_configured); set {PROVIDER_SETTINGS[channel]}"
            for path, channel in named
            if not self.channels.configured(channel)
        ]

    @classmethod
    def from_yaml(cls, text: str) -> Self:
        """Parse and validate a YAML document (raises pydantic.ValidationError or yaml.YAMLError)."""
        from shared.yaml_text import load_yaml  # only configs read from YAML need PyYAML: not on a handler's import

        document: Any = load_yaml(text)
        return cls.model_validate(document)

    @classmethod
    def from_yaml_file(cls, path: str | Path) -> Self:
        """Parse and validate the YAML file at ``path``."""
        return cls.from_yaml(Path(path).read_text(encoding="utf-8"))
