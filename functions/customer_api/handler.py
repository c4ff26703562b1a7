"""Support API with a shop secret key: a customer's state, every message nudge sent or held back, the offer codes
a checkout checks (and the pools of codes the shop uploads), the shop's catalogue, its segments' members, its
campaigns, a day's date sweep run again, and the churn report."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.customer_api.wiring import CustomerApiWiring, from_environment
from shared import collector
from shared.adapters.customers import StoredCustomer, UnloadableStateError
from shared.observability import correlate_request, logger, metrics, tracer
from shared.ports import Ledger
from shared.service.campaigns import CampaignConflictError, CampaignDesk, CampaignRequestError
from shared.service.catalog import CatalogDesk, CatalogUploadError, ProductNotFoundError
from shared.service.customers import (
    AccessDeniedError,
    CustomerReader,
    messages_view,
    timeline_limit,
    timeline_view,
)
from shared.service.dates import DateSweepRequestError
from shared.service.export import MAX_MESSAGES
from shared.service.offers import OfferDesk, UploadError
from shared.service.paths import decode_path_parameters
from shared.service.refusal import RequestRefused
from shared.service.segments import SegmentDesk, SegmentRequestError, UnknownSegmentError
from shared.wiring import Built

app = APIGatewayHttpResolver()
app.use(middlewares=[decode_path_parameters])  # every route gets its ids decoded once


environment = Built(from_environment)  # this execution environment's wiring (Lambda injects none)


def reader() -> CustomerReader:
    wiring: CustomerApiWiring = app.context["wiring"]
    return wiring.reader


def ledger() -> Ledger:
    wiring: CustomerApiWiring = app.context["wiring"]
    return wiring.ledger


def offers() -> OfferDesk:
    wiring: CustomerApiWiring = app.context["wiring"]
    return wiring.offers


def catalog() -> CatalogDesk:
    wiring: CustomerApiWiring = app.context["wiring"]
    return wiring.catalog


def campaigns() -> CampaignDesk:
    wiring: CustomerApiWiring = app.context["wiring"]
    return wiring.campaigns


def segments() -> SegmentDesk:
    wiring: CustomerApiWiring = app.context["wiring"]
    return wiring.segments


def found(shop_id: str, customer_id: str) -> StoredCustomer:
    """The customer's live record; 404 when the shop has no such customer."""
    record = reader().find(shop_id, customer_id)
    if record is None:
        raise NotFoundError(f"no customer {customer_id!r} in shop {shop_id!r}")
    return record


def shop() -> str:
    return reader().shop_for(app.current_event.headers.get("authorization"))


@app.get("/v1/customers/<customer_id>")
def get_customer(customer_id: str) -> dict[str, Any]:
    shop_id = reader().shop_for(app.current_event.headers.get("authorization"))
    record = found(shop_id, customer_id)
    return reader().view(shop_id, record, customer_id)


@app.get("/v1/customers/<customer_id>/messages")
def get_customer_messages(customer_id: str) -> dict[str, Any]:
    shop_id = reader().shop_for(app.current_event.headers.get("authorization"))
    record = found(shop_id, customer_id)
    view = messages_view(record, customer_id, ledger().list(shop_id, record.key))
    for message in view["messages"]:  # each offer code with its state now, as the checkout would see it
        if code := message["details"].get("offer_code"):
            message["offer"] = offers().lookup(shop_id, code)
    return view


@app.get("/v1/customers/<customer_id>/timeline")
def get_customer_timeline(customer_id: str) -> dict[str, Any]:
    shop_id = reader().shop_for(app.current_event.headers.get("authorization"))
    limit = timeline_limit(app.current_event.get_query_string_value("limit"))
    record = found(shop_id, customer_id)
    return timeline_view(record, customer_id, ledger().list(shop_id, record.key, limit=limit), limit)


@app.get("/v1/customers/<customer_id>/export")
def get_customer_export(customer_id: str) -> dict[str, Any]:
    """Everything nudge holds about the customer (GDPR Art. 15 and 20), field by field in docs/PRIVACY.md."""
    shop_id = shop()
    record = found(shop_id, customer_id)
    wiring: CustomerApiWiring = app.context["wiring"]
    messages = ledger().list(shop_id, record.key, limit=MAX_MESSAGES)
    inbox = wiring.inbox.list(shop_id, record.key, limit=MAX_MESSAGES)
    return reader().export(shop_id, record, customer_id, messages, inbox, lambda code: offers().lookup(shop_id, code))


@app.delete("/v1/customers/<customer_id>")
def delete_customer(customer_id: str) -> dict[str, Any]:
    """Erase everything nudge holds about the customer (GDPR Art. 17), keeping only the suppression record."""
    shop_id = shop()
    record = found(shop_id, customer_id)
    wiring: CustomerApiWiring = app.context["wiring"]
    erased = reader().erase(shop_id, record, customer_id, ledger(), wiring.erasure)
    logger.info("customer erased", extra={"shop": shop_id, "records": len(erased["records"])})
    return erased


@app.get("/v1/offers/<code>")
def get_offer(code: str) -> dict[str, Any]:
    return offers().lookup(shop(), code)


@app.post("/v1/offers/pools/<pool>")
def post_pool(pool: str) -> dict[str, Any]:
    shop_id = shop()
    try:
        body = app.current_event.json_body
    except ValueError as error:
        raise UploadError([{"field": "body", "rule": f"must be JSON: {error}"}]) from error
    return offers().upload(shop_id, pool, body)


