"""The HTTP API in front of the real handlers: turns HTTP requests into API Gateway HTTP API (payload 2.0) events.

Routes come from the functions' ``HttpApi`` events in template.yaml; a request no route matches gets API Gateway's
own 404 ``{"message":"Not Found"}``. The port is bound when the object is made (links in messages name it) but
takes connections only from ``start()``: a client that comes earlier is refused at once instead of hanging. The
stack adds ``GET /health``. Each request is summarised once through ``on_request`` (a client that went away, or a
handler that raised, included); tracebacks are not printed.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from infra.local.provision import ACCOUNT, HttpRoute
from infra.local.runtime import FunctionRuntime

_API_ID = "local"
_MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
_JSON = {"content-type": "application/json"}
_log = logging.getLogger("nudge_local")
# Connections the kernel holds while every serving thread is busy (socketserver's default, 5, resets a burst of
# clients; a shop's backend or a load test opens dozens at once).
REQUEST_QUEUE_SIZE = 256


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
    lowered = {name.lower(): value for name, value in headers.items()}
    text, encoded = _body_text(body, lowered)
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": unquote(raw_path),  # HTTP API hands the function the path decoded once, as it routed on it
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": _API_ID,
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": _API_ID,
            "http": {
                "method": method,
                "path": unquote(raw_path),
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


def _body_text(body: bytes, headers: Mapping[str, str]) -> tuple[str, bool]:
    """The body as the event carries it: text as is; binary (a content encoding such as gzip, or bytes that are not
    UTF-8) base64-encoded with ``isBase64Encoded`` true, as API Gateway does."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), True


# Every method API Gateway HTTP API routes (its route keys take these or ANY).
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True, slots=True)
class RequestSummary:
    """One request as the console shows it: ``status`` None when the client went away before the answer."""

    method: str
    path: str  # as sent, percent-encoded
    status: int | None
    millis: float
    error: BaseException | None = None  # what the handler raised (the answer was API Gateway's 500)


class _Server(ThreadingHTTPServer):
    request_queue_size = REQUEST_QUEUE_SIZE
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exception(), (ConnectionError, TimeoutError)):
            return  # the client went away (reset, broken pipe): nothing to tell anyone
        _log.debug("HTTP API: request from %s failed", client_address, exc_info=True)


class HttpApi:
    """Serves the template's HTTP routes on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        port: int = 0,
        on_request: Callable[[RequestSummary], None] | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self._routes: list[tuple[HttpRoute, re.Pattern[str]]] = []
        self._runtimes: Mapping[str, FunctionRuntime] = {}
        self._on_request = on_request
        self._health = health
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def dispatch(self) -> None:
                api.serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the stack prints its own one-line summary per request

        for method in METHODS:  # every method goes through the route matcher (no route: API Gateway's 404)
            setattr(Handler, f"do_{method}", Handler.dispatch)

        # Bound now, listening from start(): until then a connection is refused, not left waiting.
        self._server = _Server(("127.0.0.1", port), Handler, bind_and_activate=False)
        try:
            self._server.server_bind()
        except BaseException:
            self._server.server_close()
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-api", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def mount(self, routes: list[HttpRoute], runtimes: Mapping[str, FunctionRuntime]) -> None:
        """Serve ``routes`` with the functions in ``runtimes`` (the port is bound before, so links can name it)."""
        self._routes = [(route, _pattern(route.path)) for route in routes]
        self._runtimes = runtimes

    def start(self) -> None:
        """Take connections from now on."""
        self._server.server_activate()
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        """The route for ``path`` as sent (percent-encoded), matched as API Gateway HTTP API does: on the path decoded
        once, so an encoded ``/`` separates segments (``shared/service/paths.py``)."""
        for route, pattern in self._routes:
            found = pattern.match(unquote(path))
            if found and route.method in (method, "ANY"):
                return route, found.groupdict()
        return None

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        """Answer one request and summarise it (whatever happened)."""
        started = time.perf_counter()
        path = urlsplit(request.path).path
        status: int | None = None
        error: BaseException | None = None
        try:
            status, error = self._answer(request)
        except (ConnectionError, TimeoutError):
            request.close_connection = True  # the client went away: no answer to give, no traceback to print
        except Exception as failure:  # a handler's answer API Gateway could not use (e.g. no valid statusCode)
            _log.debug("HTTP API: %s %s failed", request.command, path, exc_info=True)
            status, error = 500, failure
            request.close_connection = True
            self._reply(request, 500, _JSON, b'{"message":"Internal Server Error"}')
        finally:
            if self._on_request is not None:
                millis = (time.perf_counter() - started) * 1000
                self._on_request(RequestSummary(request.command, path, status, millis, error))

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int | None, BaseException | None]:
        method = request.command
        split = urlsplit(request.path)
        body = _read_body(request)
        if body is _TOO_LARGE:
            request.close_connection = True  # the rest of the body is not read
            self._reply(request, 413, _JSON, b'{"message":"Request Entity Too Large"}')
            return 413, None
        if body is None:  # the connection closed before the whole body came, or the chunking was broken
            request.close_connection = True
            return None, None
        if self._health is not None and method in ("GET", "HEAD") and split.path == "/health":
            self._reply(request, 200, _JSON, json.dumps(self._health()).encode())
            return 200, None
        matched = self.match(method, split.path)
        if matched is None:
            self._reply(request, 404, _JSON, b'{"message":"Not Found"}')
            return 404, None
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
        except Exception as error:  # an unhandled error in a handler is API Gateway's 500, as in AWS
            _log.debug("%s raised on %s %s", route.function, method, split.path, exc_info=True)
            self._reply(request, 500, _JSON, b'{"message":"Internal Server Error"}')
            return 500, error
        status, headers, payload = _response(response)
        self._reply(request, status, headers, payload)
        return status, None

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: Mapping[str, str], payload: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if request.command != "HEAD":  # HEAD: the status and headers of the answer, no body
            request.wfile.write(payload)
        request.wfile.flush()


_TOO_LARGE = b"<too large>"


def _read_body(request: BaseHTTPRequestHandler) -> bytes | None:
    """The request body, by Content-Length or chunked transfer coding (analytics-kotlin streams its batches chunked,
    and API Gateway accepts that); ``_TOO_LARGE`` past API Gateway's payload limit, None when it did not all come."""
    if "chunked" in (request.headers.get("Transfer-Encoding") or "").lower():
        chunks: list[bytes] = []
        size = 0
        while True:
            line = request.rfile.readline(1024)
            try:
                length = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return None
            if length == 0:
                while request.rfile.readline(1024).strip():  # trailer fields, up to the empty line
                    pass
                return b"".join(chunks)
            size += length
            if size > _MAX_BODY:
                return _TOO_LARGE
            chunk = request.rfile.read(length)
            if len(chunk) < length or request.rfile.readline(3).strip():
                return None
            chunks.append(chunk)
    length = int(request.headers.get("Content-Length") or 0)
    if length > _MAX_BODY:
        return _TOO_LARGE
    body = request.rfile.read(length) if length else b""
    return body if len(body) == length else None


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
