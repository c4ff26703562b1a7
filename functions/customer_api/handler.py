"""Support read API with a shop secret key: a customer's state, and every message nudge sent or held back."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.customer_api.settings import CustomerApiSettings
from shared.adapters.customers import CustomerStore, UnloadableStateError
from shared.adapters.ledger import SendLedger
from shared.adapters.shops import ShopDirectory
from shared.observability import logger, metrics, tracer
from shared.service.customers import AccessDeniedError, CustomerReader, customer_view, messages_view
from shared.service.paths import decode_path_parameters
from shared.settings import load_settings

app = APIGatewayHttpResolver()
app.use(middlewares=[decode_path_parameters])  # every route gets its ids decoded once


@cache
def ledger() -> SendLedger:
    return SendLedger(load_settings(CustomerApiSettings).customers_table)


@cache
def reader() -> CustomerReader:
    settings = load_settings(CustomerApiSettings)
    return CustomerReader(CustomerStore(settings.customers_table), ShopDirectory(settings.shops_table))


@app.get("/v1/customers/<customer_id>")
def get_customer(customer_id: str) -> dict[str, Any]:
    shop_id = reader().shop_for(app.current_event.headers.get("authorization"))
    record = reader().find(shop_id, customer_id)
    if record is None:
        raise NotFoundError(f"no customer {customer_id!r} in shop {shop_id!r}")
    return customer_view(record, customer_id)


@app.get("/v1/customers/<customer_id>/messages")
def get_customer_messages(customer_id: str) -> dict[str, Any]:
    shop_id = reader().shop_for(app.current_event.headers.get("authorization"))
    record = reader().find(shop_id, customer_id)
    if record is None:
        raise NotFoundError(f"no customer {customer_id!r} in shop {shop_id!r}")
    return messages_view(record, customer_id, ledger().list(shop_id, record.key))


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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
