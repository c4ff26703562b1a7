"""The template context: what a template may say about a customer, built from state and the outbox message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.content import build_context, fallback_chain
from shared.content.formatting import format_date, format_money, format_percent
from shared.models.config import ShopConfig
from shared.models.messages import OutboxMessage
from shared.models.state import Cart, CartItem, CustomerState, OrderRef, Orders, ProductRef

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SHOP = ShopConfig.model_validate(
    {
        "shop": {
            "id": "demo",
            "name": "Demo Shop",
            "write_keys": ["demo-write-key"],
            "secret_keys": ["demo-secret-key"],
            "url": "https://shop.example.com/",
            "timezone": "Europe/Berlin",
        },
        "templates": {"links": {"loyalty": "https://shop.example.com/club"}},
    }
)


def message(kind: str = "cart_reminder", **variables: object) -> OutboxMessage:
    return OutboxMessage(
        message_id="m1",
        shop_id="demo",
        customer="u:u1",
        journey="j",
        step=0,
        template=kind,
        variables=variables,
        created_at=T0,
    )


def product(product_id: str, at: datetime, **fields: object) -> ProductRef:
    return ProductRef(**{"product_id": product_id, "name": product_id.title(), "at": at, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("traits", "first"),
    [
        ({"first_name": "Anna"}, "Anna"),
        ({"firstName": "Anna"}, "Anna"),
        ({"name": "  Anna   Berger "}, "Anna"),
        ({"first_name": "", "name": "Anna Berger"}, "Anna"),
        ({"email": "anna@example.com"}, None),
        ({"first_name": "Anna\r\nBcc: x@example.com"}, "Anna Bcc: x@example.com"),
    ],
    ids=["first_name", "firstName", "name", "empty-first-name", "none", "no-header-injection"],
)
def test_first_name_comes_from_whichever_trait_the_shop_sends(traits, first):
    # Given a customer's traits  When the context is built
    context = build_context(CustomerState(traits=traits), message(), SHOP)
    # Then the first name is found, on one line, or is None
    assert context["customer"].first_name == first


def test_the_cart_named_by_the_message_is_used_with_item_details_and_total():
    # Given two carts
    state = CustomerState(
        carts={
            "old": Cart(items=[CartItem(product_id="x", price=5.0)], updated_at=T0 - timedelta(days=1)),
            "c1": Cart(
                items=[CartItem(product_id="a", name="Sweater", price=59.9, quantity=2, url="/p/a")],
                updated_at=T0 - timedelta(days=2),
            ),
        }
    )
    # When the message names cart c1
    context = build_context(state, message(cart_id="c1"), SHOP)
    # Then that cart is used, relative product links point at the storefront, and the cart link is derived
    cart = context["cart"]
    assert (cart.id, cart.total, cart.quantity) == ("c1", 119.8, 2)
    assert cart.items[0].url == "https://shop.example.com/p/a" and cart.items[0].line_total == 119.8
    assert context["links"].cart_url == "https://shop.example.com/cart"
    # And without a cart_id the most recently changed non-empty cart is used
    assert build_context(state, message(), SHOP)["cart"].id == "old"


def test_an_empty_or_vanished_cart_is_none_so_a_reminder_cannot_remind_of_nothing():
    state = CustomerState(carts={"c1": Cart(items=[], updated_at=T0)})
    assert build_context(state, message(cart_id="c1"), SHOP)["cart"] is None
    assert build_context(state, message(cart_id="gone"), SHOP)["cart"] is None


def test_links_from_tracking_data_are_kept_only_when_they_are_web_links():
    # Given a cart item whose URL and image are script links (a browser can send anything)
    state = CustomerState(
        carts={
            "c1": Cart(
                items=[CartItem(product_id="a", url="javascript:alert(1)", image_url="data:image/png;base64,xx")],
                updated_at=T0,
            )
        }
    )
    # When the context is built, with an app deep link and a script "deep link" in the variables
    good = build_context(state, message(deep_link="demoshop://cart"), SHOP)
    bad = build_context(state, message(deep_link="javascript://%0aalert(1)"), SHOP)
    # Then the script links are gone, the app link stays
    assert good["cart"].items[0].url is None and good["cart"].items[0].image_url is None
    assert good["links"].deep_link == "demoshop://cart"
    assert bad["links"].deep_link == "https://shop.example.com/cart"


def test_order_offer_and_links_come_from_the_message_variables():
    # Given a customer with two orders and an offer expiring at 23:30 UTC (the next day in Berlin)
    state = CustomerState(
        timezone="Europe/Berlin",
        orders=Orders(
            count=2,
            recent=[OrderRef(order_id="1", amount=10, at=T0), OrderRef(order_id="2", amount=20, at=T0)],
        ),
    )
    expires = datetime(2026, 11, 7, 23, 30, tzinfo=UTC)
    context = build_context(
        state,
        message("welcome_loyalty", order_id="1", offer={"code": "HI10", "percent": 10.0, "expires_at": expires}),
        SHOP,
    )
    # Then the named order is used, the offer is normalised, and the expiry is shown in the customer's day
    assert context["order"].id == "1"
    assert (context["offer"].code, context["offer"].percent) == ("HI10", 10)
    assert format_date(context["offer"].expires_at, "en") == "Sunday 8 November"
    assert context["links"].loyalty_url == context["links"].deep_link == "https://shop.example.com/club"
    # And a bare code is an offer too
    assert build_context(state, message(offer="BARE"), SHOP)["offer"].code == "BARE"


def test_derived_products_are_recent_first_and_never_what_the_customer_already_owns():
    # Given views and a wishlist, one product already bought and one in the cart
    state = CustomerState(
        viewed=[product("old", T0 - timedelta(days=3)), product("bought", T0), product("carted", T0)],
        wishlist=[product("wish", T0 - timedelta(days=1))],
        orders=Orders(products_bought=["bought"]),
        carts={"c1": Cart(items=[CartItem(product_id="carted")], updated_at=T0)},
    )
    # When a cross-sell context is built without the journey's own picks
    context = build_context(state, message("cross_sell"), SHOP)
    # Then what was seen last comes first, and owned products are left out
    assert [p.product_id for p in context["products"]] == ["wish", "old"]
    # And the journey's picks win when given
    picks = build_context(state, message("cross_sell", products=[{"product_id": "p9", "name": "Pick"}]), SHOP)
    assert [p.name for p in picks["products"]] == ["Pick"]


def test_free_shipping_gap_is_the_exact_amount_missing():
    state = CustomerState(carts={"c1": Cart(items=[CartItem(product_id="a", price=89.8)], updated_at=T0)})
    context = build_context(state, message("free_shipping_nudge", free_shipping_threshold=100), SHOP)
    assert context["free_shipping"].missing == 10.2


def test_extra_values_from_the_router_are_added():
    context = build_context(None, message("welcome"), SHOP, {"unsubscribe_url": "https://u.example.com/t"})
    assert context["unsubscribe_url"] == "https://u.example.com/t"
    assert context["customer"].first_name is None and context["cart"] is None


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (89.9, "EUR", "de", "89,90 €"),
        (89.9, "EUR", "en", "€89.90"),
        (1234.5, "EUR", "de-AT", "1.234,50 €"),
        (1234.5, "USD", "en", "$1,234.50"),
        (12.5, "CHF", "en", "CHF 12.50"),
        (1500, "JPY", "en", "¥1,500"),
        (None, "EUR", "en", ""),
    ],
)
def test_money_is_formatted_per_language_and_currency(amount, currency, locale, expected):
    assert format_money(amount, currency, locale) == expected


def test_percent_and_dates_read_naturally():
    assert (format_percent(10, "en"), format_percent(12.5, "de")) == ("10%", "12,5 %")
    assert format_date(datetime(2026, 11, 8, tzinfo=UTC), "de") == "Sonntag, 8. November"


@pytest.mark.parametrize(
    ("locale", "default", "chain"),
    [
        ("de-AT", "en", ["de-AT", "de", "en"]),
        ("de_at", "fr-CH", ["de-AT", "de", "fr-CH", "fr", "en"]),
        (None, "de", ["de", "en"]),
        ("not a locale!", "en", ["en"]),
    ],
)
def test_the_locale_fallback_chain(locale, default, chain):
    assert fallback_chain(locale, default) == chain


def test_a_journey_deep_link_path_becomes_a_storefront_link():
    # Given a step with ``deep_link: /offers/{offer_code}`` (the journey fills in the code)
    context = build_context(CustomerState(), message("repeat_offer", deep_link="/offers/BACK123"), SHOP)
    # Then the link works in an email and as a universal link in the app
    assert context["links"].deep_link == "https://shop.example.com/offers/BACK123"


def test_the_items_the_journey_copied_stand_in_for_a_cart_the_state_no_longer_has():
    # Given a message whose cart is gone from the state but whose variables carry the items
    items = [{"product_id": "a", "name": "Sweater", "price": 59.9}, {"bad": "entry"}]
    context = build_context(CustomerState(), message(cart_id="c9", items=items), SHOP)
    # Then the reminder still names the item
    assert [item.name for item in context["cart"].items] == ["Sweater"]
    assert context["cart"].total == 59.9


def test_cross_sell_picks_products_from_the_orders_categories_first():
    # Given recent views in two categories
    state = CustomerState(
        viewed=[product("mug", T0, category="Kitchen"), product("scarf", T0 - timedelta(days=1), category="Knitwear")]
    )
    # When the message is about an order of knitwear
    context = build_context(state, message("cross_sell", order_id="1", categories=["Knitwear"]), SHOP)
    # Then the knitwear comes first although the mug was seen later
    assert [p.product_id for p in context["products"]] == ["scarf", "mug"]
    assert context["categories"] == ("Knitwear",)
