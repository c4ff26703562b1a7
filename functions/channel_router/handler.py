"""Consumes the outbox: each message delivered on one channel, at most once, with consent checked at send time."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.channel_router.wiring import from_environment
from shared import collector
from shared.models.campaigns import CAMPAIGN_JOURNEY
from shared.observability import MESSAGE_DIMENSIONS, correlate, count, logger, reason_code, tracer
from shared.service.outbox import OutboxConsumer
from shared.service.router import CONFIRMATIONS_LIMITED
from shared.wiring import Built

processor = BatchProcessor(event_type=EventType.SQS)
environment = Built(from_environment)  # this execution environment's wiring (Lambda injects none)


@tracer.capture_method
def record_handler(record: SQSRecord, consumer: OutboxConsumer) -> None:
    correlate(None)  # until the router reads the message and takes up the id of its event (ChannelRouter.deliver)
    delivery = consumer.handle(record.body, record.receipt_handle, int(record.attributes.approximate_receive_count))
    if delivery is None:
        count("Messages", outcome="parked")
        logger.warning("outbox message parked in the dead-letter queue", extra={"sqs_message_id": record.message_id})
        return
    message = delivery.message
    count(
        "Messages",
        sets=MESSAGE_DIMENSIONS,
        shop=message.shop_id,
        journey=_journey(message.journey),
        step=str(message.step),
        channel=delivery.channel or "none",
        outcome=delivery.status,
        reason=reason_code(delivery.reason),
    )
    if delivery.reason == "offer_pool_empty":  # the OfferPoolEmpty alarm (template.yaml) pages the shop's operator
        count("OfferPoolEmpty")
        logger.error("offer code pool empty", extra={"shop": message.shop_id, "details": delivery.details})
    if delivery.reason == CONFIRMATIONS_LIMITED:  # the ConfirmationsLimited alarm: sign-ups past the hourly limit
        count("ConfirmationsLimited")
        logger.error("double opt-in confirmations over the hourly limit", extra={"shop": message.shop_id})
    logger.info(
        "delivery",
        extra={
            "shop": message.shop_id,
            "message_id": message.message_id,
            "journey": message.journey,
            "step": message.step,
            "status": delivery.status,
            "channel": delivery.channel,
            "reason": delivery.reason,
            "title": delivery.title,
        },
    )


def _journey(name: str) -> str:
    """A journey as a dimension value: every campaign's is ``campaign`` (an id per campaign would be a new metric
    each time; a campaign's own counts are on its record, ``GET /v1/campaigns/{id}``)."""
    return "campaign" if name.startswith(CAMPAIGN_JOURNEY) else name


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, wiring: OutboxConsumer | None = None
) -> PartialItemFailureResponse:
    consumer = wiring or environment()
    # No context for the processor: the record handler takes none (see the state updater's handler).
    return process_partial_response(
        event=event,
        record_handler=lambda record: record_handler(record, consumer),
        processor=processor,
        context=None,
    )


collector.resume()  # the import is over: the collector is back on (shared/collector.py)
