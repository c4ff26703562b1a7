"""The churn counters (``shared/core/churn.py``): what each order, cancellation and refund adds to a shop's months,
driven through the decision core as the updater drives it, and added up as the customers table adds them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.core.churn import changes, count_churn, first_month, shift
from shared.core.customer import decide
from shared.models.effects import CountChurn
from shared.models.state import CustomerState, OrderRef, Orders
from tests.factories import accepted, shop_config, track

CONFIG = shop_config({})


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def order(order_id: str, revenue: float) -> tuple[str, dict[str, Any]]:
    return "Order Completed", {"order_id": order_id, "revenue": revenue}


def cancelled(order_id: str) -> tuple[str, dict[str, Any]]:
    return "Order Cancelled", {"order_id": order_id}


def refunded(order_id: str, revenue: float | None = None) -> tuple[str, dict[str, Any]]:
    return "Order Refunded", {"order_id": order_id, **({"revenue": revenue} if revenue is not None else {})}


def replay(history: list[tuple[str, datetime, tuple[str, dict[str, Any]]]]) -> dict[str, dict[str, float]]:
    """Each (customer, moment, event) decided in turn; the churn counters every decision moved, added up per month
    (to the cent, as DynamoDB adds them), without the counters that came to zero."""
    states: dict[str, CustomerState | None] = {}
    months: dict[str, dict[str, float]] = {}
    for user, moment, (name, properties) in history:
        event = accepted(track(name, properties, userId=user), at=moment)
        decision = decide(states.get(user), event, moment, CONFIG)
        states[user] = decision.state or states.get(user)
        for effect in decision.effects:
            if isinstance(effect, CountChurn):
                for month, moved in effect.months.items():
                    counters = months.setdefault(month, {})
                    for counter, amount in moved.items():
                        counters[counter] = round(counters.get(counter, 0.0) + amount, 2)
    return {
        month: kept for month, counters in sorted(months.items()) if (kept := {k: v for k, v in counters.items() if v})
    }


def test_a_shops_order_history_adds_up_to_the_months_worked_out_by_hand():
    """Four customers from January to April 2026:

    ====  =====================================================================================================
    Ana   Jan 10 order 100, Jan 20 order 50, Feb 5 order 30; nothing after
    Ben   Jan 15 order 80; Mar 3 order 40 (skips February)
    Cleo  Feb 2 order 60, cancelled Feb 4 (her only February order); Mar 10 order 20
    Dan   Feb 10 order 200; Mar 12 order 70; Mar 20 refund of 50 of the February order; Apr 1 order 10
    ====  =====================================================================================================

    By hand, per month (first = their first order that counts is in the month; retained = bought the month before
    too, by what they were then, with what they spent then):

    - Jan: first-time buyers Ana and Ben, 150 + 80 = 230. Nobody before.
    - Feb: Dan first-time, 200 - 50 refunded = 150; Ana repeat, 30. Cleo's cancelled order leaves her out. Ana
      bought in January as a first-time buyer: retained_first 1, with her January 150. (Ben churned.)
    - Mar: Cleo first-time (her cancelled February order was not where she started), 20; Ben and Dan repeat,
      40 + 70 = 110. Dan bought in February as a first-time buyer: retained_first 1, with his February 200, less the
      50 refunded after: 150. Ben did not buy in February: a repeat buyer, not retained. (Ana churned.)
    - Apr: Dan repeat, 10; he bought in March as a repeat buyer: retained_repeat 1, with his March 70. (Ben and
      Cleo churned.)
    """
    history = [
        ("ana", at(1, 10), order("a1", 100.0)),
        ("ben", at(1, 15), order("b1", 80.0)),
        ("ana", at(1, 20), order("a2", 50.0)),
        ("cleo", at(2, 2), order("c1", 60.0)),
        ("cleo", at(2, 4), cancelled("c1")),
        ("ana", at(2, 5), order("a3", 30.0)),
        ("dan", at(2, 10), order("d1", 200.0)),
        ("ben", at(3, 3), order("b2", 40.0)),
        ("cleo", at(3, 10), order("c2", 20.0)),
        ("dan", at(3, 12), order("d2", 70.0)),
        ("dan", at(3, 20), refunded("d1", 50.0)),
        ("dan", at(4, 1), order("d3", 10.0)),
    ]

    assert replay(history) == {
        "2026-01": {"buyers_first": 2, "revenue_first": 230.0},
        "2026-02": {
            "buyers_first": 1,
            "revenue_first": 150.0,
            "buyers_repeat": 1,
            "revenue_repeat": 30.0,
            "retained_first": 1,
            "retained_revenue_first": 150.0,
        },
        "2026-03": {
            "buyers_first": 1,
            "revenue_first": 20.0,
            "buyers_repeat": 2,
            "revenue_repeat": 110.0,
            "retained_first": 1,
            "retained_revenue_first": 150.0,
        },
        "2026-04": {
            "buyers_repeat": 1,
            "revenue_repeat": 10.0,
            "retained_repeat": 1,
            "retained_revenue_repeat": 70.0,
        },
    }


def test_the_same_history_arriving_in_another_order_adds_up_to_the_same_months():
    """Eva's orders reach nudge late and out of order: March's first, then January's, then February's.

    By hand: Jan first-time 40; Feb repeat 25, retained_first with January's 40; Mar repeat 15, retained_repeat with
    February's 25. As her orders arrive, March first counts her first-time, then (January's known) repeat; February's
    then makes her retained in March."""
    shuffled = [
        ("eva", at(3, 9), order("e3", 15.0)),
        ("eva", at(1, 9), order("e1", 40.0)),
        ("eva", at(2, 9), order("e2", 25.0)),
    ]
    in_order = sorted(shuffled, key=lambda entry: entry[1])

    expected = {
        "2026-01": {"buyers_first": 1, "revenue_first": 40.0},
        "2026-02": {"buyers_repeat": 1, "revenue_repeat": 25.0, "retained_first": 1, "retained_revenue_first": 40.0},
        "2026-03": {"buyers_repeat": 1, "revenue_repeat": 15.0, "retained_repeat": 1, "retained_revenue_repeat": 25.0},
    }
    assert replay(in_order) == expected
    assert replay(shuffled) == expected


def test_a_customer_counts_once_a_month_and_later_orders_add_revenue_only():
    history = [("fay", at(5, day), order(f"f{day}", 10.0)) for day in (1, 2, 3)]

    assert replay(history) == {"2026-05": {"buyers_first": 1, "revenue_first": 30.0}}


def test_an_order_reported_twice_and_a_page_view_move_nothing():
    state = decide(None, accepted(track(*order("g1", 10.0), userId="gus"), at=at(6, 1)), at(6, 1), CONFIG).state
    again = accepted(track(*order("g1", 10.0), userId="gus"), at=at(6, 2))  # another messageId, the same order

    effects = decide(state, again, at(6, 2), CONFIG).effects

    assert [effect for effect in effects if isinstance(effect, CountChurn)] == []
    assert state is not None and count_churn("demo", state.orders, state.orders) is None


def test_cancelling_the_only_order_of_a_month_takes_the_customer_and_their_retention_out():
    """Hal bought in July and August; August's order is cancelled: August loses him as a buyer and as retained."""
    history = [
        ("hal", at(7, 1), order("h1", 10.0)),
        ("hal", at(8, 1), order("h2", 20.0)),
        ("hal", at(8, 20), cancelled("h2")),
    ]

    assert replay(history) == {"2026-07": {"buyers_first": 1, "revenue_first": 10.0}}


