"""What a storefront's browser gets from nudge: CORS preflight answers, origin checks, the analytics.js settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.models.config import ShopSettings
from shared.service.browser import allows, preflight, request_scheme, settings_document

SHOP = "https://shop.example"
KEYS = {"id": "demo", "name": "Demo", "write_keys": ["demo-write-key"], "secret_keys": ["demo-secret-key"]}


def test_a_preflight_from_an_origin_some_shop_allows_gets_the_cors_headers_analytics_js_needs() -> None:
    # Given one shop allows https://shop.example
    # When its page's analytics.js preflights a POST with the write key in Authorization
    answer = preflight(SHOP, "authorization,content-type", {SHOP, "https://other.example"})
    # Then the browser may send it: origin echoed, methods, the requested headers, cached two hours
    assert answer.status == 204
    assert answer.headers == {
        "Access-Control-Allow-Origin": SHOP,
        "Vary": "Origin",
        "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
        "Access-Control-Allow-Headers": "authorization, content-type",
        "Access-Control-Max-Age": "7200",
    }
    assert "Access-Control-Allow-Credentials" not in answer.headers


def test_a_preflight_from_an_origin_no_shop_allows_is_refused_without_cors_headers() -> None:
    # When a page on an origin no shop lists preflights
    answer = preflight("https://evil.example", "authorization", {SHOP})
    # Then it is a 403 whose message names the setting, and the browser is not allowed to send
    assert answer.status == 403
    assert "allowed_origins" in answer.message
    assert answer.headers == {}


def test_a_preflight_echoes_only_the_headers_nudge_accepts() -> None:
    # When a page asks for the retry counter, an encoding and a header of its own
    answer = preflight(SHOP, "X-Retry-Count, Content-Encoding, X-Custom", {SHOP})
    # Then only the ones nudge reads are allowed, so the browser refuses to send the custom one
    assert answer.headers["Access-Control-Allow-Headers"] == "x-retry-count, content-encoding"


def test_a_star_in_any_shop_allows_every_origin_and_the_answer_still_names_the_origin() -> None:
    answer = preflight("http://127.0.0.1:9999", None, {"*"})
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:9999"
    assert "Access-Control-Allow-Headers" not in answer.headers


def test_an_options_request_without_origin_is_no_cors_preflight_and_allows_nothing() -> None:
    assert preflight(None, "authorization", {SHOP}) == preflight(None, None, set())
    assert preflight(None, None, set()).headers == {}


@pytest.mark.parametrize(
    ("allowed", "origin", "expected"),
    [
        ([SHOP], SHOP, True),
        ([SHOP], "https://SHOP.example/", True),
        ([SHOP], "http://shop.example", False),  # another scheme is another origin
        ([SHOP], "https://shop.example:8443", False),
        ([SHOP], "https://www.shop.example", False),  # no implicit subdomains
        ([], SHOP, False),  # nothing allowed by default
        (["*"], "null", True),
    ],
)
def test_an_origin_is_allowed_only_as_listed(allowed: list[str], origin: str, expected: bool) -> None:
    assert allows(allowed, origin) is expected


def test_allowed_origins_in_a_shop_config_are_normalised_and_paths_refused() -> None:
    # Given a config listing origins as people write them
    settings = ShopSettings.model_validate({**KEYS, "allowed_origins": ["https://Shop.Example/", "*"]})
    # Then they are stored as browsers send Origin
    assert settings.allowed_origins == ["https://shop.example", "*"]
    # And none by default
    assert ShopSettings.model_validate(KEYS).allowed_origins == []
    # And a URL with a path is an error that says what an origin is
    with pytest.raises(ValidationError, match="no path"):
        ShopSettings.model_validate({**KEYS, "allowed_origins": ["https://shop.example/checkout"]})


def test_the_settings_document_points_analytics_js_at_this_host_only() -> None:
    # When analytics.js loads its settings from nudge's host
    document = settings_document("demo-write-key", "api.nudge.example", "https")
    # Then it sends every event to nudge, loads no destinations or plugins and sends no metrics to Segment
    assert document["integrations"] == {
        "Segment.io": {"apiKey": "demo-write-key", "apiHost": "api.nudge.example/v1", "protocol": "https"}
    }
    assert document["remotePlugins"] == [] and document["plugins"] == {} and document["enabledMiddleware"] == {}
    assert document["metrics"] == {"sampleRate": 0}


@pytest.mark.parametrize(
    ("forwarded", "host", "scheme"),
    [
        ("https", "abc.execute-api.us-east-1.amazonaws.com", "https"),
        (None, "abc.execute-api.us-east-1.amazonaws.com", "https"),
        (None, "127.0.0.1:8787", "http"),
        (None, "localhost:8787", "http"),
        ("http", "127.0.0.1:8787", "http"),
    ],
)
def test_the_scheme_is_the_one_the_client_used(forwarded: str | None, host: str, scheme: str) -> None:
    assert request_scheme(forwarded, host) == scheme
