"""Public endpoints: RFC 8058 one-click unsubscribe (``/u/{token}``), the click redirect (``/c/{token}``), the
preference centre (``/p/{token}``), the double opt-in confirmation (``/confirm/{token}``) and the in-app inbox a
shop's app reads."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.public_api.wiring import PublicApiWiring, from_environment
from shared import collector
from shared.core.tokens import InvalidTokenError
from shared.observability import add_count, correlate_request, logger, metrics, tracer
from shared.service.decide import DecideRequestError, NoOfferDecisionsError
from shared.service.engagement import REDIRECT_HEADERS, Clicks
from shared.service.paths import decode_path_parameters
from shared.service.preferences import Confirmations, ExpiredLinkError, PreferenceCentre
from shared.service.public import (
    PAGE_HEADERS,
    InboxAccessDeniedError,
    InboxApi,
    UnknownInboxMessageError,
    Unsubscribe,
)
from shared.wiring import Built

app = APIGatewayHttpResolver()
app.use(middlewares=[decode_path_parameters])  # every route gets its ids decoded once
HTML = "text/html; charset=utf-8"


environment = Built(from_environment)  # this execution environment's wiring (Lambda injects none)


def unsubscribe() -> Unsubscribe:
    wiring: PublicApiWiring = app.context["wiring"]
    return wiring.unsubscribe


def inbox() -> InboxApi:
    wiring: PublicApiWiring = app.context["wiring"]
    return wiring.inbox


@app.get("/u/<token>")
def unsubscribe_page(token: str) -> Response[str]:
    return Response(200, HTML, unsubscribe().page(token), headers=PAGE_HEADERS)


@app.head("/u/<token>")
def unsubscribe_page_probe(token: str) -> Response[str]:
    # Link scanners probe with HEAD: the same status and headers as GET (an unknown token is the same 404), no
    # body, and like GET it changes nothing.
    unsubscribe().page(token)
    return Response(200, HTML, "", headers=PAGE_HEADERS)


@app.post("/u/<token>")
def unsubscribe_one_click(token: str) -> Response[str]:
    event, page = unsubscribe().confirm(token)
    add_count("Unsubscribes", 1)
    logger.info(
        "unsubscribed", extra={"shop": event.shop_id, "channel": event.channel, "feedback_id": event.feedback_id}
    )
    return Response(200, HTML, page, headers=PAGE_HEADERS)


def preference_centre() -> PreferenceCentre:
    wiring: PublicApiWiring = app.context["wiring"]
    return wiring.preferences


def confirmations() -> Confirmations:
    wiring: PublicApiWiring = app.context["wiring"]
    return wiring.confirmations


def _language() -> str | None:
    """The page's language: the link's ``lang`` (the customer's, as nudge wrote it), else the browser's."""
    chosen = app.current_event.get_query_string_value("lang")
    browser = app.current_event.headers.get("accept-language")
    return f"{chosen},{browser}" if chosen and browser else chosen or browser


def _form() -> dict[str, list[str]]:
    """The page's form as sent (``application/x-www-form-urlencoded``; API Gateway may hand it over base64)."""
    return parse_qs(app.current_event.decoded_body or "", max_num_fields=100)


@app.get("/p/<token>")
def preferences_page(token: str) -> Response[str]:
    return Response(200, HTML, preference_centre().page(token, _language()), headers=PAGE_HEADERS)


@app.head("/p/<token>")
def preferences_probe(token: str) -> Response[str]:
    preference_centre().claim(token)  # an unknown token is the same 404 as for GET; nothing is read or changed
    return Response(200, HTML, "", headers=PAGE_HEADERS)


@app.post("/p/<token>")
def preferences_save(token: str) -> Response[str]:
    event, page = preference_centre().save(token, _form(), _language())
    if event is not None:
        add_count("PreferencesSaved", 1)
        logger.info("preferences saved", extra={"shop": event.shop_id, "feedback_id": event.feedback_id})
    return Response(200, HTML, page, headers=PAGE_HEADERS)


@app.get("/confirm/<token>")
def confirm_page(token: str) -> Response[str]:
    return Response(200, HTML, confirmations().page(token, _language()), headers=PAGE_HEADERS)


@app.head("/confirm/<token>")
def confirm_probe(token: str) -> Response[str]:
    confirmations().claim(token)
    return Response(200, HTML, "", headers=PAGE_HEADERS)


@app.post("/confirm/<token>")
def confirm_subscription(token: str) -> Response[str]:
    event, page = confirmations().confirm(token, _language())
    add_count("ConsentsConfirmed", 1)
    logger.info("consent confirmed", extra={"shop": event.shop_id, "channel": event.channel})
    return Response(200, HTML, page, headers=PAGE_HEADERS)


@app.exception_handler(ExpiredLinkError)  # type: ignore[untyped-decorator]
def expired_link(error: ExpiredLinkError) -> Response[str]:
    return Response(410, HTML, error.page, headers=PAGE_HEADERS)


def clicks() -> Clicks:
    wiring: PublicApiWiring = app.context["wiring"]
    return wiring.clicks


@app.get("/c/<token>")
def follow_link(token: str) -> Response[str]:
    click = clicks().follow(token)
    logger.info("clicked", extra={"shop": click.shop_id, "channel": click.channel, "message_id": click.message})
    return Response(302, content_types.TEXT_PLAIN, "", headers={**REDIRECT_HEADERS, "Location": click.url or ""})


@app.head("/c/<token>")
def probe_link(token: str) -> Response[str]:
    # Link scanners and previews probe with HEAD: the same redirect, and no click recorded.
    return Response(302, content_types.TEXT_PLAIN, "", headers={**REDIRECT_HEADERS, "Location": clicks().target(token)})


@app.get("/v1/inbox/<customer_id>")
def get_inbox(customer_id: str) -> dict[str, Any]:
    shop_id = inbox().shop_for(app.current_event.headers, customer_id)
    return inbox().list(shop_id, customer_id)


@app.post("/v1/inbox/<customer_id>/<message_id>/read")
def mark_read(customer_id: str, message_id: str) -> dict[str, Any]:
    shop_id = inbox().shop_for(app.current_event.headers, customer_id)
    return inbox().mark_read(shop_id, customer_id, message_id)


@app.post("/v1/offers/decide")
def decide_offer() -> dict[str, Any]:
    wiring: PublicApiWiring = app.context["wiring"]
    try:
        body = app.current_event.json_body
    except ValueError as error:
        raise DecideRequestError([{"field": "body", "rule": f"must be JSON: {error}"}]) from error
    return wiring.decider.decide(app.current_event.headers, body)


@app.exception_handler(DecideRequestError)  # type: ignore[untyped-decorator]
def bad_decide_request(error: DecideRequestError) -> Response[dict[str, Any]]:
    return Response(400, content_types.APPLICATION_JSON, {"message": str(error), "errors": error.errors})


@app.exception_handler(NoOfferDecisionsError)  # type: ignore[untyped-decorator]
def no_decisions(error: NoOfferDecisionsError) -> Response[dict[str, Any]]:
    return Response(404, content_types.APPLICATION_JSON, {"message": str(error)})


@app.exception_handler(InvalidTokenError)  # type: ignore[untyped-decorator]
def not_found(_: InvalidTokenError) -> Response[str]:
    return Response(404, content_types.TEXT_PLAIN, "Not Found")


@app.exception_handler(InboxAccessDeniedError)  # type: ignore[untyped-decorator]
def denied(error: InboxAccessDeniedError) -> Response[dict[str, Any]]:
    return Response(401, content_types.APPLICATION_JSON, {"message": str(error)})


@app.exception_handler(UnknownInboxMessageError)  # type: ignore[untyped-decorator]
def unknown_message(error: UnknownInboxMessageError) -> Response[dict[str, Any]]:
    return Response(404, content_types.APPLICATION_JSON, {"message": str(error)})


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # inbox answers hold message texts
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, wiring: PublicApiWiring | None = None
) -> dict[str, Any]:
    correlate_request(event)
    app.append_context(wiring=wiring or environment())  # type: ignore[no-untyped-call]
    return app.resolve(event, context)


collector.resume()  # the import is over: the collector is back on (shared/collector.py)
