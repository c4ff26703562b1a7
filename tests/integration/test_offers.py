"""Offer codes a checkout honours (issue: offers and contact policy, item 1), end to end on template.yaml in memory:
the fast shop's cart offer (two seconds after the reminder), its codes made by nudge, taken from a pool the shop
uploaded, or one static code; checked with GET /v1/offers/{code} as a checkout would, redeemed by the order that
used it, and refused once expired."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml

from shared.models.config import ShopConfig
from shared.models.messages import OutboxMessage
from tests.factories import boots, shopper, track
from tests.integration.test_journeys import SECRET, WRITE, messages, send, settle, unique
from tests.memory import FAST_CONFIG, MemoryStack


def fast_shop(offers: dict[str, Any] | None = None) -> ShopConfig:
    document = yaml.safe_load(FAST_CONFIG.read_text())
    if offers is not None:
        document["offers"] = offers
    return ShopConfig.model_validate(document)


def check(stack: MemoryStack, code: str, key: str = SECRET) -> dict[str, Any]:
    status, body = stack.call("GET", f"/v1/offers/{code}", key=key)
    assert status == 200, body
    return body


def cart_offer(stack: MemoryStack, user: str) -> dict[str, Any]:
    """The cart offer message as support sees it, after the customer left a cart and five seconds passed."""
    send(stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))
    settle(stack, 5)
    return next(m for m in messages(stack, user)["messages"] if m["template"] == "cart_offer")


def emailed(stack: MemoryStack, user: str) -> str:
    return "\n".join(str(email) for email in stack.emails_to(f"{user}@example.com"))


def test_a_code_nudge_made_is_valid_at_checkout_then_redeemed_by_the_order_that_used_it(memory_stack):
    stack = memory_stack([fast_shop()])
    user = unique("ada")
    offer = cart_offer(stack, user)
    code = offer["details"]["offer_code"]
    assert offer["status"] == "sent" and code.startswith("CART") and code in emailed(stack, user)

    seen = check(stack, code)
    assert (seen["status"], seen["customer"], seen["percent"], seen["source"]) == (
        "valid",
        f"u:{user}",
        10,
        "generated",
    )
    assert seen["expires_at"] and seen["message_id"] == offer["message_id"]
    assert offer["offer"]["status"] == "valid"  # support sees the code's state beside the message

    order = {"order_id": "o-77", "revenue": 80.0, "coupon": code, "products": [boots()]}
    send(stack, track("Order Completed", order, userId=user))

    redeemed = check(stack, code)
    assert (redeemed["status"], redeemed["order_id"]) == ("redeemed", "o-77")


def test_an_unknown_code_and_one_past_its_expiry_say_so(memory_stack):
    stack = memory_stack([fast_shop()])
    assert check(stack, "NOTOURS123") == {"code": "NOTOURS123", "status": "unknown"}
    code = cart_offer(stack, unique("bob"))["details"]["offer_code"]

    stack.clock.at += timedelta(days=2, seconds=1)  # the cart offer is valid for two days

    assert check(stack, code)["status"] == "expired"


def test_only_a_secret_key_checks_codes(memory_stack):
    stack = memory_stack([fast_shop()])
    status, _ = stack.call("GET", "/v1/offers/ANYCODE1", key=WRITE)
    assert status == 401


def test_a_message_whose_offer_expired_before_it_could_go_is_dropped_not_sent(memory_stack):
    stack = memory_stack([fast_shop()])
    user = unique("late")
    send(stack, *shopper(user, "email"))
    late = OutboxMessage(
        message_id=unique("late-offer"),
        shop_id="fast",
        customer=f"u:{user}",
        journey="cart_abandonment",
        step=1,
        template="cart_offer",
        variables={"offer": {"code": "CARTLATE123", "percent": 10, "expires_at": stack.clock().isoformat()}},
        created_at=stack.clock() - timedelta(days=3),
    )
    stack.cloud.outbox.send(late.model_dump_json())
    stack.settle()

    seen = next(m for m in messages(stack, user)["messages"] if m["message_id"] == late.message_id)
    assert (seen["status"], seen["reason"]) == ("suppressed", "offer_expired")
    assert check(stack, "CARTLATE123")["status"] == "unknown"  # never handed out


@pytest.fixture
def pooled(memory_stack) -> MemoryStack:
    return memory_stack([fast_shop({"CART": {"pool": "cart-codes"}})])


def test_a_pool_upload_with_repeated_codes_names_them_and_stores_nothing(pooled):
    status, body = pooled.call(
        "POST", "/v1/offers/pools/cart-codes", {"codes": ["SAVE-1", "SAVE-2", "SAVE-1"]}, key=SECRET
    )
    assert status == 400
    assert body["errors"] == [{"field": "codes", "rule": "each code once; given more than once: SAVE-1"}]
    assert pooled.call("GET", "/v1/offers/pools/cart-codes", key=SECRET)[1]["available"] == 0

    status, body = pooled.call("POST", "/v1/offers/pools/cart-codes", {"codes": ["ok-code", "no spaces"]}, key=SECRET)
    assert status == 400 and body["errors"][0]["field"] == "codes.1"
    assert pooled.call("POST", "/v1/offers/pools/cart-codes", {"codes": ["SAVE-1"]}, key=WRITE)[0] == 401


def test_pool_codes_go_one_per_customer_and_an_empty_pool_is_a_reason_never_a_dead_code(pooled):
    status, body = pooled.call("POST", "/v1/offers/pools/cart-codes", {"codes": ["SAVE-B", "SAVE-A"]}, key=SECRET)
    assert (status, body) == (200, {"pool": "cart-codes", "uploaded": 2, "available": 2})

    first, second, third = unique("one"), unique("two"), unique("three")
    got = {user: cart_offer(pooled, user) for user in (first, second, third)}

    assert got[first]["details"]["offer_code"] == "SAVE-A" and "SAVE-A" in emailed(pooled, first)
    assert got[second]["details"]["offer_code"] == "SAVE-B"
    assert (got[third]["status"], got[third]["reason"]) == ("suppressed", "offer_pool_empty")
    assert "{offer_code}" not in emailed(pooled, first)
    assert check(pooled, "SAVE-A")["customer"] == f"u:{first}"
    assert pooled.call("GET", "/v1/offers/pools/cart-codes", key=SECRET)[1]["available"] == 0


def test_a_redelivered_message_keeps_its_pool_code(pooled):
    pooled.call("POST", "/v1/offers/pools/cart-codes", {"codes": ["KEEP-1", "KEEP-2"]}, key=SECRET)
    user = unique("again")
    offer = cart_offer(pooled, user)
    message = OutboxMessage.model_validate(
        {
            "message_id": offer["message_id"],
            "shop_id": "fast",
            "customer": f"u:{user}",
            "journey": "cart_abandonment",
            "step": 1,
            "template": "cart_offer",
            "variables": {
                "offer": {
                    "code": "{offer_code}",
                    "percent": 10,
                    "pool": "cart-codes",
                    "expires_at": (pooled.clock() + timedelta(days=1)).isoformat(),
                }
            },
            "created_at": pooled.clock(),
        }
    )

    pooled.cloud.outbox.send(message.model_dump_json())  # SQS delivers the same message again
    pooled.settle()

    assert pooled.call("GET", "/v1/offers/pools/cart-codes", key=SECRET)[1]["available"] == 1
    offers_sent = [email for email in pooled.emails_to(f"{user}@example.com") if "KEEP-" in str(email)]
    assert len(offers_sent) == 1  # the one offer, with the code it took the first time


def test_a_static_code_goes_to_everyone_and_checks_valid(memory_stack):
    stack = memory_stack([fast_shop({"CART": {"static": "CART10"}})])
    user = unique("static")
    offer = cart_offer(stack, user)

    assert offer["details"]["offer_code"] == "CART10" and "CART10" in emailed(stack, user)
    seen = check(stack, "CART10")
    assert (seen["status"], seen["source"], seen["percent"], seen["customer"]) == ("valid", "static", 10, None)
