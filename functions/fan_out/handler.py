"""Work over many customers, one page per invocation (architecture §10): a restock's page of waiting customers, or a
page of a price drop's, a campaign's or a date sweep's sweep of the customers, each told in their own FIFO group. The
fan-out state machine sends the page with its task token; the answer says where the part's next page starts and how
long to wait for it. Once a day the schedule ``DailyDates`` invokes it with ``{"schedule": "dates"}`` (optionally a
``day`` and a ``shop``) to start the day's date sweeps (``shared.service.dates``)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.fan_out.wiring import FanOutWiring, from_environment
from shared import collector
from shared.observability import correlate, count, logger, tracer
from shared.service.fan_out import FanOutJob
from shared.wiring import Built

processor = BatchProcessor(event_type=EventType.SQS)
environment = Built(from_environment)  # this execution environment's wiring (Lambda injects none)


@tracer.capture_method
def record_handler(record: SQSRecord, wiring: FanOutWiring) -> None:
    request = json.loads(record.body)
    job = FanOutJob.model_validate(request["job"])
    correlate(None)  # a page is no one event's work: its lines go under the fan-out's id
    logger.set_correlation_id(job.fan_out_id)
    part, after = int(request.get("part", 0)), request.get("after")
    if job.kind == "restock":
        done = wiring.restocks.page(job, after)
    elif job.kind == "campaign":
        done = wiring.campaigns.page(job, part, after)
    elif job.kind == "retention":
        done = wiring.retention.page(job, part, after)
        count("CustomersErased", kind="retention", value=done.told)
    elif job.kind == "dates":
        done = wiring.dates.page(job, part, after)
    else:
        done = wiring.price_drops.page(job, part, after)
    wiring.tasks.succeed(request["token"], done)
    count("FanOutCustomers", kind=job.kind, value=done.told)
    logger.info(
        "fan-out page",
        extra={
            "shop": job.shop_id,
            "kind": job.kind,
            "part": part,
            "told": done.told,
            "skipped": done.skipped,
            "next": done.next,
            "stopped": done.stopped,
        },
    )


def start_scheduled(event: dict[str, Any], wiring: FanOutWiring) -> dict[str, Any]:
    """The daily schedule (or ``nudge dates run``): start the date sweeps of ``day`` (default: the next UTC day)."""
    from datetime import date

    from shared.service.dates import DATES_SCHEDULE

    if event["schedule"] != DATES_SCHEDULE:
        raise ValueError(f"schedule {event['schedule']!r}: the fan-out function runs only {DATES_SCHEDULE!r}")
    day = date.fromisoformat(event["day"]) if event.get("day") else None
    jobs = wiring.sweeps.start(day, event.get("shop"))
    logger.info("date sweeps started", extra={"jobs": [job.fan_out_id for job in jobs], "day": str(day or "next")})
    count("DateSweeps", kind="dates", value=len(jobs))
    started = [{"shop": job.shop_id, "day": str(job.day), "job": job.fan_out_id} for job in jobs]
    if "day" not in event:  # the daily schedule itself (not a day swept again): the retention sweeps too
        retained = wiring.retention_sweeps.start(event.get("shop"))
        logger.info("retention sweeps started", extra={"jobs": [job.fan_out_id for job in retained]})
        started += [{"shop": job.shop_id, "kind": "retention", "job": job.fan_out_id} for job in retained]
    return {"started": started}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, wiring: FanOutWiring | None = None
) -> PartialItemFailureResponse | dict[str, Any]:
    built = wiring or environment()
    if "schedule" in event:
        return start_scheduled(event, built)
    return process_partial_response(
        event=event,
        record_handler=lambda record: record_handler(record, built),
        processor=processor,
        context=None,
    )


collector.resume()  # the import is over: the collector is back on (shared/collector.py)
