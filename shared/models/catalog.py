"""The shop's products as nudge keeps them, in the attribute names of the Google Merchant Center product feed that
shops already maintain (``id``, ``title``, ``description``, ``link``, ``image_link``, ``price``, ``sale_price``,
``sale_price_effective_date``, ``availability``, ``product_type``, ``brand``, ``item_group_id``), plus nudge's own
optional ``quantity`` (units in stock) and ``related`` (ids of complementary products).

Formats are the feed's: a price is ``"15.00 USD"`` (an amount and an ISO 4217 currency; the Content API's
``{"value": "15.00", "currency": "USD"}`` is taken too), ``availability`` one of ``in_stock``, ``out_of_stock``,
``preorder``, ``backorder`` (the feed's older spelling with spaces, ``in stock``, is taken too), and a sale's
effective date an ISO 8601 range ``2026-12-01T00:00+0100/2026-12-08T00:00+0100`` (a date alone starts at 00:00 and
ends at 23:59; no zone is UTC, as Merchant Center reads it).

A posted product replaces what nudge held for it, attribute by attribute: an attribute it leaves out keeps its
held value, so an inventory system may post ``{"id": ..., "availability": ..., "quantity": ...}`` alone. A product
nudge does not hold yet needs ``title``, ``link``, ``price`` and ``availability``.
"""

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, StringConstraints

Availability = Literal["in_stock", "out_of_stock", "preorder", "backorder"]
AVAILABILITIES: tuple[Availability, ...] = ("in_stock", "out_of_stock", "preorder", "backorder")
# What the engine acts on when it changes (back in stock, price drop, low stock).
WATCHED = ("availability", "price", "quantity")
NEW_PRODUCT_NEEDS = ("title", "link", "price", "availability")
UPLOAD_LIMIT = 500  # products per request
RELATED_LIMIT = 50

_PRICE = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,4})?)\s*([A-Za-z]{3})\s*$")
_CENT = Decimal("0.01")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Money(BaseModel):
    """An amount in one currency, as the feed writes it: ``"15.00 USD"``."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        """Two decimals, or as many as the amount has beyond them (``1.005 KWD``): one spelling per amount."""
        amount = self.amount
        if amount == amount.quantize(_CENT):
            return f"{amount:.2f} {self.currency}"
        return f"{format(amount.normalize(), 'f')} {self.currency}"


def _money(value: Any) -> Any:
    if isinstance(value, Money):
        return value
    if isinstance(value, dict) and set(value) == {"value", "currency"}:  # the Content API's form
        value = f"{value['value']} {value['currency']}"
    if not isinstance(value, str):
        raise ValueError('must be a price as the feed writes it, e.g. "15.00 USD"')
    match = _PRICE.match(value)
    if match is None:
        raise ValueError(f'must be an amount and an ISO 4217 currency, e.g. "15.00 USD"; got {value!r}')
    try:
        amount = Decimal(match.group(1))
    except InvalidOperation as error:  # pragma: no cover - the pattern admits only decimal numbers
        raise ValueError(f"not an amount: {match.group(1)!r}") from error
    return Money(amount=amount, currency=match.group(2).upper())


Price = Annotated[Money, BeforeValidator(_money), PlainSerializer(str, return_type=str)]


def _availability(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip().lower().replace(" ", "_")
        if value not in AVAILABILITIES:
            raise ValueError(f"must be one of {', '.join(AVAILABILITIES)}; got {value!r}")
    return value


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if _CONTROL.search(value):
            raise ValueError("must not hold control characters")
    return value


Title = Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=150)]
Description = Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=5000)]
ProductType = Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=750)]
Brand = Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=70)]
GroupId = Annotated[str, BeforeValidator(_clean), StringConstraints(min_length=1, max_length=50)]


def _url(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
            raise ValueError("must be an http(s) URL")
    return value


def _moment(text: str, end: bool) -> datetime:
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # a date alone: from its start, to its last minute
        day = datetime.fromisoformat(text).date()
        return datetime.combine(day, time(23, 59) if end else time(0, 0), tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _period(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > 51:
            raise ValueError("must be at most 51 characters, as Merchant Center's")
        start, slash, end = value.partition("/")
        if not slash:
            raise ValueError("must be a start and an end separated by '/', e.g. 2026-12-01T00:00+0100/2026-12-08")
        try:
            first, last = _moment(start, end=False), _moment(end, end=True)
        except ValueError as error:
            raise ValueError(f"not an ISO 8601 time: {error}") from error
        if last <= first:
            raise ValueError("must end after it starts")
        return (first, last)
    return value


def _period_text(value: tuple[datetime, datetime]) -> str:
    """Merchant Center's form (to the minute), or to the second when the shop gave seconds (a fraction is dropped)."""
    seconds = any(moment.second for moment in value)
    return "/".join(moment.isoformat(timespec="seconds" if seconds else "minutes") for moment in value)


