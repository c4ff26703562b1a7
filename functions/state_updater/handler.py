"""Consumes the customer events FIFO queue: each record applied in order, partial batch failures reported."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.state_updater.settings import StateUpdaterSettings
from shared import clock
from shared.adapters.customers import CustomerStore
from shared.adapters.queue import FifoQueue, StandardQueue
from shared.adapters.shops import ShopDirectory
from shared.adapters.timers import timers_for
from shared.observability import count, logger, tracer
from shared.service.updater import StateUpdater
from shared.settings import load_settings

# A failed record fails only the later records of its own customer (message group), not the whole batch.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)


@cache
def updater() -> StateUpdater:
    settings = load_settings(StateUpdaterSettings)
    return StateUpdater(
        CustomerStore(settings.customers_table),
        ShopDirectory(settings.shops_table),
        FifoQueue(settings.events_dlq_url),
        clock.now,
        timers_for(settings.timer_state_machine_arn),  # StateUpdater takes any Timers
        StandardQueue(settings.outbox_queue_url),
    )


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    logger.set_correlation_id(record.message_id)
    outcome = updater().handle(
        record.body,
        record.attributes.message_group_id or "",
        record.message_id,
        int(record.attributes.approximate_receive_count),
        load_settings(StateUpdaterSettings).events_max_receives,
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
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
