"""Fuzzing the ingest API: whatever a client sends, never a 5xx and never a partial enqueue.

Two generators:

- schemathesis, from an OpenAPI document for the Segment endpoints: the paths come from the ingest function's own
  routes, the request bodies from the pydantic models it parses with (``SegmentMessage``, ``Batch``). Powertools
  emits the routes (tested below) but not the bodies, which ingest parses itself, so it is assembled here. Positive
  cases (bodies the schema allows) and negative ones (bodies it forbids) go through the real ``lambda_handler`` with
  an API Gateway HTTP API event, against moto, with the right key, another shop's key, a wrong key or none.
- hypothesis on the models: valid Segment messages, then mutated (fields dropped, replaced by arbitrary JSON,
  oversized, mistyped), in single calls and batches, through ``Ingestor`` with a recording queue (no AWS).

What is checked, per request: the status is below 500; a 4xx enqueued nothing; a 200 enqueued exactly one message
per message in the request, every one for the shop whose key was presented.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from schemathesis import GenerationMode

from infra.admin import load_config
from infra.local.gateway import http_api_event
from infra.local.provision import HttpRoute
from infra.local.runtime import LambdaContext
from infra.memory import MemoryShops
from shared import aws
from shared.adapters.queue import FifoEntry
from shared.models import segment
from shared.service.ingest import BATCH_ENDPOINTS, SINGLE_ENDPOINTS, Ingestor, RequestRejectedError
from shared.service.updater import StateUpdater
from tests.reliability import figures
from tests.reliability.histories import DEMO, ROOT
from tests.reliability.pipeline import RecordOperations, basic_auth, deployed, environment_wiring

FAST = load_config(ROOT / "events" / "fast-shop.yaml")
KEYS = {"demo-write-key": "demo", "fast-write-key": "fast", "demo-secret-key": "demo"}  # a secret key ingests too


# ---------------------------------------------------------------- the OpenAPI document


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.0 for ingest: one path per endpoint its route ``/v1/<endpoint>`` accepts, bodies from the models."""
    from functions.ingest import handler

    routes = [(route.method, route.openapi_path) for route in handler.app._dynamic_routes + handler.app._static_routes]
    # the document below expands the POST route; CORS preflights, the SDK settings document and analytics.js's short
    # paths are tested in tests/integration/test_browser_ingest.py
    assert routes == [
        ("POST", "/v1/{endpoint}"),
        ("OPTIONS", "/v1/{endpoint}"),
        ("GET", "/v1/projects/{write_key}/settings"),
    ], routes
    components: dict[str, Any] = {}

    def schema_of(annotation: Any) -> dict[str, Any]:
        found = TypeAdapter(annotation).json_schema(ref_template="#/components/schemas/{model}")
        components.update(found.pop("$defs", {}))
        return found

    single = {
        "track": segment.AnyTrack,
        "identify": segment.Identify,
        "page": segment.Page,
        "screen": segment.Screen,
        "group": segment.Group,
        "alias": segment.Alias,
    }
    assert set(single) == set(SINGLE_ENDPOINTS)
    paths: dict[str, Any] = {}
    for endpoint in (*SINGLE_ENDPOINTS, *BATCH_ENDPOINTS):
        body = schema_of(segment.Batch if endpoint in BATCH_ENDPOINTS else single[endpoint])
        paths[f"/v1/{endpoint}"] = {
            "post": {
                "operationId": endpoint,
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {
                    "200": {"description": "accepted"},
                    "400": {"description": "invalid message(s)"},
                    "401": {"description": "unknown or missing write key"},
                    "413": {"description": "too large"},
                },
            }
        }
    # What the models check in code, written into the document so that positive cases are mostly accepted: each
    # track model's event names (the callable discriminator), and an identified customer (userId, here).
    events = {
        "ProductTrack": segment.PRODUCT_EVENTS,
        "OrderTrack": segment.ORDER_EVENTS,
        "ConsentTrack": {"Consent Updated"},
        "NewsletterTrack": segment.NEWSLETTER_EVENTS,
    }
    for name, names in events.items():
        components[name]["properties"]["event"]["enum"] = sorted(names)
    for component in components.values():
        if "userId" in component.get("properties", {}) and "type" in component["properties"]:
            component["properties"]["userId"] = {"type": "string", "minLength": 1, "maxLength": 256}
            component["required"] = sorted({*component.get("required", []), "userId"})
    return {
        "openapi": "3.0.3",
        "info": {"title": "nudge ingest (Segment HTTP Tracking API)", "version": "1"},
        "paths": paths,
        "components": {"schemas": _openapi_30(components)},
    }


