"""Delivery feedback from the FeedbackTopic (SES bounces and complaints, SMS STOP, dead push endpoints, WhatsApp
inbound) turned into feedback events on the customers' FIFO groups. SNS invokes it with one record at a time."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feedback.wiring import from_environment
from shared import collector
from shared.observability import add_count, correlate, count, logger, metrics, tracer
from shared.service.feedback import FeedbackIntake, Intake
from shared.wiring import Built

environment = Built(from_environment)  # this execution environment's wiring (Lambda injects none)


def report(intake: Intake) -> None:
    """Counts and ids only: notifications carry addresses and phone numbers, logs never do."""
    add_count("FeedbackEvents", len(intake.events))
    for reason in intake.dropped:
        count("FeedbackDropped", channel=intake.source, outcome=reason)
    if intake.ignored:
        add_count("FeedbackIgnored", len(intake.ignored))
    log = logger.warning if intake.dropped else logger.info
    log(
        "feedback",
        extra={
            "source": intake.source,
            "events": [{"shop": e.shop_id, "reason": e.reason, "feedback_id": e.feedback_id} for e in intake.events],
            "ignored": intake.ignored,
            "dropped": intake.dropped,
            "detail": intake.detail,
        },
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext, wiring: FeedbackIntake | None = None) -> None:
    intake = wiring or environment()
    for record in SNSEvent(event).records:
        correlate(None)  # the events it makes are found under their own ids (feedback:<id>) downstream
        logger.set_correlation_id(record.sns.message_id)
        report(intake.handle(record.sns.message, record.sns.message_id, record.sns.timestamp))


collector.resume()  # the import is over: the collector is back on (shared/collector.py)
