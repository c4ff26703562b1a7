"""Pausing a journey without a deploy (``nudge journey pause``) on template.yaml in memory: while it is paused its
marketing messages wait, deferred with the reason ``journey_paused``; resumed, they go out at their next look; a
transactional message and the other journeys are not held back; left paused longer than the contact policy's
``max_deferral``, a message is dropped with its reason on record."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.factories import boots, shopper, track
from tests.integration.test_journeys import messages, send, settle, unique
from tests.memory import FAST_CONFIG, MemoryStack


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([FAST_CONFIG])


def reminder(stack: MemoryStack, user: str) -> dict[str, Any]:
    return next(m for m in messages(stack, user)["messages"] if m["template"] == "cart_reminder")


def test_a_paused_journeys_message_waits_and_goes_out_once_it_is_resumed(stack):
    user = unique("paused")
    stack.cloud.shops.pause("fast", "cart_abandonment")
    send(stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))
    settle(stack, 3)

    held = reminder(stack, user)
    welcome = [m["status"] for m in messages(stack, user)["messages"] if m["journey"] == "welcome"]
    assert (held["status"], held["reason"]) == ("deferred", "journey_paused")
    assert welcome and set(welcome) == {"sent"}  # the other journeys go on

    settle(stack, 3600)  # still paused an hour later: it looks again, and waits again
    assert reminder(stack, user)["status"] == "deferred"
    stack.cloud.shops.pause("fast", "cart_abandonment", paused=False)
    settle(stack, 3600)

    assert reminder(stack, user)["status"] == "sent"


def test_a_journey_paused_past_the_longest_deferral_drops_its_message_with_the_reason(stack):
    user = unique("dropped")
    stack.cloud.shops.pause("fast", "cart_abandonment")
    send(stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))
    settle(stack, 3)

    stack.run_timers(until=stack.clock() + timedelta(days=2, hours=2))  # the default max_deferral is 2 days

    dropped = reminder(stack, user)
    assert (dropped["status"], dropped["reason"]) == ("suppressed", "journey_paused")
