"""Segments (IN3, IN8): named, validated predicates over what nudge knows about a customer, in the shop's config.

A segment is one rule; a rule is exactly one of::

    all: [rule, ...]             every one holds          any: [rule, ...]     at least one holds
    not: rule                    it does not hold         segment: NAME        another segment of the shop
    trait: {name: country, in: [DE, AT]}         equals / in / contains (a list trait) / exists / gte / lte
    orders: {gte: 3}             the number of orders     revenue: {gte: 500}  the revenue of all orders
    last_order: {within: P30D}   ordered within (or ``before``: not within) that long
    active: {within: P7D}        any activity within (or ``before``) that long
    bought: {category: shoes}    ever bought the product (``product``) or a product of the category
    viewed: {category: shoes, within: P14D}      viewed a product (``product``) or one of the category recently
    lifecycle: [at_risk, lapsed] the stage now (shared/core/insights.py)
    rfm: {recency: {gte: 4}, monetary: {gte: 4}} the scores among the shop's buyers
    engagement: {gte: 10}        the engagement score now
    consent: email               marketing consent in force on the channel
    journey: {name: welcome, within: P30D}       entered the journey (ever, or within that long); with
                                 ``outcome: completed`` took its last step, ``outcome: converted`` ordered in it
    campaign: {id: spring, outcome: converted}   a campaign (or any, without id) reached them / they ordered
                                 within 5 days after; ``within`` as for journeys

Every refusal names the path of the field and the rule it breaks.
"""

from datetime import timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from shared.models.vocabulary import Channel

SegmentName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
LifecycleStageName = Literal["prospect", "new", "repeat", "loyal", "reactivated", "at_risk", "lapsed"]
TraitValue = str | int | float | bool
MAX_RULES = 50  # rules under one combinator
RULE_KINDS = (
    "all",
    "any",
    "not",
    "segment",
    "trait",
    "orders",
    "revenue",
    "last_order",
    "active",
    "bought",
    "viewed",
    "lifecycle",
    "rfm",
    "engagement",
    "consent",
    "journey",
    "campaign",
)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive ISO 8601 duration such as P7D")
    return value


Duration = Annotated[timedelta, AfterValidator(_positive)]


