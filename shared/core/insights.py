"""What nudge knows about each customer beyond their events (IN1, IN2): engagement score, lifecycle stage and RFM.

Pure: a customer's state, the shop's config, the shop's distribution of customers and the moment in; figures out.

- **Engagement** is points per event (``insights.engagement.points``: a visit, a product view, a cart, an order, an
  opened e-mail, a tapped push, ...), each worth half as much per ``half_life`` that passes. The state keeps one
  number and the moment it is valued at (:class:`~shared.models.state.Engagement`); read later, it decays to then.
- **Lifecycle**: ``prospect`` (no order), ``new`` (one), ``repeat`` (two or more), ``loyal`` (``loyal_orders`` or
  more), ``reactivated`` (ordered again after more than ``at_risk_after`` without, until that long has passed
  again), ``at_risk`` (no order for ``at_risk_after``), ``lapsed`` (none for ``lapsed_after``). Left out of the
  config, the two durations come from the shop's own purchase intervals: at risk after twice the median days
  between a customer's orders (within 30 to 365 days) once the shop has seen :data:`MIN_GAPS` repeat orders, else
  after 90 days; lapsed after twice that.
- **RFM**: recency (of the last order), frequency (orders) and monetary value (revenue), each scored 1 to 5 by the
  customer's rank among the shop's buyers (the mid-rank of their value: ties share the score), so the scores
  describe the shop's own customers whether it has 200 or 2 million. The distribution is a handful of counters per
  shop, moved by each order and refund (:func:`distribution_changes`), never a scan.

Time-based figures (engagement, the stage's at risk and lapsed, recency) are computed when read, so they are right
at that moment without a timer per customer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from shared.models.effects import MoveCustomer, OrderPosition
from shared.models.segments import LifecycleStageName
from shared.models.state import CustomerState, Engagement, Orders

if TYPE_CHECKING:  # the customer API reads shop configs only when it shows insights: not on its cold import
    from shared.models.config import InsightsSettings, LifecycleSettings

LifecycleStage = LifecycleStageName

MONEY_STEP = 1.1  # monetary buckets of the distribution: each 10 % above the last
MAX_FREQUENCY = 50  # orders counted separately up to this; more count as this many
MAX_GAP_DAYS = 730
MIN_GAPS = 20  # repeat orders the shop must have seen before its own interval sets the lifecycle thresholds
DEFAULT_AT_RISK = timedelta(days=90)
AT_RISK_BOUNDS = (timedelta(days=30), timedelta(days=365))


# ---------------------------------------------------------------- engagement
def _decay(elapsed: timedelta, half_life: timedelta) -> float:
    return math.pow(0.5, elapsed / half_life)


def add_engagement(state: CustomerState, at: datetime, points: float, half_life: timedelta) -> None:
    """Add ``points`` earned at ``at`` (events may arrive out of order: an older one adds its decayed worth)."""
    if points <= 0:
        return
    at = at.astimezone(UTC).replace(microsecond=0)  # stored in whole seconds
    current = state.engagement
    if current is None:
        state.engagement = Engagement(points=points, at=at)
    elif at >= current.at:  # (in place: the decision works on its own copy of the state)
        current.points, current.at = current.points * _decay(at - current.at, half_life) + points, at
    else:
        current.points += points * _decay(current.at - at, half_life)


def engagement_score(state: CustomerState, now: datetime, half_life: timedelta) -> float:
    """The customer's engagement points as worth at ``now``."""
    current = state.engagement
    if current is None:
        return 0.0
    return current.points * _decay(max(timedelta(0), now - current.at), half_life)


# ---------------------------------------------------------------- the shop's distribution
def position_of(orders: Orders) -> OrderPosition:
    last = orders.last_order_at
    return OrderPosition(count=orders.count, revenue=orders.revenue, last_day=last.date() if last else None)


def order_marks(orders: Orders) -> tuple[int, float, datetime | None]:
    """What places a customer in the distribution, cheaply compared (read before each event is applied)."""
    return orders.count, orders.revenue, orders.last_order_at


