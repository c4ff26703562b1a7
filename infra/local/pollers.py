"""SQS event sources: poll a queue and invoke the function with batches, the way Lambda's event source mapping does
(and :class:`SchedulePlayer`: the template's daily schedules, as EventBridge Scheduler invokes them).

- Batch size from the template's SQS event (at most 10 per ReceiveMessage).
- ``ReportBatchItemFailures``: only the records the handler names are left on the queue; the rest are deleted.
- A handler that raises fails the whole batch: nothing is deleted.
- Records left on the queue come back after the queue's visibility timeout, and the queue's redrive policy moves
  them to the dead-letter queue after ``maxReceiveCount`` receives (the emulator does that, as SQS does).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from infra.local.provision import REGION, QueueSource, ScheduleSource, TopicSource
from infra.local.runtime import FunctionRuntime

_log = logging.getLogger("nudge_local")
_ATTRIBUTES = ["All"]


def lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS message attributes (``ReceiveMessage``'s ``MessageAttributes``) as Lambda's SQS event spells them."""
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value["DataType"],
        }
        for name, value in attributes.items()
    }


def lambda_sqs_record(message: dict[str, Any], source: QueueSource) -> dict[str, Any]:
    """One SQS message as Lambda hands it to a function (the ``Records`` entry of an SQS event)."""
    attributes = dict(message.get("Attributes", {}))
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": lambda_message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": source.queue_arn,
        "awsRegion": REGION,
    }


class QueuePoller:
    """Polls one queue for one function in a background thread until stopped."""

    def __init__(
        self,
        source: QueueSource,
        runtime: FunctionRuntime,
        sqs: Any,
        on_batch: Callable[[QueueSource, int, int], None] | None = None,
    ) -> None:
        self.source = source
        self.runtime = runtime
        self._sqs = sqs
        self._on_batch = on_batch
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poll-{source.function}", daemon=True)
        self.batches = 0
        self.failed_records = 0

    @property
    def busy(self) -> bool:
        """True while a received batch is not yet settled."""
        return self._busy.is_set()

    def start(self) -> None:
        self._thread.start()

    def signal_stop(self) -> None:
        """Ask the poller to stop after its current receive (at most about a second)."""
        self._stop.set()

    def stop(self) -> None:
        self.signal_stop()
        self._thread.join(timeout=10)

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive one batch, invoke the function, settle the batch; returns the number of records received."""
        messages = self._receive(min(self.source.batch_size, 10), wait_seconds)
        if messages:
            # Between receive and settle the records are in flight (invisible on the queue, too).
            self._busy.set()
            try:
                self._deliver(messages)
            finally:
                self._busy.clear()
        return len(messages)

    def _receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        """ReceiveMessage on the queue (as SQS returns them)."""
        messages: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=_ATTRIBUTES,
            MessageAttributeNames=_ATTRIBUTES,
        ).get("Messages", [])
        return messages

    def _delete(self, receipt_handles: list[str]) -> None:
        """DeleteMessageBatch of the records the function handled."""
        entries = [{"Id": str(index), "ReceiptHandle": handle} for index, handle in enumerate(receipt_handles)]
        self._sqs.delete_message_batch(QueueUrl=self.source.queue_url, Entries=entries)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        self._invoke([lambda_sqs_record(message, self.source) for message in messages])

    def _invoke(self, records: list[dict[str, Any]]) -> None:
        """Invoke the function with a batch of Lambda SQS records and settle it: delete what it handled."""
        self.batches += 1
        try:
            response = self.runtime.invoke({"Records": records})
        except Exception:
            # As in Lambda: the invocation failed, so the whole batch becomes visible again after the timeout.
            _log.exception("%s failed a batch of %d; it will be retried", self.source.function, len(records))
            self.failed_records += len(records)
            if self._on_batch:
                self._on_batch(self.source, len(records), len(records))
            return
        failed: set[str] = set()
        if self.source.report_batch_item_failures and isinstance(response, dict):
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        done = [record["receiptHandle"] for record in records if record["messageId"] not in failed]
        if done:
            self._delete(done)
        self.failed_records += len(failed)
        if self._on_batch:
            self._on_batch(self.source, len(records), len(failed))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # keep polling, as the event source mapping does; the error is on the console
                _log.exception("polling %s failed", self.source.queue_url)
                self._stop.wait(1)


def lambda_sns_record(notification: dict[str, Any], source: TopicSource) -> dict[str, Any]:
    """An SNS notification as Lambda hands it to a function subscribed to the topic."""
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": source.subscription_arn,
        "Sns": {
            "Type": notification.get("Type", "Notification"),
            "MessageId": notification["MessageId"],
            "TopicArn": notification.get("TopicArn", source.topic_arn),
            "Subject": notification.get("Subject"),
            "Message": notification["Message"],
            "Timestamp": notification.get("Timestamp"),
            "SignatureVersion": notification.get("SignatureVersion", "1"),
            "Signature": notification.get("Signature", ""),
            "SigningCertUrl": notification.get("SigningCertURL", ""),
            "UnsubscribeUrl": notification.get("UnsubscribeURL", ""),
            "MessageAttributes": notification.get("MessageAttributes", {}),
        },
    }


class TopicPoller(QueuePoller):
    """Delivers an SNS topic's notifications to its subscribed function, one notification per invocation (as SNS
    does), through the queue the local stack subscribed to the topic. A failed invocation is retried later."""

    def __init__(self, source: TopicSource, runtime: FunctionRuntime, sqs: Any) -> None:
        queue = QueueSource(source.function, source.queue_url, source.topic_arn, 10, False)
        super().__init__(queue, runtime, sqs)
        self.topic = source

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            event = {"Records": [lambda_sns_record(json.loads(message["Body"]), self.topic)]}
            self.batches += 1
            try:
                self.runtime.invoke(event)
            except Exception:
                _log.exception("%s failed an SNS notification; it will be retried", self.topic.function)
                self.failed_records += 1
                continue
            self._sqs.delete_message(QueueUrl=self.source.queue_url, ReceiptHandle=message["ReceiptHandle"])


class SchedulePlayer:
    """EventBridge Scheduler for the local stack: each daily schedule invokes its function with its input at its
    time (UTC) while the stack runs; a failed invocation is on the console and retried at the next day's."""

    def __init__(
        self,
        schedules: list[ScheduleSource],
        runtimes: dict[str, FunctionRuntime],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._schedules = schedules
        self._runtimes = runtimes
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedules", daemon=True)
        self.fired = 0

    def start(self) -> None:
        if self._schedules:
            self._thread.start()

    def signal_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self.signal_stop()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        fires = [schedule.next_after(self._clock()) for schedule in self._schedules]
        while not self._stop.is_set():
            now = self._clock()
            for index, schedule in enumerate(self._schedules):
                if fires[index] <= now:
                    fires[index] = schedule.next_after(now)
                    try:
                        self._runtimes[schedule.function].invoke(dict(schedule.input))
                        self.fired += 1
                    except Exception:  # the console shows it; Scheduler would retry, the next day runs anyway
                        _log.exception("schedule of %s failed", schedule.function)
            wait = min(fires) - self._clock()
            self._stop.wait(max(0.0, min(30.0, wait.total_seconds())))
