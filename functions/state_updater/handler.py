"""Consumes the customer events FIFO queue: each customer's records in order, partial batch failures reported."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.state_updater.wiring import StateUpdaterWiring, from_environment
from shared import collector
from shared.models.effects import Send, StartTimer
from shared.models.nudge_events import TimerEvent
from shared.observability import EVENT_DIMENSIONS, SERVICE_ONLY, correlate, count, logger, milliseconds, tracer
from shared.service.updater import (
    Outcome,
    PermanentEventError,
    QueuedRecord,
    RecordResult,
    StateUpdater,
    cause_of,
)
from shared.wiring import Built

# A failed record fails only the later records of its own customer (message group), not the whole batch.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
environment = Built(from_environment)  # this execution environment's wiring (Lambda injects none)


@tracer.capture_method
def apply_batch(event: dict[str, Any], wiring: StateUpdaterWiring) -> dict[str, RecordResult]:
    """Every record of the batch applied, by messageId: its outcome, None if parked, or the exception it failed with.

    Powertools' processor hands its record handler one record at a time, and a customer's records can be saved once
    only by an updater that sees them all before the first save; so the batch is applied here first, and the
    processor then reports each record's result (its response format, its skipping of a failed group's later
    records)."""
    records = [SQSRecord(raw) for raw in event["Records"]]
    queued = [
        QueuedRecord(
            record.body,
            record.attributes.message_group_id or "",
            record.message_id,
            int(record.attributes.approximate_receive_count),
        )
        for record in records
    ]
    results = wiring.updater.handle_batch(queued, wiring.max_receives)
    return {record.message_id: result for record, result in zip(records, results, strict=True)}


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord, result: RecordResult) -> None:
    """Report one record's result: logs and metrics per event, under the id of the event behind it (on its lines, and
    on this record's X-Ray subsegment); a failure raises, for the processor to report."""
    if not isinstance(result, Outcome):
        correlate(_cause_in(record.body))
        if result is None:
            count("Events", sets=EVENT_DIMENSIONS, outcome="parked")
            logger.warning("event parked in the dead-letter queue", extra={"sqs_message_id": record.message_id})
            return
        count("Events", sets=EVENT_DIMENSIONS, outcome="failed")
        reason = f"{type(result).__name__}: {result}"
        logger.warning(
            "event failed: SQS delivers it again", extra={"sqs_message_id": record.message_id, "reason": reason}
        )
        raise result
    event = result.event
    correlate(cause_of(event))
    decision = result.decision
    outcome = (
        "ignored"
        if decision.ignored
        else "duplicate"
        if decision.duplicate
        else "quiet"
        if decision.quiet
        else "applied"
    )
    count("Events", sets=EVENT_DIMENSIONS, shop=event.shop_id, outcome=outcome)
    if isinstance(event, TimerEvent) and (lag := result.timer_lag) is not None:
        # One figure for the timers' whole pipeline; shop and journey go along in the line, not as dimensions.
        lag_ms = lag / timedelta(milliseconds=1)
        milliseconds("TimerLag", lag_ms, sets=SERVICE_ONLY, shop=event.shop_id, journey=event.journey)
    # What it set going, by the names ops look up next: the timers' Step Functions executions, the outbox messages.
    effects = decision.effects
    timers = list(dict.fromkeys(e.event.execution_name for e in effects if isinstance(e, StartTimer)))
    messages = [e.message.message_id for e in effects if isinstance(e, Send)]
    said = {"applied": "applied", "quiet": "applied, nothing to save", "duplicate": "duplicate ignored"}
    logger.info(
        said.get(outcome, f"ignored: {decision.ignored}"),
        extra={
            "shop": event.shop_id,
            "customer": result.customer,
            "merged": list(result.merged),
            "timers": timers,
            "messages": messages,
        },
    )
    if result.refused:
        count("MergesRefused", len(result.refused))
        logger.warning(
            "merge of a known customer refused: it needs a shop secret key",
            extra={"shop": event.shop_id, "customer": result.customer, "refused": list(result.refused)},
        )


def _cause_in(body: str) -> str | None:
    """The id of the event behind a record that has no outcome (parked, or failed this time), if its body reads."""
    try:
        return cause_of(StateUpdater.parse(body))
    except PermanentEventError:
        return None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, wiring: StateUpdaterWiring | None = None
) -> PartialItemFailureResponse:
    wired = wiring or environment()
    results = apply_batch(event, wired)
    # No context for the processor: the record handler takes none, and with one Powertools reads the handler's
    # signature again on every batch to find out.
    return process_partial_response(
        event=event,
        record_handler=lambda record: record_handler(record, results[record.message_id]),
        processor=processor,
        context=None,
    )


collector.resume()  # the import is over: the collector is back on (shared/collector.py)
