"""Consumes the customer events FIFO queue: each customer's records in order, partial batch failures reported."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.state_updater.wiring import StateUpdaterWiring, from_environment
from shared import collector
from shared.observability import count, logger, tracer
from shared.service.updater import QueuedRecord, RecordResult
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


def record_handler(record: SQSRecord, result: RecordResult) -> None:
    """Report one record's result: logs and metrics per event; a failure raises, for the processor to report."""
    logger.set_correlation_id(record.message_id)
    if isinstance(result, Exception):
        raise result
    if result is None:
        count("Events", outcome="dead_lettered")
        logger.warning("event parked in the dead-letter queue", extra={"sqs_message_id": record.message_id})
        return
    logger.set_correlation_id(result.event.message_id)
    decision = result.decision
    outcome = "duplicate" if decision.duplicate else "quiet" if decision.quiet else "applied"
    count("Events", outcome=outcome)
    logger.info(
        {"applied": "applied", "quiet": "applied, nothing to save", "duplicate": "duplicate ignored"}[outcome],
        extra={"shop": result.event.shop_id, "customer": result.customer, "merged": list(result.merged)},
    )
    if result.refused:
        count("MergesRefused", len(result.refused))
        logger.warning(
            "merge of a known customer refused: it needs a shop secret key",
            extra={"shop": result.event.shop_id, "customer": result.customer, "refused": list(result.refused)},
        )


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
