"""The real-time offer decision (J13, IN6): POST /v1/offers/decide answers, for the customer on an exit-intent, cart
or checkout page, the offer to show now or none, tiered by the customer's value, at most one per period; the code is
one the checkout accepts and the showing is recorded through the customer's FIFO group. template.yaml in memory."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import yaml

from shared.models.config import ShopConfig
from tests.factories import boots, shopper, track
from tests.integration.test_journeys import SECRET, WRITE, send, unique
from tests.integration.test_offers import check
from tests.integration.test_public_api import customer_token
from tests.memory import FAST_CONFIG, MemoryStack

DECISIONS = {
    "once_per": "P7D",
    "tiers": [
        {"name": "full_price", "segments": ["loyal"], "offer": None},
        {"name": "first_visit", "segments": ["new_visitor"], "offer": {"free_shipping": True, "static": "FREESHIP"}},
        {"name": "win_back", "segments": ["at_risk"], "offer": {"percent": 10, "prefix": "STAY", "valid_for": "P2D"}},
        {"name": "returning", "segments": ["new_customer", "repeat"], "offer": {"percent": 5, "prefix": "BACK"}},
    ],
}


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    document = yaml.safe_load(FAST_CONFIG.read_text())
    document["offer_decisions"] = DECISIONS
    return memory_stack([ShopConfig.model_validate(document)])


def decide(stack: MemoryStack, user: str, placement: str = "exit_intent", token: str | None = None) -> tuple[int, Any]:
    headers = {
        "x-nudge-write-key": WRITE,
        "x-nudge-customer-token": token or customer_token(user, "fast-secret-key", "fast"),
        "content-type": "application/json",
    }
    body = json.dumps({"customer_id": user, "placement": placement})
    response = stack.request("POST", "/v1/offers/decide", body, headers, key=None)
    return response.status, response.json()


def shown(stack: MemoryStack, user: str) -> list[dict[str, Any]]:
    stack.settle()
    status, body = stack.call("GET", f"/v1/customers/{user}", key=SECRET)
    assert status == 200, body
    return body["offers_shown"]


def order() -> dict[str, Any]:
    return {"order_id": unique("o"), "revenue": 50, "products": [boots()]}


def orders(stack: MemoryStack, user: str, count: int, days_ago: int) -> None:
    """``count`` orders, the last ``days_ago`` days before now."""
    when = stack.clock() - timedelta(days=days_ago)
    send(
        stack,
        *shopper(user, "email"),
        *(
            {
                **track(
                    "Order Completed", {"order_id": unique("o"), "revenue": 50, "products": [boots()]}, userId=user
                ),
                "timestamp": (when - timedelta(days=n)).isoformat(),
            }
            for n in range(count)
        ),
    )


def test_a_new_visitor_sees_free_shipping_once_per_period_and_the_showing_is_recorded(stack):
    user = unique("new")
    send(stack, *shopper(user, "email"))

    status, answer = decide(stack, user)

    assert status == 200
    assert (answer["segment"], answer["tier"], answer["repeat"]) == ("new_visitor", "first_visit", False)
    assert answer["offer"] == {"code": "FREESHIP", "percent": None, "free_shipping": True, "expires_at": None}
    assert [s["tier"] for s in shown(stack, user)] == ["first_visit"]

    # Asking again (another page view) shows the same offer and records nothing new
    again = decide(stack, user, "checkout")[1]
    assert (again["offer"], again["repeat"], again["placement"]) == (answer["offer"], True, "checkout")
    assert len(shown(stack, user)) == 1


def test_an_at_risk_customer_gets_a_code_the_checkout_accepts_and_a_new_one_only_next_period(stack):
    user = unique("risk")
    orders(stack, user, count=2, days_ago=120)

    answer = decide(stack, user)[1]

    assert (answer["segment"], answer["tier"]) == ("at_risk", "win_back")
    code = answer["offer"]["code"]
    assert code.startswith("STAY") and answer["offer"]["percent"] == 10
    seen = check(stack, code)
    assert (seen["status"], seen["customer"], seen["journey"]) == ("valid", f"u:{user}", "offer_decision")
    shown(stack, user)

    stack.clock.at += timedelta(days=8)  # the next period
    later = decide(stack, user)[1]
    assert later["repeat"] is False and later["offer"]["code"] not in (None, code)


def test_a_loyal_customer_who_buys_at_full_price_is_offered_nothing(stack):
    user = unique("loyal")
    orders(stack, user, count=5, days_ago=3)

    answer = decide(stack, user)[1]

    assert (answer["segment"], answer["tier"], answer["offer"]) == ("loyal", "full_price", None)
    assert shown(stack, user) == []


def test_a_returning_customer_gets_the_returning_tier(stack):
    user = unique("back")
    orders(stack, user, count=1, days_ago=10)
    assert decide(stack, user)[1]["tier"] == "returning"


def test_only_the_customer_themself_may_ask_and_a_bad_body_names_its_field(stack):
    user = unique("ada")
    assert decide(stack, user, token=customer_token("someone-else", "fast-secret-key", "fast"))[0] == 401
    status, body = decide(stack, user, placement="homepage")
    assert status == 400 and body["errors"][0]["field"] == "placement"


def test_a_shop_without_offer_decisions_answers_404(memory_stack):
    stack = memory_stack([FAST_CONFIG])
    user = unique("none")
    assert decide(stack, user)[0] == 404


def test_an_offer_shown_event_from_the_public_write_key_records_nothing(stack):
    user = unique("forger")
    forged = track("Offer Shown", {"code": "FREE100", "tier": "first_visit", "percent": 100}, userId=user)
    send(stack, *shopper(user, "email"), forged)
    assert shown(stack, user) == []