def test_a_whole_refund_leaves_the_customer_a_buyer_without_revenue():
    history = [("ivy", at(9, 1), order("i1", 35.5)), ("ivy", at(9, 3), refunded("i1"))]

    assert replay(history) == {"2026-09": {"buyers_first": 1}}


def test_an_order_the_last_ten_let_go_moves_no_month():
    """Jo's first order (December) and nine more (January to April): her eleventh pushes December's out of the
    orders the state holds. That is no change of December's, nor of January's retention: only April moves."""
    first = OrderRef(order_id="j0", amount=10.0, at=datetime(2025, 12, 1, tzinfo=UTC))
    refs = [first, *(OrderRef(order_id=f"j{n}", amount=10.0, at=at(1 + n // 3, n)) for n in range(1, 10))]
    before = Orders(count=10, revenue=100.0, first_order_at=first.at, last_order_at=refs[-1].at, recent=refs)
    new = OrderRef(order_id="j10", amount=5.0, at=at(4, 28))
    after = before.model_copy(
        update={"count": 11, "revenue": 105.0, "last_order_at": new.at, "recent": [*refs[1:], new]}
    )

    assert changes(before, after) == {"2026-04": {"revenue_repeat": 5.0}}  # she counted in April already


@pytest.mark.parametrize(("month", "by", "moved"), [("2026-01", -1, "2025-12"), ("2026-12", 1, "2027-01")])
def test_months_move_across_years(month, by, moved):
    assert shift(month, by) == moved


def test_the_first_month_is_the_first_order_not_cancelled_while_the_state_holds_them_all():
    first = OrderRef(order_id="k1", amount=5.0, at=at(1, 5), status="cancelled")
    second = OrderRef(order_id="k2", amount=5.0, at=at(2, 5))
    orders = Orders(count=1, revenue=5.0, first_order_at=first.at, last_order_at=second.at, recent=[first, second])

    assert first_month(orders) == "2026-02"
    assert first_month(orders.model_copy(update={"count": 5})) == "2026-01"  # older orders out of view: as stored
