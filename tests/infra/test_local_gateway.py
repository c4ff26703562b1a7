"""The local HTTP API in front of the functions: every API Gateway method, binary bodies, readiness, load, and one
console line per request (masked; a failing handler shown as its error, not as a traceback)."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infra.local.gateway import METHODS, HttpApi
from infra.local.provision import HttpRoute
from infra.local.stack import LocalStack


class FakeFunction:
    """Answers every event with a JSON body and a header; raises if the event's path says so."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if event["rawPath"].endswith("/boom"):
            raise KeyError("customer_id")
        time.sleep(0.05)  # long enough that parallel clients overlap
        return {"statusCode": 200, "headers": {"x-answer": "yes", "content-type": "application/json"}, "body": "{}"}


@pytest.fixture
def console() -> list[str]:
    return []


@pytest.fixture
def api(console: list[str]):
    function = FakeFunction()
    stack = LocalStack(console=console.append)  # not started: only its console formatting is used
    api = HttpApi(on_request=stack._on_request, health=lambda: {"status": "ready"})
    api.mount([HttpRoute("Fake", "ANY", "/v1/customers/{customer_id}")], {"Fake": function})  # type: ignore[dict-item]
    api.start()
    yield api, function
    api.stop()


def connect(api: HttpApi) -> http.client.HTTPConnection:
    host, port = api.base_url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def wait_for(console: list[str], text: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in list(console):
            if text in line:
                return line
        time.sleep(0.02)
    raise AssertionError(f"no console line with {text!r}: {console}")


def test_every_api_gateway_method_reaches_the_function_and_head_has_no_body(api):
    api, function = api
    connection = connect(api)  # one keep-alive connection: a HEAD answer must not leave a body behind
    for method in METHODS:
        connection.request(method, "/v1/customers/c-1")
        response = connection.getresponse()
        assert (response.status, response.getheader("x-answer")) == (200, "yes"), method
        assert response.read() == (b"" if method == "HEAD" else b"{}"), method
    assert [event["requestContext"]["http"]["method"] for event in function.events] == list(METHODS)


def test_a_gzip_body_reaches_the_function_base64_encoded(api):
    api, function = api
    raw = gzip.compress(b'{"batch":[]}')
    connection = connect(api)
    connection.request(
        "POST", "/v1/customers/c-1", raw, {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )
    assert connection.getresponse().status == 200
    assert function.events[-1]["isBase64Encoded"] is True
    assert gzip.decompress(base64.b64decode(function.events[-1]["body"])) == b'{"batch":[]}'


def test_a_connection_before_start_is_refused_not_left_waiting():
    api = HttpApi()  # the port is bound (links name it) ...
    try:
        with pytest.raises(ConnectionRefusedError):  # ... but nothing waits on it yet
            socket.create_connection(("127.0.0.1", int(api.base_url.rsplit(":", 1)[1])), timeout=2)
    finally:
        api.stop()


def test_health_answers_once_started(api):
    api, _ = api
    connection = connect(api)
    connection.request("GET", "/health")
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (200, {"status": "ready"})


def test_64_parallel_clients_are_all_answered(api):
    api, _ = api

    def one(n: int) -> int:
        connection = connect(api)
        connection.request("GET", f"/v1/customers/c-{n}")
        status = connection.getresponse().status
        connection.close()
        return status

    with ThreadPoolExecutor(64) as pool:
        assert list(pool.map(one, range(64))) == [200] * 64


def test_the_summary_line_masks_customer_ids_that_are_addresses(api, console):
    api, _ = api
    connection = connect(api)
    connection.request("GET", "/v1/customers/pii.person%40example.com")
    connection.getresponse().read()
    connection.request("GET", "/v1/customers/+4915112345678")
    connection.getresponse().read()
    assert "GET /v1/customers/<email> -> 200" in wait_for(console, "<email>")
    assert "GET /v1/customers/<phone> -> 200" in wait_for(console, "<phone>")
    assert not any("example.com" in line or "4915112345678" in line for line in console)


def test_a_handler_error_is_a_500_summary_line_with_its_type_not_a_traceback(api, console, capfd):
    api, _ = api
    connection = connect(api)
    connection.request("GET", "/v1/customers/boom")
    assert connection.getresponse().status == 500
    assert "GET /v1/customers/boom -> 500" in wait_for(console, "-> 500")
    assert "KeyError" in wait_for(console, "raised")
    assert "Traceback" not in "\n".join(console) + "".join(capfd.readouterr())


def test_a_client_that_goes_away_is_one_line_without_a_traceback(api, console, capfd):
    api, _ = api
    host, port = api.base_url.removeprefix("http://").split(":")
    # A body cut short, then a request whose answer finds the connection reset
    with socket.create_connection((host, int(port))) as cut:
        cut.sendall(b"POST /v1/customers/c-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{}")
    with socket.create_connection((host, int(port))) as reset:
        reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
        reset.sendall(b"GET /v1/customers/c-2 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert "POST /v1/customers/c-1 -> client went away" in wait_for(console, "POST /v1/customers/c-1")
    wait_for(console, "GET /v1/customers/c-2")
    time.sleep(0.2)
    assert "Traceback" not in "".join(capfd.readouterr())
