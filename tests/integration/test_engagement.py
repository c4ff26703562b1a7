"""Engagement and conversion attribution (issue: measure what nudge earns, items 1, 2 and 6) end to end on
template.yaml in memory: a tracked link in an e-mail leads through ``/c/{token}`` to the shop with its UTM
parameters and lands on the message's ledger record and the customer's touches; an in-app read and an app's
``Push Notification Tapped`` are opens; an order is credited to one message (coupon, else the last click within the
click window, else the last open within the open window) and a cancellation or refund takes the credit back; the
support timeline shows it all in one list."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import timedelta
from typing import Any

import pytest
import yaml

from shared.models.config import ShopConfig
from tests.factories import boots, shopper, track
from tests.integration.test_journeys import SECRET, WRITE, messages, send, settle, unique
from tests.logs import log_lines
from tests.memory import FAST_CONFIG, MemoryStack

_LINK = re.compile(r"https://nudge\.memory(/c/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


def fast_shop(**changes: Any) -> ShopConfig:
    """The fast shop with top-level sections replaced (``attribution``, ``tracking``, ``journeys``)."""
    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    return ShopConfig.model_validate({**document, **changes})


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([FAST_CONFIG])


def reminded(stack: MemoryStack, user: str) -> tuple[dict[str, Any], list[str]]:
    """Carts boots, gets the cart reminder by e-mail: its ledger record, and the tracked links in its text."""
    send(stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))
    settle(stack, 2.5)
    [email] = [m for m in stack.emails_to(f"{user}@example.com") if "left something" in str(m["Subject"])]
    return ledger(stack, user, "cart_reminder"), _LINK.findall(email.get_body(("plain",)).get_content())


def ledger(stack: MemoryStack, user: str, template: str) -> dict[str, Any]:
    return next(m for m in messages(stack, user)["messages"] if m["template"] == template)


def customer(stack: MemoryStack, user: str) -> dict[str, Any]:
    status, body = stack.call("GET", f"/v1/customers/{user}", key=SECRET)
    assert status == 200, body
    return body


def order(user: str, order_id: str, revenue: float, **properties: Any) -> dict[str, Any]:
    return track("Order Completed", {"order_id": order_id, "revenue": revenue, **properties}, userId=user)


def credit_of(stack: MemoryStack, user: str, order_id: str) -> dict[str, Any] | None:
    return next(o for o in customer(stack, user)["orders"]["recent"] if o["order_id"] == order_id)["credit"]


def test_a_tracked_link_redirects_to_the_shop_with_utm_and_the_click_lands_on_the_message(stack):
    user = unique("click")
    message, links = reminded(stack, user)
    assert links, "the reminder's links lead through the click redirect"

    probe = stack.request("HEAD", links[0])  # a link scanner: the same redirect, no click
    stack.settle()
    assert ledger(stack, user, "cart_reminder")["clicked_at"] is None

    answer = stack.request("GET", links[0])
    stack.settle()

    assert answer.status == 302 and probe.status == 302
    target = answer.headers["Location"]
    assert target == probe.headers["Location"]
    assert target.startswith("https://fast.shop.example")
    assert "utm_source=nudge&utm_medium=email&utm_campaign=cart_abandonment&utm_content=cart_reminder" in target
    assert answer.headers["Cache-Control"] == "no-store"
    clicked = ledger(stack, user, "cart_reminder")
    assert clicked["clicked_at"] and clicked["opened_at"] and clicked["clicks"] == 1
    [touch] = customer(stack, user)["touches"]
    assert (touch["message_id"], touch["channel"], touch["action"]) == (message["message_id"], "email", "clicked")


def test_a_forged_or_tampered_click_token_is_a_404_and_never_a_redirect(stack):
    user = unique("forged")
    _, links = reminded(stack, user)
    body, mac = links[0].removeprefix("/c/").split(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b"fast.shop.example", b"evil.example")
    forged = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()

    for path in (f"/c/{forged}.{mac}", links[0][:-2] + ("AA" if not links[0].endswith("AA") else "BB"), "/c/x"):
        answer = stack.request("GET", path)
        assert answer.status == 404 and "Location" not in answer.headers, path
    stack.settle()
    assert ledger(stack, user, "cart_reminder")["clicks"] == 0


def test_an_order_after_a_click_is_credited_to_the_clicked_message_and_a_cancellation_takes_it_back(stack):
    user, order_id = unique("credit"), unique("o")
    message, links = reminded(stack, user)
    stack.request("GET", links[0])
    stack.settle()
    stack.clock.at += timedelta(days=4)  # within the 5-day click window

    send(stack, order(user, order_id, 99.0))

    credit = credit_of(stack, user, order_id)
    assert credit is not None
    assert (credit["message"], credit["rule"], credit["channel"]) == (message["message_id"], "click", "email")
    assert ledger(stack, user, "cart_reminder")["credits"] == {order_id: 99.0}

    send(stack, track("Order Cancelled", {"order_id": order_id}, userId=user))

    assert ledger(stack, user, "cart_reminder")["credits"] == {}


def test_a_partial_refund_lowers_the_revenue_credited(stack):
    user, order_id = unique("refund"), unique("o")
    _, links = reminded(stack, user)
    stack.request("GET", links[0])
    send(stack, order(user, order_id, 120.0))

    send(stack, track("Order Refunded", {"order_id": order_id, "revenue": 20.0}, userId=user))

    assert ledger(stack, user, "cart_reminder")["credits"] == {order_id: 100.0}


def test_an_order_after_the_click_window_is_not_credited(stack):
    user, order_id = unique("late"), unique("o")
    _, links = reminded(stack, user)
    stack.request("GET", links[0])
    stack.settle()
    stack.clock.at += timedelta(days=5, minutes=1)

    send(stack, order(user, order_id, 99.0))

    assert credit_of(stack, user, order_id) is None
    assert ledger(stack, user, "cart_reminder")["credits"] == {}


def test_a_shop_sets_a_shorter_click_window_per_channel(memory_stack):
    stack = memory_stack([fast_shop(attribution={"channels": {"email": {"click": "PT12H"}}})])
    user, order_id = unique("window"), unique("o")
    _, links = reminded(stack, user)
    stack.request("GET", links[0])
    stack.settle()
    stack.clock.at += timedelta(hours=13)

    send(stack, order(user, order_id, 99.0))

    assert credit_of(stack, user, order_id) is None


def test_the_offer_code_used_at_checkout_wins_over_a_later_click(stack):
    user, order_id = unique("coupon"), unique("o")
    send(stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))
    settle(stack, 5)  # the reminder, then the cart offer with its CART code
    offer = ledger(stack, user, "cart_offer")
    code = offer["details"]["offer_code"]
    [email] = [m for m in stack.emails_to(f"{user}@example.com") if "left something" in str(m["Subject"])]
    stack.request("GET", _LINK.findall(email.get_body(("plain",)).get_content())[0])  # the reminder, clicked later

    send(stack, order(user, order_id, 80.0, coupon=code))

    credit = credit_of(stack, user, order_id)
    assert credit is not None and (credit["message"], credit["rule"]) == (offer["message_id"], "coupon")
    assert ledger(stack, user, "cart_offer")["credits"] == {order_id: 80.0}
    assert ledger(stack, user, "cart_reminder")["credits"] == {}


def test_an_app_reports_a_tapped_push_and_an_open_is_credited_within_a_day_only(stack):
    user, first, second = unique("tap"), unique("o"), unique("o")
    message, _ = reminded(stack, user)
    tapped = track("Push Notification Tapped", {"nudge_message_id": message["message_id"]}, userId=user)
    send(stack, tapped)
    stack.clock.at += timedelta(hours=20)
    send(stack, order(user, first, 30.0))
    stack.clock.at += timedelta(hours=5)  # 25 hours after the tap: past the 1-day open window

    send(stack, order(user, second, 40.0))

    credit = credit_of(stack, user, first)
    assert credit is not None and (credit["rule"], credit["channel"]) == ("open", "push")
    assert credit_of(stack, user, second) is None
    assert ledger(stack, user, "cart_reminder")["opened_at"] is not None


def test_engagement_with_a_message_nudge_never_sent_is_ignored_without_an_error(stack):
    user = unique("unknown")
    send(stack, *shopper(user, "email"))
    before = customer(stack, user)

    with log_lines() as logged:
        send(stack, track("Push Notification Tapped", {"nudge_message_id": "never-sent"}, userId=user))

    said = [line["message"] for line in logged.parsed()]
    assert "ignored: tapped of message never-sent: nudge holds no such message" in said
    after = customer(stack, user)
    assert after["touches"] == before["touches"] == []
    assert after["version"] == before["version"]  # nothing was written
    assert list(stack.cloud.events_dlq) == []  # and nothing parked: an engagement nudge cannot place is no error


def inbox_headers(user: str) -> dict[str, str]:
    key = hashlib.sha256(SECRET.encode()).hexdigest().encode()
    token = hmac.new(key, f"fast\n{user}".encode(), hashlib.sha256).hexdigest()
    return {
        "authorization": "Basic " + base64.b64encode(f"{WRITE}:".encode()).decode(),
        "x-nudge-customer-token": token,
    }


def test_an_in_app_message_read_is_an_open_and_the_timeline_tells_the_whole_story(memory_stack):
    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    journeys = {"cart_abandonment": {"steps": [{"wait": "PT2S", "template": "cart_reminder", "channels": ["in_app"]}]}}
    stack = memory_stack([ShopConfig.model_validate({**document, "journeys": journeys})])
    user, order_id = unique("inbox"), unique("o")
    installed = track("Application Installed", {"version": "2.1"}, userId=user)
    send(stack, *shopper(user, "in_app"), installed, track("Product Added", boots(), userId=user))
    settle(stack, 2.5)
    message = ledger(stack, user, "cart_reminder")
    assert message["channel"] == "in_app"

    read = stack.request("POST", f"/v1/inbox/{user}/{message['message_id']}/read", headers=inbox_headers(user))
    stack.settle()
    stack.clock.at += timedelta(hours=3)
    send(stack, order(user, order_id, 55.0))

    assert read.status == 200
    credit = credit_of(stack, user, order_id)
    assert credit is not None and (credit["rule"], credit["channel"]) == ("open", "in_app")
    status, body = stack.call("GET", f"/v1/customers/{user}/timeline", key=SECRET)
    assert status == 200
    kinds = [
        (item["kind"], item.get("action") or item.get("event") or item.get("outcome")) for item in body["timeline"]
    ]
    # Newest first: the order (credited), the read, the message, the journey's decisions, the events, the consent.
    assert kinds[0] == ("order", None) and body["timeline"][0]["credited_to"]["rule"] == "open"
    assert ("engagement", "read") in kinds and ("message", None) in kinds
    assert ("journey", "entered") in kinds and ("event", "Product Added") in kinds and ("consent", None) in kinds
    moments = [item["at"] for item in body["timeline"]]
    assert moments == sorted(moments, reverse=True)


def test_the_timeline_limit_is_checked_and_bounds_the_list(stack):
    user = unique("limit")
    reminded(stack, user)

    status, body = stack.call("GET", f"/v1/customers/{user}/timeline?limit=3", key=SECRET)
    refused = [stack.call("GET", f"/v1/customers/{user}/timeline?limit={v}", key=SECRET) for v in ("0", "501", "x")]
    wrong_key = stack.call("GET", f"/v1/customers/{user}/timeline", key=WRITE)

    assert status == 200 and len(body["timeline"]) == 3 and body["more"] is True
    assert all(code == 400 and answer["errors"][0]["field"] == "limit" for code, answer in refused)
    assert wrong_key[0] == 401


def ses_event(kind: str, email: Any, **section: str) -> dict[str, Any]:
    """The SNS notification SES event publishing sends for ``email`` (as SES received it, headers and all)."""
    message = {
        "eventType": kind,
        "mail": {
            "messageId": unique("ses"),
            "headers": [{"name": name, "value": str(value)} for name, value in email.items()],
            "tags": {"ses:configuration-set": ["nudge-fast"]},
        },
        kind.lower(): {"timestamp": "2026-11-02T10:00:00.000Z", **section},
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "MessageId": unique("sns"),
                    "Message": json.dumps(message),
                    "Timestamp": "2026-11-02T10:00:01.000Z",
                },
            }
        ]
    }


def test_ses_deliveries_and_opens_land_on_the_message_and_an_open_is_a_touch(stack):
    user = unique("ses")
    message, _ = reminded(stack, user)
    [email] = [m for m in stack.emails_to(f"{user}@example.com") if "left something" in str(m["Subject"])]
    feedback = stack.cloud.functions["FeedbackFunction"]

    feedback.invoke(ses_event("Delivery", email))
    stack.settle()
    delivered = ledger(stack, user, "cart_reminder")
    touches_after_delivery = customer(stack, user)["touches"]
    feedback.invoke(ses_event("Open", email, userAgent="Mail"))
    stack.settle()

    assert delivered["delivered_at"] and delivered["opened_at"] is None
    assert touches_after_delivery == []  # a delivery is kept on the message only
    opened = ledger(stack, user, "cart_reminder")
    assert opened["opened_at"] and opened["clicks"] == 0
    [touch] = customer(stack, user)["touches"]
    assert (touch["message_id"], touch["action"]) == (message["message_id"], "opened")


def test_an_ses_open_whose_reference_was_tampered_with_changes_nothing(stack):
    user = unique("forgedses")
    reminded(stack, user)
    [email] = [m for m in stack.emails_to(f"{user}@example.com") if "left something" in str(m["Subject"])]
    ref = email["X-Nudge-Ref"]
    del email["X-Nudge-Ref"]
    email["X-Nudge-Ref"] = ref[:-2] + ("AA" if not ref.endswith("AA") else "BB")

    stack.cloud.functions["FeedbackFunction"].invoke(ses_event("Open", email))
    stack.settle()

    assert ledger(stack, user, "cart_reminder")["opened_at"] is None
    assert customer(stack, user)["touches"] == []
