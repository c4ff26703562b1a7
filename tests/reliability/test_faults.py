"""Fault injection on the real handlers: AWS throttles and fails a share of calls, and nothing is lost or sent twice.

moto runs in-process (``mock_aws``) with the resources template.yaml declares; ``tests/reliability/pipeline.py``
drives ingest, the state updater, the channel router and the timer state machine the way API Gateway, SQS and Step
Functions would, in virtual time, while a botocore hook fails a seeded share of the functions' DynamoDB, SQS, Step
Functions, SES and SNS calls with throttling, 500 or 503. Each scenario is played twice, without and with faults;
the run without faults (the reference) plays template.yaml in memory instead, driven the same way: the same
handlers and services on the in-memory adapters, which ``tests/parity`` holds to the AWS ones (so the comparison
below also says that memory and moto end every customer alike):

- every event a shop sent is applied to its customer, or sits in the events dead-letter queue;
- every customer who lost no event to the dead-letter queue ends exactly as in the run without faults;
- no outbox message is accepted by a provider twice, and every message is sent, or closed in the send ledger, or
  sits in the outbox dead-letter queue with its reason.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import clock
from shared.adapters.timers import wake_up
from shared.core.customer import message_digest
from shared.models.events import QueuedEvent, SegmentEvent, TimerEvent
from tests.memory import MemoryStack
from tests.reliability import figures
from tests.reliability.histories import DEMO
from tests.reliability.pipeline import (
    PUSH_MESSAGE_ID,
    Deployment,
    Drained,
    Faults,
    Pipeline,
    RecordOperations,
    SendCounter,
    deployed,
)

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WRITE_KEY = "demo-write-key"
CUSTOMERS = 16


# ---------------------------------------------------------------- a shop's day, seeded


def scenario(seed: int) -> list[tuple[timedelta, list[dict[str, Any]]]]:
    """Batches (offset from START, Segment messages) a shop's site and app send for CUSTOMERS customers: signups with
    consents and an app, carts, orders, refunds, consent withdrawn while a reminder waits, more carts later."""
    rng = random.Random(seed)
    numbers = iter(range(10**6))

    def message(user: str, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "userId": user, "messageId": f"{user}-{next(numbers)}", **fields}

    def track(user: str, event: str, properties: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return message(user, "track", event=event, properties=properties, **fields)

    def consent(user: str, channel: str, status: str) -> dict[str, Any]:
        properties = {"channel": channel, "status": status, "source": "prefs", "notice_version": "v1"}
        return track(user, "Consent Updated", properties)

    def added(user: str, cart: str, product: str) -> dict[str, Any]:
        properties = {"product_id": product, "name": f"Product {product}", "price": 25.0, "cart_id": cart}
        return track(user, "Product Added", properties)

    phases: list[list[dict[str, Any]]] = [[], [], [], []]
    for index in range(CUSTOMERS):
        user = f"shopper{index}"
        context = {"timezone": "Europe/Berlin", "locale": "en-GB"}
        phases[0].append(message(user, "identify", traits={"firstName": "Sam", "email": f"{user}@example.com"}))
        for channel in rng.sample(["push", "email", "in_app"], rng.randint(1, 3)):
            phases[0].append(consent(user, channel, "granted"))
        if rng.random() < 0.6:
            device = {"token": f"fcm-{user}", "type": "android"}
            phases[0].append(track(user, "Application Installed", {}, context={**context, "device": device}))
        phases[0].append(added(user, "c1", rng.choice(["boots", "socks", "tent"])))
        roll = rng.random()
        if roll < 0.35:
            order = {"order_id": f"o-{user}", "revenue": 25.0, "cart_id": "c1", "products": [{"product_id": "boots"}]}
            phases[1].append(track(user, "Order Completed", order))
            if rng.random() < 0.3:
                phases[2].append(track(user, "Order Refunded", {"order_id": f"o-{user}"}))
        elif roll < 0.6:
            phases[1].append(consent(user, rng.choice(["push", "email", "in_app"]), "withdrawn"))
        phases[3].append(added(user, "c2", "lamp"))
    rng.shuffle(phases[0])  # customers' messages interleave; each customer's stay in order (sorted below)
    offsets = [timedelta(0), timedelta(minutes=20), timedelta(days=2), timedelta(days=9)]
    batches = []
    for offset, messages in zip(offsets, phases, strict=True):
        order = {m["messageId"]: int(m["messageId"].rsplit("-", 1)[1]) for m in messages}
        by_user: dict[str, list[dict[str, Any]]] = {}
        for m in messages:
            by_user.setdefault(m["userId"], []).append(m)
        for queue in by_user.values():
            queue.sort(key=lambda m: order[m["messageId"]])
        ordered = [by_user[m["userId"]].pop(0) for m in messages]
        for start in range(0, len(ordered), 15):
            batches.append((offset, ordered[start : start + 15]))
    return batches


# ---------------------------------------------------------------- playing it


def play(monkeypatch, seed: int, faults: Faults | None) -> dict[str, Any]:
    """Play the scenario on a fresh deployment; returns what a user or operator could observe."""
    with deployed(monkeypatch, [DEMO]) as deployment:
        pipeline = Pipeline(deployment, START)
        sends = SendCounter()
        with (
            clock.use(pipeline.clock),
            RecordOperations().installed(),
            pipeline.watching_timers(),
            sends.installed(),
            faults.installed() if faults else _nothing(),
        ):
            posted: list[dict[str, Any]] = []
            not_applied: list[str] = []
            for offset, batch in scenario(seed):
                pipeline.run_timers(until=START + offset)
                pipeline.now = max(pipeline.now, START + offset)
                status = pipeline.post("/v1/batch", {"batch": batch}, WRITE_KEY)
                assert status == 200, status
                posted.extend(batch)
                pipeline.settle()
                # Right after it settles (well inside the 26 h dedupe window): applied, or dead-lettered
                parked = _parked_message_ids(pipeline)
                states = pipeline.customer_states("demo", {f"u:{message['userId']}" for message in batch})
                for message in batch:
                    state = states[f"u:{message['userId']}"]
                    applied = state is not None and message_digest(message["messageId"]) in state.seen
                    if not applied and message["messageId"] not in parked:
                        not_applied.append(message["messageId"])
            timers = pipeline.run_timers(until=START + timedelta(days=40))
            if faults is not None:
                faults.enabled = False  # reading the outcome is not under test
        users = sorted({m["userId"] for m in posted})
        read = pipeline.customer_states("demo", [f"u:{user}" for user in users])
        states = {user: read[f"u:{user}"] for user in users}
        return {
            "posted": posted,
            "not_applied": not_applied,
            "states": states,
            "events_dlq": pipeline.dead_letters("EventsDeadLetterQueue"),
            "outbox_dlq": pipeline.dead_letters("OutboxDeadLetterQueue"),
            "ledger": _ledger(pipeline),
            "sends": sends,
            "timers": timers,
            "drained": pipeline.drained,
        }


class MemoryTimers:
    """The timer state machine as the moto pipeline plays it: an execution per new timer id (the first input kept),
    fired one at a time in (due, name) order."""

    def __init__(self) -> None:
        self.executions: dict[str, TimerEvent] = {}
        self.fired: set[str] = set()

    def start(self, events: Sequence[TimerEvent]) -> None:
        for event in events:
            self.executions.setdefault(event.timer_id, event)

    def pending(self, until: datetime) -> dict[str, datetime]:
        return {
            name: datetime.fromisoformat(wake_up(event)["due_at"])
            for name, event in self.executions.items()
            if name not in self.fired and datetime.fromisoformat(wake_up(event)["due_at"]) <= until
        }


def play_in_memory(seed: int) -> dict[str, Any]:
    """Play the scenario without faults on template.yaml in memory, driven exactly as :class:`Pipeline` drives moto
    (the clock, the order timers fire in, a settle after each); returns what ``play`` returns."""
    timers = MemoryTimers()
    stack = MemoryStack([DEMO], at=START, timers=timers)
    drained = Drained()

    def settle() -> None:
        records = stack.settle()
        drained.records["events and outbox"] += records

    def run_timers(until: datetime) -> int:
        fired = 0
        while pending := timers.pending(until):
            name = min(pending, key=lambda n: (pending[n], n))
            stack.clock.at = max(stack.clock.at, pending[name] + timedelta(seconds=1))
            stack.cloud.fire([timers.executions[name]])
            timers.fired.add(name)
            fired += 1
            settle()
        stack.clock.at = max(stack.clock.at, until)
        return fired

    def state_of(user: str) -> Any:
        record = stack.cloud.customers.follow(stack.cloud.customers.load("demo", f"u:{user}"))
        return record.state

    posted: list[dict[str, Any]] = []
    not_applied: list[str] = []
    for offset, batch in scenario(seed):
        run_timers(until=START + offset)
        stack.clock.at = max(stack.clock.at, START + offset)
        status, _ = stack.post("/v1/batch", {"batch": batch}, WRITE_KEY)
        assert status == 200, status
        posted.extend(batch)
        settle()
        for message in batch:
            state = state_of(message["userId"])
            if state is None or message_digest(message["messageId"]) not in state.seen:
                not_applied.append(message["messageId"])
    fired = run_timers(until=START + timedelta(days=40))
    users = sorted({m["userId"] for m in posted})
    return {
        "posted": posted,
        "not_applied": not_applied,
        "states": {user: state_of(user) for user in users},
        "events_dlq": [m.as_sqs() for m in stack.cloud.events_dlq],
        "outbox_dlq": [m.as_sqs() for m in stack.cloud.outbox_dlq],
        "ledger": {
            sk.removeprefix("msg#"): {
                "status": item["status"]["S"],
                "reason": item.get("reason", {}).get("S"),
                "channel": item.get("channel", {}).get("S"),
                "customer": pk.split("#", 1)[1],
            }
            for (pk, sk), item in stack.cloud.ledger.items.items()
        },
        "sends": MemorySends(stack),
        "timers": fired,
        "drained": drained,
    }


class MemorySends:
    """What the memory channel services and the inbox accepted, per outbox message id, counted as
    :class:`SendCounter` counts the AWS calls (email, push, in-app)."""

    def __init__(self, stack: MemoryStack) -> None:
        self.sends: Counter[tuple[str, str]] = Counter()
        for sent in stack.transports.sent:
            if sent.channel == "email":
                tag = next(t["Value"] for t in sent.request["EmailTags"] if t["Name"] == "nudge_message_id")
                self.sends[("email", tag)] += 1
            elif sent.channel == "push":
                found = PUSH_MESSAGE_ID.search(sent.request["Message"])
                self.sends[("push", found.group(1) if found else "?")] += 1
        for _, sk in stack.cloud.inbox.items:
            self.sends[("in_app", sk.removeprefix("inbox#"))] += 1

    def twice(self) -> dict[tuple[str, str], int]:
        return {key: n for key, n in self.sends.items() if n > 1}

    def per_message(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for (_, message_id), count in self.sends.items():
            found[message_id] += count
        return found


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _parked_message_ids(pipeline: Pipeline) -> set[str]:
    found = set()
    for message in pipeline.dead_letters("EventsDeadLetterQueue"):
        event = _queued(message["Body"])
        found.add(event.message_id if event is not None else message["MessageId"])
    return found


def _queued(body: str) -> Any:
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(QueuedEvent).validate_json(body)
    except ValidationError:
        return None


def _ledger(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """Every send-ledger item: message id -> status and reason."""
    items = []
    for page in pipeline.dynamodb.get_paginator("scan").paginate(TableName=pipeline.resources["CustomersTable"]):
        items.extend(page["Items"])
    return {
        item["sk"]["S"].removeprefix("msg#"): {
            "status": item["status"]["S"],
            "reason": item.get("reason", {}).get("S"),
            "channel": item.get("channel", {}).get("S"),
            "customer": item["pk"]["S"].split("#", 1)[1],
        }
        for item in items
        if item["sk"]["S"].startswith("msg#")
    }


def comparable(state: Any) -> Any:
    """A customer's state without what differs between two runs by nature: SNS endpoint ARNs (random in moto), and
    the events that cached them."""
    if state is None:
        return None
    document = state.model_dump(mode="json")
    registered = sum(1 for token in document.get("push_tokens", []) if token.pop("endpoint_arn", None))
    # Caching a token's SNS endpoint is an event of its own (push_endpoint_registered feedback): a push a fault turned
    # away (sent on another channel, or failed) registers none, and the next push does. Counted apart from the rest.
    document["events_applied"] -= registered
    return document


def customers_hit(result: dict[str, Any]) -> set[str]:
    """Customers with an event in the events dead-letter queue."""
    hit = set()
    for message in result["events_dlq"]:
        event = _queued(message["Body"])
        if isinstance(event, SegmentEvent):
            hit.add(event.message.userId)
        elif event is not None:
            hit.add(event.customer.removeprefix("u:"))
    return hit


def waited_for_reach(clean_entry: dict[str, Any], faulty: dict[str, Any], hit: set[str]) -> bool:
    """A customer who lost an event (their consent, their address) to the dead-letter queue may be one nudge
    cannot reach: the journey then waits for a channel instead of deciding a message (none is sent or held)."""
    user = clean_entry["customer"].removeprefix("u:")
    state = faulty["states"].get(user)
    if user not in hit or state is None:
        return False
    waiting = ("no channel reaches the customer", "no channel reached the customer")
    return any(entry.reason.startswith(waiting) for entry in state.journey_log)


def check(clean: dict[str, Any], faulty: dict[str, Any], faults: Faults, name: str) -> None:
    """The promises, with the fault-free run as the reference."""
    # Every event is applied, or sits in the events dead-letter queue
    assert faulty["not_applied"] == []
    # Every customer who lost nothing to the dead-letter queue ends as without faults
    hit = customers_hit(faulty)
    differing = [
        user
        for user, state in faulty["states"].items()
        if user not in hit and comparable(state) != comparable(clean["states"][user])
    ]
    assert differing == []
    # No message is accepted by a provider twice
    assert faulty["sends"].twice() == {}
    sent = faulty["sends"].per_message()
    # Every message the clean run sent is sent, closed in the ledger, or in the outbox dead-letter queue with a reason
    parked_outbox = {_outbox_id(m["Body"]): m for m in faulty["outbox_dlq"]}
    for message_id in clean["sends"].per_message():
        entry = faulty["ledger"].get(message_id)
        assert (
            message_id in sent
            or (entry and entry["status"] in ("failed", "suppressed"))
            or (message_id in parked_outbox)
            or waited_for_reach(clean["ledger"][message_id], faulty, hit)
        ), message_id
    events_parked = len(faulty["events_dlq"])
    figures.add(
        name,
        events_posted=len(faulty["posted"]),
        events_applied=len(faulty["posted"]) - events_parked,
        events_dead_lettered=events_parked,
        events_dead_lettered_with_reason=sum("reason" in m.get("MessageAttributes", {}) for m in faulty["events_dlq"]),
        customers=len(faulty["states"]),
        customers_identical_to_fault_free_run=len(faulty["states"]) - len(hit),
        timers_fired=faulty["timers"],
        messages_sent=sum(sent.values()),
        messages_sent_fault_free=sum(clean["sends"].per_message().values()),
        messages_failed_or_parked=len(clean["sends"].per_message())
        - len(set(sent) & set(clean["sends"].per_message())),
        outbox_dead_lettered=len(faulty["outbox_dlq"]),
        outbox_dead_lettered_with_reason=sum("reason" in m.get("MessageAttributes", {}) for m in faulty["outbox_dlq"]),
        calls=sum(faults.calls.values()),
        faults_injected=faults.total_injected,
        ingest_5xx_retried=faulty["drained"].ingest_retries,
        ingest_unhandled_errors=faulty["drained"].ingest_unhandled,
        updater_records=faulty["drained"].records["StateUpdaterFunction"],
        updater_records_failed=faulty["drained"].failed_records["StateUpdaterFunction"],
        router_records=faulty["drained"].records["ChannelRouterFunction"],
        router_records_failed=faulty["drained"].failed_records["ChannelRouterFunction"],
        **{f"faults_{service}": n for service, n in faults.per_service().items()},
    )


def _outbox_id(body: str) -> str:
    from shared.models.messages import OutboxMessage

    try:
        return OutboxMessage.model_validate_json(body).message_id
    except ValueError:
        return body


# ---------------------------------------------------------------- the suites

_CLEAN: dict[int, dict[str, Any]] = {}


def fault_free(monkeypatch, seed: int) -> dict[str, Any]:
    """The scenario of ``seed`` played without faults (once per seed and session: it is the reference), on
    template.yaml in memory: the same handlers and services, on adapters ``tests/parity`` holds to the AWS ones."""
    if seed not in _CLEAN:
        _CLEAN[seed] = play_in_memory(seed)
        assert _CLEAN[seed]["events_dlq"] == [] and _CLEAN[seed]["not_applied"] == []
        assert sum(_CLEAN[seed]["sends"].per_message().values()) > 0
    return _CLEAN[seed]


@pytest.mark.parametrize("seed", [11, 12])
def test_five_percent_throttling_and_5xx_on_the_wire_lose_nothing_and_send_nothing_twice(
    monkeypatch, no_retry_waits, seed
):
    # Given a shop's day played once without faults
    clean = fault_free(monkeypatch, seed)

    # When 5 % of the functions' AWS calls are answered with throttling, 500 or 503 (botocore retries them)
    faults = Faults(rate=0.05, seed=seed, mode="wire")
    faulty = play(monkeypatch, seed, faults)

    # Then nothing is lost and nothing is sent twice (with faults in about one call in twenty)
    assert faults.total_injected > 0.03 * sum(faults.calls.values())
    check(clean, faulty, faults, "faults: 5 % on the wire")


@pytest.mark.parametrize("seed", [11, 12])
def test_faults_that_outlast_botocores_retries_are_redelivered_until_applied_or_dead_lettered(
    monkeypatch, no_retry_waits, seed
):
    # Given a shop's day played once without faults
    clean = fault_free(monkeypatch, seed)

    # When 8 % of the functions' AWS calls fail even after botocore's retries (the handler sees the error, and
    # Lambda's SQS event source redelivers the record, up to maxReceiveCount)
    faults = Faults(rate=0.08, seed=seed, mode="exhausted")
    faulty = play(monkeypatch, seed, faults)

    # Then every event is applied or dead-lettered, and no message is sent twice
    assert faulty["drained"].failed_records["StateUpdaterFunction"] > 0
    check(clean, faulty, faults, "faults: 8 % after retries")


def test_a_fault_between_the_provider_call_and_the_ledger_never_sends_twice(monkeypatch, no_retry_waits):
    # Given a shop's day played once without faults
    clean = fault_free(monkeypatch, 11)

    # When every send-ledger write that records a sent message fails (the router dies after the provider accepted)
    def closing_as_sent(operation: str, params: Any) -> bool:
        values = (params or {}).get("ExpressionAttributeValues", {})
        return operation == "UpdateItem" and values.get(":status", {}).get("S") == "sent"

    faults = Faults(rate=1.0, seed=31, mode="exhausted", services=("dynamodb",), when=closing_as_sent)
    faulty = play(monkeypatch, 11, faults)

    # Then each message reached the provider once, and the ledger says it was not confirmed (never re-sent)
    assert faulty["sends"].twice() == {}
    assert sum(faulty["sends"].per_message().values()) == sum(clean["sends"].per_message().values())
    statuses = Counter(entry["status"] for entry in faulty["ledger"].values())
    reasons = Counter(
        (entry["reason"] or "")[:40] for entry in faulty["ledger"].values() if entry["status"] == "failed"
    )

    assert statuses["sent"] == 0
    figures.add(
        "faults: ledger write after the provider call fails",
        messages_accepted_by_providers=sum(faulty["sends"].per_message().values()),
        provider_duplicates=len(faulty["sends"].twice()),
        ledger_failed=statuses["failed"],
        **{f"ledger_failed: {reason}": n for reason, n in reasons.items()},
        outbox_dead_lettered=len(faulty["outbox_dlq"]),
        faults_injected=faults.total_injected,
    )


# ---------------------------------------------------------------- dead letters keep their reason


def _one_customer_pipeline(deployment: Deployment, faults: Faults, outbox: bool) -> tuple[Pipeline, str]:
    """A customer with email consent; then (under ``faults``) an event, or an outbox message for them."""
    pipeline = Pipeline(deployment, START)
    user = "lena"
    batch = [
        {"type": "identify", "userId": user, "messageId": "l-1", "traits": {"email": "lena@example.com"}},
        {
            "type": "track",
            "userId": user,
            "messageId": "l-2",
            "event": "Consent Updated",
            "properties": {"channel": "email", "status": "granted", "source": "prefs", "notice_version": "v1"},
        },
    ]
    with clock.use(pipeline.clock), RecordOperations().installed():
        if not outbox:
            with faults.installed():
                assert pipeline.post("/v1/batch", {"batch": batch}, WRITE_KEY) == 200
                pipeline.settle()
            return pipeline, "EventsDeadLetterQueue"
        assert pipeline.post("/v1/batch", {"batch": batch}, WRITE_KEY) == 200
        pipeline.settle()
        from shared.adapters.queue import StandardQueue
        from shared.models.messages import OutboxMessage

        message = OutboxMessage(
            message_id="cart_abandonment-1-0-manual",
            shop_id="demo",
            customer=f"u:{user}",
            journey="cart_abandonment",
            step=0,
            template="cart_reminder",
            variables={"cart_id": "c1", "items": []},
            created_at=START,
        )
        StandardQueue(pipeline.resources["OutboxQueue"], client=pipeline.sqs).send(message.model_dump_json())
        with faults.installed():
            pipeline.settle()
    return pipeline, "OutboxDeadLetterQueue"


def test_an_event_that_keeps_failing_sits_in_the_events_dead_letter_queue_with_its_reason(monkeypatch, no_retry_waits):
    with deployed(monkeypatch, [DEMO]) as deployment:
        # Given DynamoDB refusing every write of customer state (throttled beyond botocore's retries)
        def state_write(operation: str, params: Any) -> bool:
            return operation == "PutItem" and (params or {}).get("Item", {}).get("sk", {}).get("S") == "state"

        faults = Faults(rate=1.0, seed=1, mode="exhausted", services=("dynamodb",), when=state_write)

        # When a shop sends a customer's events
        pipeline, dlq = _one_customer_pipeline(deployment, faults, outbox=False)

        # Then, after maxReceiveCount attempts, its events sit in the dead-letter queue and say why
        parked = pipeline.dead_letters(dlq)
        assert len(parked) == 2
        assert [m.get("MessageAttributes", {}).get("reason") is not None for m in parked] == [True, True]


def test_an_outbox_message_that_keeps_failing_sits_in_the_dead_letter_queue_with_its_reason(
    monkeypatch, no_retry_waits
):
    with deployed(monkeypatch, [DEMO]) as deployment:
        # Given DynamoDB refusing every read of the send ledger (throttled beyond botocore's retries)
        def ledger_read(operation: str, params: Any) -> bool:
            key = (params or {}).get("Key", {}).get("sk", {}).get("S", "")
            return operation == "GetItem" and key.startswith("msg#")

        faults = Faults(rate=1.0, seed=1, mode="exhausted", services=("dynamodb",), when=ledger_read)

        # When a message for a consenting customer is due
        pipeline, dlq = _one_customer_pipeline(deployment, faults, outbox=True)

        # Then, after maxReceiveCount attempts, it sits in the dead-letter queue and says why
        parked = pipeline.dead_letters(dlq)
        assert len(parked) == 1
        assert "reason" in parked[0].get("MessageAttributes", {})
