"""Journeys as data: what starts one, what keys an instance, who may enter, the steps, what ends one.

A journey lives under ``journeys:`` in a shop's configuration document. The decision core
(``shared.core.journeys``) runs every journey the same way; handlers and the core's dispatch never branch on a
journey's name. A journey named after a preset (``cart_abandonment``, ``welcome``, ``post_purchase``,
``repeat_purchase``, ``reactivation``), or one that says ``preset: <name>``, starts from that preset
(``shared/journeys/presets.yaml``) and overrides what it gives: top-level keys replace the preset's, and inside
``entry`` and ``exit`` single keys replace the preset's. So the short form keeps meaning "J1 with a 1 h reminder"::

    journeys:
      cart_abandonment:
        steps: [{wait: PT1H, template: cart_reminder}]

and a full journey reads::

    journeys:
      cart_abandonment_vip:
        preset: cart_abandonment        # a second variant under another name
        trigger: {event: Product Added, where: {currency: EUR}}
        key: cart_id                    # one instance per cart (no key: one per customer)
        restart_on_trigger: true        # another cart change restarts the wait (lazily: no new timer)
        entry:
          reentry_after: PT0S           # null: once ever (per key)
          only_if: [cart_not_empty]
          segment: dach_buyers          # only customers in this segment of the shop (segments:) enter
          max_trigger_age: P1D          # older triggers (backfills) start nothing; null: any age
        steps:
          - {wait: PT30M, template: cart_reminder}
          - {wait: P1D, template: cart_offer, offer: {percent: 10, valid_for: P2D, prefix: CART}}
        exit:
          events: [{event: Order Completed}]   # matching the instance's key; an event without the key matches all
          conditions: [cart_empty]
        guard: [cart_not_empty, no_order_since_entry]   # checked when a step comes due; failing ends the instance

``wait`` runs from the previous step's due time; the first step's from the trigger (for an ``inactive_for``
trigger: from the moment the customer has been inactive that long). ``PT0S`` means "at the same time": two steps
with opposite conditions and the second waiting ``PT0S`` are a branch.

This module imports nothing from the rest of ``shared.models`` (``config`` imports it), so the channel names are
repeated here (a unit test keeps them equal to ``shared.models.config.CHANNELS``).
"""

import string
from datetime import time, timedelta
from functools import cache, cached_property
from importlib import resources
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

Channel = Literal["push", "email", "sms", "whatsapp", "in_app"]

ConditionName = Literal[
    "cart_not_empty",  # the instance's cart (its cart_id key; without a key: any cart) has items
    "cart_empty",  # ... has none (an emptied cart is no cart)
    "ordered_since_entry",  # an order other than the instance's own (its order_id key) came after entry
    "no_order_since_entry",  # none did
    "never_ordered",  # the customer has no completed order
    "has_ordered",  # the customer has one
    "order_reversed",  # the instance's order (order_id key) was refunded or cancelled
    "active_since_message",  # the customer was active after this instance's last step came due
    "still_inactive",  # no activity after the instance's reference time (inactive_for: the last activity)
    "not_ordered_within",  # {not_ordered_within: P30D}: no order in that long before now
    "inactive_for",  # {inactive_for: P60D}: no activity in that long before now
    "waits_for_product",  # the customer waits for the instance's product (its product_id key): asked to be told,
    # or wishlisted it (and has not bought it) or has it in a cart, within the shop's catalog.wait_expiry
    "cart_below_free_shipping",  # the instance's cart has items worth less than the shop's free_shipping_threshold
    "wants_product",  # the customer viewed the instance's product within catalog.viewed_within, or has it in the
    # wishlist or a cart, and has not bought it
]
# A date trigger's occasions (shared.core.occasions has their dates per country).
Occasion = Literal[
    "mothers_day",
    "fathers_day",
    "valentines_day",
    "easter",
    "black_friday",
    "cyber_monday",
    "singles_day",
    "christmas",
    "new_year",
    "public_holiday",  # every public holiday of the customer's country
]
# The event the daily date sweep puts into the FIFO group of a customer whose date or occasion is due (from nudge
# itself: it carries the journey, the occurrence and the moment to send; shared.service.dates).
DATE_DUE = "Date Due"
DEFAULT_SEND_AT = time(9, 0)
CONDITIONS_WITH_DURATION: frozenset[str] = frozenset({"not_ordered_within", "inactive_for"})
DEEP_LINK_FIELDS = frozenset({"offer_code", "cart_id", "order_id", "instance"})
MAX_STEPS = 10
PRESETS_RESOURCE = ("shared.journeys", "presets.yaml")
_MERGED_SECTIONS = frozenset({"entry", "exit"})


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative: an ISO 8601 duration such as PT0S, PT1H or P3D")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive ISO 8601 duration such as PT1H or P3D")
    return value


