"""The customer's own pages on the local stack, in a real headless Chromium (Debian's ``chromium``, driven by
Playwright): the double opt-in confirmation from the mail moto's SES holds, then the preference centre from the
welcome that follows it, in German, with a topic switched off and everything the page shows escaped.

The shop is the fast shop with double opt-in, two topics and a name and topic label full of markup; its journeys'
waits are seconds, so the welcome and the cart reminder come within the test.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import yaml

from tests.integration.http import call, post
from tests.integration.test_channels_on_stack import emails_to
from tests.integration.test_journeys_on_stack import unique

pytestmark = pytest.mark.slow

WRITE, SECRET = "prefs-write", "prefs-secret"
SHOP_NAME = 'Prefs <img src=x onerror="window.pwned=1"> & Co'
_LINK = re.compile(r"https?://[^\s\"'<>]+/(?:p|confirm)/[A-Za-z0-9_.-]+")


@pytest.fixture(scope="module")
def prefs_shop(local_stack: Any) -> Any:
    from shared.adapters.shops import ShopDirectory
    from shared.models.config import ShopConfig
    from tests.conftest import FAST_CONFIG

    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    document["shop"] = {**document["shop"], "id": "prefs", "name": SHOP_NAME, "write_keys": [WRITE]}
    document["shop"]["secret_keys"] = [SECRET]
    document["channels"]["email"]["double_opt_in"] = True
    document["topics"] = {
        "offers": {"label": {"en": "Offers", "de": "Angebote"}},
        "reminders": {
            "label": {"en": "Cart reminders", "de": "Warenkorb-Erinnerungen <script>window.pwned=2</script>"},
            "description": {"de": "Wenn du etwas im Warenkorb vergisst"},
        },
    }
    document["journeys"]["cart_abandonment"]["topic"] = "reminders"
    document["journeys"]["welcome"]["topic"] = "offers"
    ShopDirectory(local_stack.deployment.physical["ShopsTable"]).apply(ShopConfig.model_validate(document))
    return local_stack


def link_in(address: str, kind: str, timeout: float = 30.0) -> str:
    """The first ``/p/`` or ``/confirm/`` link (``kind``) in a mail to ``address``, waiting for the mail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in emails_to(address):
            for link in _LINK.findall(mail.get_body(("plain",)).get_content()):
                if f"/{kind}/" in link:
                    return str(link)
        time.sleep(0.3)
    raise AssertionError(f"no /{kind}/ link reached {address}")


def wait_for(stack: Any, user: str, check: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stack.wait_idle()
        status, body = call(stack.base_url, "GET", f"/v1/customers/{user}", key=SECRET)
        if status == 200 and check(body):
            return body
        time.sleep(0.3)
    raise AssertionError(f"{user} never got there: {str(body)[:600]}")


def test_a_german_customer_confirms_in_the_browser_then_switches_a_topic_off(prefs_shop, chromium):
    stack = prefs_shop
    user = unique("browser")
    address = f"{user}@example.com"
    context = {"locale": "de-DE"}
    signup = [
        {"type": "identify", "userId": user, "traits": {"firstName": "Ida", "email": address}, "context": context},
        {"type": "track", "userId": user, "event": "Newsletter Subscribed", "context": context,
         "properties": {"source": "footer-form", "notice_version": "v3"}},
    ]  # fmt: skip
    assert post(stack.base_url, "/v1/batch", {"batch": signup}, key=WRITE)[0] == 200

    page_context = chromium.new_context(locale="de-DE")
    page = page_context.new_page()
    try:
        # The confirmation mail's link: a page with a button; only the button confirms
        page.goto(link_in(address, "confirm"))
        assert page.locator("html").get_attribute("lang") == "de"
        assert wait_for(stack, user, lambda body: True)["consent"]["email"] is None
        page.get_by_role("button", name="Ja, ich möchte E-Mails erhalten").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Danke"
        confirmed = wait_for(stack, user, lambda body: body["consent"]["email"] is not None)["consent"]["email"]
        assert (confirmed["status"], confirmed["confirmed_via"]) == ("granted", "confirm-link")

        # The welcome that was waiting goes out, with the preference centre in its footer
        page.goto(link_in(address, "p"))
        assert page.locator("h1").inner_text() == "Deine Einstellungen"
        text = page.locator("main").inner_text()
        assert SHOP_NAME in text and "<script>window.pwned=2</script>" in text  # shown as text, never run
        assert page.evaluate("() => window.pwned") is None
        assert page.get_by_label("E-Mail").is_checked()
        reminders = page.get_by_label(re.compile("Warenkorb-Erinnerungen"))
        assert reminders.is_checked() and "Wenn du etwas im Warenkorb vergisst" in text
        reminders.uncheck()
        page.get_by_role("button", name="Speichern").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Gespeichert"
    finally:
        page_context.close()

    wait_for(stack, user, lambda body: body["topics_off"] == ["reminders"])
    product = {"product_id": "boots", "name": "Boots", "price": 99.0, "cart_id": "c1"}
    added = {"type": "track", "userId": user, "event": "Product Added", "properties": product}
    assert post(stack.base_url, "/v1/batch", {"batch": [added]}, key=WRITE)[0] == 200
    time.sleep(3)  # the reminder's wait is 2 s in this shop
    stack.wait_idle()
    status, body = call(stack.base_url, "GET", f"/v1/customers/{user}/messages", key=SECRET)
    reminder = [(m["status"], m["reason"]) for m in body["messages"] if m["template"] == "cart_reminder"]
    assert status == 200 and reminder == [("suppressed", "topic_opted_out")]
    history = wait_for(stack, user, lambda body: True)["consent_history"]
    assert [(c["status"], c["source"]) for c in history] == [("pending", "footer-form"), ("granted", "footer-form")]
