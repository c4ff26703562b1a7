"""A customer's data export (GDPR Art. 15 and 20): everything nudge holds about one customer of one shop, in one JSON
document a shop can hand to the customer (``GET /v1/customers/{id}/export``, ``nudge customer export``).

Read from the customer's own items only (their state, their send ledger, their in-app inbox, the offer codes their
messages carried) and the shop's config; no scan. docs/PRIVACY.md describes every field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.core.insights import ShopDistribution, insights_view
from shared.core.segments import Audience, in_segment
from shared.models.vocabulary import CHANNELS

if TYPE_CHECKING:
    from shared.adapters.customers import StoredCustomer
    from shared.models.channels import InboxItem
    from shared.models.config import ShopConfig
    from shared.models.messages import LedgerEntry

EXPORT_FORMAT = "nudge-customer-export/1"
MAX_MESSAGES = 1000  # the ledger keeps 400 days; a customer with more messages than this is unusual


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment is not None else None


def export_document(
    record: StoredCustomer,
    customer_id: str,
    config: ShopConfig,
    distribution: ShopDistribution,
    messages: list[LedgerEntry],
    inbox: list[InboxItem],
    offers: Callable[[str], dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """The export of one customer: their profile, consents with the whole history, devices, carts, browsing,
    orders (with the message each is credited to), every message with every attempt and what they did with it,
    their in-app inbox, the offer codes they were given (``offers`` looks one up as the checkout sees it), their
    journeys, and what nudge makes of them now (segments, lifecycle, RFM, engagement)."""
    state = record.state
    assert state is not None
    audience = Audience(config, distribution, now)
    codes = sorted({str(code) for entry in messages if (code := entry.details.get("offer_code"))})
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(now),
        "shop": config.shop.id,
        "customer_id": customer_id,
        "record": record.key,
        "profile": {
            "user_id": state.user_id,
            "anonymous_ids": list(state.anonymous_ids),
            "traits": dict(state.traits),
            "locale": state.locale,
            "timezone": state.timezone,
            "first_seen_at": _iso(state.first_seen_at),
            "last_activity_at": _iso(state.last_activity_at),
            "newsletter_subscribed_at": _iso(state.newsletter_subscribed_at),
        },
        "consents": {
            "in_force": {
                channel: record_.model_dump(mode="json") if (record_ := state.consent(channel)) else None
                for channel in CHANNELS
            },
            "history": [entry.model_dump(mode="json") for entry in state.consents],
        },
        "preferences": {"topics_off": list(state.topics_off), "paused_until": _iso(state.paused_until)},
        "devices": {
            "push_tokens": [token.model_dump(mode="json", exclude={"endpoint_arn"}) for token in state.push_tokens],
            "app": state.app.model_dump(mode="json"),
            "undeliverable": {channel: list(values) for channel, values in state.undeliverable.items()},
            "whatsapp_inbound_at": _iso(state.whatsapp_inbound_at),
        },
        "shopping": {
            "carts": {cart_id: cart.model_dump(mode="json") for cart_id, cart in state.carts.items()},
            "viewed": [product.view() for product in state.viewed],
            "wishlist": [product.view() for product in state.wishlist],
            "back_in_stock_requests": [wait.model_dump(mode="json") for wait in state.waits],
            "orders": state.orders.model_dump(mode="json"),
            "offers_shown": [offer.model_dump(mode="json") for offer in state.offers_shown],
        },
        "messages": [entry.view() for entry in messages],
        "inbox": [item.model_dump(mode="json") for item in inbox],
        "offer_codes": [offers(code) for code in codes],
        "engagement": {
            "touches": [touch.view() for touch in state.touches],
            "recent_events": [
                {"at": _iso(datetime.fromtimestamp(m.at, UTC)), "event": m.label} for m in state.recent_events
            ],
            "event_counts": dict(state.event_counts),
            "activity_by_hour": list(state.activity_by_hour),
        },
        "journeys": {
            "active": [instance.view() for instance in state.journeys],
            "log": [entry.view() for entry in state.journey_log],
            "campaigns": {
                campaign: marks.model_dump(mode="json", by_alias=False) for campaign, marks in state.campaigns.items()
            },
        },
        "segments": sorted(name for name in config.segments if in_segment(state, name, audience)),
        "insights": insights_view(state, config.insights, distribution, now),
        "merge_refusals": [refusal.model_dump(mode="json") for refusal in state.merge_refusals],
    }
