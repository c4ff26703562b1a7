"""A storefront page in a real headless Chromium running the unmodified analytics.js from npm
(@segment/analytics-next, installed into tests/browser by `make test`), posting cross-origin to the local stack.

The page is served by this module on http://127.0.0.1:8791, the origin the demo shop allows (events/demo-shop.yaml);
the stack listens on another port, so every call is a real CORS request with a real preflight. The network is loopback
only: a request for a Segment host would fail, and the tests assert none is even attempted.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import missing
from tests.integration.http import WRITE_KEY, customer

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_DIR = ROOT / "tests" / "browser" / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"
ALLOWED_PORT = 8791  # events/demo-shop.yaml allows http://127.0.0.1:8791
# The storefront: analytics.js's UMD build (it defines window.AnalyticsNext) and nothing else.
PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>storefront</title><script src="/index.js"></script></head>
<body><h1>storefront</h1></body></html>
"""

pytestmark = pytest.mark.slow


class _Storefront(SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(BUNDLE_DIR), **kwargs)

    def do_GET(self) -> None:
        if self.path in ("/", "/index.html"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
            return
        super().do_GET()  # analytics.js and the chunks it loads relative to the page

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Storefront:
    origin: str
    server: ThreadingHTTPServer
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _storefront(port: int) -> Storefront:
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), partial(_Storefront))
    except OSError as error:
        pytest.fail(f"cannot serve the storefront page on 127.0.0.1:{port} ({error}); is another test run using it?")
    return Storefront(f"http://127.0.0.1:{server.server_address[1]}", server)


@pytest.fixture(scope="module")
def browser(chromium: Any) -> Any:
    """Chromium, with analytics.js from npm there to serve to it."""
    if not (BUNDLE_DIR / "index.js").exists():
        missing(f"analytics.js is not installed in {BUNDLE_DIR.relative_to(ROOT)}")
    return chromium


@pytest.fixture(scope="module")
def storefront() -> Iterator[Storefront]:
    served = _storefront(ALLOWED_PORT)
    yield served
    served.close()


@pytest.fixture(scope="module")
def stranger_site() -> Iterator[Storefront]:
    served = _storefront(0)  # any free port: an origin no shop allows
    yield served
    served.close()


@dataclass
class Visit:
    """One page visit: what analytics.js said and every URL the page requested."""

    result: Any
    requested: list[str]
    console: list[str]


def visit(browser: Any, site: Storefront, script: str, arguments: dict[str, Any]) -> Visit:
    """Open the storefront in a fresh browser context and run ``script`` (an async arrow function) on it."""
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        page.goto(site.origin + "/")
        page.wait_for_function("() => window.AnalyticsNext !== undefined")
        result = page.evaluate(script, arguments)
        page.wait_for_timeout(300)  # let the last fetch leave before the context closes
    finally:
        context.close()
    return Visit(result, requested, console)


# Load analytics.js as a storefront does, then identify the shopper and put a product in the cart. `load` resolves
# once the settings are in and the Segment.io plugin is registered; each call resolves once delivered (or given up).
SHOP_VISIT = """async ({settings, options, user}) => {
  try {
    const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(settings, options);
    await analytics.identify(user, {firstName: "Ida", email: `${user}@example.com`});
    await analytics.track("Product Added", {product_id: "trail-runner-2", cart_id: "web-1", price: 89.9});
    await analytics.page("Cart");
    return "loaded";
  } catch (error) {
    return "failed: " + error;
  }
}"""


