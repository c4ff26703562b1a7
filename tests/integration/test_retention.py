"""Retention on template.yaml in memory: a shop with ``shop.retention`` has its customers inactive that long erased
by the daily schedule's retention sweep (the fan-out machine in virtual time, page by page), as an erasure request
would; the active ones are kept; the sweep counts what it erased."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml

from shared.models.config import ShopConfig
from tests.factories import shopper, track
from tests.integration.test_journeys import SECRET, send, unique
from tests.memory import FAST_CONFIG, MemoryStack


def shop(retention: str | None) -> ShopConfig:
    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    document["shop"] = {**document["shop"], **({"retention": retention} if retention else {})}
    document["journeys"] = {}  # nothing to send: the sweep alone
    return ShopConfig.model_validate(document)


def daily(stack: MemoryStack) -> dict[str, Any]:
    """What EventBridge Scheduler does at 12:00 UTC (template.yaml's DailyDates), and the fan-out it starts."""
    (schedule,) = stack.cloud.schedules
    answer: dict[str, Any] = stack.cloud.functions[schedule.function].invoke(dict(schedule.input))
    stack.settle()
    while (moment := stack.cloud.next_visible()) is not None:
        stack.clock.at = max(stack.clock.at, moment)
        stack.settle()
    return answer


def known(stack: MemoryStack, user: str) -> bool:
    return stack.call("GET", f"/v1/customers/{user}", key=SECRET)[0] == 200


def test_customers_inactive_longer_than_the_retention_are_erased_and_the_others_kept(memory_stack):
    stack = memory_stack([shop("P30D")])
    quiet = [unique("quiet") for _ in range(3)]
    for user in quiet:
        send(stack, *shopper(user, "email"))
    stack.clock.at += timedelta(days=25)
    active = [unique("active") for _ in range(2)]
    send(stack, *(m for user in active for m in shopper(user, "email")))
    send(stack, track("Product Viewed", {"product_id": "lamp"}, userId=quiet[0]))  # back after 25 days
    stack.clock.at += timedelta(days=10)  # quiet[1:] inactive 35 days, the rest 10

    answer = daily(stack)

    assert [job["kind"] for job in answer["started"] if job.get("kind")] == ["retention"]
    assert [known(stack, user) for user in quiet] == [True, False, False]
    assert all(known(stack, user) for user in active)
    assert stack.cloud.erasure.erased_at("fast", f"u:{quiet[1]}") is not None


def test_a_shop_without_retention_starts_no_sweep_and_erases_nobody(memory_stack):
    stack = memory_stack([shop(None)])
    user = unique("kept")
    send(stack, *shopper(user, "email"))
    stack.clock.at += timedelta(days=5000)

    answer = daily(stack)

    assert not [job for job in answer["started"] if job.get("kind") == "retention"]
    assert known(stack, user)


def test_a_retention_that_is_not_a_duration_is_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"shop\.retention"):
        shop("three years")
