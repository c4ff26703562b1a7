"""Back in stock (J7) end to end on template.yaml in memory: the shop's catalogue says a product is out of stock,
customers wait for it (a "notify me", a wishlist or a cart add), the catalogue says it is back, and each waiting
customer gets one ``back_in_stock`` message, through the restock fan-out (the fan-out state machine played in
virtual time, ``infra/memory/fan_out.py``) and each customer's own ordered stream.

The same fan-out through real Step Functions (moto's interpreter) is test_catalogue_on_stack.py; thousands of
waiting customers at the shop's rate are in tests/e2e/test_simulate.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.factories import followed, shopper, track
from tests.integration.test_journeys import SECRET, messages, send, unique
from tests.memory import FAST_CONFIG, MemoryStack


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([FAST_CONFIG])


def boots(product_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": product_id,
        "title": "Alpine boots",
        "link": f"https://fast.shop.example/p/{product_id}",
        "image_link": f"https://fast.shop.example/p/{product_id}.jpg",
        "price": "129.00 EUR",
        "availability": "out_of_stock",
        **fields,
    }


def catalog(stack: MemoryStack, *products: dict[str, Any]) -> dict[str, Any]:
    status, answer = stack.post("/v1/catalog", {"products": list(products)}, key=SECRET)
    assert status == 200, answer
    return answer


def until_quiet(stack: MemoryStack) -> None:
    """Let virtual time run until no queue holds a delayed message (the machine's waits between pages)."""
    stack.settle()
    while (moment := stack.cloud.next_visible()) is not None:
        stack.clock.at = max(stack.clock.at, moment)
        stack.settle()


def told(stack: MemoryStack, user: str) -> list[dict[str, Any]]:
    return [m for m in messages(stack, user)["messages"] if m["template"] == "back_in_stock"]


def product_event(event: str, product_id: str, user: str, **properties: Any) -> dict[str, Any]:
    return track(event, {"product_id": product_id, "name": "Alpine boots", **properties}, userId=user)


def test_every_waiting_customer_hears_once_when_the_product_is_back_and_no_one_else(stack):
    sku = unique("boots")
    asked, wished, carted, bought, early, silent = (unique(n) for n in ("ask", "wish", "cart", "buy", "early", "mute"))
    catalog(stack, boots(sku, availability="in_stock"))
    # A cart add while it is in stock is no wait.
    send(stack, *shopper(early, "email"), product_event("Product Added", sku, early))
    catalog(stack, {"id": sku, "availability": "out_of_stock"})
    send(
        stack,
        *shopper(asked, "email"),
        product_event("Back In Stock Requested", sku, asked),
        *shopper(wished, "email"),
        product_event("Product Added to Wishlist", sku, wished),
        *shopper(carted, "email"),
        product_event("Product Added", sku, carted),
        *shopper(bought, "email"),
        product_event("Back In Stock Requested", sku, bought),
        track("Order Completed", {"order_id": unique("o"), "products": [{"product_id": sku}]}, userId=bought),
        *shopper(silent),  # no consent to any channel
        product_event("Back In Stock Requested", sku, silent),
    )

    answer = catalog(stack, {"id": sku, "availability": "in_stock", "quantity": 20})
    until_quiet(stack)

    assert {"id": sku, "field": "availability", "from": "out_of_stock", "to": "in_stock"} in answer["changes"]
    for user in (asked, wished, carted):
        [message] = told(stack, user)
        assert (message["status"], message["channel"]) == ("sent", "email")
        assert "Alpine boots" in message["title"]
    assert told(stack, bought) == []  # bought it meanwhile
    assert told(stack, early) == []  # carted it while it was in stock
    assert told(stack, silent) == []  # no channel reaches them: the journey waits for one (a day), nothing sent
    email = stack.emails_to(f"{asked}@example.com")[-1]
    text = email.get_body(("plain",)).get_content()
    # The product link leads through the click redirect, to the product page with the shop's UTM parameters.
    assert f"https://fast.shop.example/p/{sku}" not in text
    landing = f"https://fast.shop.example/p/{sku}?utm_source=nudge&utm_medium=email&utm_campaign=back_in_stock"
    assert landing in followed(text) and "129" in text

    # Sold out and back again: the list was used up, nobody hears twice.
    catalog(stack, {"id": sku, "availability": "out_of_stock"})
    catalog(stack, {"id": sku, "availability": "in_stock"})
    until_quiet(stack)
    assert len(told(stack, asked)) == 1


def test_a_wait_lapses_after_the_shops_expiry_and_a_restock_without_waiters_starts_nothing(stack):
    sku, quiet_sku, late = unique("boots"), unique("socks"), unique("late")
    catalog(stack, boots(sku), boots(quiet_sku))
    send(stack, *shopper(late, "email"), product_event("Back In Stock Requested", sku, late))
    stack.clock.at += timedelta(days=91)

    catalog(stack, {"id": sku, "availability": "in_stock"}, {"id": quiet_sku, "availability": "in_stock"})
    until_quiet(stack)

    assert told(stack, late) == []
    assert stack.cloud.fan_outs.started == 1  # the product nobody waited for started no fan-out


def test_a_restock_that_sells_out_again_stops_telling(stack):
    sku = unique("boots")
    catalog(stack, boots(sku))
    users = [unique("w") for _ in range(3)]
    for user in users:
        send(stack, *shopper(user, "email"), product_event("Back In Stock Requested", sku, user))

    catalog(stack, {"id": sku, "availability": "in_stock"})
    catalog(stack, {"id": sku, "availability": "out_of_stock"})  # before the first page ran
    until_quiet(stack)

    assert stack.cloud.fan_outs.started == 1  # the fan-out started, and its first page found it sold out
    assert all(told(stack, user) == [] for user in users)
