"""Consumes the customer events FIFO queue: each record applied in order, partial batch failures reported."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.state_updater.wiring import StateUpdaterWiring, from_environment
from shared import collector
from shared.observability import count, logger, tracer
from shared.wiring import Built

# A failed record fails only the later records of its own customer (message group), not the whole batch.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
environment = Built(from_environment)  # this execution environment's wiring (Lambda injects none)


@tracer.capture_method
def record_handler(record: SQSRecord, wiring: StateUpdaterWiring) -> None:
    logger.set_correlation_id(record.message_id)
    outcome = wiring.updater.handle(
        record.body,
        record.attributes.message_group_id or "",
        record.message_id,
        int(record.attributes.approximate_receive_count),
        wiring.max_receives,
    )
    if outcome is None:
        count("Events", outcome="dead_lettered")
        logger.warning("event parked in the dead-letter queue", extra={"sqs_message_id": record.message_id})
        return
    logger.set_correlation_id(outcome.event.message_id)
    applied = not outcome.decision.duplicate
    count("Events", outcome="applied" if applied else "duplicate")
    logger.info(
        "applied" if applied else "duplicate ignored",
        extra={"shop": outcome.event.shop_id, "customer": outcome.customer, "merged": list(outcome.merged)},
    )
    if outcome.refused:
        count("MergesRefused", len(outcome.refused))
        logger.warning(
            "merge of a known customer refused: it needs a shop secret key",
            extra={"shop": outcome.event.shop_id, "customer": outcome.customer, "refused": list(outcome.refused)},
        )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, wiring: StateUpdaterWiring | None = None
) -> PartialItemFailureResponse:
    wired = wiring or environment()
    # No context for the processor: the record handler takes none, and with one Powertools reads the handler's
    # signature again on every batch to find out.
    return process_partial_response(
        event=event, record_handler=lambda record: record_handler(record, wired), processor=processor, context=None
    )


collector.resume()  # the import is over: the collector is back on (shared/collector.py)
