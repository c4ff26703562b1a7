"""The Segment HTTP Tracking API as pydantic models: what shops' tracking clients already send.

Messages are open (``extra="allow"``: clients send ``library``, ``version`` and more), but the fields nudge uses are
typed, including the Ecommerce Events v2 properties of the events nudge acts on. A ``track`` call is validated by
the model for its event name; unknown event names are accepted as plain activity.
"""

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from shared.models.vocabulary import Channel, TimeZoneName

Id = Annotated[str, Field(min_length=1, max_length=256)]
Text = Annotated[str, Field(max_length=2048)]
# Bounds on what a client may send (docs/EVENTS.md "Limits"). An amount is at most a billion in the shop's currency:
# far above any real order, and a cart of 2,500 lines at the largest amount and quantity (2.5e17) still sums exactly
# to the cent in a 28-digit decimal and nowhere near a float's overflow (the 1e308 a float holds is not a price).
# Refunds and discounts are positive amounts (Segment's spec), so no amount is negative.
MAX_AMOUNT = 1e9
MAX_QUANTITY = 100_000
Money = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
# Objects and arrays nest at most this deep, the message itself being level 1 (``properties`` is level 2): DynamoDB's
# limit for nested attributes, while Segment's own payloads are a few levels deep. Ingest checks it, naming the field.
MAX_DEPTH = 32

# Discriminator values are prefixed so they can be told apart from field names in error locations.
TYPE_TAG = "type="
EVENT_TAG = "event="


class _Open(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="allow", coerce_numbers_to_str=True, frozen=True)


class Device(_Open):
    token: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    type: str | None = None
    id: str | None = None


class Context(_Open):
    timezone: TimeZoneName | None = None
    locale: Annotated[str, Field(max_length=35)] | None = None
    device: Device | None = None
    traits: dict[str, Any] = Field(default_factory=dict)


class Traits(_Open):
    """The profile traits nudge reads; everything else is kept as sent."""

    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None
    first_name: Text | None = Field(default=None, alias="firstName")
    last_name: Text | None = Field(default=None, alias="lastName")
    name: Text | None = None
    birthday: Text | None = None
    gender: Text | None = None
    interests: list[Text] | None = None

    model_config = ConfigDict(defer_build=True, populate_by_name=True)