@app.get("/v1/offers/pools/<pool>")
def get_pool(pool: str) -> dict[str, Any]:
    return offers().pool(shop(), pool)


@app.get("/v1/catalog")
def get_catalog() -> dict[str, Any]:
    return {"shop": shop()}  # whose catalogue this key writes (``nudge catalog import`` checks it first)


@app.post("/v1/catalog")
def post_catalog() -> dict[str, Any]:
    shop_id = shop()
    try:
        body = app.current_event.json_body
    except ValueError as error:
        raise CatalogUploadError([{"field": "body", "rule": f"must be JSON: {error}"}]) from error
    return catalog().upsert(shop_id, body)


@app.get("/v1/catalog/<product_id>")
def get_product(product_id: str) -> dict[str, Any]:
    shop_id = shop()
    try:
        return catalog().product(shop_id, product_id)
    except ProductNotFoundError as error:
        raise NotFoundError(str(error)) from error


@app.get("/v1/segments/<segment>/members")
def get_segment_members(segment: str) -> dict[str, Any]:
    shop_id = shop()
    query = app.current_event.query_string_parameters or {}
    try:
        return segments().members(shop_id, segment, query.get("limit"), query.get("after"))
    except UnknownSegmentError as error:
        raise NotFoundError(str(error)) from error


@app.get("/v1/reports/journeys")
def get_journey_report() -> dict[str, Any]:
    """Per journey, step, variant and channel: entered, sent, suppressed, engaged, converted, revenue, uplift."""
    shop_id = shop()
    query = app.current_event.query_string_parameters or {}
    wiring: CustomerApiWiring = app.context["wiring"]
    return wiring.reports.journeys(shop_id, query.get("from"), query.get("to"))


@app.get("/v1/reports/churn")
def get_churn_report() -> dict[str, Any]:
    """Buyers retained and churned per month, first-time and repeat, and the customers at risk now."""
    shop_id = shop()
    query = app.current_event.query_string_parameters or {}
    wiring: CustomerApiWiring = app.context["wiring"]
    return wiring.churn.report(shop_id, query.get("from"), query.get("to"))


@app.post("/v1/campaigns")
def post_campaign() -> Response[dict[str, Any]]:
    shop_id = shop()
    try:
        body = app.current_event.json_body
    except ValueError as error:
        raise CampaignRequestError([{"field": "body", "rule": f"must be JSON: {error}"}]) from error
    created, campaign = campaigns().create(shop_id, body)
    return Response(201 if created else 200, content_types.APPLICATION_JSON, campaign)


@app.get("/v1/campaigns/<campaign_id>")
def get_campaign(campaign_id: str) -> dict[str, Any]:
    shop_id = shop()
    found = campaigns().get(shop_id, campaign_id)
    if found is None:
        raise NotFoundError(f"no campaign {campaign_id!r} in shop {shop_id!r}")
    return found


@app.delete("/v1/campaigns/<campaign_id>")
def delete_campaign(campaign_id: str) -> dict[str, Any]:
    shop_id = shop()
    cancelled = campaigns().cancel(shop_id, campaign_id)
    if cancelled is None:
        raise NotFoundError(f"no campaign {campaign_id!r} in shop {shop_id!r}")
    return cancelled


@app.post("/v1/date-sweeps")
def post_date_sweep() -> Response[dict[str, Any]]:
    """Sweep a day's birthdays and occasions again (a day the daily schedule missed); the same day again changes
    nothing."""
    shop_id = shop()
    try:
        body = app.current_event.json_body if app.current_event.body else None
    except ValueError as error:
        raise DateSweepRequestError([{"field": "body", "rule": f"must be JSON: {error}"}]) from error
    wiring: CustomerApiWiring = app.context["wiring"]
    return Response(202, content_types.APPLICATION_JSON, wiring.dates.run(shop_id, body))


# Requests refused before anything is stored; each error names the field and the rule.
Refusal = RequestRefused | SegmentRequestError | CatalogUploadError | UploadError


@app.exception_handler(list(Refusal.__args__))  # type: ignore[untyped-decorator]
def refused(error: Refusal) -> Response[dict[str, Any]]:
    """400 naming each field and the rule it breaks; nothing was stored."""
    return Response(400, content_types.APPLICATION_JSON, {"message": str(error), "errors": error.errors})


@app.exception_handler(CampaignConflictError)  # type: ignore[untyped-decorator]
def conflicting_campaign(error: CampaignConflictError) -> Response[dict[str, Any]]:
    return Response(409, content_types.APPLICATION_JSON, {"message": str(error)})


@app.exception_handler(AccessDeniedError)  # type: ignore[untyped-decorator]
def denied(error: AccessDeniedError) -> Response[dict[str, Any]]:
    return Response(401, content_types.APPLICATION_JSON, {"message": str(error)})


@app.exception_handler(UnloadableStateError)  # type: ignore[untyped-decorator]
def unloadable(error: UnloadableStateError) -> Response[dict[str, Any]]:
    # The customer exists but the stored state does not load: a server fault, so a 500, but one that says which
    # record and why (the customer's events wait in the events dead-letter queue with the same reason).
    logger.error("stored customer state does not load", extra={"reason": str(error)})
    body = {"error": "customer_state_unloadable", "message": str(error)}
    return Response(500, content_types.APPLICATION_JSON, body)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, wiring: CustomerApiWiring | None = None
) -> dict[str, Any]:
    correlate_request(event)
    app.append_context(wiring=wiring or environment())  # type: ignore[no-untyped-call]
    return app.resolve(event, context)


collector.resume()  # the import is over: the collector is back on (shared/collector.py)
