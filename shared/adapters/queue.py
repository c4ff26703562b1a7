"""The customer events queue (SQS FIFO): send in batches of up to 10 entries and 256 KB."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import aws

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
_ATTEMPTS = 3


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


class FifoQueue(_Queue):
    """Sends ordered messages to one FIFO queue."""

    def send(self, entries: Sequence[FifoEntry]) -> None:
        """Enqueue every entry, in order; raises EnqueueError if some still fail after retries."""
        for request in batch_requests(entries):
            self._send_batch(request)

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
