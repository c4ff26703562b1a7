"""The catalogue at send time, end to end on template.yaml in memory: browse abandonment (J2) shows what the customer
looked at, never a sold-out product, with "only 3 left" when the catalogue's stock is low and the step's code; the
free-shipping nudge (J8) names the exact amount missing in the shop's currency and suggests products from the
catalogue that would close the gap (events/fast-shop.yaml: free shipping from €50, a browse reminder 3 s after the
last look, low stock at 5 units or fewer)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import shopper, track
from tests.integration.test_back_in_stock import catalog
from tests.integration.test_journeys import messages, send, settle, unique
from tests.memory import FAST_CONFIG, MemoryStack


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([FAST_CONFIG])


def product(product_id: str, title: str, price: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": product_id,
        "title": title,
        "link": f"https://fast.shop.example/p/{product_id}",
        "image_link": f"https://fast.shop.example/p/{product_id}.jpg",
        "price": price,
        "availability": "in_stock",
        **fields,
    }


def viewed(product_id: str, name: str, user: str, price: float) -> dict[str, Any]:
    return track("Product Viewed", {"product_id": product_id, "name": name, "price": price}, userId=user)


def sent(stack: MemoryStack, user: str, template: str) -> list[dict[str, Any]]:
    return [m for m in messages(stack, user)["messages"] if m["template"] == template]


def test_a_browse_reminder_shows_what_is_in_stock_says_how_few_are_left_and_carries_the_code(stack):
    lamp, chair, user, carted = unique("lamp"), unique("chair"), unique("look"), unique("cart")
    catalog(
        stack,
        product(lamp, "Reading lamp", "49.00 EUR", quantity=3),
        product(chair, "Wing chair", "299.00 EUR", availability="out_of_stock"),
    )
    send(
        stack,
        *shopper(user, "email"),
        viewed(chair, "Wing chair", user, 299.0),
        viewed(lamp, "Reading lamp", user, 49.0),
    )
    send(stack, *shopper(carted, "email"), viewed(lamp, "Reading lamp", carted, 49.0))
    send(
        stack, track("Product Added", {"product_id": lamp, "price": 49.0}, userId=carted)
    )  # a cart: no browse reminder

    settle(stack, 5)

    [reminder] = sent(stack, user, "browse_reminder")
    assert reminder["status"] == "sent"
    email = stack.emails_to(f"{user}@example.com")[-1]
    text = email.get_body(("plain",)).get_content()
    assert "Reading lamp" in text and "only 3 left" in text
    assert "Wing chair" not in text  # sold out: never offered
    assert "LOOK" in text  # the step's promo code
    assert sent(stack, carted, "browse_reminder") == []


def test_a_cart_below_free_shipping_gets_the_exact_gap_in_app_with_products_that_close_it(stack):
    mug, socks, scarf, cap, user = (unique(n) for n in ("mug", "socks", "scarf", "cap", "u"))
    catalog(
        stack,
        product(mug, "Enamel mug", "39.90 EUR", related=[socks, scarf, cap]),
        product(socks, "Wool socks", "12.00 EUR"),  # closes the €10.10 gap
        product(scarf, "Silk scarf", "25.00 EUR", availability="out_of_stock"),  # sold out
        product(cap, "Cap", "8.00 EUR"),  # too cheap to close it
    )
    cart = {"cart_id": "c1", "products": [{"product_id": mug, "name": "Enamel mug", "price": 39.9, "quantity": 1}]}
    installed = track("Application Installed", {"version": "4.2"}, userId=user)  # in-app reaches app users
    send(stack, *shopper(user, "email", "in_app"), installed, track("Cart Viewed", cart, userId=user))

    [nudge] = sent(stack, user, "free_shipping_nudge")
    assert (nudge["status"], nudge["channel"]) == ("sent", "in_app")
    [item] = stack.cloud.inbox.list("fast", f"u:{user}")
    assert "€10.10" in item.text and "Wool socks" in item.text
    assert "Silk scarf" not in item.text and "Cap" not in item.text

    full = {"cart_id": "c2", "products": [{"product_id": mug, "price": 39.9, "quantity": 2}]}
    other = unique("u")
    installed = track("Application Installed", {"version": "4.2"}, userId=other)
    send(stack, *shopper(other, "email", "in_app"), installed, track("Checkout Started", full, userId=other))
    assert sent(stack, other, "free_shipping_nudge") == []  # €79.80 ships free


def test_a_cross_sell_without_browsing_history_recommends_what_others_bought_with_the_order(stack):
    mug, tea, spoon, kettle = (unique(n) for n in ("mug", "tea", "spoon", "kettle"))
    catalog(
        stack,
        product(mug, "Enamel mug", "12.00 EUR", product_type="Home > Kitchen"),
        product(tea, "Green tea", "8.00 EUR", product_type="Food > Tea"),
        product(spoon, "Tea spoon", "4.00 EUR", product_type="Home > Kitchen"),
        product(kettle, "Kettle", "40.00 EUR", product_type="Home > Kitchen", availability="out_of_stock"),
    )
    for others in ([tea], [spoon], [kettle], [tea]):
        buyer = unique("earlier")
        lines = [{"product_id": mug, "category": "Kitchen"}, *({"product_id": p} for p in others)]
        send(stack, track("Order Completed", {"order_id": unique("o"), "products": lines}, userId=buyer))
    user = unique("new")
    order = {"order_id": unique("o"), "revenue": 12.0, "products": [{"product_id": mug, "name": "Enamel mug"}]}
    send(stack, *shopper(user, "email"), track("Order Completed", order, userId=user))

    settle(stack, 5)  # the fast shop's post-purchase sequence: thank-you, review request, cross-sell

    [cross_sell] = sent(stack, user, "cross_sell")
    assert cross_sell["status"] == "sent"
    email = [e for e in stack.emails_to(f"{user}@example.com") if "ideas" in e["Subject"]][-1]
    text = email.get_body(("plain",)).get_content()
    assert "Green tea" in text and "Tea spoon" in text  # bought together with the mug, tea the most often
    assert text.index("Green tea") < text.index("Tea spoon")
    assert "Kettle" not in text  # out of stock
    assert "Enamel mug" not in text  # never what they own