def wait_for_cart(base_url: str, local_stack: Any, user: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        local_stack.wait_idle()
        status, body = customer(base_url, user)
        if status == 200 and body.get("carts", {}).get("web-1"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"{user} never reached the state with cart web-1: {json.dumps(body)[:500]}")


def assert_only_nudge_was_asked(visit_: Visit, site: Storefront, stack_url: str) -> None:
    strangers = [url for url in visit_.requested if not url.startswith((site.origin, stack_url))]
    assert strangers == [], f"requests left for other hosts: {strangers}"
    assert not any("segment.com" in url or "segment.io" in url for url in visit_.requested)


def user_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_analytics_js_given_only_nudge_as_cdn_url_reaches_the_customer_state(local_stack, browser, storefront):
    # Given a storefront page that loads analytics.js with only nudge's host as cdnURL
    base = local_stack.base_url
    user = user_id("ida-cdn")
    # When a shopper identifies and puts a product in the cart
    seen = visit(
        browser,
        storefront,
        SHOP_VISIT,
        {"settings": {"writeKey": WRITE_KEY, "cdnURL": base}, "options": {}, "user": user},
    )
    # Then analytics.js loaded its settings from nudge, sent to nudge's short paths only, and support sees the cart
    assert seen.result == "loaded", seen.console
    assert f"{base}/v1/projects/{WRITE_KEY}/settings" in seen.requested
    assert {f"{base}/v1/i", f"{base}/v1/t", f"{base}/v1/p"} <= set(seen.requested)
    assert_only_nudge_was_asked(seen, storefront, base)
    state = wait_for_cart(base, local_stack, user)
    assert state["traits"]["first_name"] == "Ida"
    assert state["carts"]["web-1"]["items"][0]["product_id"] == "trail-runner-2"


def test_analytics_js_with_the_api_host_integration_setting_reaches_the_customer_state(
    local_stack, browser, storefront
):
    # Given a storefront that keeps its own settings (no CDN fetch) and points the Segment.io integration at nudge
    base = local_stack.base_url
    host = base.removeprefix("http://")
    user = user_id("ida-host")
    settings = {"writeKey": WRITE_KEY, "cdnSettings": {"integrations": {"Segment.io": {"apiKey": WRITE_KEY}}}}
    options = {"integrations": {"Segment.io": {"apiHost": f"{host}/v1", "protocol": "http"}}}
    # When a shopper identifies and puts a product in the cart
    seen = visit(browser, storefront, SHOP_VISIT, {"settings": settings, "options": options, "user": user})
    # Then the calls went to nudge only and support sees the cart
    assert seen.result == "loaded", seen.console
    assert {f"{base}/v1/i", f"{base}/v1/t"} <= set(seen.requested)
    assert_only_nudge_was_asked(seen, storefront, base)
    assert wait_for_cart(base, local_stack, user)["traits"]["first_name"] == "Ida"


def test_analytics_js_with_the_batching_delivery_strategy_posts_batches_that_reach_the_state(
    local_stack, browser, storefront
):
    # Given analytics.js told to batch (three events, or every half second)
    base = local_stack.base_url
    user = user_id("ida-batch")
    batching = {"deliveryStrategy": {"strategy": "batching", "config": {"size": 3, "timeout": 500}}}
    arguments = {
        "settings": {"writeKey": WRITE_KEY, "cdnURL": base},
        "options": {"integrations": {"Segment.io": batching}},
        "user": user,
    }
    # When a shopper identifies and puts a product in the cart
    seen = visit(browser, storefront, SHOP_VISIT, arguments)
    # Then the events went out as batches to /v1/b and support sees the cart
    assert seen.result == "loaded", seen.console
    assert f"{base}/v1/b" in seen.requested
    assert f"{base}/v1/t" not in seen.requested
    assert_only_nudge_was_asked(seen, storefront, base)
    assert wait_for_cart(base, local_stack, user)["carts"]["web-1"]["items"][0]["price"] == 89.9


def test_a_page_on_an_origin_the_shop_does_not_allow_cannot_send(local_stack, browser, stranger_site):
    # Given a page on another origin that copied the demo shop's (public) write key, in both configurations
    base = local_stack.base_url
    host = base.removeprefix("http://")
    user = user_id("mallory")
    cdn_only = {"settings": {"writeKey": WRITE_KEY, "cdnURL": base}, "options": {}, "user": user}
    api_host = {
        "settings": {"writeKey": WRITE_KEY, "cdnSettings": {"integrations": {"Segment.io": {"apiKey": WRITE_KEY}}}},
        "options": {"integrations": {"Segment.io": {"apiHost": f"{host}/v1", "protocol": "http"}}},
        "user": user,
    }
    # When it loads analytics.js and sends
    refused_settings = visit(browser, stranger_site, SHOP_VISIT, cdn_only)
    refused_calls = visit(browser, stranger_site, SHOP_VISIT, api_host)
    local_stack.wait_idle()
    # Then the browser may not read nudge's settings (load fails), its calls fail the preflight, and nothing changed
    assert refused_settings.result.startswith("failed"), refused_settings.console
    assert any("CORS" in line or "Access-Control" in line for line in refused_calls.console), refused_calls.console
    assert customer(base, user)[0] == 404