class _Strict(BaseModel):
    # Stored with the shop's config and read back: written by alias (``in``, ``not``), without the rules not given.
    model_config = ConfigDict(
        defer_build=True,
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> Any:
        dumped = handler(self)
        return {k: v for k, v in dumped.items() if v is not None} if isinstance(dumped, dict) else dumped


def _set(model: BaseModel, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if getattr(model, name) is not None]


def _one_kind(data: Any) -> Any:
    if isinstance(data, dict):
        kinds = [key for key, value in data.items() if key in (*RULE_KINDS, "not_") and value is not None]
        if len(kinds) != 1:
            got = f" (got {', '.join(kinds)})" if kinds else ""
            raise ValueError(f"a rule is exactly one of {', '.join(RULE_KINDS)}{got}")
    return data


class Compare(_Strict):
    """A number's bounds: ``gte``, ``lte``, ``gt``, ``lt`` (any together) or ``equals``."""

    gte: float | None = None
    lte: float | None = None
    gt: float | None = None
    lt: float | None = None
    equals: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Self:
        given = _set(self, ("gte", "lte", "gt", "lt", "equals"))
        if not given:
            raise ValueError("needs a bound: gte, lte, gt, lt or equals")
        if "equals" in given and len(given) > 1:
            raise ValueError("equals stands alone")
        return self

    def holds(self, value: float) -> bool:
        if self.equals is not None:
            return value == self.equals
        return (
            (self.gte is None or value >= self.gte)
            and (self.lte is None or value <= self.lte)
            and (self.gt is None or value > self.gt)
            and (self.lt is None or value < self.lt)
        )


class Score(Compare):
    """An RFM score's bounds (1 to 5)."""

    gte: Annotated[float, Field(ge=1, le=5)] | None = None
    lte: Annotated[float, Field(ge=1, le=5)] | None = None


class TraitRule(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    equals: TraitValue | None = None
    in_: Annotated[list[TraitValue], Field(min_length=1, max_length=500)] | None = Field(default=None, alias="in")
    contains: TraitValue | None = None
    exists: bool | None = None
    gte: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Self:
        given = _set(self, ("equals", "in_", "contains", "exists", "gte", "lte"))
        if not given:
            raise ValueError("needs one test: equals, in, contains, exists, gte or lte")
        if len(given) > 1 and set(given) != {"gte", "lte"}:
            names = ", ".join("in" if name == "in_" else name for name in given)
            raise ValueError(f"needs one test (gte with lte is one), got {names}")
        return self


class Window(_Strict):
    """``within``: it happened within that long; ``before``: it did, but not within that long."""

    within: Duration | None = None
    before: Duration | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if len(_set(self, ("within", "before"))) != 1:
            raise ValueError("needs exactly one of within or before")
        return self


class ProductRule(_Strict):
    product: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    category: Annotated[str, Field(min_length=1, max_length=256)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if len(_set(self, ("product", "category"))) != 1:
            raise ValueError("needs exactly one of product or category")
        return self


class ViewedRule(ProductRule):
    within: Duration = Field(default=timedelta(days=14), description="the customer's 20 latest views count")


class RfmRule(_Strict):
    recency: Score | None = None
    frequency: Score | None = None
    monetary: Score | None = None

    @model_validator(mode="after")
    def _some(self) -> Self:
        if not _set(self, ("recency", "frequency", "monetary")):
            raise ValueError("needs at least one of recency, frequency or monetary")
        return self


class JourneyRule(_Strict):
    """The customer entered the journey, completed it (took its last step) or converted in it (ordered while in it),
    ever or within that long."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    outcome: Literal["entered", "completed", "converted"] = "entered"
    within: Duration | None = Field(default=None, description="within that long (None: ever)")


class CampaignRule(_Strict):
    """A campaign reached the customer (``entered``) or they ordered within 5 days after (``converted``): the
    campaign ``id``, or any campaign; ever or within that long."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    outcome: Literal["entered", "converted"] = "entered"
    within: Duration | None = Field(default=None, description="within that long (None: ever)")


class Rule(_Strict):
    """Exactly one of :data:`RULE_KINDS`."""

    all: Annotated[list["Rule"], Field(min_length=1, max_length=MAX_RULES)] | None = None
    any: Annotated[list["Rule"], Field(min_length=1, max_length=MAX_RULES)] | None = None
    not_: "Rule | None" = Field(default=None, alias="not")
    segment: SegmentName | None = None
    trait: TraitRule | None = None
    orders: Compare | None = None
    revenue: Compare | None = None
    last_order: Window | None = None
    active: Window | None = None
    bought: ProductRule | None = None
    viewed: ViewedRule | None = None
    lifecycle: Annotated[list[LifecycleStageName], Field(min_length=1)] | None = None
    rfm: RfmRule | None = None
    engagement: Compare | None = None
    consent: Channel | None = None
    journey: JourneyRule | None = None
    campaign: CampaignRule | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_kind(cls, data: Any) -> Any:
        return _one_kind(data)

    @property
    def kind(self) -> str:
        return next(name for name in RULE_KINDS if getattr(self, "not_" if name == "not" else name) is not None)

    def rules(self) -> list["Rule"]:
        """The rules directly under this one."""
        return [*(self.all or ()), *(self.any or ()), *([self.not_] if self.not_ is not None else [])]

    def walk(self) -> list["Rule"]:
        """This rule and every rule under it."""
        found = [self]
        for rule in self.rules():
            found += rule.walk()
        return found


class Segment(Rule):
    """A named rule of the shop's config (``segments.NAME``), with an optional description for people."""

    description: Annotated[str, Field(max_length=500)] | None = None
