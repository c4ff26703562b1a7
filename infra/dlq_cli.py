"""``nudge dlq list|show|redrive``: an operator's look into the dead-letter queues, and the way back out of them.

The events and outbox queues park what cannot be processed in their dead-letter queues with a ``reason`` message
attribute (``shared.adapters.queue``). Which queue: ``--queue events|outbox`` with ``--stack NAME`` (the deployed
stack's ``EventsDeadLetterQueueUrl`` / ``OutboxDeadLetterQueueUrl`` outputs), or ``--queue-url`` (the local stack's,
with ``--endpoint-url`` its emulator).

- ``list`` shows each parked message: its id, why it was parked, when, its message group, and what it is (the
  event's kind, shop, customer and name; the message's journey, step and template). It receives the messages with a
  short visibility and makes them visible again at once: nothing is consumed. In the events dead-letter queue (a
  FIFO queue) only the first message of each customer's group can be seen; the others wait behind it, as in SQS.
- ``show ID`` prints one message whole: its body and attributes.
- ``redrive [ID ...]`` moves messages back to the queue they came from (SQS's ``ListDeadLetterSourceQueues``), all
  of them or the ones named, and deletes them from the dead-letter queue once sent: the functions process them
  again, and nudge's idempotency (the state's dedupe digests, the send ledger) keeps anything done already from
  being done twice. A FIFO message keeps its group and gets a new deduplication id (SQS would drop a repeat of the
  old one within five minutes).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

OUTPUTS = {"events": "EventsDeadLetterQueueUrl", "outbox": "OutboxDeadLetterQueueUrl"}
PEEK_VISIBILITY = 30  # seconds a listed message is hidden before it is made visible again (at once, normally)
MAX_MESSAGES = 1000


class DeadLetterError(Exception):
    """The queue cannot be found or read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Parked:
    """One message in a dead-letter queue, as SQS returned it."""

    message_id: str
    body: str
    reason: str | None
    sent_at: str | None
    group: str | None
    receipt: str

    def summary(self) -> dict[str, Any]:
        """What the message is, without its whole body (no traits or addresses): for a list a person reads."""
        try:
            document = json.loads(self.body)
        except ValueError:
            document = None
        about: dict[str, Any] = {}
        if isinstance(document, dict):
            inner = document.get("message")
            message: dict[str, Any] = inner if isinstance(inner, dict) else {}
            about = {
                "kind": document.get("kind") or ("outbox" if "template" in document else None),
                "shop": document.get("shop_id"),
                "customer": document.get("customer"),
                "event": message.get("event") or message.get("type") or document.get("reason"),
                "journey": document.get("journey"),
                "step": document.get("step"),
                "template": document.get("template"),
            }
        fields = {"id": self.message_id, "reason": self.reason, "sent_at": self.sent_at, "group": self.group}
        return {**fields, **{name: value for name, value in about.items() if value is not None}}


def queue_url(client_factory: Any, queue: str | None, stack: str | None, url: str | None) -> str:
    """The dead-letter queue's URL: given, or the deployed stack's output for ``queue``."""
    if url:
        return url
    if not stack or queue not in OUTPUTS:
        raise DeadLetterError("give --queue-url, or --queue events|outbox with --stack NAME")
    from infra.stack_outputs import StackOutputError, stack_output

    try:
        return stack_output(stack, OUTPUTS[queue], client_factory)
    except StackOutputError as error:
        raise DeadLetterError(str(error)) from error


def peek(sqs: Any, url: str, limit: int = MAX_MESSAGES) -> list[Parked]:
    """The messages of the queue (up to ``limit``), received and made visible again: nothing is consumed."""
    found: dict[str, Parked] = {}
    try:
        for parked in _received(sqs, url, limit):
            found.setdefault(parked.message_id, parked)
    finally:
        _release(sqs, url, list(found.values()))
    return list(found.values())


def _received(sqs: Any, url: str, limit: int) -> Iterator[Parked]:
    count = 0
    while count < limit:
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - count),
            VisibilityTimeout=PEEK_VISIBILITY,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return
        for message in messages:
            count += 1
            attributes = message.get("Attributes", {})
            reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue")
            yield Parked(
                message_id=message["MessageId"],
                body=message["Body"],
                reason=reason,
                sent_at=attributes.get("SentTimestamp"),
                group=attributes.get("MessageGroupId"),
                receipt=message["ReceiptHandle"],
            )


def _release(sqs: Any, url: str, messages: Sequence[Parked]) -> None:
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(index), "ReceiptHandle": parked.receipt, "VisibilityTimeout": 0}
            for index, parked in enumerate(messages[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def redrive(sqs: Any, url: str, ids: Sequence[str] = ()) -> list[Parked]:
    """Move the messages named by ``ids`` (all when none) back to the queue the dead-letter queue serves; the
    messages moved. Each is sent before it is deleted here: a failure in between leaves a copy, never a loss."""
    sources = sqs.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", [])
    if len(sources) != 1:
        raise DeadLetterError(f"{url} serves {len(sources)} queues: cannot tell where to move its messages")
    source = sources[0]
    wanted = set(ids)
    moved: list[Parked] = []
    kept: list[Parked] = []
    try:
        for parked in _received(sqs, url, MAX_MESSAGES):
            if wanted and parked.message_id not in wanted:
                kept.append(parked)
                continue
            request: dict[str, Any] = {"QueueUrl": source, "MessageBody": parked.body}
            if parked.group is not None:  # FIFO: its group, and a deduplication id of its own
                request |= {"MessageGroupId": parked.group, "MessageDeduplicationId": f"redrive-{uuid.uuid4().hex}"}
            sqs.send_message(**request)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=parked.receipt)
            moved.append(parked)
            if wanted and wanted <= {m.message_id for m in moved}:
                break
    finally:
        _release(sqs, url, kept)
    return moved


def run(action: str, ids: Sequence[str], queue: str | None, stack: str | None, url: str | None) -> int:
    """The command: 0, or 1 with the problem on stderr."""
    from shared import aws

    try:
        target = queue_url(aws.client, queue, stack, url)
        sqs = aws.sqs()
        if action == "list":
            parked = peek(sqs, target)
            for message in parked:
                print(json.dumps(message.summary(), ensure_ascii=False))
            print(f"dlq: {len(parked)} message(s) in {target}", file=sys.stderr)
            return 0
        if action == "show":
            wanted = set(ids)
            shown = [m for m in peek(sqs, target) if m.message_id in wanted]
            for message in shown:
                print(json.dumps({**message.summary(), "body": json.loads(message.body)}, indent=2))
            missing = wanted - {m.message_id for m in shown}
            if missing:
                print(f"dlq: no message {', '.join(sorted(missing))} in {target}", file=sys.stderr)
            return 1 if missing else 0
        moved = redrive(sqs, target, ids)
        for message in moved:
            print(json.dumps(message.summary(), ensure_ascii=False))
        print(f"dlq: {len(moved)} message(s) moved back from {target}", file=sys.stderr)
        return 0
    except DeadLetterError as error:
        print(f"dlq: {error}", file=sys.stderr)
        return 1
