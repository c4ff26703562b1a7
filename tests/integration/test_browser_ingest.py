"""What a storefront's analytics.js meets on the local stack: CORS preflights, the short paths, the settings document,
compressed bodies. The demo shop allows https://demo.shop.example and http://127.0.0.1:8791 (events/demo-shop.yaml);
the fast shop allows no origin."""

from __future__ import annotations

import base64
import gzip
import json
import urllib.error
import urllib.request
import uuid
import zlib
from typing import Any

import pytest

from tests.integration.http import SECRET_KEY, WRITE_KEY, basic, customer

ALLOWED = "https://demo.shop.example"
STRANGER = "https://evil.example"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def request(
    base_url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One raw HTTP request; returns (status, lower-cased response headers, parsed JSON body or None)."""
    sent = urllib.request.Request(base_url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            status, answer_headers, payload = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, payload = error.code, error.headers, error.read()
    lowered = {name.lower(): value for name, value in answer_headers.items()}
    return status, lowered, json.loads(payload) if payload else None


def browser_post(base_url: str, path: str, message: dict[str, Any], origin: str = ALLOWED) -> tuple[int, dict, Any]:
    """A POST as analytics.js sends it: text/plain JSON, write key in the body and as Basic auth, from a page."""
    body = json.dumps({**message, "writeKey": WRITE_KEY}).encode()
    headers = {"Content-Type": "text/plain", "Authorization": basic(WRITE_KEY), "Origin": origin}
    return request(base_url, "POST", path, body, headers)


def preflight(base_url: str, path: str, origin: str) -> tuple[int, dict[str, str], Any]:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    return request(base_url, "OPTIONS", path, None, headers)


@pytest.mark.parametrize("path", ["/v1/t", "/v1/i", "/v1/p", "/v1/s", "/v1/g", "/v1/a", "/v1/b", "/v1/track"])
def test_a_preflight_from_an_allowed_origin_lets_the_browser_post(local_stack, path):
    # When the demo shop's storefront preflights a POST to an ingest path
    status, headers, _ = preflight(local_stack.base_url, path, ALLOWED)
    # Then the browser is allowed to send it with the write key in Authorization
    assert status == 204
    assert headers["access-control-allow-origin"] == ALLOWED
    assert headers["access-control-allow-methods"] == "POST, GET, OPTIONS"
    assert headers["access-control-allow-headers"] == "authorization, content-type"
    assert headers["access-control-max-age"] == "7200"
    assert headers["vary"] == "Origin"


def test_a_preflight_from_an_origin_no_shop_allows_is_refused(local_stack):
    status, headers, body = preflight(local_stack.base_url, "/v1/t", STRANGER)
    assert status == 403
    assert "access-control-allow-origin" not in headers
    assert "allowed_origins" in body["message"]


def test_a_preflight_for_a_path_that_is_no_ingest_path_is_not_found(local_stack):
    status, headers, _ = preflight(local_stack.base_url, "/v1/nothing", ALLOWED)
    assert status == 404
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v1/t", {"type": "track", "event": "Product Viewed", "properties": {"product_id": "short-1"}}),
        ("/v1/i", {"type": "identify", "traits": {"firstName": "Bea"}}),
        ("/v1/p", {"type": "page", "name": "Home"}),
        ("/v1/s", {"type": "screen", "name": "Home"}),
        ("/v1/g", {"type": "group", "groupId": "g1"}),
        ("/v1/a", {"type": "alias", "previousId": "anon-bea"}),
    ],
)
def test_each_short_path_accepts_the_call_and_lets_the_page_read_the_answer(local_stack, path, message):
    # When the storefront posts a call the way analytics.js does
    status, headers, body = browser_post(local_stack.base_url, path, {**message, "userId": unique("bea")})
    # Then it is accepted, and the page may read the answer
    assert (status, body) == (200, {"success": True})
    assert headers["access-control-allow-origin"] == ALLOWED
    assert headers["vary"] == "Origin"


def test_a_page_on_an_origin_its_shop_does_not_allow_changes_nothing(local_stack):
    # Given a customer with no activity yet
    user = unique("carl")
    # When a page on another origin posts with the demo shop's write key (the key is public: any site can copy it)
    status, headers, body = browser_post(
        local_stack.base_url, "/v1/t", {"type": "track", "event": "Order Completed", "userId": user}, STRANGER
    )
    local_stack.wait_idle()
    # Then it is refused with a message naming the setting, and the customer does not exist
    assert status == 403
    assert "allowed_origins" in body["message"]
    assert "access-control-allow-origin" not in headers
    assert customer(local_stack.base_url, user)[0] == 404


def test_an_origin_another_shop_allows_does_not_open_this_shop(local_stack):
    # Given the fast shop allows no origin, and the demo shop's storefront origin is allowed for preflights
    body = json.dumps({"type": "track", "event": "Signed Up", "userId": unique("dan")}).encode()
    headers = {"Content-Type": "text/plain", "Authorization": basic("fast-write-key"), "Origin": ALLOWED}
    # When that page posts with the fast shop's key
    status, answer_headers, _ = request(local_stack.base_url, "POST", "/v1/t", body, headers)
    # Then the fast shop refuses it
    assert status == 403
    assert "access-control-allow-origin" not in answer_headers


def test_a_server_without_origin_is_unaffected_by_allowed_origins(local_stack):
    # The fast shop allows no browser origin, but its server-side SDK sends no Origin header
    body = json.dumps({"type": "track", "event": "Signed Up", "userId": unique("eve")}).encode()
    headers = {"Content-Type": "application/json", "Authorization": basic("fast-write-key")}
    status, answer_headers, _ = request(local_stack.base_url, "POST", "/v1/t", body, headers)
    assert status == 200
    assert "access-control-allow-origin" not in answer_headers


def test_a_refused_request_from_an_allowed_origin_can_be_read_by_the_page(local_stack):
    # When the storefront posts an event without an event name
    status, headers, body = browser_post(local_stack.base_url, "/v1/t", {"type": "track", "userId": unique("fay")})
    # Then the page (its developer's console) can read why
    assert status == 400
    assert headers["access-control-allow-origin"] == ALLOWED
    assert body["errors"][0]["field"] == "event"


def test_the_batching_strategy_batch_reaches_the_customer_state(local_stack):
    # Given a customer's views and cart sent as analytics.js's batching strategy sends them (/v1/b)
    user = unique("gil")
    batch = {
        "batch": [
            {"type": "identify", "userId": user, "traits": {"firstName": "Gil"}, "messageId": unique("m")},
            {
                "type": "track",
                "event": "Product Added",
                "userId": user,
                "properties": {"product_id": "b-1", "cart_id": "web-1", "price": 5},
                "messageId": unique("m"),
            },
        ],
        "sentAt": "2026-01-01T00:00:00.000Z",
    }
    # When it is posted and applied
    status, headers, _ = browser_post(local_stack.base_url, "/v1/b", batch)
    local_stack.wait_idle()
    # Then the support API shows the customer with the cart
    assert (status, headers["access-control-allow-origin"]) == (200, ALLOWED)
    found = customer(local_stack.base_url, user)[1]
    assert found["traits"]["first_name"] == "Gil"
    assert found["carts"]["web-1"]["items"][0]["product_id"] == "b-1"


def test_analytics_js_metrics_are_accepted_and_dropped(local_stack):
    body = json.dumps({"series": [{"type": "Counter", "metric": "analytics_js.invoke", "value": 1}]}).encode()
    status, headers, _ = request(
        local_stack.base_url, "POST", "/v1/m", body, {"Content-Type": "text/plain", "Origin": ALLOWED}
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == ALLOWED


def test_the_settings_document_points_analytics_js_at_the_stack(local_stack):
    # When analytics.js, given only nudge's host as cdnURL, loads its settings from the storefront
    host = local_stack.base_url.removeprefix("http://")
    path = f"/v1/projects/{WRITE_KEY}/settings"
    status, headers, document = request(local_stack.base_url, "GET", path, None, {"Origin": ALLOWED})
    # Then it is told to send everything to this stack, and the page may read it
    assert status == 200
    assert headers["access-control-allow-origin"] == ALLOWED
    assert document["integrations"] == {
        "Segment.io": {"apiKey": WRITE_KEY, "apiHost": f"{host}/v1", "protocol": "http"}
    }
    assert document["metrics"] == {"sampleRate": 0}


def test_the_settings_of_an_unknown_or_secret_key_are_not_found_and_a_stranger_is_refused(local_stack):
    base = local_stack.base_url
    assert request(base, "GET", "/v1/projects/no-such-key/settings")[0] == 404
    assert request(base, "GET", f"/v1/projects/{SECRET_KEY}/settings")[0] == 404
    status, headers, _ = request(base, "GET", f"/v1/projects/{WRITE_KEY}/settings", None, {"Origin": STRANGER})
    assert status == 403
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)], ids=["gzip", "deflate"]
)
def test_a_compressed_batch_reaches_the_customer_state(local_stack, encoding, compress):
    # Given a gzip (or deflate) batch, as the RudderStack SDK and mobile SDKs send them
    user = unique("hal")
    batch = {"batch": [{"type": "identify", "userId": user, "traits": {"firstName": "Hal"}}]}
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding, "Authorization": basic(WRITE_KEY)}
    # When it is posted and applied
    status, _, body = request(local_stack.base_url, "POST", "/v1/batch", compress(json.dumps(batch).encode()), headers)
    local_stack.wait_idle()
    # Then the customer is known
    assert (status, body) == (200, {"success": True})
    assert customer(local_stack.base_url, user)[1]["traits"]["first_name"] == "Hal"


def test_a_gzip_bomb_is_a_413_and_a_corrupt_stream_a_400(local_stack):
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "Authorization": basic(WRITE_KEY)}
    bomb = gzip.compress(b" " * (100 * 1024 * 1024))
    status, _, body = request(local_stack.base_url, "POST", "/v1/batch", bomb, headers)
    assert status == 413
    assert "inflated body" in body["message"]
    status, _, body = request(local_stack.base_url, "POST", "/v1/batch", b"\x1f\x8bnot really", headers)
    assert status == 400
    assert "gzip" in body["message"]
    unknown = {**headers, "Content-Encoding": "br"}
    assert request(local_stack.base_url, "POST", "/v1/batch", base64.b64encode(b"x"), unknown)[0] == 415
