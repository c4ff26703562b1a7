"""Journeys end to end on the local stack: real handlers, real Step Functions executions (moto's interpreter).

The fast shop's journeys wait seconds (events/fast-shop.yaml), so a cart reminder is due two seconds after the
cart was left. Each test acts as the shop's tracking client over HTTP and reads the outcome as support would:
GET /v1/customers/{id}/messages (what was sent or held back, and the journey log).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from shared import aws
from tests.factories import consent, identify, product, track
from tests.integration.http import call, post

WRITE, SECRET = "fast-write-key", "fast-secret-key"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def send(stack, *messages: dict[str, Any]) -> None:
    assert post(stack.base_url, "/v1/batch", {"batch": list(messages)}, key=WRITE)[0] == 200
    stack.wait_idle()


def settle(stack, seconds: float) -> None:
    """Let the timers run: wait ``seconds`` of wall time, then until queues and timer executions are idle."""
    time.sleep(seconds)
    stack.wait_idle(timeout=60, timers=True)


def messages(stack, user: str) -> dict[str, Any]:
    status, body = call(stack.base_url, "GET", f"/v1/customers/{user}/messages", key=SECRET)
    assert status == 200, body
    return body


def sent(stack, user: str) -> list[tuple[str, str]]:
    return sorted((m["template"], m["status"]) for m in messages(stack, user)["messages"])


def shopper(user: str, *channels: str) -> list[dict[str, Any]]:
    return [identify({"firstName": "Jo", "email": f"{user}@example.com"}, userId=user)] + [
        consent(channel, userId=user) for channel in channels
    ]


def boots(cart: str = "c1") -> dict[str, Any]:
    return product("boots", name="Boots", price=99.0, cart_id=cart, image_url="https://img.example/boots.jpg")


def test_a_cart_reminder_arrives_two_seconds_after_the_cart_was_left_then_the_offer(local_stack):
    user = unique("cart")
    send(local_stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))

    settle(local_stack, 5)

    got = sent(local_stack, user)
    assert ("cart_reminder", "sent") in got and ("cart_offer", "sent") in got
    reminder = next(m for m in messages(local_stack, user)["messages"] if m["template"] == "cart_reminder")
    assert reminder["channel"] == "email" and "Jo" in reminder["title"]


def test_a_purchase_before_the_reminder_means_no_reminder(local_stack):
    user = unique("bought")
    order = {"order_id": unique("o"), "cart_id": "c1", "revenue": 99.0, "products": [boots()]}
    send(
        local_stack,
        *shopper(user, "email"),
        track("Product Added", boots(), userId=user),
        track("Order Completed", order, userId=user),
    )

    settle(local_stack, 3)

    body = messages(local_stack, user)
    assert [m for m in body["messages"] if m["template"].startswith("cart_")] == []
    assert any(e["journey"] == "cart_abandonment" and e["outcome"] == "exited" for e in body["journey_log"])


def test_consent_withdrawn_during_the_wait_is_suppressed_as_no_consent(local_stack):
    user = unique("withdraw")
    # One batch: the withdrawal reaches the customer's state before the two-second reminder is due, however slow
    # the machine (two requests could straddle the due time on a loaded CI runner)
    send(
        local_stack,
        *shopper(user, "email"),
        track("Product Added", boots(), userId=user),
        consent("email", "withdrawn", userId=user),
    )

    settle(local_stack, 3)

    reminder = next(m for m in messages(local_stack, user)["messages"] if m["template"] == "cart_reminder")
    assert (reminder["status"], reminder["reason"]) == ("suppressed", "no_consent")


def test_a_duplicated_event_starts_one_journey_instance(local_stack):
    user = unique("dup")
    added = track("Product Added", boots(), userId=user)
    send(local_stack, *shopper(user, "email"))
    for _ in range(3):
        send(local_stack, added)

    settle(local_stack, 3)

    assert [t for t, _ in sent(local_stack, user)].count("cart_reminder") == 1
    carts = [
        e
        for e in messages(local_stack, user)["journey_log"]
        if e["journey"] == "cart_abandonment" and e["outcome"] == "entered"
    ]
    assert len(carts) == 1


def test_an_order_runs_the_post_purchase_sequence_and_the_repeat_purchase_offer(local_stack):
    user = unique("buyer")
    order = {"order_id": unique("o"), "revenue": 99.0, "products": [{**boots(), "category": "shoes"}]}
    send(local_stack, *shopper(user, "email", "in_app"), track("Order Completed", order, userId=user))

    settle(local_stack, 7)

    got = [t for t, status in sent(local_stack, user) if status == "sent"]
    for template in ("order_thank_you", "review_request", "cross_sell", "repeat_offer"):
        assert template in got, got
    assert "repeat_thank_you" not in got  # no second order inside the window
    # the three waits of post-purchase were one execution, each step woken by its own wake-up (a step already due
    # when the order was applied, on a slow machine, is taken then and needs none)
    (steps,) = executions(local_stack, user, "post_purchase")
    assert steps == [0, 1, 2][-len(steps) :]


def test_a_customer_active_all_the_time_never_gets_a_reactivation_until_they_go_quiet(local_stack):
    # Given a buyer (reactivation watches buyers) who is active every two seconds for fourteen seconds, more than
    # twice the six seconds of inactivity the fast shop's reactivation waits for
    user = unique("active")
    order = {"order_id": unique("o"), "revenue": 10.0, "products": [product("tea")]}
    send(local_stack, *shopper(user, "email"), track("Order Completed", order, userId=user))
    events = 3
    for _ in range(7):
        time.sleep(2)
        send(local_stack, track("Product Viewed", product("tea"), userId=user))
        events += 1

    # Then, while active, no reactivation went out, and the watch cost a few lazily re-armed executions, not one
    # per event
    assert "reactivation" not in [t for t, _ in sent(local_stack, user)]
    watch = [e for e in messages(local_stack, user)["journey_log"] if e["journey"] == "reactivation"]
    assert [e["outcome"] for e in watch].count("entered") == 1
    rearms = [e["outcome"] for e in watch].count("rearmed")
    assert rearms <= 5, watch

    # And once they go quiet for longer than six seconds, the reactivation arrives
    settle(local_stack, 8)
    assert ("reactivation", "sent") in sent(local_stack, user)


def executions(stack, user: str, journey: str) -> list[list[int]]:
    """The timer executions started for ``user``'s ``journey``: per execution, the steps its wake-ups are for."""
    client = aws.stepfunctions()
    machine = stack.resources["TimerStateMachine"]
    found = []
    for page in client.get_paginator("list_executions").paginate(stateMachineArn=machine):
        for execution in page["executions"]:
            document = json.loads(client.describe_execution(executionArn=execution["executionArn"])["input"])
            events = [json.loads(wake_up["event"]) for wake_up in document["wake_ups"]]
            if events[0]["customer"] == f"u:{user}" and events[0]["journey"] == journey:
                found.append([event["step"] for event in events])
    return found


def test_a_newsletter_signup_gets_the_welcome_series_once(local_stack):
    # Given a visitor who subscribes to the newsletter (which grants e-mail consent)
    user = unique("welcome")
    signup = {"source": "newsletter", "notice_version": "nl-2026"}
    send(
        local_stack,
        identify({"firstName": "Wim", "email": f"{user}@example.com"}, userId=user),
        track("Newsletter Subscribed", signup, userId=user),
    )

    # When the series has run, and they subscribe once more
    settle(local_stack, 4)
    send(local_stack, track("Newsletter Subscribed", signup, userId=user))
    settle(local_stack, 4)

    # Then they got the welcome with a first-order code, then the loyalty step, each once
    body = messages(local_stack, user)
    welcome = [m for m in body["messages"] if m["journey"] == "welcome"]
    assert sorted((m["template"], m["status"]) for m in welcome) == [("welcome", "sent"), ("welcome_loyalty", "sent")]
    assert "10" in next(m for m in welcome if m["template"] == "welcome")["title"]
    assert len(executions(local_stack, user, "welcome")) == 1  # one execution woke them for both steps
    assert any(e["journey"] == "welcome" and e["outcome"] == "not_entered" for e in body["journey_log"])