def customer_move(
    shop_id: str, before: Orders | tuple[int, float, datetime | None], orders: Orders
) -> MoveCustomer | None:
    """The move of a customer whose orders were ``before`` and are now ``orders`` (None: nothing moved)."""
    marks = order_marks(before) if isinstance(before, Orders) else before
    if marks == order_marks(orders):
        return None
    count, revenue, last = marks
    start = OrderPosition(count=count, revenue=revenue, last_day=last.date() if last else None)
    end = position_of(orders)
    if start == end:
        return None
    gap = None
    if start.count > 0 and start.last_day is not None and end.last_day is not None and end.last_day > start.last_day:
        gap = (end.last_day - start.last_day).days
    return MoveCustomer(shop_id=shop_id, before=start, after=end, gap_days=gap)


def merge_moves(shop_id: str, known: Orders | None, absorbed: Sequence[Orders], merged: Orders) -> list[MoveCustomer]:
    """The moves a merge makes in the shop's distribution: each absorbed buyer leaves it, and the customer who
    absorbed them moves to the orders they now hold together (no repeat gap: no order was placed)."""
    nobody = OrderPosition()
    moves = [MoveCustomer(shop_id=shop_id, before=position_of(orders), after=nobody) for orders in absorbed]
    moves.append(
        MoveCustomer(shop_id=shop_id, before=position_of(known) if known else nobody, after=position_of(merged))
    )
    return [move for move in moves if distribution_changes(move)]


def money_bucket(revenue: float) -> int:
    """The monetary bucket of ``revenue``: 0 for nothing, then one per 10 % more."""
    return int(math.log1p(max(0.0, revenue)) / math.log(MONEY_STEP))


def _keys(position: OrderPosition) -> list[str]:
    if position.count <= 0 or position.last_day is None:
        return []  # not a buyer (every order refunded): not in the distribution
    return [
        f"r:{position.last_day.isoformat()}",
        f"f:{min(position.count, MAX_FREQUENCY)}",
        f"m:{money_bucket(position.revenue)}",
    ]


def distribution_changes(move: MoveCustomer) -> dict[str, int]:
    """The counters of the shop's distribution a move changes, and by how much (none is zero)."""
    changes: Counter[str] = Counter()
    changes.subtract(_keys(move.before))
    changes.update(_keys(move.after))
    if move.gap_days is not None:
        changes[f"g:{min(move.gap_days, MAX_GAP_DAYS)}"] += 1
    return {key: delta for key, delta in sorted(changes.items()) if delta}


@dataclass(frozen=True)
class ShopDistribution:
    """How the shop's buyers spread: customers per last-order day, per order count, per monetary bucket, and repeat
    orders per days since the previous one."""

    recency: Counter[str] = field(default_factory=Counter)
    frequency: Counter[int] = field(default_factory=Counter)
    monetary: Counter[int] = field(default_factory=Counter)
    gaps: Counter[int] = field(default_factory=Counter)

    @classmethod
    def of(cls, counters: Mapping[str, int]) -> ShopDistribution:
        """From the stored counters (``r:<day>``, ``f:<n>``, ``m:<bucket>``, ``g:<days>``); others are ignored."""
        made = cls()
        for key, count in counters.items():
            kind, _, value = key.partition(":")
            if count <= 0 or not value:
                continue
            if kind == "r":
                made.recency[value] += count
            elif kind in ("f", "m", "g") and value.isdigit():
                {"f": made.frequency, "m": made.monetary, "g": made.gaps}[kind][int(value)] += count
        return made

    @property
    def buyers(self) -> int:
        return sum(self.frequency.values())

    def typical_gap(self) -> timedelta | None:
        """The median days between a customer's orders, once the shop has seen :data:`MIN_GAPS` repeat orders."""
        total = sum(self.gaps.values())
        if total < MIN_GAPS:
            return None
        seen = 0
        for days in sorted(self.gaps):
            seen += self.gaps[days]
            if seen * 2 >= total:
                return timedelta(days=days)
        return timedelta(days=max(self.gaps))