def _as_list(value: Any) -> Any:
    """One item may be written without the list around it; ``null`` is no items."""
    if value is None:
        return []
    if isinstance(value, str | dict):
        return [value]
    return value


def _unique_channels(channels: list[Channel] | None) -> list[Channel] | None:
    if channels is not None and len(set(channels)) != len(channels):
        raise ValueError("each channel may appear once")
    return channels


def _valid_deep_link(link: str) -> str:
    names = {name for _, name, _, _ in string.Formatter().parse(link) if name is not None}
    unknown = names - DEEP_LINK_FIELDS
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(DEEP_LINK_FIELDS)}")
    return link


Wait = Annotated[timedelta, AfterValidator(_not_negative)]
PositiveDuration = Annotated[timedelta, AfterValidator(_positive)]
JourneyName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
TemplateName = Annotated[str, Field(pattern=r"^[a-z0-9_]+$", max_length=64)]
PropertyName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Scalar = str | int | float | bool
StepChannels = Annotated[list[Channel] | None, AfterValidator(_unique_channels)]
DeepLink = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_valid_deep_link)]


class _Strict(BaseModel):
    # A typo in a config key is an error, never silently ignored.
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class Condition(_Strict):
    """One condition from the closed vocabulary the core implements: ``cart_empty`` or ``{inactive_for: P60D}``."""

    name: ConditionName
    within: PositiveDuration | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and len(value) == 1 and not {"name", "within"} & value.keys():
            ((name, within),) = value.items()
            return {"name": name, "within": within}
        return value

    @model_validator(mode="after")
    def _duration_where_needed(self) -> Self:
        if self.name in CONDITIONS_WITH_DURATION and self.within is None:
            raise ValueError(f"{self.name} needs a duration, e.g. {{{self.name}: P30D}}")
        if self.name not in CONDITIONS_WITH_DURATION and self.within is not None:
            raise ValueError(f"{self.name} takes no duration")
        return self


Conditions = Annotated[tuple[Condition, ...], BeforeValidator(_as_list)]


class EventMatch(_Strict):
    """Matches a ``track`` event by name (``event``) or another call (``call: identify``), with property filters."""

    event: str | None = Field(default=None, min_length=1, max_length=200)
    call: Literal["identify", "page", "screen", "group", "alias"] | None = None
    where: dict[str, Scalar] = Field(
        default_factory=dict, description="property (identify: trait) values the event must have"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self._kinds() != 1:
            raise ValueError(self._kind_rule())
        return self

    def _kinds(self) -> int:
        return (self.event is not None) + (self.call is not None)

    def _kind_rule(self) -> str:
        return "give exactly one of event (a track event name) or call (identify, page, screen, group, alias)"


def _wall_time(value: Any) -> Any:
    """YAML 1.1 reads an unquoted ``10:30`` as the base-60 number 630: that is the wall time 10:30."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    return value


WallTime = Annotated[time, BeforeValidator(_wall_time)]


class Trigger(EventMatch):
    """What starts a journey: an event (``{event: Product Added}``), a state condition (``{inactive_for: P60D}``),
    or a date: the customer's birthday (``{date: birthday}``, the ``birthday`` trait) or an occasion of the
    customer's country (``{occasion: mothers_day}``), ``days_before`` it, at the wall time ``at`` in the customer's
    time zone. A date journey is entered once per occurrence (its key); a daily sweep finds who is due
    (``shared.service.dates``), no timer waits a year per customer."""

    inactive_for: PositiveDuration | None = None
    date: Literal["birthday"] | None = None
    occasion: Occasion | None = None
    days_before: int = Field(default=0, ge=0, le=60, description="a date trigger: send this many days before it")
    at: WallTime = Field(default=DEFAULT_SEND_AT, description="a date trigger: the wall time in the customer's zone")

    def _kinds(self) -> int:
        return super()._kinds() + sum(x is not None for x in (self.inactive_for, self.date, self.occasion))

    def _kind_rule(self) -> str:
        return "give exactly one of event, call, inactive_for, date or occasion"

    @property
    def dated(self) -> bool:
        """Whether a date or an occasion starts it."""
        return self.date is not None or self.occasion is not None

    @model_validator(mode="after")
    def _no_filter_on_state(self) -> Self:
        if self.inactive_for is not None and self.where:
            raise ValueError("an inactive_for trigger takes no where filter")
        if self.dated and self.where:
            raise ValueError("a date or occasion trigger takes no where filter (use entry.segment)")
        if not self.dated and (self.days_before or self.at != DEFAULT_SEND_AT):
            raise ValueError("days_before and at belong to a date or occasion trigger")
        return self


def _state_trigger_alone(triggers: tuple[Trigger, ...]) -> tuple[Trigger, ...]:
    if len(triggers) > 1 and any(t.inactive_for is not None for t in triggers):
        raise ValueError("an inactive_for trigger stands alone (every activity restarts it)")
    if len(triggers) > 1 and any(t.dated for t in triggers):
        raise ValueError("a date or occasion trigger stands alone (one journey per date)")
    return triggers


Triggers = Annotated[
    tuple[Trigger, ...], BeforeValidator(_as_list), Field(min_length=1), AfterValidator(_state_trigger_alone)
]


class Offer(_Strict):
    """A time-limited discount code, deterministic per customer and journey instance."""

    percent: int = Field(ge=1, le=100)
    valid_for: PositiveDuration = Field(description="the code expires this long after the step's due time")
    prefix: str = Field(default="", pattern=r"^[A-Z0-9]{0,12}$")


MAX_VARIANTS = 5
MAX_HOLDOUT = 50  # percent: a control group larger than the treated one measures nothing better


class Variant(_Strict):
    """One arm of a step's A/B test (EX1): its own template and/or offer in place of the step's, and its weight.

    Each customer gets one variant per journey step, chosen from a digest of the shop, the customer and the step
    (``shared.core.experiments``): the same customer always gets the same one, wherever it is decided."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")]
    weight: int = Field(default=1, ge=1, le=100, description="relative share of the step's customers")
    template: TemplateName | None = Field(default=None, description="in place of the step's template")
    offer: Offer | None = Field(default=None, description="in place of the step's offer")
    no_offer: bool = Field(default=False, description="send this variant without the step's offer")

    @model_validator(mode="after")
    def _offer_or_none(self) -> Self:
        if self.offer is not None and self.no_offer:
            raise ValueError(f"variant {self.name}: offer and no_offer exclude each other")
        return self


