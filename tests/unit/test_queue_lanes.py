"""A large enqueue goes out in lanes: several SendMessageBatch calls in flight, each customer's events in order."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import pytest

from shared.adapters.queue import LANES, MAX_ENTRIES, MAX_REQUEST_BYTES, EnqueueError, FifoEntry, FifoQueue, lanes_of


class RecordingSqs:
    """A fake SQS client: records each SendMessageBatch (thread-safe); ``fail_group`` entries are refused."""

    def __init__(self, fail_group: str | None = None, hold: threading.Barrier | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._fail_group = fail_group
        self._hold = hold
        self._lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self._hold is not None:
                self._hold.wait()  # until that many calls are in flight at once (broken after its timeout)
            failed = [
                {"Id": entry["Id"], "Code": "InternalError", "SenderFault": False}
                for entry in Entries
                if entry["MessageGroupId"] == self._fail_group
            ]
            with self._lock:
                self.calls.append([entry for entry in Entries if entry["MessageGroupId"] != self._fail_group])
            return {"Successful": [], "Failed": failed}
        finally:
            with self._lock:
                self.in_flight -= 1


def entries(customers: int, per_customer: int, body: str = "{}") -> list[FifoEntry]:
    """``per_customer`` events for each of ``customers``, interleaved as a shop's batch would be."""
    return [
        FifoEntry(group_id=f"shop#u:c{c}", deduplication_id=f"c{c}-{n}", body=body)
        for n in range(per_customer)
        for c in range(customers)
    ]


def order_by_group(calls: list[list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Per group, the deduplication ids in the order SQS received them (calls in the order they arrived)."""
    seen: dict[str, list[str]] = defaultdict(list)
    for call in calls:
        for entry in call:
            seen[entry["MessageGroupId"]].append(entry["MessageDeduplicationId"])
    return seen


def test_a_2500_event_batch_keeps_each_customers_order_across_lanes():
    # Given a 2,500-event batch of 250 customers, 10 events each, interleaved
    batch = entries(250, 10)
    sqs = RecordingSqs()

    # When it is enqueued
    FifoQueue("https://queue", client=sqs).send(batch)  # type: ignore[arg-type]

    # Then every event arrived once, each customer's in the order given, within SQS's limits per call
    received = order_by_group(sqs.calls)
    assert sum(len(ids) for ids in received.values()) == 2500
    for c in range(250):
        assert received[f"shop#u:c{c}"] == [f"c{c}-{n}" for n in range(10)]
    assert len(sqs.calls) == 250
    assert all(len(call) <= MAX_ENTRIES for call in sqs.calls)


def test_lanes_send_at_the_same_time():
    # Given SQS that answers only once LANES calls are in flight together (or gives up after 5 s)
    sqs = RecordingSqs(hold=threading.Barrier(LANES, timeout=5))

    # When many customers' events are enqueued
    FifoQueue("https://queue", client=sqs).send(entries(LANES * 4, 10))  # type: ignore[arg-type]

    # Then LANES calls were in flight at once
    assert sqs.most_in_flight == LANES


def test_a_customer_is_in_one_lane_and_lanes_are_balanced():
    # one customer with many more events than the others, first
    big = [FifoEntry(group_id="shop#u:big", deduplication_id=f"big-{n}", body="{}") for n in range(100)]
    lanes = lanes_of(big + entries(40, 5), 8)
    assert len(lanes) == 8
    groups = [{entry.group_id for entry in lane} for lane in lanes]
    assert sum(len(g) for g in groups) == len(set().union(*groups)) == 41  # no group split across lanes
    assert sorted(len(lane) for lane in lanes) == [25, 25, 30, 30, 30, 30, 30, 100]  # the big one has a lane


def test_a_big_customer_alone_is_sent_in_order_within_size_limits():
    body = "x" * 30_000  # nine per call at most (256 KB)
    sqs = RecordingSqs()
    FifoQueue("https://queue", client=sqs).send(entries(1, 40, body))  # type: ignore[arg-type]
    assert order_by_group(sqs.calls)["shop#u:c0"] == [f"c0-{n}" for n in range(40)]
    assert all(sum(len(e["MessageBody"]) for e in call) <= MAX_REQUEST_BYTES for call in sqs.calls)


def test_a_lane_that_fails_fails_the_enqueue_and_stops_its_group():
    # Given SQS that refuses one customer's events
    sqs = RecordingSqs(fail_group="shop#u:c3")

    # When a batch with that customer is enqueued, Then the caller learns (and answers 503; the retry is deduplicated)
    with pytest.raises(EnqueueError):
        FifoQueue("https://queue", client=sqs).send(entries(50, 10))  # type: ignore[arg-type]

    # And nothing of that customer's got through after the refused entries
    assert "shop#u:c3" not in order_by_group(sqs.calls)
