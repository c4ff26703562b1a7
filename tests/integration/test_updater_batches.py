"""The state updater on a batch of the events queue: a customer's records are decided on one loaded state and saved
once, and every record keeps its own fate (applied, duplicate, parked, failed with the rest of its group). Runs on
template.yaml in memory, through the real handler, counting the customer store's writes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from functions.state_updater.handler import lambda_handler
from functions.state_updater.wiring import StateUpdaterWiring
from infra.local.runtime import LambdaContext
from infra.memory.stores import MemoryCustomers
from shared.adapters.queue import FifoEntry
from shared.models.state import CustomerState
from shared.service.updater import QueuedRecord, StateUpdater
from tests.factories import T0, accepted, boots, product, shopper, track
from tests.memory import MemoryStack


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack()


def state_of(stack: MemoryStack, user: str) -> CustomerState:
    state = stack.cloud.customers.load("demo", f"u:{user}").state
    assert state is not None
    return state


def enqueue(stack: MemoryStack, messages: list[dict[str, Any]], bodies: dict[int, str] | None = None) -> list[str]:
    """The messages on the events queue as ingest puts them (``bodies`` replaces a position's body); their SQS ids."""
    events = [accepted(message) for message in messages]
    entries = [
        FifoEntry(event.group, f"dedupe-{index}-{event.message_id}", (bodies or {}).get(index, event.model_dump_json()))
        for index, event in enumerate(events)
    ]
    stack.cloud.events.send(entries)
    return [message.message_id for message in list(stack.cloud.events)[-len(entries) :]]


def one_batch(stack: MemoryStack, updater: StateUpdater | None = None) -> dict[str, Any]:
    """Everything the events queue holds (at most 10) as one batch to the state updater's handler; its answer."""
    queue = stack.cloud.events
    records = [message.lambda_record(queue.arn, "us-east-1") for message in queue.receive(10)]
    wiring = StateUpdaterWiring(updater or stack.cloud.state_updater_wiring().updater, 5)
    return lambda_handler({"Records": records}, LambdaContext("StateUpdater", 512, 30), wiring=wiring)


def failed(answer: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in answer["batchItemFailures"]]


class ThrottledOn(MemoryCustomers):
    """The memory table, refusing (as a throttled write would fail) every save of a cart holding ``product_id``."""

    def __init__(self, table: MemoryCustomers, product_id: str) -> None:
        self.__dict__.update(table.__dict__)
        self.product_id = product_id

    def save(self, record, state, now, absorbed=(), document=None) -> None:
        if any(item.product_id == self.product_id for cart in state.carts.values() for item in cart.items):
            raise RuntimeError("ProvisionedThroughputExceededException")
        super().save(record, state, now, absorbed, document)


def updater_with(stack: MemoryStack, customers: MemoryCustomers) -> StateUpdater:
    cloud = stack.cloud
    return StateUpdater(customers, cloud.shops, cloud.events_dlq, cloud.clock, cloud.timers, cloud.outbox)


def test_a_batch_of_one_customers_events_is_one_save_with_what_one_by_one_would_give(memory_stack):
    # Given a new customer's first session as the app sends it: identify, consent, views, a cart
    messages = [
        *shopper("ann", "email"),
        track("Product Viewed", product("p1"), userId="ann"),
        track("Product Viewed", product("p2"), userId="ann"),
        track("Product Added", boots(), userId="ann"),
    ]
    batched, alone = memory_stack(), memory_stack()

    # When it comes in one /v1/batch (one updater batch), and, elsewhere, one request (one batch) per event
    assert batched.post("/v1/batch", {"batch": messages})[0] == 200
    assert batched.settle() == len(messages)
    for message in messages:
        assert alone.post("/v1/batch", {"batch": [message]})[0] == 200
        alone.settle()

    # Then the batch is one write, and the state, the timers and, days later, the e-mails are the same
    assert (batched.cloud.customers.writes, alone.cloud.customers.writes) == (1, len(messages))
    assert state_of(batched, "ann").events_applied == len(messages)
    assert state_of(batched, "ann") == state_of(alone, "ann")
    assert batched.executions() == alone.executions() != []
    for stack in (batched, alone):
        stack.run_timers(T0 + timedelta(days=8))
    subjects = [[str(mail["Subject"]) for mail in stack.emails_to("ann@example.com")] for stack in (batched, alone)]
    assert subjects[0] == subjects[1] != []


def test_a_poison_record_in_the_middle_is_parked_and_its_neighbours_applied(stack):
    # Given three records of one customer, the middle one not an event at all
    poison = '{"kind": "segment", "shop_id": "demo"'
    added = [track("Product Added", product(p, cart_id="c1"), userId="bo") for p in ("left", "poison", "right")]
    enqueue(stack, added, bodies={1: poison})

    # When they come in one batch
    answer = one_batch(stack)

    # Then none failed: the poison record is parked with its reason, the other two are applied
    assert failed(answer) == []
    parked = list(stack.cloud.events_dlq)
    assert [m.body for m in parked] == [poison]
    assert parked[0].as_sqs()["MessageAttributes"]["reason"]["StringValue"].startswith("malformed event")
    assert [item.product_id for item in state_of(stack, "bo").carts["c1"].items] == ["left", "right"]


def test_a_failure_fails_the_rest_of_its_customers_records_only(stack):
    # Given one batch with Cy's three events and Di's two, and a table that refuses to save a cart with "boom"
    ids = enqueue(
        stack,
        [
            track("Product Added", product("first", cart_id="c1"), userId="cy"),
            track("Product Added", product("boom", cart_id="c1"), userId="cy"),
            track("Product Added", product("after", cart_id="c1"), userId="cy"),
            track("Product Added", product("d1", cart_id="c1"), userId="di"),
            track("Product Added", product("d2", cart_id="c1"), userId="di"),
        ],
    )
    table = ThrottledOn(stack.cloud.customers, "boom")

    # When the updater handles it
    answer = one_batch(stack, updater_with(stack, table))

    # Then the failed record and Cy's record after it are reported, for SQS to deliver again; the rest is saved
    assert failed(answer) == ids[1:3]
    assert [item.product_id for item in state_of(stack, "cy").carts["c1"].items] == ["first"]
    assert [item.product_id for item in state_of(stack, "di").carts["c1"].items] == ["d1", "d2"]
    assert table.writes == 2  # Cy's first event alone (after the run failed), Di's two together
    assert list(stack.cloud.events_dlq) == []


def test_a_record_that_still_fails_on_its_last_receive_is_parked_alone(stack):
    # Given three events of one customer on their fifth receive, the middle one failing every time
    events = [accepted(track("Product Added", product(p, cart_id="c1"), userId="ed")) for p in ("a", "boom", "b")]
    records = [QueuedRecord(e.model_dump_json(), e.group, f"sqs-{i}", receive_count=5) for i, e in enumerate(events)]
    updater = updater_with(stack, ThrottledOn(stack.cloud.customers, "boom"))

    # When the updater handles them
    results = updater.handle_batch(records, max_receives=5)

    # Then the middle one is parked with why, and its neighbours are applied
    assert results[1] is None and results[0] is not None and results[2] is not None
    parked = [m.as_sqs()["MessageAttributes"]["reason"]["StringValue"] for m in stack.cloud.events_dlq]
    assert parked == ["gave up after 5 attempts: RuntimeError: ProvisionedThroughputExceededException"]
    assert [item.product_id for item in state_of(stack, "ed").carts["c1"].items] == ["a", "b"]


def test_two_customers_interleaved_in_one_batch_are_each_saved_once_in_their_order(stack):
    # Given Fay and Gus, each adding and then removing an item, their events interleaved in one request
    def cart(user: str) -> list[dict[str, Any]]:
        return [
            track("Product Added", product("keep", cart_id="c1"), userId=user),
            track("Product Added", product("drop", cart_id="c1"), userId=user),
            track("Product Removed", product("drop", cart_id="c1"), userId=user),
        ]

    messages = [message for pair in zip(cart("fay"), cart("gus"), strict=True) for message in pair]
    assert stack.post("/v1/batch", {"batch": messages})[0] == 200

    # When the updater has them (one batch)
    assert stack.settle() == 6

    # Then each customer is one write, with their three events applied in order
    assert stack.cloud.customers.writes == 2
    for user in ("fay", "gus"):
        assert [item.product_id for item in state_of(stack, user).carts["c1"].items] == ["keep"]
        assert state_of(stack, user).events_applied == 3


def test_a_duplicate_inside_the_batch_is_applied_once(stack):
    # Given an event delivered twice in one batch (a redelivery past the queue's five-minute deduplication)
    added = track("Product Added", product("once", cart_id="c1"), userId="hal")
    enqueue(stack, [added, track("Product Viewed", product("p1"), userId="hal"), added])

    # When the updater handles the batch
    answer = one_batch(stack)

    # Then it is applied once, in one write
    assert failed(answer) == []
    state = state_of(stack, "hal")
    assert [(item.product_id, item.quantity) for item in state.carts["c1"].items] == [("once", 1)]
    assert state.events_applied == 2
    assert stack.cloud.customers.writes == 1


def test_page_views_within_a_visit_cost_no_write_and_a_new_visit_costs_one(stack):
    # Given a known customer who has just looked at a product (the clock is the shop's: events carry no timestamp)
    viewed = track("Product Viewed", product("p1"), userId="bea")
    assert stack.post("/v1/batch", {"batch": [*shopper("bea", "email"), viewed]})[0] == 200
    stack.settle()
    writes, before = stack.cloud.customers.writes, state_of(stack, "bea")

    # When they browse on for 25 minutes, each page sent alone as analytics.js sends it
    for minutes in (2, 9, 25):
        stack.clock.at = T0 + timedelta(minutes=minutes)
        page = {"userId": "bea", "name": "Category", "properties": {"path": "/c/boots"}, "messageId": f"p{minutes}"}
        assert stack.post("/v1/p", page)[0] == 200
        assert stack.settle() == 1

    # Then the pages are applied without a write: the customer reads as before the visit went on
    assert stack.cloud.customers.writes == writes
    assert state_of(stack, "bea") == before
    # and a page after 30 minutes without activity starts a new visit: one write, the last activity moves
    stack.clock.at = T0 + timedelta(minutes=25 + 31)
    assert stack.post("/v1/p", {"userId": "bea", "name": "Home", "messageId": "p56"})[0] == 200
    stack.settle()
    assert stack.cloud.customers.writes == writes + 1
    assert state_of(stack, "bea").last_activity_at == T0 + timedelta(minutes=56)
