"""The real server SDKs and the mobile SDKs' batch upload against the local stack, with compressed bodies.

- `rudder-sdk-python` gzips every batch by default (Content-Encoding: gzip) and posts to /v1/batch.
- `segment-analytics-python` gzips when asked (gzip=True).
- analytics-kotlin and analytics-swift upload their event files as batches to https://{apiHost}/b. Their requests are
  reproduced byte for byte from the SDKs' source (see MOBILE_* below), since no JVM or Swift runs here.
"""

from __future__ import annotations

import gzip
import http.client
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import rudderstack.analytics as rudderstack
import segment.analytics as segment

from tests.integration.http import WRITE_KEY, customer

pytestmark = pytest.mark.slow


def user_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(local_stack: Any, user: str, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        local_stack.wait_idle()
        status, body = customer(local_stack.base_url, user)
        if status == 200 and predicate(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{user} never reached the expected state: {json.dumps(body)[:500]}")


def test_the_rudderstack_python_sdk_with_its_default_gzip_reaches_the_customer_state(local_stack):
    # Given the RudderStack Python SDK pointed at nudge, with its defaults (gzip on)
    errors: list[Exception] = []
    client = rudderstack.Client(
        WRITE_KEY, host=local_stack.base_url, sync_mode=True, on_error=lambda error, _: errors.append(error)
    )
    assert client.gzip is True
    user = user_id("rita")
    # When the shop's backend identifies a customer and records an order
    client.identify(user, {"firstName": "Rita", "email": f"{user}@example.com"})
    client.track(user, "Order Completed", {"order_id": "o-1", "revenue": 42.5, "currency": "EUR"})
    client.flush()
    # Then nothing was refused and support sees the customer and the order
    assert errors == []
    state = wait_for(local_stack, user, lambda body: body.get("orders", {}).get("count", 0) >= 1)
    # (RudderStack puts identify traits in context.traits only; nudge keeps those under the names sent)
    assert "Rita" in state["traits"].values()


def test_the_segment_python_sdk_with_gzip_reaches_the_customer_state(local_stack):
    # Given segment-analytics-python asked to gzip its batches
    errors: list[Exception] = []
    client = segment.Client(
        WRITE_KEY, host=local_stack.base_url, gzip=True, sync_mode=True, on_error=lambda error, _: errors.append(error)
    )
    user = user_id("sam")
    # When it sends an identify and a cart addition
    client.identify(user, {"firstName": "Sam"})
    client.track(user, "Product Added", {"product_id": "trail-runner-2", "cart_id": "web-1", "price": 89.9})
    client.flush()
    # Then nothing was refused and support sees the cart
    assert errors == []
    state = wait_for(local_stack, user, lambda body: bool(body.get("carts", {}).get("web-1")))
    assert state["traits"]["first_name"] == "Sam"


def _mobile_event(kind: str, user: str, library: str, anonymous_id: str, **fields: Any) -> dict[str, Any]:
    """One event as the mobile SDKs serialise it (analytics-kotlin writes ``"userId": ""`` before identify)."""
    return {
        "type": kind,
        "messageId": str(uuid.uuid4()),
        "anonymousId": anonymous_id,
        "userId": user,
        "integrations": {},
        "context": {
            "app": {"name": "Shop", "version": "4.2.0", "namespace": "example.shop", "build": "420"},
            "device": {"id": "device-1", "manufacturer": "Google", "model": "Pixel 8", "type": "android"},
            "library": {"name": library, "version": "1.19.0"},
            "os": {"name": "Android", "version": "15"},
            "locale": "de-DE",
            "timezone": "Europe/Berlin",
            "instanceId": str(uuid.uuid4()),
        },
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "_metadata": {"bundled": [], "unbundled": [], "bundledIds": []},
        **fields,
    }


def _events(user: str, library: str) -> list[dict[str, Any]]:
    anonymous = str(uuid.uuid4())
    return [
        _mobile_event("screen", "", library, anonymous, name="Home", properties={}),
        _mobile_event("identify", user, library, anonymous, traits={"firstName": "Mo"}),
        _mobile_event(
            "track",
            user,
            library,
            anonymous,
            event="Product Added",
            properties={"product_id": "trail-runner-2", "cart_id": "app-1", "price": 89.9},
        ),
    ]


def _post(base_url: str, path: str, body: bytes, headers: dict[str, str], chunked: bool) -> tuple[int, bytes]:
    target = urlsplit(base_url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    try:
        if chunked:  # HttpURLConnection.setChunkedStreamingMode(0): no Content-Length, chunked transfer coding
            connection.request(
                "POST",
                path,
                body=iter([body[: len(body) // 2], body[len(body) // 2 :]]),
                headers=headers,
                encode_chunked=True,
            )
        else:
            connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_the_kotlin_sdk_batch_upload_reaches_the_customer_state(local_stack, chunked):
    # Given an event file as analytics-kotlin writes it (StorageImpl: begin `{"batch":[`, events joined by commas,
    # end `],"sentAt":...,"writeKey":...}`) and the request HTTPClient.upload makes: POST https://{apiHost}/b,
    # Content-Type text/plain, Content-Encoding gzip (a GZIPOutputStream), chunked, no Authorization header
    user = user_id("mo-kotlin")
    events = ",".join(json.dumps(event, separators=(",", ":")) for event in _events(user, "analytics-kotlin"))
    sent_at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    file = '{"batch":[' + events + f'],"sentAt":"{sent_at}","writeKey":"{WRITE_KEY}"}}'
    headers = {"User-Agent": "analytics-kotlin/1.19.0", "Content-Type": "text/plain", "Content-Encoding": "gzip"}
    # When the app uploads it
    status, answer = _post(local_stack.base_url, "/v1/b", gzip.compress(file.encode()), headers, chunked=chunked)
    # Then it is accepted and support sees the customer's cart from the app
    assert status == 200, answer
    state = wait_for(local_stack, user, lambda body: bool(body.get("carts", {}).get("app-1")))
    assert state["traits"]["first_name"] == "Mo"
    assert state["locale"] == "de-DE"


def test_the_swift_sdk_batch_upload_reaches_the_customer_state(local_stack):
    # Given an event file as analytics-swift writes it (DirectoryStore: `{ "batch": [` on its own line, one event per
    # line, later ones prefixed with a comma, then `],"sentAt":...,"writeKey":...}`) and the request HTTPClient makes:
    # POST https://{apiHost}/b, Content-Type application/json; charset=utf-8, Accept-Encoding gzip, uncompressed,
    # no Authorization header
    user = user_id("mo-swift")
    # analytics-swift leaves userId out until the app identifies its user
    events = [{k: v for k, v in event.items() if v != ""} for event in _events(user, "analytics-swift")]
    lines = [json.dumps(event) for event in events]
    sent_at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    file = '{ "batch": [\n' + lines[0] + "\n" + "".join(f",{line}\n" for line in lines[1:])
    file += f'],"sentAt":"{sent_at}","writeKey":"{WRITE_KEY}"}}\n'
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "analytics-ios/1.7.0",
        "Accept-Encoding": "gzip",
    }
    # When the app uploads it
    status, answer = _post(local_stack.base_url, "/v1/b", file.encode(), headers, chunked=False)
    # Then it is accepted and support sees the customer's cart from the app
    assert status == 200, answer
    state = wait_for(local_stack, user, lambda body: bool(body.get("carts", {}).get("app-1")))
    assert state["traits"]["first_name"] == "Mo"
