"""Journeys end to end on the local stack: real handlers, real Step Functions executions (moto's interpreter).

The fast shop's journeys wait seconds (events/fast-shop.yaml), so a cart reminder is due two seconds after the
cart was left. The test acts as the shop's tracking client over HTTP and reads the outcome as support would:
GET /v1/customers/{id}/messages (what was sent or held back, and the journey log).

What only the stack shows is here: timers as Standard executions of the timer state machine that wait in wall-clock
time and put their event back into the customer's FIFO group, two in a row. What the journeys decide (guards, exits,
consent at send time, once only, sequences, reactivation) runs in virtual time on the in-memory deployment,
``test_journeys.py``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.factories import boots, shopper, track
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


def test_a_cart_reminder_arrives_two_seconds_after_the_cart_was_left_then_the_offer(local_stack):
    user = unique("cart")
    send(local_stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))

    settle(local_stack, 5)

    got = sent(local_stack, user)
    assert ("cart_reminder", "sent") in got and ("cart_offer", "sent") in got
    reminder = next(m for m in messages(local_stack, user)["messages"] if m["template"] == "cart_reminder")
    assert reminder["channel"] == "email" and "Jo" in reminder["title"]
