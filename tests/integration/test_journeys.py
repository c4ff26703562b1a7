"""Journeys end to end on template.yaml in memory: the real handlers on the in-memory adapters, the timer state
machine played in virtual time (``tests/memory.py``), so seconds of waiting take none.

The fast shop's journeys wait seconds (events/fast-shop.yaml), so a cart reminder is due two seconds after the
cart was left. Each test acts as the shop's tracking client through the HTTP API's functions and reads the outcome
as support would: GET /v1/customers/{id}/messages (what was sent or held back, and the journey log).

A timer's round trip through real Step Functions executions (moto's interpreter, wall-clock waits) is
``test_journeys_on_stack.py``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.factories import boots, consent, identify, product, shopper, track
from tests.memory import FAST_CONFIG, MemoryStack

WRITE, SECRET = "fast-write-key", "fast-secret-key"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    """The fast shop on its own deployment in memory."""
    return memory_stack([FAST_CONFIG])


def send(stack: MemoryStack, *messages: dict[str, Any]) -> None:
    assert stack.post("/v1/batch", {"batch": list(messages)}, key=WRITE)[0] == 200
    stack.settle()


def settle(stack: MemoryStack, seconds: float) -> None:
    """Let ``seconds`` pass: every timer due by then fires, in due order, and what it starts runs."""
    stack.run_timers(until=stack.clock() + timedelta(seconds=seconds))


def messages(stack: MemoryStack, user: str) -> dict[str, Any]:
    status, body = stack.call("GET", f"/v1/customers/{user}/messages", key=SECRET)
    assert status == 200, body
    return body


def sent(stack, user: str) -> list[tuple[str, str]]:
    return sorted((m["template"], m["status"]) for m in messages(stack, user)["messages"])


def test_a_cart_reminder_arrives_two_seconds_after_the_cart_was_left_then_the_offer(stack):
    user = unique("cart")
    send(stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))

    settle(stack, 5)

    got = sent(stack, user)
    assert ("cart_reminder", "sent") in got and ("cart_offer", "sent") in got
    reminder = next(m for m in messages(stack, user)["messages"] if m["template"] == "cart_reminder")
    assert reminder["channel"] == "email" and "Jo" in reminder["title"]


def test_a_purchase_before_the_reminder_means_no_reminder(stack):
    user = unique("bought")
    order = {"order_id": unique("o"), "cart_id": "c1", "revenue": 99.0, "products": [boots()]}
    send(
        stack,
        *shopper(user, "email"),
        track("Product Added", boots(), userId=user),
        track("Order Completed", order, userId=user),
    )

    settle(stack, 3)

    body = messages(stack, user)
    assert [m for m in body["messages"] if m["template"].startswith("cart_")] == []
    assert any(e["journey"] == "cart_abandonment" and e["outcome"] == "exited" for e in body["journey_log"])


def test_consent_withdrawn_during_the_wait_is_suppressed_as_no_consent(stack):
    user = unique("withdraw")
    # One batch: the withdrawal reaches the customer's state before the two-second reminder is due, however slow
    # the machine (two requests could straddle the due time on a loaded CI runner)
    send(
        stack,
        *shopper(user, "email"),
        track("Product Added", boots(), userId=user),
        consent("email", "withdrawn", userId=user),
    )

    settle(stack, 3)

    reminder = next(m for m in messages(stack, user)["messages"] if m["template"] == "cart_reminder")
    assert (reminder["status"], reminder["reason"]) == ("suppressed", "no_consent")


def test_a_duplicated_event_starts_one_journey_instance(stack):
    user = unique("dup")
    added = track("Product Added", boots(), userId=user)
    send(stack, *shopper(user, "email"))
    for _ in range(3):
        send(stack, added)

    settle(stack, 3)

    assert [t for t, _ in sent(stack, user)].count("cart_reminder") == 1
    carts = [
        e
        for e in messages(stack, user)["journey_log"]
        if e["journey"] == "cart_abandonment" and e["outcome"] == "entered"
    ]
    assert len(carts) == 1


def test_an_order_runs_the_post_purchase_sequence_and_the_repeat_purchase_offer(stack):
    user = unique("buyer")
    order = {"order_id": unique("o"), "revenue": 99.0, "products": [{**boots(), "category": "shoes"}]}
    send(stack, *shopper(user, "email", "in_app"), track("Order Completed", order, userId=user))

    settle(stack, 7)

    got = [t for t, status in sent(stack, user) if status == "sent"]
    for template in ("order_thank_you", "review_request", "cross_sell", "repeat_offer"):
        assert template in got, got
    assert "repeat_thank_you" not in got  # no second order inside the window


def test_a_customer_active_all_the_time_never_gets_a_reactivation_until_they_go_quiet(stack):
    # Given a buyer (reactivation watches buyers) who is active every two seconds for fourteen seconds, more than
    # twice the six seconds of inactivity the fast shop's reactivation waits for
    user = unique("active")
    order = {"order_id": unique("o"), "revenue": 10.0, "products": [product("tea")]}
    send(stack, *shopper(user, "email"), track("Order Completed", order, userId=user))
    events = 3
    for _ in range(7):
        settle(stack, 2)
        send(stack, track("Product Viewed", product("tea"), userId=user))
        events += 1

    # Then, while active, no reactivation went out, and the watch cost a few lazily re-armed executions, not one
    # per event
    assert "reactivation" not in [t for t, _ in sent(stack, user)]
    watch = [e for e in messages(stack, user)["journey_log"] if e["journey"] == "reactivation"]
    assert [e["outcome"] for e in watch].count("entered") == 1
    rearms = [e["outcome"] for e in watch].count("rearmed")
    assert rearms <= 5, watch

    # And once they go quiet for longer than six seconds, the reactivation arrives
    settle(stack, 8)
    assert ("reactivation", "sent") in sent(stack, user)


def test_a_newsletter_signup_gets_the_welcome_series_once(stack):
    # Given a visitor who subscribes to the newsletter (which grants e-mail consent)
    user = unique("welcome")
    signup = {"source": "newsletter", "notice_version": "nl-2026"}
    send(
        stack,
        identify({"firstName": "Wim", "email": f"{user}@example.com"}, userId=user),
        track("Newsletter Subscribed", signup, userId=user),
    )

    # When the series has run, and they subscribe once more
    settle(stack, 4)
    send(stack, track("Newsletter Subscribed", signup, userId=user))
    settle(stack, 4)

    # Then they got the welcome with a first-order code, then the loyalty step, each once
    body = messages(stack, user)
    welcome = [m for m in body["messages"] if m["journey"] == "welcome"]
    assert sorted((m["template"], m["status"]) for m in welcome) == [("welcome", "sent"), ("welcome_loyalty", "sent")]
    assert "10" in next(m for m in welcome if m["template"] == "welcome")["title"]
    assert any(e["journey"] == "welcome" and e["outcome"] == "not_entered" for e in body["journey_log"])
