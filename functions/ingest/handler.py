"""Segment HTTP Tracking API: POST /v1/{track,identify,page,screen,group,alias,batch,import}."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from functions.ingest.settings import IngestSettings
from shared import clock
from shared.adapters.queue import EnqueueError, FifoQueue
from shared.adapters.shops import ShopDirectory
from shared.observability import logger, metrics, tracer
from shared.service.ingest import BATCH_ENDPOINTS, SINGLE_ENDPOINTS, Ingestor, RequestRejectedError, request_body
from shared.settings import load_settings

app = APIGatewayHttpResolver()
ENDPOINTS = frozenset(SINGLE_ENDPOINTS + BATCH_ENDPOINTS)


@cache
def ingestor() -> Ingestor:
    settings = load_settings(IngestSettings)
    return Ingestor(ShopDirectory(settings.shops_table), FifoQueue(settings.events_queue_url), clock.now)


@app.post("/v1/<endpoint>")
def accept(endpoint: str) -> dict[str, Any]:
    if endpoint not in ENDPOINTS:
        raise NotFoundError(f"no Segment endpoint /v1/{endpoint}")
    request = app.current_event
    events = ingestor().ingest(endpoint, request_body(request), request.headers.get("authorization"))
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=len(events))
    logger.info("accepted", extra={"endpoint": endpoint, "shop": events[0].shop_id, "events": len(events)})
    return {"success": True}


@app.exception_handler(RequestRejectedError)
def rejected(error: RequestRejectedError) -> Response[dict[str, Any]]:
    metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
    logger.info("rejected", extra={"status": error.status, "reason": error.message, "errors": len(error.errors)})
    return Response(error.status, content_types.APPLICATION_JSON, error.as_json())


@app.exception_handler(EnqueueError)
@app.exception_handler(BotoCoreError)
@app.exception_handler(ClientError)
def unavailable(error: Exception) -> Response[dict[str, Any]]:
    # The client retries with the same messageIds; deduplication makes a partial earlier attempt harmless.
    logger.warning("enqueue failed", extra={"reason": str(error)})
    return Response(503, content_types.APPLICATION_JSON, {"success": False, "message": "temporarily unavailable"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
