"""What nudge knows about each customer (IN1, IN2), as support reads it in ``GET /v1/customers/{id}``: the lifecycle
stage, the RFM scores among the shop's own buyers and the engagement score, right at the moment of reading.

On template.yaml in memory (``tests/memory.py``): the shop's events go in through the ingest API, the updater applies
them and moves each buyer in the shop's distribution, the customer API reads it; the clock is the test's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.models.config import ShopConfig
from tests.factories import T0, shop_config, track
from tests.integration.test_journeys import unique
from tests.memory import MemoryStack

WRITE, SECRET = "demo-write-key", "demo-secret-key"


def shop(**insights: Any) -> ShopConfig:
    config = shop_config({})
    return config.model_validate({**config.model_dump(mode="json", exclude_unset=True), "insights": insights})


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([shop()])


def at(stack: MemoryStack, days: float, *messages: dict[str, Any]) -> None:
    """Post ``messages`` ``days`` after T0 (the clock moves there; it never goes back)."""
    stack.clock.at = max(stack.clock.at, T0 + timedelta(days=days))
    if messages:
        status, answer = stack.post("/v1/batch", {"batch": list(messages)}, key=WRITE)
        assert status == 200, answer
        stack.settle()


def order(user: str, amount: float, **fields: Any) -> dict[str, Any]:
    return track(
        "Order Completed", {"order_id": unique("o"), "total": amount, "currency": "EUR", **fields}, userId=user
    )


def insights(stack: MemoryStack, user: str) -> dict[str, Any]:
    status, body = stack.customer(user, key=SECRET)
    assert status == 200, body
    return body["insights"]


def stage(stack: MemoryStack, user: str) -> str:
    return insights(stack, user)["lifecycle"]["stage"]


def test_a_customer_moves_through_the_lifecycle_with_orders_and_with_time_alone(stack):
    user = unique("life")
    at(stack, 0, track("Product Viewed", {"product_id": "mug"}, userId=user))
    assert stage(stack, user) == "prospect"

    at(stack, 1, order(user, 30))
    assert stage(stack, user) == "new"
    at(stack, 20, order(user, 30))
    assert stage(stack, user) == "repeat"
    at(stack, 40, order(user, 30), order(user, 30))
    assert stage(stack, user) == "loyal"  # four orders: the default loyal_orders

    # No event and no timer from here on: the stage is what it is at the moment it is read.
    at(stack, 40 + 90)
    assert stage(stack, user) == "loyal"  # exactly 90 days: not yet
    at(stack, 40 + 91)
    view = insights(stack, user)["lifecycle"]
    assert view == {
        "stage": "at_risk",
        "at_risk_after_days": 90.0,
        "lapsed_after_days": 180.0,
        "thresholds_from": "default",
    }
    at(stack, 40 + 181)
    assert stage(stack, user) == "lapsed"

    at(stack, 40 + 182, order(user, 30))  # back after half a year: the win-back worked
    assert stage(stack, user) == "reactivated"
    at(stack, 40 + 182 + 20, order(user, 30))  # and ordering in their old rhythm again
    assert stage(stack, user) == "loyal"


def test_a_cancelled_only_order_makes_the_customer_a_prospect_again_and_takes_them_out_of_the_rfm(stack):
    user, other = unique("cancel"), unique("stays")
    first = unique("o")
    at(stack, 0, order(other, 50), order(user, 80, order_id=first))
    assert insights(stack, user)["rfm"]["among_buyers"] == 2

    at(stack, 1, track("Order Cancelled", {"order_id": first}, userId=user))

    view = insights(stack, user)
    assert view["lifecycle"]["stage"] == "prospect" and view["rfm"] is None
    assert insights(stack, other)["rfm"]["among_buyers"] == 1


def test_rfm_scores_rank_each_buyer_among_the_shops_own_two_hundred(stack):
    # 200 buyers: buyer i orders (i % 5) + 1 times, spending 10 * (i + 1) in all, the last order i / 2 days after T0
    buyers = [unique(f"b{i}") for i in range(200)]
    events = []
    for i, user in enumerate(buyers):
        count = i % 5 + 1
        events += [(i / 2 - (count - 1 - n) * 0.01, order(user, 10 * (i + 1) / count)) for n in range(count)]
    for day, message in sorted(events, key=lambda pair: pair[0]):
        at(stack, day, message)
    at(stack, 101)

    scores = {user: insights(stack, user)["rfm"] for user in buyers}

    assert {s["among_buyers"] for s in scores.values()} == {200}
    newest_biggest = scores[buyers[199]]  # last to order, spent most, 5 orders
    assert (newest_biggest["recency"], newest_biggest["frequency"], newest_biggest["monetary"]) == (5, 5, 5)
    assert newest_biggest["code"] == "555"
    oldest_smallest = scores[buyers[0]]  # first to order, spent least, 1 order
    assert oldest_smallest["code"] == "111"
    # Every score goes to about a fifth of the shop's buyers (ties share one: two buyers a day, spending within
    # the same 10 % bucket)
    for dimension, low, high in (("recency", 38, 42), ("monetary", 35, 48)):
        spread = [sum(1 for s in scores.values() if s[dimension] == score) for score in range(1, 6)]
        assert all(low <= n <= high for n in spread), (dimension, spread)
    assert [sum(1 for s in scores.values() if s["frequency"] == score) for score in range(1, 6)] == [40] * 5


def test_the_lifecycle_thresholds_follow_the_shops_own_days_between_orders(memory_stack):
    stack = memory_stack([shop()])
    # 25 customers order twice, 40 days apart: the shop's typical interval is 40 days
    users = [unique("gap") for _ in range(25)]
    at(stack, 0, *(order(user, 20) for user in users))
    at(stack, 40, *(order(user, 20) for user in users))

    at(stack, 40 + 81)
    view = insights(stack, users[0])["lifecycle"]
    assert view == {
        "stage": "at_risk",
        "at_risk_after_days": 80.0,
        "lapsed_after_days": 160.0,
        "thresholds_from": "shop_intervals",
    }

    configured = memory_stack([shop(lifecycle={"at_risk_after": "P30D", "lapsed_after": "P60D", "loyal_orders": 2})])
    at(configured, 0, order("c", 20), order("c", 20))
    assert stage(configured, "c") == "loyal"
    at(configured, 31)
    assert insights(configured, "c")["lifecycle"]["thresholds_from"] == "config"
    assert stage(configured, "c") == "at_risk"


def test_engagement_counts_a_visit_once_and_loses_half_its_worth_per_half_life(stack):
    user = unique("engaged")
    page = {"type": "page", "name": "Home", "userId": user}
    # a visit of three page views (one visit point), a product view (1), a cart (2) and an order (5)
    at(stack, 0, {**page, "messageId": unique("p")})
    at(stack, 0.001, {**page, "messageId": unique("p")}, {**page, "messageId": unique("p")})
    at(stack, 0.002, track("Product Viewed", {"product_id": "mug"}, userId=user))
    at(stack, 0.003, track("Product Added", {"product_id": "mug"}, userId=user), order(user, 12))
    assert insights(stack, user)["engagement"] == {"score": 9.0, "half_life_days": 30.0}

    at(stack, 30.003)
    assert insights(stack, user)["engagement"]["score"] == 4.5
    at(stack, 60.003, {**page, "messageId": unique("p")})  # a new visit: 2.25 + 1
    assert insights(stack, user)["engagement"]["score"] == 3.25


def test_a_shops_own_points_and_half_life_score_its_customers(memory_stack):
    stack = memory_stack([shop(engagement={"half_life": "P7D", "points": {"Order Completed": 20, "visit": 0}})])
    at(stack, 0, {"type": "page", "name": "Home", "userId": "p", "messageId": unique("p")}, order("p", 5))
    at(stack, 7)
    assert insights(stack, "p")["engagement"] == {"score": 10.0, "half_life_days": 7.0}


def test_a_guest_buyer_who_signs_in_is_one_buyer_in_the_shops_distribution(stack):
    # Given a known customer with an order, and a guest checkout (an anonymous id) with another
    user, guest = unique("known"), unique("guest")
    at(stack, 0, order(user, 40))
    at(stack, 1, track("Order Completed", {"order_id": unique("o"), "total": 25.0}, anonymousId=guest))

    def buyers() -> dict[str, int]:
        counters = stack.cloud.orders.distribution("demo")
        frequency = {key: n for key, n in counters.items() if key.startswith("f:") and n}
        return frequency

    assert buyers() == {"f:1": 2}

    # When the guest signs in: their records merge
    at(stack, 2, {"type": "identify", "userId": user, "anonymousId": guest, "traits": {}, "messageId": unique("m")})

    # Then the shop has one buyer of two orders, not two buyers of one (and one of two)
    assert buyers() == {"f:2": 1}
