"""Every shipped template renders, on every channel and in every shipped language, for the most extreme customer
ingest accepts (and for amounts older states may hold): a message must never fail on a value nudge took in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from infra.admin import load_config
from shared.content import render_message, shipped_kinds
from shared.content.formatting import format_money, format_percent
from shared.content.sample import SAMPLE_EXTRA, SAMPLE_TIME, sample_message, sample_state
from shared.models.config import CHANNELS
from shared.models.nudge_events import CONFIRM_TEMPLATE
from shared.models.segment import MAX_AMOUNT, MAX_QUANTITY
from shared.models.state import Cart, CartItem, CustomerState, OrderRef, ProductRef

ROOT = Path(__file__).resolve().parents[2]
DEMO = load_config(ROOT / "events" / "demo-shop.yaml")
ODD_NAMES = [
    "\ufffd" * 3,  # what ingest makes of lone surrogates
    "Zoë 👩🏽‍💻 ﷽",
    "עִבְרִית مرحبا",
    "a\u0300\u0301\u0302" * 50,
    "x" * 2048,
    "\u200b\u2028\u0000\x1b[31m",
    "{{ 7 * 7 }} {% raw %}",
    "",
]


def extreme_state(locale: str, price: float, quantity: int, lines: int) -> CustomerState:
    """The sample customer with ``lines`` cart lines at ``price`` x ``quantity``, odd names, and extreme amounts."""
    state = sample_state(locale)
    at = SAMPLE_TIME - timedelta(hours=2)
    items = [
        CartItem(
            product_id=f"sku-{i}",
            name=ODD_NAMES[i % len(ODD_NAMES)] or None,
            price=price,
            quantity=quantity,
            image_url="https://img.example.com/" + "é" * 100,
            url="javascript:alert(1)" if i % 2 else "https://shop.example.com/p/" + "%00" * 10,
        )
        for i in range(lines)
    ]
    products = [
        ProductRef(product_id=f"v-{i}", name=name or None, price=price, category=name or None, at=at)
        for i, name in enumerate(ODD_NAMES)
    ]
    return state.model_copy(
        update={
            "traits": {"first_name": ODD_NAMES[1], "last_name": ODD_NAMES[4], "ltv": 1.7e308, "n": 10**300},
            "carts": {"sample-cart": Cart(items=items, updated_at=at)},
            "viewed": products,
            # the product the sample message is about stays (a back-in-stock message needs it), at the extreme price
            "wishlist": [
                *(p._replace(price=price, name=ODD_NAMES[1]) for p in state.wishlist),
                *products[:3],
            ],
            "orders": state.orders.model_copy(
                update={
                    "revenue": price * 10,
                    "recent": [OrderRef(order_id="1001", amount=price, at=at, categories=ODD_NAMES[:5])],
                    "categories_bought": ODD_NAMES,
                }
            ),
        }
    )


CUSTOMERS = {
    "largest accepted: 50 lines at the largest amount and quantity": (MAX_AMOUNT, MAX_QUANTITY, 50),
    "a quantity added up over many events": (MAX_AMOUNT, 10**12, 3),
    "the smallest amounts": (5e-324, 1, 3),
    "free": (0.0, 1, 2),
    "price 1e30 (written before amounts had a bound)": (1e30, 2, 2),
    "price 1e308 (written before amounts had a bound)": (1e308, 1, 2),
}


@pytest.mark.parametrize("locale", ["en", "de", "fr-CH"])
@pytest.mark.parametrize("customer", list(CUSTOMERS), ids=list(CUSTOMERS))
def test_every_template_renders_for_the_most_extreme_customers(customer, locale):
    price, quantity, lines = CUSTOMERS[customer]
    state = extreme_state(locale, price, quantity, lines)
    rendered = 0
    for kind in sorted(shipped_kinds()):
        for channel in ["email"] if kind == CONFIRM_TEMPLATE else CHANNELS:
            content = render_message(state, sample_message(kind), channel, DEMO, SAMPLE_EXTRA)
            assert content.text or content.html or content.whatsapp_template
            assert "{{" not in (content.title or "") + (content.text or "") or "{{ 7 * 7 }}" in (content.text or "")
            rendered += 1
    assert rendered == (len(shipped_kinds()) - 1) * len(CHANNELS) + 1  # the confirmation is an e-mail only


@pytest.mark.parametrize("amount", [1e30, 1e308, -1e308, 2.5e17, 5e-324, 10**400])
def test_money_and_percent_format_any_finite_number(amount):
    for currency in ("EUR", "JPY", "CHF"):
        for locale in ("en", "de"):
            assert format_money(amount, currency, locale)
            assert format_percent(amount, locale)
    assert format_money(1e30, "EUR", "en") == "€1,000,000,000,000,000,000,000,000,000,000.00"