def _score[K: (str, int)](counts: Counter[K], value: K) -> int:
    """1 to 5: the quintile of ``value``'s mid-rank among ``counts`` (higher values score higher)."""
    total = sum(counts.values())
    if total <= 0:
        return 3
    below = sum(count for key, count in counts.items() if key < value)
    rank = (below + counts.get(value, 0) / 2) / total
    return 1 + min(4, int(rank * 5))


def rfm(state: CustomerState, distribution: ShopDistribution) -> tuple[int, int, int] | None:
    """The customer's recency, frequency and monetary scores among the shop's buyers (None: not a buyer)."""
    position = position_of(state.orders)
    if position.count <= 0 or position.last_day is None:
        return None
    return (
        _score(distribution.recency, position.last_day.isoformat()),
        _score(distribution.frequency, min(position.count, MAX_FREQUENCY)),
        _score(distribution.monetary, money_bucket(position.revenue)),
    )


# ---------------------------------------------------------------- lifecycle
@dataclass(frozen=True)
class Thresholds:
    """When a customer without an order becomes at risk, then lapsed, and where the durations come from."""

    at_risk_after: timedelta
    lapsed_after: timedelta
    source: Literal["config", "shop_intervals", "default"]


def thresholds(settings: LifecycleSettings, distribution: ShopDistribution | None) -> Thresholds:
    typical = distribution.typical_gap() if distribution is not None else None
    low, high = AT_RISK_BOUNDS
    derived = min(high, max(low, 2 * typical)) if typical is not None else DEFAULT_AT_RISK
    source: Literal["config", "shop_intervals", "default"] = "shop_intervals" if typical is not None else "default"
    at_risk = settings.at_risk_after or derived
    if settings.lapsed_after is not None and settings.at_risk_after is None and at_risk >= settings.lapsed_after:
        at_risk = settings.lapsed_after / 2  # a configured lapse shorter than the derived risk: keep their order
    lapsed = settings.lapsed_after or 2 * at_risk
    if settings.at_risk_after is not None and settings.lapsed_after is not None:
        source = "config"
    return Thresholds(at_risk, lapsed, source)


def lifecycle(state: CustomerState, now: datetime, settings: LifecycleSettings, limits: Thresholds) -> LifecycleStage:
    """Where the customer stands at ``now``."""
    orders = state.orders
    if orders.count <= 0 or orders.last_order_at is None:
        return "prospect"
    since = now - orders.last_order_at
    if since > limits.lapsed_after:
        return "lapsed"
    if since > limits.at_risk_after:
        return "at_risk"
    completed = sorted(order.at for order in orders.recent if order.status == "completed")
    if len(completed) >= 2 and completed[-1] - completed[-2] > limits.at_risk_after:
        return "reactivated"  # back after a gap: a win-back that worked
    if orders.count >= settings.loyal_orders:
        return "loyal"
    return "repeat" if orders.count >= 2 else "new"


# ---------------------------------------------------------------- what the customer API shows
def insights_view(
    state: CustomerState, settings: InsightsSettings, distribution: ShopDistribution, now: datetime
) -> dict[str, Any]:
    """The customer's insights at ``now``, as ``GET /v1/customers/{id}`` shows them."""
    limits = thresholds(settings.lifecycle, distribution)
    scores = rfm(state, distribution)
    engagement = settings.engagement
    return {
        "as_of": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "lifecycle": {
            "stage": lifecycle(state, now, settings.lifecycle, limits),
            "at_risk_after_days": round(limits.at_risk_after / timedelta(days=1), 1),
            "lapsed_after_days": round(limits.lapsed_after / timedelta(days=1), 1),
            "thresholds_from": limits.source,
        },
        "rfm": None
        if scores is None
        else {
            "recency": scores[0],
            "frequency": scores[1],
            "monetary": scores[2],
            "code": "".join(map(str, scores)),
            "among_buyers": distribution.buyers,
        },
        "engagement": {
            "score": round(engagement_score(state, now, engagement.half_life), 2),
            "half_life_days": round(engagement.half_life / timedelta(days=1), 1),
        },
    }
