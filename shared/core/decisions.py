"""The real-time offer decision (J13, IN6): which offer a customer on an exit-intent, cart or checkout page should see
now, from their state alone (one read). Pure, no I/O.

The customer's segment comes from their orders (``shared.models.config.OfferDecisions``); the first tier that names
it decides: an offer, or none. At most one offer per customer per ``once_per``: a customer shown one within it sees
that same one again (same code, same expiry), so a page that asks on every visit shows one offer, not one per visit.
A code nudge makes is derived from shop, customer and the ``once_per`` window it was first shown in: two requests at
once (two tabs) get the same code before either showing is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shared.core.journeys import digest
from shared.models.config import OfferDecisions, Segment, ShopConfig
from shared.models.state import CustomerState, ShownOffer


@dataclass(frozen=True, slots=True)
class OfferDecision:
    """The answer: the customer's segment, the tier that decided, and the offer (None: show nothing). ``repeat``:
    it was shown before within ``once_per`` (nothing new to record)."""

    segment: Segment
    tier: str | None
    offer: ShownOffer | None
    repeat: bool = False
    period: int = 0  # the number of the ``once_per`` window it was decided in

    def view(self) -> dict[str, object]:
        offer = self.offer
        return {
            "segment": self.segment,
            "tier": self.tier,
            "offer": None
            if offer is None
            else {
                "code": offer.code,
                "percent": offer.percent,
                "free_shipping": offer.free_shipping,
                "expires_at": offer.expires_at.isoformat() if offer.expires_at else None,
            },
            "repeat": self.repeat,
        }


def segment_of(state: CustomerState | None, settings: OfferDecisions, now: datetime) -> Segment:
    """The customer's value segment from their orders (a customer nudge does not know is a new visitor)."""
    orders = state.orders if state is not None else None
    if orders is None or orders.count == 0:
        return "new_visitor"
    if orders.last_order_at is not None and now - orders.last_order_at > settings.at_risk_after:
        return "at_risk"
    if orders.count >= settings.loyal_orders:
        return "loyal"
    return "new_customer" if orders.count == 1 else "repeat"


def decide_offer(state: CustomerState | None, config: ShopConfig, customer: str, now: datetime) -> OfferDecision:
    """The offer ``customer`` should see at ``now``."""
    settings = config.offer_decisions
    assert settings is not None, "the shop has no offer_decisions"
    segment = segment_of(state, settings, now)
    latest = state.offers_shown[-1] if state is not None and state.offers_shown else None
    if latest is not None and now - latest.at < settings.once_per:
        still_valid = latest.expires_at is None or latest.expires_at > now
        return OfferDecision(segment, latest.tier, latest if still_valid else None, repeat=True)
    tier = next((t for t in settings.tiers if segment in t.segments), None)
    if tier is None or tier.offer is None:
        return OfferDecision(segment, tier.name if tier else None, None)
    offer = tier.offer
    window = int(now.timestamp() // settings.once_per.total_seconds())
    code = offer.static or offer.prefix + digest("decide", config.shop.id, customer, window)[:10]
    shown = ShownOffer(
        at=now,
        code=code,
        tier=tier.name,
        percent=offer.percent,
        free_shipping=offer.free_shipping,
        expires_at=None if offer.static else (now + offer.valid_for).astimezone(UTC).replace(microsecond=0),
    )
    return OfferDecision(segment, tier.name, shown, period=window)
