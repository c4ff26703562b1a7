"""One event never breaks a customer for good: through the real handlers on in-process moto (``pipeline.py``).

An amount a float cannot sum is refused at ingest naming the field and the bound; a state that would not load again
is never written; a stored state that does not load parks its events with the reason at once (no retries), and the
read API says what is wrong instead of failing bare.
"""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from typing import Any

from shared.models.state import CustomerState, Orders
from tests.reliability.histories import DEMO
from tests.reliability.pipeline import Pipeline, deployed, read_customer

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WRITE, SECRET = "demo-write-key", "demo-secret-key"


def order(order_id: str, **properties: Any) -> dict[str, Any]:
    return {"userId": "big-spender", "event": "Order Completed", "properties": {"order_id": order_id, **properties}}


def put_state(pipeline: Pipeline, key: str, document: bytes, version: int = 1) -> None:
    """A customer item as an earlier nudge wrote it (no bounds, no check before the write)."""
    pipeline.dynamodb.put_item(
        TableName=pipeline.resources["CustomersTable"],
        Item={
            "pk": {"S": f"demo#{key}"},
            "sk": {"S": "state"},
            "version": {"N": str(version)},
            "updated_at": {"S": START.isoformat()},
            "docz": {"B": zlib.compress(document)},
        },
    )


def reasons(pipeline: Pipeline) -> list[str]:
    return [m["MessageAttributes"]["reason"]["StringValue"] for m in pipeline.dead_letters("EventsDeadLetterQueue")]


def test_an_order_worth_1e308_is_refused_and_the_customer_stays_healthy_and_readable(monkeypatch, no_retry_waits):
    with deployed(monkeypatch, [DEMO]) as deployment:
        pipeline = Pipeline(deployment, START)
        assert pipeline.post("/v1/identify", {"userId": "big-spender", "traits": {"firstName": "Bo"}}, WRITE) == 200

        # When a shop reports orders whose amounts no float can add up
        overflowing = [
            order("o1", products=[{"sku": "s1", "price": 1e308, "quantity": 2}]),
            order("o2", revenue=1e308),
            order("o3", total=1e10),
        ]
        statuses = [pipeline.post("/v1/track", body, WRITE) for body in overflowing]
        # and then an ordinary order
        fine = pipeline.post("/v1/track", order("o4", revenue=49.9, products=[{"sku": "s1", "price": 49.9}]), WRITE)
        pipeline.settle()

        # Then the first three were refused (nothing enqueued), the fourth applied, nothing parked
        assert statuses == [400, 400, 400] and fine == 200
        assert reasons(pipeline) == []
        status, body = read_customer("big-spender", SECRET)
        assert status == 200
        assert (body["orders"]["count"], body["orders"]["revenue"]) == (1, 49.9)
        assert body["traits"]["first_name"] == "Bo"


def test_the_refusal_names_the_field_and_the_bound(monkeypatch, no_retry_waits):
    from functions.ingest.handler import lambda_handler
    from infra.local.gateway import http_api_event
    from infra.local.provision import HttpRoute
    from tests.reliability.pipeline import _context, basic_auth, environment_wiring

    with deployed(monkeypatch, [DEMO]):
        raw = json.dumps(order("o1", products=[{"sku": "s1", "price": 1e308, "quantity": 2}])).encode()
        headers = {"content-type": "application/json", "authorization": basic_auth(WRITE)}
        route = HttpRoute("IngestFunction", "POST", "/v1/{endpoint}")
        event = http_api_event(route, "POST", "/v1/track", "", headers, raw, {"endpoint": "track"}, "1.1.1.1")

        response = lambda_handler(event, _context("IngestFunction"), wiring=environment_wiring("IngestFunction"))

        assert response["statusCode"] == 400
        assert json.loads(response["body"])["errors"] == [
            {"field": "properties.products.0.price", "rule": "Input should be less than or equal to 1000000000"}
        ]


def test_a_stored_state_that_does_not_load_parks_its_events_at_once_and_the_read_api_says_why(
    monkeypatch, no_retry_waits
):
    with deployed(monkeypatch, [DEMO]) as deployment:
        pipeline = Pipeline(deployment, START)
        # Given the item the old updater wrote after price 1e308 x quantity 2: the infinite revenue as null
        put_state(pipeline, "u:big-spender", b'{"user_id":"big-spender","orders":{"count":1,"revenue":null}}')

        # When the customer does something
        assert (
            pipeline.post(
                "/v1/track", {"userId": "big-spender", "event": "Product Viewed", "properties": {"sku": "s"}}, WRITE
            )
            == 200
        )
        pipeline.settle()

        # Then the event is parked on its first receive with the reason, not retried five times
        [reason] = reasons(pipeline)
        assert "demo#u:big-spender" in reason and "orders.revenue" in reason
        assert pipeline.drained.failed_records["StateUpdaterFunction"] == 0
        # and support reads what is wrong, not a bare error
        status, body = read_customer("big-spender", SECRET)
        assert status == 500
        assert body["error"] == "customer_state_unloadable" and "orders.revenue" in body["message"]


def test_a_merge_that_would_overflow_is_parked_and_writes_nothing(monkeypatch, no_retry_waits):
    with deployed(monkeypatch, [DEMO]) as deployment:
        pipeline = Pipeline(deployment, START)
        # Given two records an earlier nudge accepted, each with a revenue near the largest float
        for key, user in (("u:big-spender", "big-spender"), ("a:visitor-1", None)):
            state = CustomerState(user_id=user, orders=Orders(count=1, revenue=1.5e308))
            put_state(pipeline, key, state.model_dump_json(exclude_defaults=True).encode())

        # When an identify joins them (the sum of the revenues is no float)
        identify = {"userId": "big-spender", "anonymousId": "visitor-1", "traits": {"firstName": "Bo"}}
        assert pipeline.post("/v1/identify", identify, WRITE) == 200
        pipeline.settle()

        # Then the event is parked with the reason, and both records still load as they were
        [reason] = reasons(pipeline)
        assert "would not load again" in reason and "orders.revenue" in reason
        assert pipeline.customer_state("demo", "u:big-spender").orders.revenue == 1.5e308
        assert pipeline.customer_state("demo", "a:visitor-1").orders.revenue == 1.5e308
        assert read_customer("big-spender", SECRET)[0] == 200
