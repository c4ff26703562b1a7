"""A customer's state: profile, consent ledger, carts, browsing, orders, activity.

One item per customer, kept small on purpose (a DynamoDB write is billed per started KB): lists are bounded,
only what journeys, segments and support need is kept. Consent history is append-only and never trimmed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models.config import Channel

MAX_VIEWED = 20
MAX_WISHLIST = 50
MAX_PRODUCTS_BOUGHT = 50
MAX_RECENT_ORDERS = 10
MAX_PUSH_TOKENS = 5
MAX_TRAITS = 64
MAX_EVENT_NAMES = 64
MAX_ANONYMOUS_IDS = 20
# Dedupe window for messageIds: Segment promises ~24 h; a little more covers slow redeliveries.
DEDUPE_WINDOW_SECONDS = 26 * 3600


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentRecord(_State):
    """One consent decision (GDPR Art. 7): who, which channel, granted or withdrawn, when, how, under which notice."""

    channel: Channel
    status: Literal["granted", "withdrawn"]
    source: str
    notice_version: str
    evidence: str | None = None
    at: datetime = Field(description="when the customer decided (event time)")
    recorded_at: datetime = Field(description="when nudge received it")
    message_id: str


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


class ProductRef(_State):
    product_id: str
    name: str | None = None
    price: float | None = None
    category: str | None = None
    image_url: str | None = None
    url: str | None = None
    at: datetime


class OrderRef(_State):
    order_id: str
    amount: float
    at: datetime
    status: Literal["completed", "refunded", "cancelled"] = "completed"


class Orders(_State):
    count: int = 0
    revenue: float = 0.0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    recent: list[OrderRef] = Field(default_factory=list)
    products_bought: list[str] = Field(default_factory=list)
    categories_bought: list[str] = Field(default_factory=list)


class PushToken(_State):
    token: str
    platform: str | None = None
    updated_at: datetime


class AppState(_State):
    installed_at: datetime | None = None
    last_opened_at: datetime | None = None
    uninstalled_at: datetime | None = None


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
    orders: Orders = Field(default_factory=Orders)
    newsletter_subscribed_at: datetime | None = None
    first_seen_at: datetime | None = None
    last_activity_at: datetime | None = None
    activity_by_hour: list[int] = Field(default_factory=lambda: [0] * 24)
    event_counts: dict[str, int] = Field(default_factory=dict)
    events_applied: int = 0
    seen: dict[str, int] = Field(default_factory=dict, description="recent messageId digests -> epoch received")

    def consent(self, channel: Channel) -> ConsentRecord | None:
        """The decision in force for ``channel``: the latest by event time (history may arrive out of order)."""
        latest: ConsentRecord | None = None
        for record in self.consents:
            if record.channel == channel and (latest is None or record.at >= latest.at):
                latest = record
        return latest

    def has_consent(self, channel: Channel) -> bool:
        record = self.consent(channel)
        return record is not None and record.status == "granted"
