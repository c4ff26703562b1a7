"""SQS queues in memory, with the semantics nudge relies on (conventions.md, SQS):

- FIFO: within a message group, messages are received in the order sent, and while one of a group is in flight
  (received, not yet deleted, visibility timeout running) no later one of that group is received; a deduplication id
  seen in the last five minutes (whether or not its message was handled since) is accepted and dropped, within the
  whole queue or, with ``deduplicate_per_group`` (``DeduplicationScope: messageGroup``), within its message group.
- Visibility: a received message is invisible for the queue's visibility timeout (or as ``delay_retry`` sets), then
  is received again with its receive count one higher; a standard queue's ``DelaySeconds`` holds a new message back.
- Redrive: a message received ``max_receives`` times that comes round again goes to the dead-letter queue instead.
- ``park`` puts a message into this (dead-letter) queue with a ``reason`` attribute, as the SQS adapter does.

Time is the clock the queue is given (virtual in the backtest). Received messages have the shape of SQS's
``ReceiveMessage`` answer, so the same Lambda event records are built from them as on the local stack.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from infra.local.pollers import lambda_message_attributes
from shared.adapters.queue import EnqueueError, FifoEntry
from shared.ports import Clock

DEDUPLICATION_WINDOW = timedelta(minutes=5)
MAX_DELAY_SECONDS = 900
MAX_VISIBILITY_SECONDS = 43_200
_REGION, _ACCOUNT = "eu-west-1", "123456789012"


@dataclass(slots=True)
class ReceivedMessage:
    """One message on a queue: what was sent, and its receive bookkeeping."""

    message_id: str
    body: str
    sent_at: datetime
    group_id: str | None = None
    deduplication_id: str | None = None
    sequence: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)  # message attributes (``reason`` when parked)
    visible_at: datetime | None = None  # None: visible now
    receive_count: int = 0
    first_received_at: datetime | None = None
    receipt_handle: str | None = None

    def _system_attributes(self) -> dict[str, str]:
        """The message's system attributes as SQS reports them (``AttributeNames=["All"]``)."""
        attributes = {
            "ApproximateReceiveCount": str(self.receive_count),
            "SentTimestamp": str(_millis(self.sent_at)),
            "ApproximateFirstReceiveTimestamp": str(_millis(self.first_received_at or self.sent_at)),
            "SenderId": _ACCOUNT,
        }
        if self.group_id is not None:
            attributes |= {
                "MessageGroupId": self.group_id,
                "MessageDeduplicationId": self.deduplication_id or "",
                "SequenceNumber": str(self.sequence),
            }
        return attributes

    def as_sqs(self) -> dict[str, Any]:
        """As SQS's ReceiveMessage returns it (``AttributeNames=["All"]``)."""
        return {
            "MessageId": self.message_id,
            "ReceiptHandle": self.receipt_handle or "",
            "MD5OfBody": hashlib.md5(self.body.encode()).hexdigest(),
            "Body": self.body,
            "Attributes": self._system_attributes(),
            "MessageAttributes": self.attributes,
        }

    def lambda_record(self, queue_arn: str, region: str) -> dict[str, Any]:
        """As Lambda's event source mapping hands it to a function: ``lambda_sqs_record`` of :meth:`as_sqs`, built
        directly (the backtest receives a batch per event)."""
        return {
            "messageId": self.message_id,
            "receiptHandle": self.receipt_handle or "",
            "body": self.body,
            "attributes": self._system_attributes(),
            "messageAttributes": lambda_message_attributes(self.attributes),
            "md5OfBody": hashlib.md5(self.body.encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class MemoryQueue:
    """One queue (FIFO when ``fifo``): the port side (send, park, delay_retry) and the poller side (receive,
    delete)."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        fifo: bool = False,
        visibility_timeout: int = 30,
        dead_letters: MemoryQueue | None = None,
        max_receives: int | None = None,
        deduplicate_per_group: bool = False,
    ) -> None:
        self.name = name
        self.fifo = fifo
        self.url = f"https://sqs.{_REGION}.amazonaws.com/{_ACCOUNT}/{name}"
        self.arn = f"arn:aws:sqs:{_REGION}:{_ACCOUNT}:{name}"
        self._clock = clock
        self._visibility = visibility_timeout
        self._dead_letters = dead_letters
        self._max_receives = max_receives
        self._deduplicate_per_group = deduplicate_per_group
        self._messages: OrderedDict[str, ReceivedMessage] = OrderedDict()  # by message id, in the order sent
        self._in_flight: dict[str, ReceivedMessage] = {}  # by receipt handle
        # (group or None, deduplication id) -> when it expires
        self._seen: OrderedDict[tuple[str | None, str], datetime] = OrderedDict()
        self._ids = itertools.count(1)
        self.sent = 0
        self.dead_lettered = 0

    # ------------------------------------------------------------ sending (the ports)
    def _put(
        self,
        body: str,
        *,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        delay_seconds: int = 0,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        now = self._clock()
        if deduplication_id is not None:
            while self._seen and next(iter(self._seen.values())) <= now:
                self._seen.popitem(last=False)
            seen = (group_id if self._deduplicate_per_group else None, deduplication_id)
            if seen in self._seen:
                return  # accepted, and dropped: SQS answers success for a duplicate within the window
            self._seen[seen] = now + DEDUPLICATION_WINDOW
        number = next(self._ids)
        message = ReceivedMessage(
            message_id=f"{self.name}-{number}",
            body=body,
            sent_at=now,
            group_id=group_id,
            deduplication_id=deduplication_id,
            sequence=number,
            attributes=attributes or {},
            visible_at=now + timedelta(seconds=min(MAX_DELAY_SECONDS, delay_seconds)) if delay_seconds else None,
        )
        self._messages[message.message_id] = message
        self.sent += 1

    def send(self, entries: Sequence[FifoEntry] | str, delay_seconds: int = 0) -> None:
        """FIFO: enqueue ``entries`` in order (each with its group and deduplication id). Standard: one body."""
        if isinstance(entries, str):
            self._put(entries, delay_seconds=delay_seconds)
            return
        for entry in entries:
            self._put(entry.body, group_id=entry.group_id, deduplication_id=entry.deduplication_id)

    def send_many(self, bodies: Sequence[str]) -> None:
        for body in bodies:
            self._put(body)

    def park(self, entry: FifoEntry | str, reason: str) -> None:
        attributes = {"reason": {"DataType": "String", "StringValue": reason[:1000]}}
        if isinstance(entry, str):
            self._put(entry, attributes=attributes)
        else:
            self._put(
                entry.body, group_id=entry.group_id, deduplication_id=entry.deduplication_id, attributes=attributes
            )

    def delay_retry(self, receipt_handle: str, seconds: int) -> None:
        message = self._in_flight.get(receipt_handle)
        if message is None:
            raise EnqueueError(f"receipt handle {receipt_handle} is not in flight")
        message.visible_at = self._clock() + timedelta(seconds=min(MAX_VISIBILITY_SECONDS, seconds))

    # ------------------------------------------------------------ receiving (the event source mapping)
    def _visible(self, message: ReceivedMessage, now: datetime) -> bool:
        return message.visible_at is None or message.visible_at <= now

    def _release_expired(self, now: datetime) -> None:
        for handle, message in list(self._in_flight.items()):
            if self._visible(message, now):
                del self._in_flight[handle]
                message.receipt_handle = None

    def receive(self, max_messages: int = 10) -> list[ReceivedMessage]:
        """Up to ``max_messages`` visible messages (FIFO: groups in order, none of a group in flight); each becomes
        invisible for the visibility timeout. A message past ``max_receives`` goes to the dead-letter queue."""
        now = self._clock()
        self._release_expired(now)
        blocked = {m.group_id for m in self._in_flight.values()} if self.fifo else set()
        taken: list[ReceivedMessage] = []
        for message in list(self._messages.values()):
            if len(taken) == max_messages:
                break
            if message.receipt_handle is not None or message.group_id in blocked:
                continue
            if not self._visible(message, now):
                if self.fifo:
                    blocked.add(message.group_id)  # a later message of the group must not overtake it
                continue
            if self._max_receives is not None and message.receive_count >= self._max_receives:
                self._redrive(message)
                continue
            message.receive_count += 1
            message.first_received_at = message.first_received_at or now
            message.receipt_handle = f"{message.message_id}#{message.receive_count}"
            message.visible_at = now + timedelta(seconds=self._visibility)
            self._in_flight[message.receipt_handle] = message
            taken.append(message)
        return taken

    def _redrive(self, message: ReceivedMessage) -> None:
        del self._messages[message.message_id]
        self.dead_lettered += 1
        if self._dead_letters is not None:
            self._dead_letters._messages[message.message_id] = ReceivedMessage(
                message_id=message.message_id,
                body=message.body,
                sent_at=message.sent_at,
                group_id=message.group_id,
                deduplication_id=message.deduplication_id,
                sequence=message.sequence,
                attributes=message.attributes,
            )

    def delete(self, receipt_handle: str) -> None:
        """Delete a received message (a stale receipt handle deletes nothing, as SQS)."""
        message = self._in_flight.pop(receipt_handle, None)
        if message is not None:
            del self._messages[message.message_id]

    # ------------------------------------------------------------ looking (tests, the backtest's clock)
    def ready(self) -> bool:
        """Some message could be received now."""
        now = self._clock()
        self._release_expired(now)
        blocked = {m.group_id for m in self._in_flight.values()} if self.fifo else set()
        return any(
            m.receipt_handle is None and m.group_id not in blocked and self._visible(m, now)
            for m in self._messages.values()
        )

    def next_visible(self) -> datetime | None:
        """The next moment after now at which a message becomes receivable (a delay or visibility timeout ends)."""
        now = self._clock()
        upcoming = [m.visible_at for m in self._messages.values() if m.visible_at is not None and m.visible_at > now]
        return min(upcoming) if upcoming else None

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[ReceivedMessage]:
        return iter(list(self._messages.values()))

    def bodies(self) -> list[str]:
        return [message.body for message in self._messages.values()]