ProductId = Annotated[
    str,
    BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v),
    StringConstraints(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]+$"),
]
Url = Annotated[str, BeforeValidator(_url), StringConstraints(max_length=2000)]
SalePeriod = Annotated[
    tuple[datetime, datetime], BeforeValidator(_period), PlainSerializer(_period_text, return_type=str)
]


class ProductUpdate(BaseModel):
    """One product as posted: ``id`` and any of the attributes (left out: kept as held)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: ProductId
    title: Title | None = None
    description: Description | None = None
    link: Url | None = None
    image_link: Url | None = None
    price: Price | None = None
    sale_price: Price | None = None
    sale_price_effective_date: SalePeriod | None = None
    availability: Annotated[Availability, BeforeValidator(_availability)] | None = None
    product_type: ProductType | None = None
    brand: Brand | None = None
    item_group_id: GroupId | None = None
    quantity: Annotated[int, Field(ge=0, le=10**9)] | None = None
    related: Annotated[list[ProductId], Field(max_length=RELATED_LIMIT)] | None = None


class CatalogUpload(BaseModel):
    """``POST /v1/catalog``: up to ``UPLOAD_LIMIT`` products."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    products: Annotated[list[ProductUpdate], Field(min_length=1, max_length=UPLOAD_LIMIT)]


class Stock(BaseModel):
    """What a message needs to know of a product from the catalogue at send time: can it be bought, how many are
    left (None: the shop does not say), what it costs now, what goes with it."""

    model_config = ConfigDict(frozen=True)

    available: bool
    quantity: int | None = None
    price: float | None = None
    related: tuple[str, ...] = ()


class Product(BaseModel):
    """A product as nudge holds it: the attributes of every update so far, and when it last changed."""

    model_config = ConfigDict(defer_build=True)

    id: str
    title: str
    link: str
    price: Price
    availability: Availability
    description: str | None = None
    image_link: str | None = None
    sale_price: Price | None = None
    sale_price_effective_date: SalePeriod | None = None
    product_type: str | None = None
    brand: str | None = None
    item_group_id: str | None = None
    quantity: int | None = None
    related: list[str] = Field(default_factory=list)
    updated_at: datetime

    @property
    def category(self) -> str | None:
        """The last level of ``product_type`` (``Home > Kitchen`` is ``Kitchen``), as events name a category."""
        return self.product_type.split(">")[-1].strip() if self.product_type else None

    def effective_price(self, now: datetime) -> Money:
        """What a customer pays at ``now``: the sale price within its effective dates (always, without dates),
        else the price. A sale price in another currency than the price is not taken."""
        sale = self.sale_price
        if sale is None or sale.currency != self.price.currency or sale.amount >= self.price.amount:
            return self.price
        period = self.sale_price_effective_date
        if period is not None and not period[0] <= now < period[1] + timedelta(minutes=1):
            return self.price
        return sale

    def watched(self, now: datetime) -> dict[str, Any]:
        """The values the engine acts on when they change: availability, effective price, quantity."""
        price = self.effective_price(now)
        return {"availability": self.availability, "price": str(price), "quantity": self.quantity}

    def stock(self, now: datetime) -> Stock:
        """This product as a message at ``now`` sees it."""
        price = self.effective_price(now)
        return Stock(
            available=self.buyable(), quantity=self.quantity, price=float(price.amount), related=tuple(self.related)
        )

    def buyable(self) -> bool:
        """A customer can order it now (in stock, or on preorder or backorder)."""
        return self.availability != "out_of_stock"
