"""A shop's buyers month by month, who came back and who churned (the churn report, ``GET /v1/reports/churn``;
docs/MEASUREMENT.md), counted as each order, cancellation and refund changes a customer's orders: never a scan.

Per shop and UTC month ``M`` (``YYYY-MM``: the month an order was placed), eight counters:

- ``buyers_first`` / ``buyers_repeat``: customers with an order in M that is not cancelled, whose first order is in M
  (first-time buyers) / before M (repeat buyers). A customer counts once in M, however many orders they place in it.
- ``revenue_first`` / ``revenue_repeat``: those customers' orders in M, less what was cancelled or refunded of them.
- ``retained_first`` / ``retained_repeat``: M's buyers who also bought in M-1, by what they were in M-1.
- ``retained_revenue_first`` / ``retained_revenue_repeat``: those customers' revenue in M-1.

So M-1's buyers of a kind who did not buy in M are ``buyers_<kind>(M-1) - retained_<kind>(M)``, and the revenue
churned is ``revenue_<kind>(M-1) - retained_revenue_<kind>(M)``.

An event's changes are the difference between the customer's share of the counters after it and before it, in the
months it can move: the changed order's month and the month after, and the months of the customer's first order
before and after (a cancelled first order, or an older order reported late, makes another month their first). The
shares are read from the orders the state holds, its last :data:`~shared.models.state.MAX_RECENT_ORDERS`. That is
exact, but for what the state does not hold:

- how much of a refunded order was refunded: a refund moves the counters by exactly what it took back, but a share
  read later counts a refunded order as nothing (exact for whole refunds). So a partly refunded order of M-1 adds
  nothing to ``retained_revenue`` when its customer's first order of M comes after the refund;
- orders older than the last ten (a customer with more than ten orders in two months);
- the first order, when it was cancelled and the customer has more orders than the state holds: the state's
  ``first_order_at`` (which a cancellation leaves) says where they started;
- merges of two customers' records move nothing (each counted as they were).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from shared.models.effects import CountChurn
from shared.models.state import OrderRef, Orders

KINDS = ("first", "repeat")  # each counter is ``<measure>_<kind>``

type Share = dict[str, float]  # counter -> one customer's part of it (or a change of it)


def month_of(at: datetime) -> str:
    """The UTC month of ``at``, ``YYYY-MM`` (months sort as text)."""
    return at.astimezone(UTC).strftime("%Y-%m")


def shift(month: str, months: int) -> str:
    """``month`` moved by ``months`` (negative: back)."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def first_month(orders: Orders) -> str | None:
    """The month of the customer's first order that still counts (None: no order counts).

    While the state holds every order that was not cancelled, the earliest of them: a cancelled first order is not
    where the customer started. Beyond that, the state's ``first_order_at``."""
    if orders.count <= 0:
        return None
    counted = [ref.at for ref in orders.recent if ref.status != "cancelled"]
    if counted and len(counted) >= orders.count:
        return month_of(min(counted))
    return month_of(orders.first_order_at) if orders.first_order_at is not None else None


def _in_month(orders: Sequence[OrderRef], month: str) -> tuple[bool, float]:
    """Whether the customer bought in ``month`` (an order not cancelled), and their revenue in it as the state shows
    it (a refunded order: nothing, the state keeps no refunded amount)."""
    placed = [ref for ref in orders if ref.status != "cancelled" and month_of(ref.at) == month]
    return bool(placed), sum(ref.amount for ref in placed if ref.status == "completed")


def _kind(first: str | None, month: str) -> str:
    return "first" if first == month else "repeat"


def share(first: str | None, orders: Sequence[OrderRef], month: str) -> Share:
    """One customer's part of ``month``'s counters: their first order's month ``first``, and ``orders``."""
    bought, revenue = _in_month(orders, month)
    if not bought:
        return {}
    kind = _kind(first, month)
    part = {f"buyers_{kind}": 1.0, f"revenue_{kind}": revenue}
    previous = shift(month, -1)
    came_back, then = _in_month(orders, previous)
    if came_back:
        was = _kind(first, previous)
        part[f"retained_{was}"] = 1.0
        part[f"retained_revenue_{was}"] = then
    return part


def _add(into: dict[str, Share], month: str, counter: str, amount: float) -> None:
    counters = into.setdefault(month, {})
    counters[counter] = counters.get(counter, 0.0) + amount


def changes(before: Orders, after: Orders) -> dict[str, Share]:
    """What the counters of each month move by when a customer's orders go from ``before`` to ``after`` (an order, a
    cancellation or a refund); money to the cent, no zero."""
    held = {ref.order_id for ref in after.recent}
    seen = [ref for ref in before.recent if ref.order_id in held]  # an order the window let go moves nothing
    status = {ref.order_id: ref.status for ref in seen}
    changed = [ref for ref in after.recent if status.get(ref.order_id) != ref.status]
    if not changed:
        return {}  # the same order again, or a credit
    first_before, first_after = first_month(before), first_month(after)
    moved = {month_of(ref.at) for ref in changed} | {month for month in (first_before, first_after) if month}
    result: dict[str, Share] = {}
    for month in sorted(moved | {shift(month, 1) for month in moved}):
        new, old = share(first_after, after.recent, month), share(first_before, seen, month)
        for counter in new.keys() | old.keys():
            _add(result, month, counter, new.get(counter, 0.0) - old.get(counter, 0.0))
    for ref in changed:
        if ref.status == "refunded":  # a share counts it as nothing: what the refund left of it is added back
            kept = ref.amount - (before.revenue - after.revenue)  # an event changes one order: this is the refund
            month, later = month_of(ref.at), shift(month_of(ref.at), 1)
            _add(result, month, f"revenue_{_kind(first_after, month)}", kept)
            if _in_month(after.recent, later)[0]:
                _add(result, later, f"retained_revenue_{_kind(first_after, month)}", kept)
    return {
        month: rounded
        for month, counters in sorted(result.items())
        if (rounded := {name: round(value, 2) for name, value in sorted(counters.items()) if round(value, 2)})
    }


def count_churn(shop_id: str, before: Orders, after: Orders) -> CountChurn | None:
    """The churn counters' changes as an effect for the updater (None: nothing moves). The core replaces the orders
    it changes, so the same object is the same orders: most events, and nothing to compare."""
    moved = changes(before, after) if after is not before else {}
    return CountChurn(shop_id=shop_id, months=moved) if moved else None
