"""The HTTP API in front of the real handlers: turns HTTP requests into API Gateway HTTP API (payload 2.0) events.

Routes come from the functions' ``HttpApi`` events in template.yaml; a request no route matches gets API Gateway's
own 404 ``{"message":"Not Found"}``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.local.provision import ACCOUNT, HttpRoute
from infra.local.runtime import FunctionRuntime

_API_ID = "local"
_MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


def _pattern(path: str) -> re.Pattern[str]:
    """``/v1/customers/{customer_id}`` -> a regex with one named group per parameter (``{name+}`` is greedy)."""
    parts = []
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{") and piece.endswith("}"):
            name = piece[1:-1]
            parts.append(f"(?P<{name[:-1]}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)")
        else:
            parts.append(re.escape(piece))
    return re.compile("^" + "".join(parts) + "$")


def http_api_event(
    route: HttpRoute,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    path_parameters: dict[str, str],
    source_ip: str,
) -> dict[str, Any]:
    """The event API Gateway HTTP API (payload format 2.0) gives a Lambda integration for one request."""
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    lowered = {name.lower(): value for name, value in headers.items()}
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": _API_ID,
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": _API_ID,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if body:
        event["body"] = text
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


class HttpApi:
    """Serves the template's HTTP routes on 127.0.0.1 in a background thread."""

    def __init__(self, port: int = 0, on_request: Any = None) -> None:
        self._routes: list[tuple[HttpRoute, re.Pattern[str]]] = []
        self._runtimes: Mapping[str, FunctionRuntime] = {}
        self._on_request = on_request
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                api.serve(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the stack prints its own one-line summary per request

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-api", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def mount(self, routes: list[HttpRoute], runtimes: Mapping[str, FunctionRuntime]) -> None:
        """Serve ``routes`` with the functions in ``runtimes`` (the port is bound before, so links can name it)."""
        self._routes = [(route, _pattern(route.path)) for route in routes]
        self._runtimes = runtimes

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found and route.method in (method, "ANY"):
                return route, found.groupdict()
        return None

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        started = time.perf_counter()
        method = request.command
        split = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._reply(request, 413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
            return
        body = request.rfile.read(length) if length else b""
        matched = self.match(method, split.path)
        if matched is None:
            self._reply(request, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
            return
        route, parameters = matched
        event = http_api_event(
            route,
            method,
            split.path,
            split.query,
            dict(request.headers.items()),
            body,
            parameters,
            request.client_address[0],
        )
        try:
            response = self._runtimes[route.function].invoke(event)
        except Exception:  # an unhandled error in a handler is API Gateway's 500, as in AWS
            self._reply(request, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
            raise
        status, headers, payload = _response(response)
        self._reply(request, status, headers, payload)
        if self._on_request is not None:
            self._on_request(method, split.path, status, (time.perf_counter() - started) * 1000)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: Mapping[str, str], payload: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)


def _response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """A handler's return value as API Gateway HTTP API turns it into an HTTP response (payload 2.0 rules)."""
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers = {name: str(value) for name, value in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(str(v) for v in values)
        if result.get("cookies"):
            headers["set-cookie"] = "; ".join(result["cookies"])
        return int(result["statusCode"]), headers, payload
    # Anything else is taken as a JSON body with status 200.
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()