def _openapi_30(schemas: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema 2020-12 as pydantic writes it, in OpenAPI 3.0's dialect (``anyOf [.., null]`` -> nullable)."""

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            node = {key: convert(value) for key, value in node.items()}
            options = node.get("anyOf")
            if isinstance(options, list) and {"type": "null"} in options:
                rest = [o for o in options if o != {"type": "null"}]
                node.pop("anyOf")
                node.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
                node["nullable"] = True
            if "oneOf" in node:  # the unions are discriminated in code: several variants may fit one body
                node["anyOf"] = node.pop("oneOf")
            if "const" in node:
                constant = node.pop("const")
                node.setdefault("enum", [constant])
            return node
        if isinstance(node, list):
            return [convert(item) for item in node]
        return node

    return convert(schemas)


SCHEMA = schemathesis.openapi.from_dict(openapi_document())
ENDPOINTS = [*SINGLE_ENDPOINTS, *BATCH_ENDPOINTS]


def test_the_ingest_function_emits_its_own_openapi_document():
    from functions.ingest import handler

    document = json.loads(handler.app.get_openapi_json_schema())
    assert "/v1/{endpoint}" in document["paths"]


# ---------------------------------------------------------------- schemathesis through the real handler


@pytest.fixture(scope="module")
def ingest_on_moto() -> Iterator[Any]:
    mp = pytest.MonkeyPatch()
    try:
        with deployed(mp, [DEMO, FAST]):
            yield
    finally:
        mp.undo()


class Enqueued:
    """Entries the ingest function's SQS client handed to SendMessageBatch, and how many SQS accepted."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.accepted = 0

    @contextmanager
    def watching(self) -> Iterator[Enqueued]:
        events = aws.client("sqs").meta.events
        unique_id = f"enqueued-{id(self)}"
        events.register("after-call.sqs.SendMessageBatch", self._after, unique_id=unique_id)
        try:
            yield self
        finally:
            events.unregister("after-call.sqs.SendMessageBatch", unique_id=unique_id)

    def _after(self, http_response: Any, parsed: Any, context: Any, **_: Any) -> None:
        _, params = context.get("nudge_operation", (None, None))
        accepted = {entry["Id"] for entry in parsed.get("Successful", [])}
        self.accepted += len(accepted)
        self.bodies += [entry["MessageBody"] for entry in params["Entries"] if entry["Id"] in accepted]


keys = st.sampled_from(["demo-write-key", "fast-write-key", "wrong-key", None, "demo-secret-key"])


def invoke(endpoint: str, body: Any, key: str | None) -> int:
    from functions.ingest.handler import lambda_handler

    raw = body if isinstance(body, bytes) else json.dumps(body, allow_nan=True).encode()
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = basic_auth(key)
    route = HttpRoute("IngestFunction", "POST", "/v1/{endpoint}")
    event = http_api_event(route, "POST", f"/v1/{endpoint}", "", headers, raw, {"endpoint": endpoint}, "1.1.1.1")
    context = LambdaContext("nudge-IngestFunction", 512, 10)
    return int(lambda_handler(event, context, wiring=environment_wiring("IngestFunction"))["statusCode"])


def messages_in(endpoint: str, body: Any) -> int:
    return len(body["batch"]) if endpoint in BATCH_ENDPOINTS else 1


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_schemathesis_cases_never_get_a_5xx_nor_a_partial_enqueue(ingest_on_moto, endpoint, mode):
    operation = SCHEMA[f"/v1/{endpoint}"]["POST"]

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), key=keys)
    def fuzz(case: Any, key: str | None) -> None:
        enqueued = Enqueued()
        with RecordOperations().installed(), enqueued.watching():
            status = invoke(endpoint, case.body, key)
        statuses[status] += 1
        assert status < 500, (status, case.body)
        if status != 200:
            assert enqueued.accepted == 0
            return
        assert key in KEYS
        assert enqueued.accepted == messages_in(endpoint, case.body)
        assert {json.loads(body)["shop_id"] for body in enqueued.bodies} == {KEYS[key]}
        assert all(StateUpdater.parse(body) for body in enqueued.bodies)  # the updater reads what was accepted

    from collections import Counter

    statuses: Counter[int | str] = Counter()
    fuzz()
    figures.add(
        f"fuzz: schemathesis {mode.value}",
        requests=sum(statuses.values()),
        **{(f"status_{status}" if isinstance(status, int) else status): n for status, n in statuses.items()},
    )


@pytest.mark.parametrize("event", [[], {}, ["Product Added"]])
def test_a_track_whose_event_name_is_not_a_string_is_refused_with_400(event):
    queue = RecordingQueue()
    ingestor = Ingestor(SHOPS, queue, lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    with pytest.raises(RequestRejectedError) as refused:
        ingestor.ingest("track", json.dumps({"userId": "u1", "event": event}), basic_auth("demo-write-key"))
    assert refused.value.status == 400 and queue.entries == []


@pytest.mark.parametrize(
    "times",
    [
        {"timestamp": "0001-01-01T00:30:00+01:00"},
        {"timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T23:59:59Z"},
    ],
    ids=["timestamp-before-year-1-in-utc", "skew-correction-out-of-range"],
)
def test_a_time_out_of_range_is_refused_with_400(times):
    queue = RecordingQueue()
    ingestor = Ingestor(SHOPS, queue, lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    with pytest.raises(RequestRejectedError) as refused:
        ingestor.ingest(
            "track", json.dumps({"userId": "u1", "event": "Signed Up", **times}), basic_auth("demo-write-key")
        )
    assert refused.value.status == 400 and queue.entries == []


def test_a_body_that_is_not_utf8_is_refused_with_400_not_500(ingest_on_moto):
    enqueued = Enqueued()
    with RecordOperations().installed(), enqueued.watching():
        status = invoke("track", b"\x80{}", "demo-write-key")
    assert enqueued.accepted == 0
    assert status == 400


# ---------------------------------------------------------------- hypothesis on the models, through Ingestor


class RecordingQueue:
    """The events queue as a list: every entry ``Ingestor`` handed over (a spy, not a queue: the FIFO queue's
    deduplication would hide entries the assertions count)."""

    def __init__(self) -> None:
        self.entries: list[FifoEntry] = []

    def send(self, entries: Sequence[FifoEntry]) -> None:
        self.entries.extend(entries)


def shops() -> MemoryShops:
    """The demo and fast shops' directory (in memory, as the shops table holds it): two shops' write keys, and the
    demo shop's secret key (the shop's servers may ingest with it too)."""
    directory = MemoryShops()
    directory.apply(DEMO)
    directory.apply(FAST)
    return directory


SHOPS = shops()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_ids = st.text(min_size=1, max_size=12) | st.sampled_from(["", "x" * 101, "x" * 300, "a b", "ü"])
_times = st.sampled_from(
    ["2026-11-02T09:00:00Z", "2026-11-02T09:00:00+02:00", "3026-01-01T00:00:00Z", "yesterday", "", "2026-13-45"]
)


@st.composite
def valid_messages(draw: Any, kind: str | None = None) -> dict[str, Any]:
    kind = kind or draw(st.sampled_from(segment.MESSAGE_TYPES))
    message: dict[str, Any] = {"type": kind, "userId": draw(st.text(min_size=1, max_size=20))}
    if draw(st.booleans()):
        message["messageId"] = draw(st.text(min_size=1, max_size=30))
    if draw(st.booleans()):
        message["timestamp"] = "2026-11-02T08:59:00Z"
    if kind == "track":
        event = draw(
            st.sampled_from(
                ["Product Added", "Order Completed", "Consent Updated", "Signed Up", "Newsletter Subscribed"]
            )
        )
        properties = {
            "Product Added": {"product_id": "p1", "price": 9.5, "quantity": 2, "cart_id": "c1"},
            "Order Completed": {"order_id": "o1", "revenue": 30, "products": [{"sku": "s1"}]},
            "Consent Updated": {"channel": "email", "status": "granted", "source": "form", "notice_version": "v1"},
            "Signed Up": {"plan": "free"},
            "Newsletter Subscribed": {},
        }[event]
        message.update(event=event, properties=properties)
    elif kind == "identify":
        message["traits"] = {"email": "kim@example.com", "firstName": "Kim"}
    elif kind == "group":
        message["groupId"] = "g1"
    elif kind == "alias":
        message["previousId"] = "anon-1"
    return message


@st.composite
def mutated(draw: Any, message: dict[str, Any]) -> dict[str, Any]:
    """``message`` with 0-3 mutations: a field dropped, replaced by arbitrary JSON, a bad id or time, a nested one."""
    message = json.loads(json.dumps(message))
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["drop", "replace", "id", "time", "nested", "extra", "context"]))
        fields = sorted(message)
        if what == "drop" and fields:
            message.pop(draw(st.sampled_from(fields)))
        elif what == "replace" and fields:
            message[draw(st.sampled_from(fields))] = draw(json_values)
        elif what == "id":
            message[draw(st.sampled_from(["userId", "anonymousId", "messageId", "groupId", "previousId"]))] = draw(_ids)
        elif what == "time":
            message[draw(st.sampled_from(["timestamp", "sentAt"]))] = draw(_times)
        elif what == "nested" and isinstance(message.get("properties"), dict) and message["properties"]:
            name = draw(st.sampled_from(sorted(message["properties"])))
            message["properties"][name] = draw(json_values)
        elif what == "extra":
            message[draw(st.text(max_size=8))] = draw(json_values)
        elif what == "context":
            message["context"] = draw(json_values | st.just({"timezone": "Mars/Olympus", "locale": "x" * 40}))
    return message


@st.composite
def requests(draw: Any) -> tuple[str, Any]:
    endpoint = draw(st.sampled_from(ENDPOINTS))
    if endpoint in BATCH_ENDPOINTS:
        items = draw(st.lists(valid_messages().flatmap(mutated), min_size=0, max_size=6))
        body: Any = {"batch": items}
        if draw(st.booleans()):
            body["context"] = draw(json_values)
        if draw(st.integers(0, 9)) == 0:
            body = draw(json_values)  # not even an object
    else:
        body = draw(valid_messages(endpoint).flatmap(mutated))
        body.pop("type", None) if draw(st.booleans()) else None
    return endpoint, body


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests(), key=keys, write_key_in_body=st.booleans())
def test_mutated_segment_messages_are_accepted_whole_or_refused_whole(request, key, write_key_in_body):
    endpoint, body = request
    authorization = basic_auth(key) if key is not None and not write_key_in_body else None
    if write_key_in_body and key is not None and isinstance(body, dict):
        body = {**body, "writeKey": key}
    raw = json.dumps(body, allow_nan=True)
    queue = RecordingQueue()
    ingestor = Ingestor(SHOPS, queue, lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))

    try:
        events = ingestor.ingest(endpoint, raw, authorization)
    except RequestRejectedError as error:
        figures.add("fuzz: mutated models", requests=1, **{f"status_{error.status}": 1})
        assert 400 <= error.status < 500
        assert queue.entries == []
        return
    figures.add("fuzz: mutated models", requests=1, status_200=1, messages_enqueued=len(events))
    presented = key if key is not None and (authorization or isinstance(body, dict)) else None
    assert presented in KEYS
    assert len(queue.entries) == len(events) == messages_in(endpoint, body)
    assert {event.shop_id for event in events} == {KEYS[presented]}
    # and the state updater reads every one of them (a 200 means the event will be applied)
    assert [StateUpdater.parse(entry.body).message_id for entry in queue.entries] == [e.message_id for e in events]
