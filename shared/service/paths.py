"""Ids in URL paths, decoded once, in one place, for every route of every HTTP function.

A customer id is whatever the shop's tracking calls sent as ``userId``: ``anna/ü #1?%`` is as valid as ``anna``. In a
path it travels percent-encoded, and API Gateway HTTP API already decodes the path **once** before it routes and hands
that decoded path to the function as ``rawPath`` (a ``%2F`` becomes a ``/`` that no ``{customer_id}`` matches, a ``?``
or ``#`` would end the path). So clients encode a path id **twice** (``quote(quote(id, safe=""), safe="")``;
``encodeURIComponent(encodeURIComponent(id))``): API Gateway's decoding leaves the id encoded once, Powertools
captures it from ``rawPath`` as it is, and this module decodes it once more. An id of letters, digits, ``-._~``
comes through either way unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

# Where Powertools keeps the arguments it captured from the path for the route function (its own validation
# middleware reads and replaces them the same way); tests/unit/test_paths.py pins it.
_ROUTE_ARGS = "_route_args"


def path_value(captured: str) -> str:
    """One path parameter as the client meant it: the captured text percent-decoded once (UTF-8)."""
    return unquote(captured)


def decode_path_parameters(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Powertools middleware (``app.use(middlewares=[decode_path_parameters])``): every route function receives its
    path parameters decoded once, so no route decodes on its own or twice."""
    captured: dict[str, str] = app.context.get(_ROUTE_ARGS, {})
    app.context[_ROUTE_ARGS] = {name: path_value(value) for name, value in captured.items()}
    return next_middleware(app)
