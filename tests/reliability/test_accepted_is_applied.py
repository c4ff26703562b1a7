"""A 200 from ingest means the event will be applied: whatever ingest accepts, the state updater applies.

hypothesis writes Segment requests whose free-form parts are arbitrary JSON — properties, traits, context, product
lists — nested up to 40 levels, with odd unicode (lone UTF-16 surrogates, non-BMP characters, control characters,
right-to-left text), numbers from 5e-324 to past a float's range (``NaN``, ``Infinity``, ``1e400``, 2**70), and
money and quantities from negative to 1e308. Each request goes through the real ingest function as API Gateway
invokes it, then the real state updater (and router) on in-process moto (``pipeline.py``).

Checked per request: ingest answers 200, 400 or 413; a refusal enqueues nothing; after a 200 every message is
applied (no record fails, nothing in the events dead-letter queue, the customer's applied-event count grows by
exactly the messages sent for them) and the customer reads back through ``GET /v1/customers/{id}`` with 200.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.local.gateway import http_api_event
from infra.local.provision import HttpRoute
from tests.reliability import figures
from tests.reliability.histories import DEMO
from tests.reliability.pipeline import Pipeline, _context, basic_auth, deployed, environment_wiring, read_customer

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# Written into the JSON text in place of these strings: numbers json.dumps cannot write
RAW_NUMBERS = {"__1e400__": "1e400", "__-1e400__": "-1e400", "__1e-400__": "1e-400", "__big_int__": "9" * 400}

odd_text = st.text(
    st.characters(codec=None, categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf", "Cs", "Co"]), max_size=12
) | st.sampled_from(["\ud83d", "\udc00x", "\ud83d\ude00", "Zoë 👩🏽‍💻", "مرحبا", "\u0000", "", "\ufffd"])
finite = (
    st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([5e-324, 1.7976931348623157e308, -0.0, 1e9, 1e9 + 0.01, 1e30, 1e308, 10**300])
)
not_finite = st.sampled_from([float("nan"), float("inf"), float("-inf"), *sorted(RAW_NUMBERS)])
# One number in ten a float cannot hold: most requests carry none, so most reach the updater.
numbers = st.integers(0, 9).flatmap(lambda n: not_finite if n == 0 else finite)
leaves = st.none() | st.booleans() | numbers | odd_text
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=10,
)


@st.composite
def deep(draw: Any) -> Any:
    """A value nested 1-40 levels deep (objects and arrays), around a JSON leaf."""
    value = draw(leaves)
    for _ in range(draw(st.integers(1, 40))):
        value = {draw(odd_text): value} if draw(st.booleans()) else [value]
    return value


free_form = st.dictionaries(odd_text, json_values | deep(), max_size=4)
money = st.integers(0, 3).flatmap(lambda n: numbers if n == 0 else st.floats(0, 1e9))
quantities = st.integers(1, 100_000) | st.sampled_from([-1, 0, 2.5, 100_001, 1e308, "3", 2.0])


@st.composite
def products(draw: Any) -> dict[str, Any]:
    found = draw(
        st.fixed_dictionaries(
            {"sku": st.sampled_from(["s1", "s2", "\udc00"])},
            optional={
                "price": money,
                "quantity": quantities,
                "name": odd_text,
                "category": odd_text,
                "extra": json_values,
            },
        )
    )
    return found


@st.composite
def messages(draw: Any, user: str, n: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["track", "track", "track", "identify", "page", "screen", "group"]))
    message: dict[str, Any] = {"type": kind, "userId": user, "messageId": f"{user}-{n}"}
    if kind == "track":
        event = draw(st.sampled_from(["Product Added", "Cart Viewed", "Order Completed", "Order Refunded", "Quiz"]))
        properties = draw(free_form)
        if event == "Product Added":
            properties.update(draw(products()))
        elif event in ("Cart Viewed", "Order Completed", "Order Refunded"):
            properties["order_id"] = "o1"
            properties["products"] = draw(st.lists(products(), max_size=3))
            for name in draw(st.lists(st.sampled_from(["revenue", "total", "value", "discount", "tax"]))):
                properties[name] = draw(money)
        message.update(event=event, properties=properties)
    elif kind in ("identify", "group"):
        message["traits"] = draw(free_form)
        if kind == "group":
            message["groupId"] = "g1"
    else:
        message["properties"] = draw(free_form)
    if draw(st.booleans()):
        context = draw(free_form)
        context["traits"] = draw(free_form)
        if draw(st.booleans()):
            context["locale"] = draw(odd_text)
        message["context"] = context
    return message


counter = itertools.count()


@st.composite
def requests(draw: Any) -> tuple[str, list[dict[str, Any]], str]:
    """(endpoint, messages, raw JSON body)."""
    example = next(counter)
    users = [f"p{example}-{i}" for i in range(draw(st.integers(1, 2)))]
    sent = [draw(messages(draw(st.sampled_from(users)), n)) for n in range(draw(st.integers(1, 4)))]
    if len(sent) == 1 and draw(st.booleans()):
        endpoint, body = sent[0]["type"], {k: v for k, v in sent[0].items() if k != "type"}
    else:
        endpoint, body = "batch", {"batch": sent}
    raw = json.dumps(body, allow_nan=True)  # ensure_ascii: lone surrogates travel as \\udc00 escapes
    for marker, number in RAW_NUMBERS.items():
        raw = raw.replace(json.dumps(marker), number)
    return endpoint, sent, raw


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    mp = pytest.MonkeyPatch()
    try:
        with deployed(mp, [DEMO]) as deployment:
            yield Pipeline(deployment, START)
    finally:
        mp.undo()


def post(endpoint: str, raw: str) -> tuple[int, dict[str, Any]]:
    from functions.ingest.handler import lambda_handler

    headers = {"content-type": "application/json", "authorization": basic_auth("demo-write-key")}
    route = HttpRoute("IngestFunction", "POST", "/v1/{endpoint}")
    event = http_api_event(
        route, "POST", f"/v1/{endpoint}", "", headers, raw.encode(), {"endpoint": endpoint}, "1.1.1.1"
    )
    response = lambda_handler(event, _context("IngestFunction"), wiring=environment_wiring("IngestFunction"))
    return int(response["statusCode"]), json.loads(response["body"])


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def events_queued(pipeline: Pipeline) -> int:
    counts = pipeline.sqs.get_queue_attributes(
        QueueUrl=pipeline.resources["EventsQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(counts["ApproximateNumberOfMessages"])


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(request=requests())
def test_whatever_ingest_accepts_the_updater_applies_and_the_customer_stays_readable(pipeline, request):
    endpoint, sent, raw = request
    failed_before = pipeline.drained.failed_records["StateUpdaterFunction"]

    # When a shop posts it
    status, answer = post(endpoint, raw)

    # Then it is refused whole, naming the field, with nothing enqueued
    if status != 200:
        assert status in (400, 413), (status, answer)
        assert events_queued(pipeline) == 0
        fields = Counter(e["field"].split(".")[0] for e in answer.get("errors", []))
        figures.add("accepted is applied", requests=1, **{f"status_{status}": 1}, **{f"refused_{f}": 1 for f in fields})
        return
    # or accepted, and then every message is applied and every customer reads back
    assert events_queued(pipeline) == len(sent)
    pipeline.settle()
    assert pipeline.drained.failed_records["StateUpdaterFunction"] == failed_before
    assert pipeline.dead_letters("EventsDeadLetterQueue") == []
    per_user = Counter(message["userId"] for message in sent)
    for user, count in per_user.items():
        code, body = read_customer(user, "demo-secret-key")
        assert code == 200, body
        assert body["events_applied"] == count
    figures.add(
        "accepted is applied",
        requests=1,
        status_200=1,
        messages_applied=len(sent),
        customers_read=len(per_user),
        with_surrogate_escapes=int(bool(re.search(r"\\u[dD][89a-fA-F]", raw))),
        nested_over_16_levels=int(depth(sent) > 16),
    )
