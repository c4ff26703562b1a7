"""Segment HTTP Tracking API: POST /v1/{track,identify,page,screen,group,alias,batch,import} and analytics.js's
short paths /v1/{t,i,p,s,g,a,b}; CORS preflights for them; the settings analytics.js loads at start
(GET /v1/projects/{write_key}/settings); analytics.js metrics (POST /v1/m), accepted and dropped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from functions.ingest.wiring import IngestWiring, from_environment
from shared import collector
from shared.adapters.queue import EnqueueError
from shared.observability import add_count, correlate_request, logger, metrics, tracer
from shared.service.browser import allow_origin_headers, allows, preflight, request_scheme, settings_document
from shared.service.ingest import BATCH_ENDPOINTS, SINGLE_ENDPOINTS, RequestRejectedError, request_body
from shared.wiring import Built

app = APIGatewayHttpResolver()
# analytics.js posts to one-letter paths (t, i, p, s, g, a; b with the batching delivery strategy).
SHORT_PATHS = {"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias", "b": "batch"}
ENDPOINTS = {name: name for name in SINGLE_ENDPOINTS + BATCH_ENDPOINTS} | SHORT_PATHS
METRICS_PATH = "m"
# Ids per "accepted" line: a /v1/batch of 2,500 events with 100-character messageIds would be 250 KB on one line,
# CloudWatch's limit for a log event.
IDS_PER_LINE = 500


environment = Built(from_environment)  # this execution environment's wiring (Lambda injects none)


def wired() -> IngestWiring:
    """The wiring of the request being resolved."""
    wiring: IngestWiring = app.context["wiring"]
    return wiring


def _header(name: str, headers: Mapping[str, Any] | None = None) -> str | None:
    """A request header (``headers``: the request's, when the caller has them; Powertools builds them anew each time
    they are asked for)."""
    value = (app.current_event.headers if headers is None else headers).get(name)
    return str(value) if value else None


def _cors_for_any_shop() -> dict[str, str]:
    """CORS headers for an answer that names no shop (a refusal, metrics): the origin is allowed by some shop."""
    origin = _header("origin")
    return allow_origin_headers(origin) if origin and allows(wired().shops.origins_of_any_shop(), origin) else {}


@app.post("/v1/<endpoint>")
def accept(endpoint: str) -> Response[dict[str, Any]]:
    if endpoint == METRICS_PATH:  # analytics.js's own telemetry; nudge serves it with metrics off, older pages may send
        return Response(204, None, None, headers=_cors_for_any_shop())
    name = ENDPOINTS.get(endpoint)
    if name is None:
        raise NotFoundError(f"no Segment endpoint /v1/{endpoint}")
    request = app.current_event
    headers = request.headers
    text = request_body(name, request.body, bool(request.is_base64_encoded), _header("content-encoding", headers))
    origin = _header("origin", headers)
    events = wired().ingestor.ingest(name, text, _header("authorization", headers), origin)
    add_count("EventsAccepted", len(events))
    ids = [event.message_id for event in events]  # each event's correlation id downstream (docs/OPERATIONS.md)
    if len(ids) == 1:  # an annotation holds one value per segment: one event's id, not a batch's
        tracer.annotate("event_id", ids[0])
    for start in range(0, len(ids), IDS_PER_LINE):
        extra = {
            "endpoint": name,
            "shop": events[0].shop_id,
            "events": len(ids),
            "event_ids": ids[start : start + IDS_PER_LINE],
        }
        logger.info("accepted", extra=extra)
    # ingest refused the request (403) unless this shop allows the origin
    headers = allow_origin_headers(origin) if origin else {}
    return Response(200, content_types.APPLICATION_JSON, {"success": True}, headers=headers)


@app.route("/v1/<endpoint>", method="OPTIONS")
def preflight_for(endpoint: str) -> Response[dict[str, Any]]:
    if endpoint not in ENDPOINTS and endpoint != METRICS_PATH:
        raise NotFoundError(f"no Segment endpoint /v1/{endpoint}")
    answer = preflight(
        _header("origin"), _header("access-control-request-headers"), wired().shops.origins_of_any_shop()
    )
    if answer.status != 204:
        logger.info("preflight refused", extra={"origin": _header("origin")})
        body = {"success": False, "message": answer.message}
        return Response(answer.status, content_types.APPLICATION_JSON, body)
    return Response(204, None, None, headers=answer.headers)


@app.get("/v1/projects/<write_key>/settings")
def sdk_settings(write_key: str) -> Response[dict[str, Any]]:
    shop = wired().shops.authenticate(write_key)
    if shop is None or shop.kind != "write":
        body = {"success": False, "message": "unknown write key"}
        return Response(404, content_types.APPLICATION_JSON, body, headers=_cors_for_any_shop())
    origin = _header("origin")
    headers = {"Cache-Control": "public, max-age=300"}
    if origin:
        if not allows(wired().shops.allowed_origins(shop.shop_id), origin):
            message = f"origin {origin} is not in the shop's allowed_origins"
            return Response(403, content_types.APPLICATION_JSON, {"success": False, "message": message})
        headers |= allow_origin_headers(origin)
    host = _header("host") or app.current_event.request_context.domain_name
    document = settings_document(write_key, host, request_scheme(_header("x-forwarded-proto"), host))
    return Response(200, content_types.APPLICATION_JSON, document, headers=headers)


@app.exception_handler(RequestRejectedError)  # type: ignore[untyped-decorator]
def rejected(error: RequestRejectedError) -> Response[dict[str, Any]]:
    add_count("RequestsRejected", 1)
    logger.info("rejected", extra={"status": error.status, "reason": error.message, "errors": len(error.errors)})
    # A page whose origin a shop allows may read why (a refused origin gets no CORS headers at all).
    headers = {} if error.status == 403 else _cors_for_any_shop()
    return Response(error.status, content_types.APPLICATION_JSON, error.as_json(), headers=headers)


@app.exception_handler(EnqueueError)  # type: ignore[untyped-decorator]
@app.exception_handler(BotoCoreError)  # type: ignore[untyped-decorator]
@app.exception_handler(ClientError)  # type: ignore[untyped-decorator]
def unavailable(error: Exception) -> Response[dict[str, Any]]:
    # The client retries with the same messageIds; deduplication makes a partial earlier attempt harmless.
    logger.warning("enqueue failed", extra={"reason": str(error)})
    return Response(503, content_types.APPLICATION_JSON, {"success": False, "message": "temporarily unavailable"})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext, wiring: IngestWiring | None = None) -> dict[str, Any]:
    correlate_request(event)
    app.append_context(wiring=wiring or environment())  # type: ignore[no-untyped-call]
    return app.resolve(event, context)


collector.resume()  # the import is over: the collector is back on (shared/collector.py)