class Message(_Open):
    """Fields common to every Segment call."""

    type: str
    messageId: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    userId: Id | None = None
    anonymousId: Id | None = None
    timestamp: datetime | None = None
    sentAt: datetime | None = None
    context: Context = Field(default_factory=Context)
    integrations: dict[str, Any] = Field(default_factory=dict)
    writeKey: str | None = Field(default=None, exclude=True)

    @field_validator("userId", "anonymousId", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        # analytics-kotlin sends "userId": "" (and an anonymousId) until the app identifies its user
        return None if value == "" else value

    @model_validator(mode="after")
    def _identified(self) -> Self:
        if not self.userId and not self.anonymousId:
            raise ValueError("userId or anonymousId is required")
        return self


# ---------------------------------------------------------------- Ecommerce Events v2 properties


class Product(_Open):
    """A product as Ecommerce v2 describes it (``product_id`` or ``sku`` identifies it)."""

    product_id: Id | None = None
    sku: Id | None = None
    name: Text | None = None
    category: Text | None = None
    brand: Text | None = None
    variant: Text | None = None
    price: Money | None = None
    quantity: Quantity = 1
    url: Text | None = None
    image_url: Text | None = None

    @model_validator(mode="after")
    def _identified(self) -> Self:
        if not self.product_id and not self.sku:
            raise ValueError("product_id or sku is required")
        return self

    @property
    def key(self) -> str:
        return self.product_id or self.sku or ""


class ProductProperties(Product):
    cart_id: Id | None = None


class OrderProperties(_Open):
    """Cart, checkout and order events: totals and the products they contain."""

    cart_id: Id | None = None
    checkout_id: Id | None = None
    order_id: Id | None = None
    value: Money | None = None
    revenue: Money | None = None
    subtotal: Money | None = None
    total: Money | None = None
    shipping: Money | None = None
    tax: Money | None = None
    discount: Money | None = None
    coupon: Text | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    products: list[Product] = Field(default_factory=list, max_length=500)

    @property
    def amount(self) -> float:
        """What the order is worth to the shop: revenue, else total, else value, else the products' sum."""
        for candidate in (self.revenue, self.total, self.value):
            if candidate is not None:
                return candidate
        return sum((p.price or 0.0) * p.quantity for p in self.products)


class ConsentProperties(_Open):
    """``Consent Updated``: a customer granted or withdrew permission for one channel (GDPR Art. 7 record)."""

    channel: Channel
    status: Literal["granted", "withdrawn"]
    source: Annotated[str, Field(min_length=1, max_length=100)]
    notice_version: Annotated[str, Field(min_length=1, max_length=100)]
    evidence: Annotated[str, Field(max_length=1000)] | None = None
    confirmed_at: datetime | None = Field(
        default=None,
        description="the shop confirmed the grant itself (its own double opt-in) then: honoured from its secret key",
    )


class NewsletterProperties(_Open):
    """``Newsletter Subscribed`` / ``Newsletter Unsubscribed``: an e-mail consent given through a signup form."""

    source: Annotated[str, Field(min_length=1, max_length=100)] = "newsletter"
    notice_version: Annotated[str, Field(min_length=1, max_length=100)] = "unspecified"
    evidence: Annotated[str, Field(max_length=1000)] | None = None
    confirmed_at: datetime | None = Field(
        default=None,
        description="the shop confirmed the grant itself (its own double opt-in) then: honoured from its secret key",
    )


PRODUCT_EVENTS = frozenset(
    {
        "Product Viewed",
        "Product Clicked",
        "Product Added",
        "Product Removed",
        "Product Added to Wishlist",
        "Product Removed from Wishlist",
        "Wishlist Product Added to Cart",
        "Back In Stock Requested",  # a "notify me" button on a product that is out of stock
        "Back In Stock",  # nudge's own: a restock reached a customer waiting for the product
        "Price Dropped",  # nudge's own: the price of a product the customer wanted fell
    }
)
ORDER_EVENTS = frozenset(
    {
        "Cart Viewed",
        "Checkout Started",
        "Order Completed",
        "Order Updated",
        "Order Refunded",
        "Order Cancelled",
    }
)
NEWSLETTER_EVENTS = frozenset({"Newsletter Subscribed", "Newsletter Unsubscribed"})


# ---------------------------------------------------------------- calls


class TrackCall(Message):
    """A ``track`` call: something the customer did. Subclasses type the properties of the events nudge acts on."""

    type: Literal["track"] = "track"
    event: Annotated[str, Field(min_length=1, max_length=200)]


class Track(TrackCall):
    """A ``track`` call whose event nudge does not act on specially: kept as activity."""

    properties: dict[str, Any] = Field(default_factory=dict)


class ProductTrack(TrackCall):
    properties: ProductProperties


class OrderTrack(TrackCall):
    properties: OrderProperties = Field(default_factory=OrderProperties)


class ConsentTrack(TrackCall):
    properties: ConsentProperties


class NewsletterTrack(TrackCall):
    properties: NewsletterProperties = Field(default_factory=NewsletterProperties)


def _event_kind(value: Any) -> str:
    name = value.get("event") if isinstance(value, dict) else getattr(value, "event", None)
    if not isinstance(name, str):
        return EVENT_TAG + "other"  # the plain track model then refuses it: event must be a string
    if name in PRODUCT_EVENTS:
        return EVENT_TAG + "product"
    if name in ORDER_EVENTS:
        return EVENT_TAG + "order"
    if name == "Consent Updated":
        return EVENT_TAG + "consent"
    if name in NEWSLETTER_EVENTS:
        return EVENT_TAG + "newsletter"
    return EVENT_TAG + "other"


AnyTrack = Annotated[
    Annotated[ProductTrack, Tag(EVENT_TAG + "product")]
    | Annotated[OrderTrack, Tag(EVENT_TAG + "order")]
    | Annotated[ConsentTrack, Tag(EVENT_TAG + "consent")]
    | Annotated[NewsletterTrack, Tag(EVENT_TAG + "newsletter")]
    | Annotated[Track, Tag(EVENT_TAG + "other")],
    Discriminator(_event_kind),
]


class Identify(Message):
    type: Literal["identify"] = "identify"
    traits: Traits = Field(default_factory=Traits)


class Page(Message):
    type: Literal["page"] = "page"
    name: Text | None = None
    category: Text | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class Screen(Message):
    type: Literal["screen"] = "screen"
    name: Text | None = None
    category: Text | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class Group(Message):
    type: Literal["group"] = "group"
    groupId: Id
    traits: dict[str, Any] = Field(default_factory=dict)


class Alias(Message):
    """``alias``: ``previousId`` (an anonymous or older id) is the same person as ``userId``."""

    type: Literal["alias"] = "alias"
    previousId: Id
    userId: Id


MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")


def _message_type(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return TYPE_TAG + str(kind)


SegmentMessage = Annotated[
    Annotated[AnyTrack, Tag(TYPE_TAG + "track")]
    | Annotated[Identify, Tag(TYPE_TAG + "identify")]
    | Annotated[Page, Tag(TYPE_TAG + "page")]
    | Annotated[Screen, Tag(TYPE_TAG + "screen")]
    | Annotated[Group, Tag(TYPE_TAG + "group")]
    | Annotated[Alias, Tag(TYPE_TAG + "alias")],
    Discriminator(
        _message_type,
        custom_error_type="invalid_type",
        custom_error_message="type must be one of " + ", ".join(MESSAGE_TYPES),
    ),
]

MAX_EVENTS_PER_BATCH = 2500


class Batch(BaseModel):
    """``/v1/batch`` (and ``/v1/import``): up to 2,500 messages of any type."""

    model_config = ConfigDict(defer_build=True, extra="allow")

    batch: list[SegmentMessage] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)
    writeKey: str | None = Field(default=None, exclude=True)