class JourneyStep(_Strict):
    """One step: wait, then (if its condition holds) put a message of kind ``template`` on the outbox."""

    wait: Wait = Field(description="from the previous step's due time (first step: from the trigger)")
    template: TemplateName = Field(description="message kind, e.g. cart_reminder")
    channels: StepChannels = Field(
        default=None, min_length=1, description="narrows the shop's preference for this step, most preferred first"
    )
    condition: Conditions = Field(default=(), description="all must hold, else the step is skipped (logged)")
    offer: Offer | None = None
    deep_link: DeepLink | None = Field(
        default=None, description="path or URL; may use {offer_code}, {cart_id}, {order_id}, {instance}"
    )
    transactional: bool = False
    send_time: Literal["due", "best"] = Field(
        default="due",
        description="best: wait, within `within` of the due time, for the hour this customer is most active (IN5)",
    )
    within: PositiveDuration = Field(
        default=timedelta(days=1), description="with send_time best: how far after the due time it may go"
    )
    variants: tuple[Variant, ...] = Field(
        default=(), description="an A/B test: 2 to 5 variants, each customer gets one (sticky)"
    )

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.within > timedelta(days=7):
            raise ValueError("within may be at most P7D (a customer's day repeats; a longer wait only delays)")
        return self

    @property
    def templates(self) -> tuple[str, ...]:
        """The message kinds the step may send: its own and its variants'."""
        kinds = [self.template, *(variant.template for variant in self.variants if variant.template is not None)]
        return tuple(dict.fromkeys(kinds))

    @property
    def offers(self) -> tuple[Offer, ...]:
        """The offers the step may give: its own and its variants'."""
        return tuple(offer for offer in (self.offer, *(v.offer for v in self.variants)) if offer is not None)

    @model_validator(mode="after")
    def _variants(self) -> Self:
        if self.variants and not 2 <= len(self.variants) <= MAX_VARIANTS:
            raise ValueError(f"variants: 2 to {MAX_VARIANTS} of them, not {len(self.variants)}")
        names = [variant.name for variant in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variants: each name once, not {names}")
        if "holdout" in names:
            raise ValueError("variants: holdout is the name of the control group")
        return self


class Entry(_Strict):
    """Who may enter: re-entry interval per key, conditions on the customer's state, how old a trigger may be."""

    reentry_after: Wait | None = Field(
        default=None, description="since the last entry with the same key; null: once ever (per key)"
    )
    only_if: Conditions = ()
    segment: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = Field(
        default=None, description="enter only while the customer is in this segment of the shop (``segments:``)"
    )
    max_trigger_age: PositiveDuration | None = Field(
        default=timedelta(days=1),
        description="a trigger that happened longer ago (a backfill, a long-offline app) starts nothing; null: any",
    )
    until_reachable: bool = Field(
        default=False,
        description=(
            "enter only once some channel of the steps can reach the customer (consent, a usable address, a"
            " configured channel); until then the trigger waits, for at most max_trigger_age, and uses up nothing"
        ),
    )


class Exit(_Strict):
    """What ends an instance at once: events (matching its key) or conditions on the state."""

    events: tuple[EventMatch, ...] = ()
    conditions: Conditions = ()


class Journey(_Strict):
    """A journey is data: the decision core runs it; handlers do not know journey names."""

    preset: str | None = Field(default=None, description="the preset this journey starts from")
    enabled: bool = True
    trigger: Triggers
    key: PropertyName | None = Field(default=None, description="event property keying an instance, e.g. cart_id")
    restart_on_trigger: bool = Field(
        default=False, description="a trigger for an active instance restarts its wait until the first step is due"
    )
    entry: Entry = Field(default_factory=Entry)
    steps: list[JourneyStep] = Field(min_length=1, max_length=MAX_STEPS)
    exit: Exit = Field(default_factory=Exit)
    guard: Conditions = Field(default=(), description="checked at every step; failing ends the instance")
    priority: int = Field(
        default=50,
        ge=0,
        le=100,
        description="0-100: when messages compete for a slot the contact policy's caps leave, the higher one goes",
    )
    topic: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="the shop's topic its messages belong to (topics:): customers who switch it off get none",
    )
    holdout: int = Field(
        default=0,
        ge=0,
        le=MAX_HOLDOUT,
        description="percent of customers who enter but get none of its marketing messages: the control group",
    )

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, name: str | None) -> str | None:
        if name is not None and name not in preset_documents():
            raise ValueError(f"unknown preset {name!r}; one of {sorted(preset_documents())}")
        return name

    @model_validator(mode="after")
    def _order_conditions_need_an_order(self) -> Self:
        if "order_reversed" in self.conditions_used and self.key != "order_id":
            raise ValueError("order_reversed needs key: order_id")
        if self.inactivity is not None and self.key is not None:
            raise ValueError("an inactive_for journey has no key (one instance per customer)")
        if self.dated is not None and self.key is not None:
            raise ValueError("a date or occasion journey has no key (one instance per occurrence, e.g. 2027-05-09)")
        return self

    @property
    def conditions_used(self) -> frozenset[str]:
        """The names of the conditions the journey checks anywhere: entry, guard, exit and steps."""
        used = {c.name for c in (*self.guard, *self.exit.conditions, *self.entry.only_if)}
        return frozenset(used | {c.name for step in self.steps for c in step.condition})

    @cached_property  # read for every event by every journey: worked out once per config (the model is frozen)
    def dated(self) -> Trigger | None:
        """For a date or occasion trigger: the trigger; None for the others."""
        return next((trigger for trigger in self.trigger if trigger.dated), None)

    @cached_property
    def inactivity(self) -> timedelta | None:
        """For a state trigger ``{inactive_for: ...}``: how long; None for event triggers."""
        for trigger in self.trigger:
            if trigger.inactive_for is not None:
                return trigger.inactive_for
        return None


