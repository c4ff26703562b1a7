"""The churn report through the API (``GET /v1/reports/churn``): a shop's orders over three months, sent as its
tracking client sends them, read back month by month as the shop would read them; bad ranges refused naming the
field and the rule.

On template.yaml in memory (``tests/memory.py``): the real ingest, state updater and customer API handlers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.models.config import ShopConfig
from tests.factories import shop_config, track
from tests.integration.test_journeys import unique
from tests.memory import FAST_CONFIG, MemoryStack

WRITE, SECRET = "demo-write-key", "demo-secret-key"


def shop() -> ShopConfig:
    """The demo shop, at risk after 30 days without an order and lapsed after 90, with a segment of those at risk."""
    document = shop_config({}).model_dump(mode="json", exclude_unset=True)
    document["insights"] = {"lifecycle": {"at_risk_after": "P30D", "lapsed_after": "P90D"}}
    document["segments"] = {"slipping": {"lifecycle": ["at_risk"]}}
    return ShopConfig.model_validate(document)


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([shop()])


def on(stack: MemoryStack, day: datetime, user: str, event: str, properties: dict[str, Any]) -> None:
    """``user``'s ``event`` sent on ``day`` (the clock moves there; it is when the event happened)."""
    stack.clock.at = day
    status, answer = stack.post("/v1/batch", {"batch": [track(event, properties, userId=user)]}, key=WRITE)
    assert status == 200, answer
    stack.settle()


def report(stack: MemoryStack, query: str, key: str = SECRET) -> tuple[int, dict[str, Any]]:
    return stack.call("GET", f"/v1/reports/churn{query}", key=key)


