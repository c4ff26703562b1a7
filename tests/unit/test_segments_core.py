"""Segment rules (``shared/core/segments.py``): each kind of rule judged on a customer state at a moment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.core.insights import ShopDistribution, add_engagement
from shared.core.segments import Audience, in_segment
from shared.models.config import ShopConfig
from shared.models.state import ConsentRecord, CustomerState, OrderRef, Orders, ProductRef
from tests.factories import T0, shop_config

NOW = T0 + timedelta(days=100)


def config(segments: dict[str, Any], journeys: dict[str, Any] | None = None) -> ShopConfig:
    base = shop_config(journeys or {})
    return ShopConfig.model_validate({**base.model_dump(mode="json", exclude_unset=True), "segments": segments})


def judged(rule: dict[str, Any], state: CustomerState, distribution: dict[str, int] | None = None, **more) -> bool:
    shop = config({"s": rule, **more.get("segments", {})}, more.get("journeys"))
    return in_segment(state, "s", Audience(shop, ShopDistribution.of(distribution or {}), NOW))


def buyer(orders: int, revenue: float, last: timedelta, **fields: Any) -> CustomerState:
    at = NOW - last
    recent = [
        OrderRef(order_id=f"o{n}", amount=revenue / orders, at=at - timedelta(days=10 * n)) for n in range(orders)
    ]
    summary = Orders(count=orders, revenue=revenue, first_order_at=recent[-1].at, last_order_at=at, recent=recent[::-1])
    return CustomerState(orders=summary, **fields)


ANNA = CustomerState(
    traits={"country": "de", "interests": ["Running", "yoga"], "age": "34", "address": {"city": "Köln"}},
    last_activity_at=NOW - timedelta(days=3),
    viewed=[
        ProductRef("boots", NOW - timedelta(days=5), category="Shoes"),
        ProductRef("mug", NOW - timedelta(days=20)),
    ],
    consents=[
        ConsentRecord(
            channel="email",
            status="granted",
            source="form",
            notice_version="v1",
            at=T0,
            recorded_at=T0,
            message_id="m1",
        )
    ],
    journey_history={"welcome": [("", NOW - timedelta(days=40))]},
)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"trait": {"name": "country", "in": ["DE", "AT"]}}, True),  # case does not matter
        ({"trait": {"name": "country", "equals": "FR"}}, False),
        ({"trait": {"name": "interests", "contains": "running"}}, True),
        ({"trait": {"name": "interests", "equals": "running"}}, False),  # a list is tested with contains
        ({"trait": {"name": "address.city", "equals": "köln"}}, True),
        ({"trait": {"name": "gender", "exists": False}}, True),
        ({"trait": {"name": "age", "gte": 30, "lte": 40}}, True),
        ({"trait": {"name": "gender", "equals": "f"}}, False),  # unknown: does not hold...
        ({"not": {"trait": {"name": "gender", "equals": "f"}}}, True),  # ...and not turns that around
        ({"active": {"within": "P7D"}}, True),
        ({"active": {"before": "P7D"}}, False),
        ({"last_order": {"within": "P365D"}}, False),  # never ordered
        ({"viewed": {"category": "shoes", "within": "P7D"}}, True),
        ({"viewed": {"category": "shoes", "within": "P2D"}}, False),
        ({"viewed": {"product": "mug", "within": "P14D"}}, False),
        ({"viewed": {"product": "mug", "within": "P30D"}}, True),
        ({"consent": "email"}, True),
        ({"consent": "sms"}, False),
        ({"journey": {"name": "welcome"}}, True),
        ({"journey": {"name": "welcome", "within": "P30D"}}, False),
        ({"lifecycle": ["prospect"]}, True),
        ({"rfm": {"recency": {"gte": 1}}}, False),  # not a buyer
        ({"any": [{"consent": "sms"}, {"trait": {"name": "country", "equals": "DE"}}]}, True),
        ({"all": [{"consent": "sms"}, {"trait": {"name": "country", "equals": "DE"}}]}, False),
    ],
)
def test_each_rule_on_a_browsing_subscriber(rule, expected):
    assert judged(rule, ANNA, journeys={"welcome": {}}) is expected


def test_order_rules_lifecycle_and_rfm_on_buyers():
    loyal = buyer(5, 600.0, timedelta(days=2))
    lapsed = buyer(1, 20.0, timedelta(days=200))
    distribution = {f"r:{(NOW - timedelta(days=2)).date()}": 1, f"r:{(NOW - timedelta(days=200)).date()}": 1}
    distribution |= {"f:5": 1, "f:1": 1, "m:67": 1, "m:31": 1}

    assert judged({"orders": {"gte": 5}}, loyal) and not judged({"orders": {"gte": 5}}, lapsed)
    assert judged({"revenue": {"gt": 500}}, loyal)
    assert judged({"last_order": {"before": "P90D"}}, lapsed) and not judged({"last_order": {"before": "P90D"}}, loyal)
    assert judged({"lifecycle": ["loyal"]}, loyal) and judged({"lifecycle": ["lapsed"]}, lapsed)
    best = {"rfm": {"recency": {"gte": 4}, "frequency": {"gte": 4}, "monetary": {"gte": 4}}}
    assert judged(best, loyal, distribution) and not judged(best, lapsed, distribution)


def test_engagement_and_a_segment_built_on_another():
    engaged = CustomerState()
    add_engagement(engaged, NOW - timedelta(days=30), 20, timedelta(days=30))  # worth 10 now

    assert judged({"engagement": {"gte": 10}}, engaged) and not judged({"engagement": {"gt": 10.5}}, engaged)
    assert judged({"segment": "fans"}, engaged, segments={"fans": {"engagement": {"gte": 5}}})


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ({"s": {"trait": {"name": "country"}}}, "needs one test"),
        ({"s": {"orders": {"gte": 1}, "consent": "email"}}, "exactly one of"),
        ({"s": {"active": {"within": "P1D", "before": "P2D"}}}, "exactly one of within or before"),
        ({"s": {"segment": "missing"}}, "no segment 'missing'"),
        ({"s": {"segment": "t"}, "t": {"not": {"segment": "s"}}}, "refers to itself (s -> t -> s)"),
        ({"s": {"journey": {"name": "nope"}}}, "no journey 'nope'"),
        ({"S-1": {"consent": "email"}}, "String should match pattern"),
        ({"s": {"consent": "fax"}}, "Input should be"),
    ],
)
def test_a_bad_segment_is_refused_naming_what_is_wrong(segments, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config(segments)