@cache
def preset_documents() -> dict[str, dict[str, Any]]:
    """The shipped presets as raw mappings (``shared/journeys/presets.yaml``), read once per process."""
    from shared.yaml_text import load_yaml  # read once, when the first journey needs a preset: not at import

    package, name = PRESETS_RESOURCE
    document: Any = load_yaml(resources.files(package).joinpath(name).read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise TypeError(f"{name} must be a mapping of preset names to journeys")
    return {str(key): dict(value) for key, value in document.items()}


def presets() -> dict[str, Journey]:
    """The shipped presets, validated by the same models as a shop's journeys."""
    return {name: Journey.model_validate({**body, "preset": name}) for name, body in preset_documents().items()}


def with_preset(name: str, body: Any) -> Any:
    """A journey's raw config laid over the preset it names (``preset:``) or is named after; else unchanged."""
    if not isinstance(body, dict):
        return body  # let validation say what is wrong with it
    documents = preset_documents()
    preset = body.get("preset", name if name in documents else None)
    if not isinstance(preset, str) or preset not in documents:
        return body  # no preset, or an unknown one the ``preset`` field reports
    merged: dict[str, Any] = {**documents[preset], "preset": preset}
    for section, value in body.items():
        base = merged.get(section)
        # entry and exit merge one level deep: overriding reentry_after keeps the preset's only_if.
        if section in _MERGED_SECTIONS and isinstance(base, dict) and isinstance(value, dict):
            merged[section] = {**base, **value}
        else:
            merged[section] = value
    return merged


def _apply_presets(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {name: with_preset(str(name), body) for name, body in value.items()}


Journeys = Annotated[dict[JourneyName, Journey], BeforeValidator(_apply_presets)]
"""The ``journeys:`` section of a shop's config: name -> journey, presets applied."""
