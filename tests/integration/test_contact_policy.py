"""The contact policy end to end (EX3): a shop's frequency caps, quiet hours, priorities and maximum deferral, as a
customer and support see them. template.yaml in memory (``tests/memory.py``): the real router on the in-memory
adapters; messages go on the outbox as journeys put them there, timers fire as the timer state machine would, and
what reached the customer is what the channel services accepted."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from shared.models.config import ShopConfig
from shared.models.messages import OutboxMessage
from tests.integration.test_channel_router import ZONE, make_customer, next_local, support_view, unique
from tests.memory import DEMO_CONFIG, SECRET_KEY, MemoryStack

BERLIN = ZoneInfo(ZONE)
ONE_A_DAY = {"caps": [{"per": "P1D", "max": 1}], "quiet_hours": {"start": "21:00", "end": "08:00"}}


def shop(**policy: Any) -> ShopConfig:
    """The demo shop with ``policy`` (one a day and quiet hours unless given), its journeys switched off: the
    messages here are put on the outbox by the test, each in a journey's name and so at that journey's priority."""
    document = yaml.safe_load(DEMO_CONFIG.read_text())
    document["journeys"] = {name: {**(body or {}), "enabled": False} for name, body in document["journeys"].items()}
    document["contact_policy"] = policy or ONE_A_DAY
    return ShopConfig.model_validate(document)


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    """The demo shop with one marketing message a day and quiet hours 21:00-08:00."""
    return memory_stack([shop()])


def customer(stack: MemoryStack) -> tuple[str, str]:
    """A customer in Berlin who allowed email only; (user id, address)."""
    user = unique("capped")
    address = f"{user}@example.com"
    make_customer(stack, user, {"firstName": "Cleo", "email": address}, ["email"], cart=False)
    return user, address


def journey_message(
    user: str, journey: str, message_id: str, due_at: datetime, transactional: bool = False
) -> OutboxMessage:
    """A message of ``journey`` for ``user`` that fell due at ``due_at`` (the welcome template: it needs no cart)."""
    return OutboxMessage(
        message_id=message_id,
        shop_id="demo",
        customer=f"u:{user}",
        journey=journey,
        step=0,
        template="welcome",
        transactional=transactional,
        created_at=due_at,
    )


def due(stack: MemoryStack, user: str, journey: str, *, transactional: bool = False) -> OutboxMessage:
    """Put a message of ``journey`` on the outbox now, as the journey does, and let the router run."""
    message = journey_message(user, journey, unique(journey), stack.clock(), transactional)
    stack.cloud.outbox.send(message.model_dump_json())
    stack.settle()
    return message


def at_local(stack: MemoryStack, local: time) -> None:
    stack.clock.at = next_local(stack, local)


def delivered(stack: MemoryStack, user: str, address: str) -> list[datetime]:
    """When each message sent to ``user`` went out (Berlin time, in order), checked against what the email service
    accepted for ``address``."""
    status, body = stack.call("GET", f"/v1/customers/{user}/messages", key=SECRET_KEY)
    assert status == 200, body
    sent = sorted(datetime.fromisoformat(m["at"]).astimezone(BERLIN) for m in body["messages"] if m["status"] == "sent")
    assert len(sent) == len(stack.emails_to(address))
    return sent


def test_a_capped_customers_second_message_waits_for_the_next_day_and_then_goes(stack):
    # Given a customer who got the day's one marketing message at noon
    user, address = customer(stack)
    at_local(stack, time(12, 0))
    first = due(stack, user, "cart_abandonment")
    assert support_view(stack, user, first.message_id)["status"] == "sent"

    # When another journey's message is due at 15:00
    at_local(stack, time(15, 0))
    second = due(stack, user, "welcome")

    # Then it waits: support sees it deferred by the cap until noon tomorrow, and nothing more reached the customer
    seen = support_view(stack, user, second.message_id)
    tomorrow_noon = next_local(stack, time(12, 0))
    assert (seen["status"], seen["reason"]) == ("deferred", "frequency_cap")
    assert datetime.fromisoformat(seen["details"]["deferred_until"]) == tomorrow_noon
    assert len(delivered(stack, user, address)) == 1

    # And when the timer brings it back tomorrow at noon, it goes out: one message a day
    stack.run_timers(until=tomorrow_noon + timedelta(minutes=1))
    assert support_view(stack, user, second.message_id)["status"] == "sent"
    days = [moment.date() for moment in delivered(stack, user, address)]
    assert len(days) == 2 and days[1] - days[0] == timedelta(days=1)


def test_transactional_messages_are_neither_capped_nor_held_by_quiet_hours(stack):
    user, address = customer(stack)
    at_local(stack, time(12, 0))
    due(stack, user, "cart_abandonment")

    at_local(stack, time(23, 0))
    receipt = due(stack, user, "post_purchase", transactional=True)

    assert support_view(stack, user, receipt.message_id)["status"] == "sent"
    assert len(delivered(stack, user, address)) == 2


def test_a_message_due_in_quiet_hours_goes_when_they_end(stack):
    user, address = customer(stack)
    at_local(stack, time(3, 0))
    message = due(stack, user, "cart_abandonment")

    seen = support_view(stack, user, message.message_id)
    assert (seen["status"], seen["reason"]) == ("deferred", "quiet_hours")
    eight = next_local(stack, time(8, 0))
    assert datetime.fromisoformat(seen["details"]["deferred_until"]) == eight

    stack.run_timers(until=eight)
    assert [moment.time() for moment in delivered(stack, user, address)] == [time(8, 0)]


def test_when_two_deferred_messages_come_back_for_one_slot_the_higher_priority_one_takes_it(stack):
    # Given a welcome (priority 40) and a cart reminder (priority 70), both due at night
    user, address = customer(stack)
    at_local(stack, time(2, 0))
    welcome = due(stack, user, "welcome")
    at_local(stack, time(3, 0))
    cart = due(stack, user, "cart_abandonment")

    # When quiet hours end and both come back for the day's one slot
    stack.run_timers(until=next_local(stack, time(8, 0)))

    # Then the cart reminder went out, and the welcome is dropped with the reason and who took its slot
    assert support_view(stack, user, cart.message_id)["status"] == "sent"
    dropped = support_view(stack, user, welcome.message_id)
    assert (dropped["status"], dropped["reason"]) == ("suppressed", "outranked")
    assert dropped["details"]["outranked_by"] == [cart.message_id]
    assert len(delivered(stack, user, address)) == 1


def test_a_message_the_cap_would_hold_past_its_maximum_deferral_is_dropped_with_the_reason(memory_stack):
    stack = memory_stack([shop(caps=[{"per": "P1D", "max": 1}], max_deferral="PT6H")])
    user, address = customer(stack)
    at_local(stack, time(12, 0))
    due(stack, user, "cart_abandonment")

    at_local(stack, time(15, 0))
    late = due(stack, user, "welcome")

    seen = support_view(stack, user, late.message_id)
    assert (seen["status"], seen["reason"]) == ("suppressed", "frequency_cap")
    assert seen["details"]["max_deferral"] == "6:00:00"
    assert stack.timers.next_due is None  # nothing waits for it
    assert len(delivered(stack, user, address)) == 1


def test_a_shop_without_a_policy_sends_every_message_at_once(memory_stack):
    stack = memory_stack([shop(max_deferral="P2D")])  # no caps, no quiet hours
    user, address = customer(stack)
    at_local(stack, time(3, 0))
    for journey in ("cart_abandonment", "welcome", "reactivation"):
        due(stack, user, journey)
    assert len(delivered(stack, user, address)) == 3
