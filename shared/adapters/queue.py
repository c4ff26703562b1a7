"""The customer events queue (SQS FIFO): send in batches of up to 10 entries and 256 KB.

A large send (a 2,500-event ``/v1/batch`` is 250 ``SendMessageBatch`` calls) goes out in lanes: entries are split
by message group into up to ``LANES`` lanes, each lane sends its entries in their order, and the lanes run at the
same time. A group is in one lane only, so each customer's events reach the queue in the order given.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import aws

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
_ATTEMPTS = 3
# Lanes a send uses at most: 8 calls in flight bring a 2,500-event batch to about a second in AWS (see
# docs/PERFORMANCE.md), within botocore's 10 pooled connections per client.
LANES = 8


class EnqueueError(Exception):
    """Some entries could not be enqueued; the caller answers 5xx and the client retries (dedupe makes it safe)."""


@dataclass(frozen=True, slots=True)
class FifoEntry:
    """One message for a FIFO queue."""

    group_id: str
    deduplication_id: str
    body: str


def batch_requests(entries: Sequence[FifoEntry]) -> Iterator[list[SendMessageBatchRequestEntryTypeDef]]:
    """Split ``entries`` into SendMessageBatch request entry lists within SQS's count and size limits, in order."""
    chunk: list[SendMessageBatchRequestEntryTypeDef] = []
    size = 0
    for index, entry in enumerate(entries):
        entry_size = len(entry.body.encode())
        if chunk and (len(chunk) == MAX_ENTRIES or size + entry_size > MAX_REQUEST_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(
            {
                "Id": str(index),
                "MessageBody": entry.body,
                "MessageGroupId": entry.group_id,
                "MessageDeduplicationId": entry.deduplication_id,
            }
        )
        size += entry_size
    if chunk:
        yield chunk


def _reason(text: str) -> dict[str, Any]:
    """The ``reason`` message attribute a parked message carries into its dead-letter queue."""
    return {"reason": {"DataType": "String", "StringValue": text[:1000]}}


class _Queue:
    """One SQS queue; its client is created on first use."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = aws.sqs()
        return self._client

    def _send_batch(self, request: Sequence[Any]) -> None:
        """SendMessageBatch, retrying the entries SQS refused; raises EnqueueError if some still fail."""
        pending = list(request)
        failures: list[Any] = []
        for _ in range(_ATTEMPTS):
            response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=pending)
            failures = response.get("Failed", [])
            failed_ids = {failure["Id"] for failure in failures}
            pending = [entry for entry in pending if entry["Id"] in failed_ids]
            if not pending:
                return
        codes = sorted({failure.get("Code", "") for failure in failures})
        raise EnqueueError(f"{len(pending)} message(s) not enqueued: {codes}")


def lanes_of(entries: Sequence[FifoEntry], lanes: int = LANES) -> list[list[FifoEntry]]:
    """``entries`` split into at most ``lanes`` lists, each group in one list and in its order; a new group goes to
    the lane with the fewest entries so far (deterministic, and even when a few customers send most events)."""
    assigned: dict[str, int] = {}
    split: list[list[FifoEntry]] = [[] for _ in range(max(1, lanes))]
    sizes = [0] * len(split)
    for entry in entries:
        lane = assigned.get(entry.group_id)
        if lane is None:
            lane = assigned[entry.group_id] = sizes.index(min(sizes))
        split[lane].append(entry)
        sizes[lane] += 1
    return [lane for lane in split if lane]


class FifoQueue(_Queue):
    """Sends ordered messages to one FIFO queue."""

    def __init__(self, queue_url: str, client: SQSClient | None = None, lanes: int = LANES) -> None:
        super().__init__(queue_url, client)
        self._lanes = lanes

    def send(self, entries: Sequence[FifoEntry]) -> None:
        """Enqueue every entry, each message group in order; raises EnqueueError (or the client's error) if some
        still fail after retries. Then some others may have been enqueued: the caller answers 5xx, and the client's
        retry carries the same deduplication ids, so what did go through is not enqueued twice."""
        if len(entries) <= MAX_ENTRIES:  # one request at most: no lanes needed
            self._send_lane(entries)
            return
        lanes = lanes_of(entries, self._lanes)
        if len(lanes) == 1:
            self._send_lane(lanes[0])
            return
        _ = self.client  # created here, once, rather than by several lanes at the same time
        failed = threading.Event()  # one lane failed: the request fails whole, the others stop early
        with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="enqueue") as pool:
            sent = [pool.submit(self._send_lane, lane, failed) for lane in lanes]
        errors = [error for error in (future.exception() for future in sent) if error is not None]
        if errors:
            raise errors[0]

    def _send_lane(self, entries: Sequence[FifoEntry], failed: threading.Event | None = None) -> None:
        """Send ``entries`` one request after the other; stop at the first that fails (later ones of the same group
        must not overtake it), or once another lane has failed."""
        for request in batch_requests(entries):
            if failed is not None and failed.is_set():
                return
            try:
                self._send_batch(request)
            except BaseException:
                if failed is not None:
                    failed.set()
                raise

    def park(self, entry: FifoEntry, reason: str) -> None:
        """Put a message that can never be processed into this (dead-letter) queue, with the reason attached."""
        self.client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=entry.body,
            MessageGroupId=entry.group_id,
            MessageDeduplicationId=entry.deduplication_id,
            MessageAttributes=_reason(reason),
        )


class StandardQueue(_Queue):
    """A standard (non-FIFO) queue: the outbox and its dead-letter queue."""

    def send(self, body: str, delay_seconds: int = 0) -> None:
        """Enqueue one message, visible after ``delay_seconds`` (at most 900, SQS's limit)."""
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=min(900, delay_seconds))

    def send_many(self, bodies: Sequence[str]) -> None:
        """Enqueue messages in batches of ten; raises EnqueueError if some still fail after retries."""
        for start in range(0, len(bodies), MAX_ENTRIES):
            chunk = bodies[start : start + MAX_ENTRIES]
            self._send_batch([{"Id": str(index), "MessageBody": body} for index, body in enumerate(chunk)])

    def park(self, body: str, reason: str) -> None:
        """Put a message that will not be retried into this (dead-letter) queue, with the reason attached."""
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=body, MessageAttributes=_reason(reason))

    def delay_retry(self, receipt_handle: str, seconds: int) -> None:
        """Back off: the received message becomes visible again only after ``seconds`` (at most 12 h)."""
        self.client.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=min(43_200, seconds)
        )