def test_three_months_of_orders_read_back_as_buyers_retained_and_churned(stack):
    """November 2026 to January 2027 (across the year's end):

    - Ana orders 100 on 3 Nov and 30 on 5 Dec; Ben orders 80 on 4 Nov and nothing after.
    - Cleo orders 60 on 6 Dec and cancels it the next day; she orders 20 on 10 Jan.
    - Dan orders 200 on 8 Dec and 70 on 12 Jan; 50 of December's order is refunded on 14 Jan.

    By hand: November, first-time Ana and Ben, 180. December, Dan first-time with 200 - 50 = 150, Ana repeat with
    30 (Cleo's cancelled order does not count her); Ana came back from November (first-time then, 100); Ben churned:
    1 of 2 first-time buyers, 80 of 180. January, Cleo first-time (20), Dan repeat (70); Dan came back from
    December (first-time then, his 150); Ana churned: 1 of 1 repeat buyer, 30 of her 30.
    At risk on 20 Jan (last order 21 Oct to 20 Dec): Ana (5 Dec) and Ben (4 Nov).
    """
    ana, ben, cleo, dan = (unique(name) for name in ("ana", "ben", "cleo", "dan"))
    c1, d1 = unique("c1"), unique("d1")
    on(stack, datetime(2026, 11, 3, 10, tzinfo=UTC), ana, "Order Completed", {"order_id": unique("a"), "revenue": 100})
    on(stack, datetime(2026, 11, 4, 10, tzinfo=UTC), ben, "Order Completed", {"order_id": unique("b"), "revenue": 80})
    on(stack, datetime(2026, 12, 5, 10, tzinfo=UTC), ana, "Order Completed", {"order_id": unique("a"), "revenue": 30})
    on(stack, datetime(2026, 12, 6, 10, tzinfo=UTC), cleo, "Order Completed", {"order_id": c1, "revenue": 60})
    on(stack, datetime(2026, 12, 7, 10, tzinfo=UTC), cleo, "Order Cancelled", {"order_id": c1})
    on(stack, datetime(2026, 12, 8, 10, tzinfo=UTC), dan, "Order Completed", {"order_id": d1, "revenue": 200})
    on(stack, datetime(2027, 1, 10, 10, tzinfo=UTC), cleo, "Order Completed", {"order_id": unique("c"), "revenue": 20})
    on(stack, datetime(2027, 1, 12, 10, tzinfo=UTC), dan, "Order Completed", {"order_id": unique("d"), "revenue": 70})
    on(stack, datetime(2027, 1, 14, 10, tzinfo=UTC), dan, "Order Refunded", {"order_id": d1, "revenue": 50})
    stack.clock.at = datetime(2027, 1, 20, 9, tzinfo=UTC)

    status, body = report(stack, "?from=2026-11&to=2027-01")

    assert status == 200, body
    november, december, january = body["months"]
    assert [m["month"] for m in body["months"]] == ["2026-11", "2026-12", "2027-01"]
    assert november["buyers"] == {"first_time": 2, "repeat": 0, "total": 2}
    assert november["revenue"] == {"first_time": 180.0, "repeat": 0.0, "total": 180.0}
    assert november["churn_rate"] == {"first_time": None, "repeat": None, "total": None}  # nobody in October
    assert december["buyers"] == {"first_time": 1, "repeat": 1, "total": 2}
    assert december["revenue"] == {"first_time": 150.0, "repeat": 30.0, "total": 180.0}
    assert december["retained"] == {"first_time": 1, "repeat": 0, "total": 1}
    assert december["churned"] == {"first_time": 1, "repeat": 0, "total": 1}
    assert december["churn_rate"] == {"first_time": 0.5, "repeat": None, "total": 0.5}
    assert december["revenue_retained"] == {"first_time": 100.0, "repeat": 0.0, "total": 100.0}
    assert december["revenue_churned"] == {"first_time": 80.0, "repeat": 0.0, "total": 80.0}
    assert december["revenue_churn_rate"] == {"first_time": 0.4444, "repeat": None, "total": 0.4444}
    assert january["buyers"] == {"first_time": 1, "repeat": 1, "total": 2}
    assert january["retained"] == {"first_time": 1, "repeat": 0, "total": 1}
    assert january["churned"] == {"first_time": 0, "repeat": 1, "total": 1}
    assert january["churn_rate"] == {"first_time": 0.0, "repeat": 1.0, "total": 0.5}
    assert january["revenue_retained"] == {"first_time": 150.0, "repeat": 0.0, "total": 150.0}
    assert january["revenue_churned"] == {"first_time": 0.0, "repeat": 30.0, "total": 30.0}
    assert body["at_risk"]["customers"] == 2
    assert body["at_risk"]["members"] == "/v1/segments/slipping/members"
    # the segment lists the same two customers
    status, page = stack.call("GET", "/v1/segments/slipping/members", key=SECRET)
    assert status == 200 and sorted(m["customer_id"] for m in page["members"]) == sorted([ana, ben])


def test_a_shop_without_an_at_risk_segment_is_told_how_to_add_one(memory_stack):
    stack = memory_stack([FAST_CONFIG])

    status, body = report(stack, "", key="fast-secret-key")

    assert status == 200, body
    assert len(body["months"]) == 12 and body["to"] == "2026-11"  # the year up to this month (the clock's)
    assert body["at_risk"]["members"] is None
    assert "lifecycle: [at_risk]" in body["at_risk"]["add"]


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ("?from=2026-13&to=2027-01", "from", "must be a month as YYYY-MM"),
        ("?from=2026-11&to=2027-1", "to", "must be a month as YYYY-MM"),
        ("?from=2027-02&to=2027-01", "from", "must not be after `to`"),
        ("?from=2026-01&to=2027-01", "to", "must be at most 11 months after `from`"),
    ],
)
def test_a_bad_range_is_refused_naming_the_field_and_the_rule(stack, query, field, rule):
    status, body = report(stack, query)

    assert status == 400
    [error] = body["errors"]
    assert error["field"] == field and rule in error["rule"]


def test_the_write_key_reads_no_report(stack):
    assert report(stack, "?from=2026-11&to=2026-11", key=WRITE)[0] == 401
