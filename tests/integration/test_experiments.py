"""Experiments and the journey report (issue: measure what nudge earns, items 3 and 4) end to end on template.yaml
in memory: a step's variants split its customers by weight, each customer keeps theirs; a journey's holdout enters
its customers and records "would have received" at the moment the step was due, sending nothing; the shop's global
holdout gets no marketing at all; ``GET /v1/reports/journeys`` sums it all per journey, step, variant and channel,
with the uplift against the control group."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import yaml

from shared.core import experiments
from shared.models.config import ShopConfig
from tests.factories import boots, shopper, track
from tests.integration.test_journeys import SECRET, WRITE, messages, send, settle, unique
from tests.memory import FAST_CONFIG, MemoryStack

CART_TEST = {
    "steps": [
        {
            "wait": "PT2S",
            "template": "cart_reminder",
            "variants": [
                {"name": "plain", "weight": 3},
                {
                    "name": "offer",
                    "weight": 1,
                    "template": "cart_offer",
                    "offer": {"percent": 10, "valid_for": "P2D", "prefix": "AB"},
                },
            ],
        }
    ],
    "holdout": 20,
}


def shop(**changes: Any) -> ShopConfig:
    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    document["journeys"] = {"cart_abandonment": CART_TEST, "post_purchase": document["journeys"]["post_purchase"]}
    return ShopConfig.model_validate({**document, **changes})


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([shop()])


def cart(stack: MemoryStack, users: list[str]) -> None:
    send(stack, *(m for user in users for m in [*shopper(user, "email"), track("Product Added", boots(), userId=user)]))
    settle(stack, 3)


def reminders(stack: MemoryStack, user: str) -> list[dict[str, Any]]:
    return [m for m in messages(stack, user)["messages"] if m["journey"] == "cart_abandonment"]


def report(stack: MemoryStack, **query: str) -> tuple[int, Any]:
    text = "&".join(f"{name}={value}" for name, value in query.items())
    return stack.call("GET", "/v1/reports/journeys" + (f"?{text}" if text else ""), key=SECRET)


def test_variants_split_by_weight_the_holdout_gets_nothing_and_the_report_counts_both(stack):
    users = [unique("ab") for _ in range(120)]
    cart(stack, users)

    config = stack.cloud.shops.config("fast")
    assert config is not None
    got: Counter[str] = Counter()
    for user in users:
        sent = reminders(stack, user)
        log = [entry["outcome"] for entry in messages(stack, user)["journey_log"]]
        if experiments.group(config, "cart_abandonment", f"u:{user}") == "holdout":
            assert sent == [] and "held_out" in log, user  # would have received it, now
            got["holdout"] += 1
        else:
            [message] = sent
            assert message["status"] == "sent" and "step_due" in log
            assert message["template"] == ("cart_offer" if message["variant"] == "offer" else "cart_reminder")
            got[message["variant"]] += 1

    assert 12 <= got["holdout"] <= 36  # 20 % of 120, within the binomial's spread
    assert got["plain"] > got["offer"] > 0  # 3 : 1
    status, body = report(stack)
    assert status == 200
    [journey] = [j for j in body["journeys"] if j["journey"] == "cart_abandonment"]
    assert journey["groups"]["holdout"]["entered"] == got["holdout"]
    assert journey["groups"]["treatment"]["entered"] == got["plain"] + got["offer"]
    rows = {(row["variant"], row["channel"]): row for row in journey["steps"]}
    assert rows[("plain", "email")]["sent"] == got["plain"] and rows[("offer", "email")]["sent"] == got["offer"]
    assert rows[("holdout", None)]["held_out"] == got["holdout"]


def test_a_customer_keeps_their_variant_for_every_cart(stack):
    users = [unique("sticky") for _ in range(12)]
    cart(stack, users)
    first = {user: [m["variant"] for m in reminders(stack, user)] for user in users}
    for user in users:  # the cart is bought, and a new one is left a day later
        send(stack, track("Order Completed", {"order_id": unique("o"), "cart_id": "c1", "revenue": 10.0}, userId=user))
    stack.clock.at += timedelta(days=1)
    send(stack, *(track("Product Added", boots("c2"), userId=user) for user in users))
    settle(stack, 3)

    for user in users:
        variants = [m["variant"] for m in reminders(stack, user)]
        assert variants == first[user] * 2, user  # the same (or, held out, none) both times


def test_the_report_counts_opens_clicks_and_credited_revenue_per_variant_and_the_uplift(stack):
    users = [unique("rep") for _ in range(60)]
    cart(stack, users)
    config = stack.cloud.shops.config("fast")
    assert config is not None
    treated = [u for u in users if experiments.group(config, "cart_abandonment", f"u:{u}") == "treatment"]
    held = [u for u in users if u not in treated]
    for user in treated[:10]:
        [message] = reminders(stack, user)
        tapped = track("Push Notification Tapped", {"nudge_message_id": message["message_id"]}, userId=user)
        send(stack, tapped, track("Order Completed", {"order_id": unique("o"), "revenue": 20.0}, userId=user))
    for user in held[:2]:
        send(stack, track("Order Completed", {"order_id": unique("o"), "revenue": 20.0}, userId=user))

    status, body = report(stack)

    assert status == 200
    [journey] = [j for j in body["journeys"] if j["journey"] == "cart_abandonment"]
    treatment, holdout = journey["groups"]["treatment"], journey["groups"]["holdout"]
    assert (treatment["converted"], holdout["converted"]) == (10, 2)
    assert treatment["revenue"] == 200.0
    rows = [row for row in journey["steps"] if row["variant"] in ("plain", "offer")]
    assert sum(row["opened"] for row in rows) == 10 and sum(row["converted"] for row in rows) == 10
    assert sum(row["revenue"] for row in rows) == 200.0
    expected = 10 / len(treated) - 2 / len(held)
    assert journey["uplift"]["absolute"] == pytest.approx(expected)
    assert 0 < journey["uplift"]["p_value"] <= 1


def test_the_global_holdout_gets_no_marketing_but_its_transactional_messages(memory_stack):
    receipt = {
        "trigger": [{"event": "Order Completed"}],
        "key": "order_id",
        "steps": [{"wait": "PT0S", "template": "order_thank_you", "transactional": True}],
    }
    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    journeys = {
        "cart_abandonment": CART_TEST,
        "post_purchase": document["journeys"]["post_purchase"],
        "receipt": receipt,
    }
    stack = memory_stack([ShopConfig.model_validate({**document, "journeys": journeys, "global_holdout": 50})])
    config = stack.cloud.shops.config("fast")
    assert config is not None
    users = [unique("global") for _ in range(30)]
    cart(stack, users)
    send(stack, *(track("Order Completed", {"order_id": unique("o"), "revenue": 5.0}, userId=u) for u in users))
    settle(stack, 5)

    out = [u for u in users if experiments.held_out_globally(config, f"u:{u}")]
    assert 5 <= len(out) <= 25
    for user in users:
        sent = {m["journey"]: m["status"] for m in messages(stack, user)["messages"]}
        assert sent.get("receipt") == "sent", user  # transactional: never held out
        treated = experiments.group(config, "cart_abandonment", f"u:{user}") == "treatment"  # global or its own 20 %
        assert ("cart_abandonment" in sent) is treated, user
        assert ("post_purchase" in sent) is (user not in out), user  # no holdout of its own: the global one only


def test_a_report_range_is_checked_and_at_most_a_year(stack):
    cases = [
        ({"from": "2026-11-40"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-05", "to": "2026-11-01"}, "from"),
        ({"from": "2025-11-01", "to": "2026-11-02"}, "to"),
    ]
    for query, field in cases:
        status, body = report(stack, **query)
        assert status == 400 and body["errors"][0]["field"] == field, (query, body)
    assert report(stack, **{"from": "2025-11-02", "to": "2026-11-02"})[0] == 200  # 366 days
    assert stack.call("GET", "/v1/reports/journeys", key=WRITE)[0] == 401
