"""The preference centre on template.yaml in memory: every marketing mail links to the customer's own signed page;
what they switch there reaches their state through their FIFO group (source ``preference_centre``) and the router
honours it: a topic switched off, a channel switched off, all marketing paused for 30 days and resumed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from shared.models.config import ShopConfig
from tests.factories import boots, shopper, track
from tests.integration.test_journeys import SECRET, send, settle, unique
from tests.memory import FAST_CONFIG, MemoryStack

_PREFERENCES_LINK = re.compile(r"https?://[^\s\"'<>]+(/p/[A-Za-z0-9_.-]+)")
TOPICS = {
    "offers": {
        "label": {"en": "Offers and welcome gifts", "de": "Angebote und Willkommensgeschenke"},
        "description": {"en": "Codes and gifts", "de": "Codes und Geschenke"},
    },
    "reminders": {"label": {"en": "Cart reminders", "de": "Warenkorb-Erinnerungen"}},
}


def topics_config(name: str = "Fast Shop") -> ShopConfig:
    document = yaml.safe_load(FAST_CONFIG.read_text())
    document["shop"]["name"] = name
    document["topics"] = TOPICS
    document["journeys"]["cart_abandonment"]["topic"] = "reminders"
    document["journeys"]["welcome"]["topic"] = "offers"
    return ShopConfig.from_yaml(yaml.safe_dump(document))


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([topics_config()])


def welcomed(stack: MemoryStack, user: str, locale: str = "en-GB") -> str:
    """A customer who consented to e-mail got the welcome; the path of the preference link in its footer."""
    send(stack, *[{**call, "context": {"locale": locale}} for call in shopper(user, "email")])
    settle(stack, 5)
    welcome = stack.emails_to(f"{user}@example.com")[0]
    found = _PREFERENCES_LINK.search(welcome.get_body(("plain",)).get_content())
    assert found, "every marketing mail links to the preference centre"
    assert found.group(1) in welcome.get_body(("html",)).get_content()
    return found.group(1)


def save(stack: MemoryStack, path: str, fields: list[tuple[str, str]]) -> Any:
    answer = stack.request(
        "POST", path, urlencode(fields), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    stack.settle()
    return answer


def shown(page: str) -> list[tuple[str, str, bool]]:
    """The checkboxes of a preference page: (name, value, checked)."""
    boxes = re.findall(r'<input type="checkbox" name="([a-z_]+)" value="([^"]*)"( checked)?>', page)
    return [(name, value, bool(checked)) for name, value, checked in boxes]


def statuses(stack: MemoryStack, user: str) -> dict[str, tuple[str, str | None]]:
    status, body = stack.call("GET", f"/v1/customers/{user}/messages", key=SECRET)
    assert status == 200
    return {m["template"]: (m["status"], m.get("reason")) for m in body["messages"]}


def test_the_page_shows_the_customers_channels_and_topics_as_they_are_and_changes_nothing(stack):
    user = unique("pc")
    path = welcomed(stack, user)

    page = stack.request("GET", path)
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none': no script runs
    # in-app is not shown: the shop sends on it, but this customer has no app
    assert shown(page.text) == [
        ("channel", "email", True),
        ("topic", "offers", True),
        ("topic", "reminders", True),
        ("pause", "30", False),
    ]
    assert "Offers and welcome gifts" in page.text and "Codes and gifts" in page.text
    assert stack.request("HEAD", path).status == 200
    assert stack.settle() == 0  # nothing was enqueued


def test_a_topic_switched_off_holds_back_its_journeys_and_no_other(stack):
    user = unique("topic")
    path = welcomed(stack, user)

    answer = save(stack, path, [("shown_channel", "email"), ("channel", "email"), *_topics(offers=True)])
    send(stack, track("Product Added", boots(), userId=user))
    settle(stack, 5)

    assert answer.status == 200 and "saved" in answer.text
    assert statuses(stack, user)["cart_reminder"] == ("suppressed", "topic_opted_out")
    assert statuses(stack, user)["welcome_loyalty"][0] == "sent"  # offers stay on
    _status, body = stack.customer(user, SECRET)
    assert body["topics_off"] == ["reminders"] and body["consent"]["email"]["source"] == "signup-form"
    assert shown(stack.request("GET", path).text)[2] == ("topic", "reminders", False)
    timeline = stack.call("GET", f"/v1/customers/{user}/timeline", key=SECRET)[1]["timeline"]
    assert ("event", "Preferences Saved") in [(item["kind"], item.get("event")) for item in timeline]


def _topics(offers: bool = False, reminders: bool = False) -> list[tuple[str, str]]:
    fields = [("shown_topic", "offers"), ("shown_topic", "reminders")]
    return fields + [("topic", name) for name, on in (("offers", offers), ("reminders", reminders)) if on]


def test_a_channel_switched_off_is_a_withdrawal_from_the_preference_centre(stack):
    user = unique("channel")
    path = welcomed(stack, user)

    save(stack, path, [("shown_channel", "email"), *_topics(offers=True, reminders=True)])
    send(stack, track("Product Added", boots(), userId=user))
    settle(stack, 5)

    _status, body = stack.customer(user, SECRET)
    withdrawn = body["consent"]["email"]
    assert (withdrawn["status"], withdrawn["source"]) == ("withdrawn", "preference_centre")
    assert "cart_reminder" not in statuses(stack, user)  # nothing reaches them: the reminder waits to be reachable

    save(stack, path, [("shown_channel", "email"), ("channel", "email")])  # and on again, from the same mailbox
    assert stack.customer(user, SECRET)[1]["consent"]["email"]["status"] == "granted"


def test_a_pause_holds_back_all_marketing_for_30_days_until_resumed(stack):
    user = unique("pause")
    path = welcomed(stack, user)

    save(stack, path, [("shown_channel", "email"), ("channel", "email"), ("pause", "30"), *_topics(True, True)])
    send(stack, track("Product Added", boots(), userId=user))
    settle(stack, 5)
    assert statuses(stack, user)["cart_reminder"] == ("suppressed", "paused_by_customer")
    page = stack.request("GET", path).text
    until = (stack.clock() + timedelta(days=30)).date().isoformat()
    assert f"paused until {until}" in page and ("resume", "1", False) in shown(page)

    save(stack, path, [("shown_channel", "email"), ("channel", "email"), ("resume", "1"), *_topics(True, True)])
    send(stack, track("Product Added", boots("c2"), userId=user))
    settle(stack, 5)
    _status, body = stack.call("GET", f"/v1/customers/{user}/messages", key=SECRET)
    reminders = [m["status"] for m in body["messages"] if m["template"] == "cart_reminder"]
    assert sorted(reminders) == ["sent", "suppressed"]


def test_german_customers_see_the_page_in_german(stack):
    user = unique("de")
    path = welcomed(stack, user, locale="de-DE")
    page = stack.request("GET", path, headers={"accept-language": "en-US"}).text  # their locale wins
    assert '<html lang="de">' in page and "Angebote und Willkommensgeschenke" in page and "Speichern" in page


def test_everything_the_page_shows_is_escaped(memory_stack):
    stack = memory_stack([topics_config(name='Fast <script>alert("x")</script> & Co')])
    user = unique("escape")
    path = welcomed(stack, user)
    page = stack.request("GET", path).text
    assert "<script>" not in page
    assert "Fast &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in page


def test_a_forged_token_is_a_404_and_a_form_cannot_touch_what_the_page_did_not_show(stack):
    user = unique("forged")
    path = welcomed(stack, user)
    body, mac = path.removeprefix("/p/").split(".")
    assert stack.request("GET", f"/p/{body[:-2]}AA.{mac}").status == 404
    assert stack.request("POST", f"/p/{body}.{'B' * 22}", "channel=email").status == 404

    save(stack, path, [("shown_channel", "sms"), ("channel", "sms"), ("shown_topic", "vip"), ("topic", "vip")])
    _status, state = stack.customer(user, SECRET)
    assert state["consent"]["sms"] is None and state["topics_off"] == []
    assert state["consent"]["email"]["status"] == "granted"


def test_an_erased_customer_s_link_shows_nothing_and_saves_nothing(stack):
    user = unique("erased")
    path = welcomed(stack, user)
    assert stack.call("DELETE", f"/v1/customers/{user}", key=SECRET)[0] == 200

    page = stack.request("GET", path)
    answer = save(stack, path, [("shown_channel", "email"), ("channel", "email")])

    assert page.status == 200 and "We hold no preferences for you." in page.text and "<form" not in page.text
    assert answer.status == 200 and stack.customer(user, SECRET)[0] == 404
