"""Ingest's limits: what it accepts the state updater can apply, and what it refuses names the field and the bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.memory import MemoryCloud, MemoryQueue
from infra.simulate import VirtualTimers
from shared.models.events import SegmentEvent
from shared.models.segment import MAX_AMOUNT, MAX_DEPTH, MAX_QUANTITY
from shared.service.ingest import Ingestor, RequestRejectedError, load_body, parse_messages
from shared.service.updater import StateUpdater
from tests.factories import identify, product, shop_config, track
from tests.memory import TEMPLATE

NOW = datetime(2026, 11, 2, 10, 1, tzinfo=UTC)


def deployment() -> MemoryCloud:
    """template.yaml in memory with the demo shop (its write key authenticates; the events queue is FIFO)."""
    cloud = MemoryCloud(lambda: NOW, VirtualTimers(), template=TEMPLATE)
    cloud.shops.apply(shop_config({}))
    return cloud


def ingest(endpoint: str, raw: str) -> tuple[list[SegmentEvent], MemoryQueue]:
    cloud = deployment()
    ingestor = Ingestor(cloud.shops, cloud.events, cloud.clock)
    return ingestor.ingest(endpoint, raw, None), cloud.events


def refused(endpoint: str, raw: str) -> RequestRejectedError:
    cloud = deployment()
    ingestor = Ingestor(cloud.shops, cloud.events, cloud.clock)
    with pytest.raises(RequestRejectedError) as caught:
        ingestor.ingest(endpoint, raw, None)
    assert len(cloud.events) == 0
    return caught.value


def nested(levels: int) -> Any:
    """``levels`` objects and arrays inside one another."""
    value: Any = "bottom"
    for level in range(levels):
        value = {"a": value} if level % 2 else [value]
    return value


def body(message: dict[str, Any]) -> str:
    return json.dumps({**message, "writeKey": "demo-write-key"})


# ---------------------------------------------------------------- nesting


def test_a_message_nested_as_deep_as_the_limit_is_accepted_and_the_updater_reads_it():
    # Given properties at level 2 holding MAX_DEPTH - 2 more levels: the message is exactly MAX_DEPTH deep
    message = track("Quiz Answered", {"answers": nested(MAX_DEPTH - 2)}, userId="u1")

    events, queue = ingest("track", body(message))

    assert len(events) == 1
    assert StateUpdater.parse(queue.bodies()[0]).message.properties == {"answers": nested(MAX_DEPTH - 2)}


@pytest.mark.parametrize("levels", [MAX_DEPTH - 1, 200, 260, 900])
def test_a_message_nested_deeper_than_the_limit_is_refused_naming_the_field(levels):
    message = track("Quiz Answered", {"answers": nested(levels)}, userId="u1")

    error = refused("batch", body({"batch": [track("Signed Up", userId="u1"), message]}))

    assert error.status == 400
    [problem] = error.errors
    assert problem.index == 1 and problem.field.startswith("properties.answers")
    assert f"at most {MAX_DEPTH} levels" in problem.rule


def test_deep_traits_and_context_are_refused_too():
    error = refused("identify", body(identify({"prefs": nested(MAX_DEPTH)}, userId="u1")))
    assert error.errors[0].field.startswith("traits.prefs")
    error = refused("track", body(track("X", userId="u1", context={"traits": {"deep": nested(MAX_DEPTH)}})))
    assert error.errors[0].field.startswith("context.traits.deep")


def test_a_body_nested_beyond_what_the_json_parser_takes_is_a_400():
    # json.loads itself gives up (RecursionError) long before 15,000 levels, which fit into 32 KB
    error = refused("track", '{"userId": "u1", "event": "X", "properties": {"a": ' + "[" * 15_000 + "]" * 15_000 + "}}")

    assert (error.status, error.errors[0].field) == (400, "(body)")
    assert refused("batch", '{"batch": ' + "[" * 200_000 + "]" * 200_000 + "}").status == 400


# ---------------------------------------------------------------- numbers a float cannot hold


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{"userId":"u1","event":"Signed Up","properties":{"score":%s}}', "properties.score"),
        ('{"userId":"u1","event":"Signed Up","properties":{"list":[1,{"x":%s}]}}', "properties.list.1.x"),
        ('{"userId":"u1","traits":{"ltv":%s}}', "traits.ltv"),
        ('{"userId":"u1","event":"Signed Up","context":{"traits":{"ltv":%s}}}', "context.traits.ltv"),
        ('{"userId":"u1","event":"Product Added","properties":{"product_id":"p","price":%s}}', "properties.price"),
    ],
)
def test_nan_infinity_and_overflowing_numbers_are_refused_naming_the_field(number, template, field):
    endpoint = "identify" if '"traits":{"ltv"' in template and "context" not in template else "track"

    error = refused(endpoint, (template % number)[:-1] + ',"writeKey":"demo-write-key"}')

    assert error.status == 400
    assert [(e.field, e.rule) for e in error.errors] == [(field, f"must be a finite number, not {number}")]


def test_a_non_finite_number_in_a_batch_names_its_item():
    raw = '{"batch":[{"type":"track","userId":"u","event":"A"},{"type":"track","userId":"u","event":"B",'
    raw += '"properties":{"v":NaN}}],"writeKey":"demo-write-key"}'

    error = refused("batch", raw)

    assert [e.as_json() for e in error.errors] == [
        {"index": 1, "field": "properties.v", "rule": "must be a finite number, not NaN"}
    ]


def test_large_but_finite_numbers_in_free_form_properties_are_kept():
    raw = body(track("Signed Up", {"big": 1.7e308, "tiny": 5e-324, "huge_int": 10**300}, userId="u1"))

    _, queue = ingest("track", raw)

    properties = StateUpdater.parse(queue.bodies()[0]).message.properties
    assert properties == {"big": 1.7e308, "tiny": 5e-324, "huge_int": 10**300}


# ---------------------------------------------------------------- lone surrogates


@pytest.mark.parametrize(
    ("properties", "traits", "field"),
    [
        ('{"title":"great \\ud83d"}', "{}", "properties.title"),
        ('{"\\udc00key":1}', "{}", "properties.\udc00key"),
        ('{"list":["ok","\\udc00"]}', "{}", "properties.list.1"),
        ("{}", '{"nick":"a\\udbff"}', "context.traits.nick"),
    ],
)
def test_a_lone_surrogate_is_refused_naming_its_field_and_nothing_is_enqueued(properties, traits, field):
    # Given a JavaScript client that cut an emoji in half somewhere in an event
    raw = (
        '{"userId":"u1","event":"Review Written","writeKey":"demo-write-key",'
        f'"properties":{properties},"context":{{"traits":{traits}}}}}'
    )
    # When it is posted
    with pytest.raises(RequestRejectedError) as refused:
        ingest("track", raw)
    # Then it is a 400 that names the field and the rule
    assert refused.value.status == 400
    assert [(e.field, "lone UTF-16 surrogate" in e.rule) for e in refused.value.errors] == [(field, True)]


def test_a_lone_surrogate_in_a_batch_names_the_message_and_a_whole_emoji_is_accepted():
    # Given a batch whose second message holds half an emoji and whose first a whole one (an escaped pair)
    raw = (
        '{"writeKey":"demo-write-key","batch":['
        '{"type":"track","userId":"u1","event":"A","properties":{"face":"\\ud83d\\ude00"}},'
        '{"type":"track","userId":"u2","event":"B","properties":{"face":"\\ud83d"}}]}'
    )
    # When it is posted
    with pytest.raises(RequestRejectedError) as refused:
        ingest("batch", raw)
    # Then the second message is named, and the batch is refused whole
    assert [(e.index, e.field) for e in refused.value.errors] == [(1, "properties.face")]
    # And the same batch without the broken message is accepted with its emoji intact
    _, queue = ingest(
        "batch", raw.replace(',{"type":"track","userId":"u2","event":"B","properties":{"face":"\\ud83d"}}', "")
    )
    assert StateUpdater.parse(queue.bodies()[0]).message.properties == {"face": "\U0001f600"}


# ---------------------------------------------------------------- money and quantities


@pytest.mark.parametrize(
    ("event", "properties", "field", "bound"),
    [
        (
            "Order Completed",
            {"products": [{"sku": "s", "price": 1e308, "quantity": 2}]},
            "properties.products.0.price",
            "1000000000",
        ),
        ("Order Completed", {"revenue": 1e308}, "properties.revenue", "1000000000"),
        ("Order Completed", {"total": MAX_AMOUNT + 0.01}, "properties.total", "1000000000"),
        ("Order Refunded", {"order_id": "o1", "revenue": 1e30}, "properties.revenue", "1000000000"),
        ("Product Added", {"product_id": "p", "price": 1e30}, "properties.price", "1000000000"),
        ("Product Added", {"product_id": "p", "quantity": MAX_QUANTITY + 1}, "properties.quantity", "100000"),
        ("Cart Viewed", {"products": [{"sku": "s", "quantity": 1e308}]}, "properties.products.0.quantity", ""),
        ("Order Completed", {"discount": -5}, "properties.discount", "0"),
        ("Product Added", {"product_id": "p", "quantity": 2.5}, "properties.quantity", ""),
    ],
)
def test_money_and_quantities_out_of_bounds_are_refused_naming_field_and_bound(event, properties, field, bound):
    error = refused("track", body(track(event, properties, userId="u1")))

    assert error.status == 400
    assert [e.field for e in error.errors] == [field]
    assert bound in error.errors[0].rule


def test_the_largest_amounts_and_quantities_are_accepted():
    order = {
        "order_id": "o1",
        "revenue": MAX_AMOUNT,
        "products": [{"sku": f"s{i}", "price": MAX_AMOUNT, "quantity": MAX_QUANTITY} for i in range(500)],
    }
    [message] = parse_messages("track", load_body("track", json.dumps(track("Order Completed", order, userId="u"))))
    assert message.properties.amount == MAX_AMOUNT
    added = product("p", price=MAX_AMOUNT, quantity=MAX_QUANTITY)
    [message] = parse_messages("track", load_body("track", json.dumps(track("Product Added", added, userId="u"))))
    assert (message.properties.price, message.properties.quantity) == (MAX_AMOUNT, MAX_QUANTITY)
