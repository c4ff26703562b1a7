"""Erasing a customer on template.yaml in memory: what was on its way for them when they were erased (a timer, a
message on the outbox) comes to nothing and writes nothing under their key; an event sent before the erasure is
ignored with its reason; one sent after it is a new customer, with no consent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.models.messages import OutboxMessage
from tests.factories import boots, shopper, track
from tests.integration.test_journeys import SECRET, send, settle, unique
from tests.memory import FAST_CONFIG, MemoryStack


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([FAST_CONFIG])


def test_what_waited_for_an_erased_customer_sends_nothing_and_writes_nothing(stack):
    user = unique("gone")
    send(stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))  # a reminder in 2 s

    status, erased = stack.call("DELETE", f"/v1/customers/{user}", key=SECRET)
    # a message already on the outbox for them, as a journey's step or an operator's `nudge send` puts it there
    waiting = OutboxMessage(
        message_id=unique("m"),
        shop_id="fast",
        customer=f"u:{user}",
        journey="cart_abandonment",
        step=0,
        template="cart_reminder",
        created_at=stack.clock(),
    )
    stack.cloud.outbox.send(waiting.model_dump_json())
    settle(stack, 5)  # the welcome's and the reminder's timers come due, the router takes the message

    assert status == 200 and erased["records"] == [f"u:{user}"]
    assert stack.sent("email", f"{user}@example.com") == []
    assert not [pk for pk in stack.cloud.customers.items if user in pk]
    assert not [key for key in stack.cloud.ledger.items if user in key[0]]  # no ledger record written for them
    assert stack.call("GET", f"/v1/customers/{user}", key=SECRET)[0] == 404


def test_an_event_sent_before_the_erasure_is_ignored_and_one_after_it_starts_a_customer_without_consent(stack):
    user = unique("back")
    send(stack, *shopper(user, "email"))
    before = stack.clock()
    stack.clock.at += timedelta(minutes=1)
    assert stack.call("DELETE", f"/v1/customers/{user}", key=SECRET)[0] == 200

    send(stack, track("Product Added", boots(), userId=user, timestamp=before.isoformat()))
    assert stack.call("GET", f"/v1/customers/{user}", key=SECRET)[0] == 404

    stack.clock.at += timedelta(minutes=1)
    send(stack, track("Product Added", boots(), userId=user, timestamp=stack.clock().isoformat()))
    status, body = stack.call("GET", f"/v1/customers/{user}", key=SECRET)
    assert status == 200 and body["consent_history"] == [] and body["traits"] == {}
