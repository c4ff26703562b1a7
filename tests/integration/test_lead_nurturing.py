"""Lead nurturing (J11) as shipped (the ``lead_nurturing`` preset), end to end in memory: a newsletter subscriber who
has not ordered gets the educational series by e-mail, a buying guide after two days, the shop's story four days
later and a first-order gift five days after that, and leaves the series with the first order."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.models.config import ShopConfig
from tests.factories import identify, track
from tests.integration.test_journeys import WRITE, messages, unique
from tests.memory import FAST_CONFIG, MemoryStack

SIGNUP = {"source": "newsletter", "notice_version": "nl-2026"}
DAY = timedelta(days=1)


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    document = ShopConfig.from_yaml_file(FAST_CONFIG).model_dump(mode="json", exclude_unset=True)
    document["journeys"] = {"lead_nurturing": {}}
    return memory_stack([ShopConfig.model_validate(document)])


def subscriber(stack: MemoryStack, locale: str = "en-GB", ordered: bool = False) -> str:
    user = unique("lead")
    batch = [identify({"firstName": "Lea", "email": f"{user}@example.com"}, userId=user, context={"locale": locale})]
    if ordered:
        batch.append(track("Order Completed", {"order_id": unique("o"), "revenue": 20.0}, userId=user))
    batch.append(track("Newsletter Subscribed", SIGNUP, userId=user))
    assert stack.post("/v1/batch", {"batch": batch}, key=WRITE)[0] == 200
    stack.settle()
    return user


def test_a_subscriber_who_does_not_order_gets_the_three_lessons_in_their_language_then_nothing(stack):
    start = stack.clock.at
    english, german = subscriber(stack), subscriber(stack, locale="de-DE")
    stack.run_timers(until=start + 30 * DAY)

    for user in (english, german):
        found = [m for m in messages(stack, user)["messages"] if m["journey"] == "lead_nurturing"]
        sent = sorted(found, key=lambda m: m["created_at"])
        assert [(m["template"], m["status"], m["channel"]) for m in sent] == [
            ("nurture_guide", "sent", "email"),
            ("nurture_story", "sent", "email"),
            ("nurture_first_order", "sent", "email"),
        ]
        days = [(datetime.fromisoformat(m["created_at"]) - start) / DAY for m in sent]
        assert days == [2, 6, 11]
    (first, second, third) = stack.emails_to(f"{german}@example.com")
    assert "Dinge" in first["Subject"] and "Geschichte" in second["Subject"]  # in German
    assert "10" in third["Subject"]  # the first-order gift
    assert {mail["Subject"] for mail in stack.emails_to(f"{english}@example.com")}.isdisjoint(
        {first["Subject"], second["Subject"], third["Subject"]}
    )


def test_the_first_order_ends_the_series_and_a_customer_who_ordered_never_starts_it(stack):
    start = stack.clock.at
    buyer = subscriber(stack)
    customer = subscriber(stack, ordered=True)
    stack.run_timers(until=start + 3 * DAY)
    order = track("Order Completed", {"order_id": unique("o"), "revenue": 35.0}, userId=buyer)
    assert stack.post("/v1/batch", {"batch": [order]}, key=WRITE)[0] == 200
    stack.run_timers(until=start + 30 * DAY)

    sent = [m["template"] for m in messages(stack, buyer)["messages"] if m["journey"] == "lead_nurturing"]
    assert sent == ["nurture_guide"]
    assert [m for m in messages(stack, customer)["messages"] if m["journey"] == "lead_nurturing"] == []
