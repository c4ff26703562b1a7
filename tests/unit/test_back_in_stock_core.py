"""Back in stock (J7) in the pure decision core and the updater's listing of waiting customers: who waits for a
product, for how long, what a restock's ``Back In Stock`` event makes of it, and who goes on the waiting list."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infra.memory import MemoryCatalog, MemoryWaitingLists
from shared.adapters.catalog import Waiter
from shared.core.customer import decide
from shared.models.catalog import Product
from shared.models.effects import Send, WatchProduct
from shared.models.state import CustomerState
from shared.service.updater import StateUpdater
from tests.factories import T0, accepted, product, shop_config, track
from tests.unit.test_journeys import EMAIL, EMAIL_CONSENT


def reachable_config(journeys):
    """The demo shop with these journeys, sending email."""
    config = shop_config(journeys)
    return config.model_copy(update={"channels": config.channels.model_copy(update={"email": EMAIL})})


# A customer nudge can reach by email (consent and address known before the story starts).
REACHABLE = CustomerState(user_id="u1", traits={"email": "u1@example.com"}, consents=[EMAIL_CONSENT])
SHOP = reachable_config({"back_in_stock": {}})
NO_JOURNEY = shop_config({"cart_abandonment": {"steps": [{"wait": "PT1H", "template": "cart_reminder"}]}})


def run(*events, state=REACHABLE, config=SHOP):
    """Apply events in order, like the updater; the final state and every effect."""
    effects = []
    for event in events:
        decision = decide(state, event, event.received_at, config)
        state = decision.state or state
        effects += decision.effects
    return state, effects


def restock(product_id: str, at=T0 + timedelta(days=1)):
    properties = product(product_id, name="Desk lamp", url="https://shop.example/lamp", image_url="https://i/l.jpg")
    return accepted(track("Back In Stock", properties, messageId=f"restock-{product_id}-{at:%s}"), at)


def test_a_notify_me_is_a_wait_and_lists_the_customer_whatever_the_stock():
    state, effects = run(accepted(track("Back In Stock Requested", {"product_id": "lamp"})))

    assert [wait.product_id for wait in state.waits] == ["lamp"]
    [watch] = [effect for effect in effects if isinstance(effect, WatchProduct)]
    assert (watch.customer, watch.product_id, watch.if_out_of_stock) == ("u:u1", "lamp", False)
    assert watch.until - watch.since == timedelta(days=90)  # the shop's catalog.wait_expiry by default


def test_wishlist_and_cart_adds_list_the_customer_only_if_out_of_stock_and_only_where_a_restock_reaches():
    events = [
        accepted(track("Product Added to Wishlist", product("lamp"))),
        accepted(track("Product Added", product("desk", cart_id="c1"))),
    ]
    _, effects = run(*events)
    watches = [effect for effect in effects if isinstance(effect, WatchProduct)]
    assert [(w.product_id, w.if_out_of_stock) for w in watches] == [("lamp", True), ("desk", True)]

    _, effects = run(*events, config=NO_JOURNEY)
    assert not [effect for effect in effects if isinstance(effect, WatchProduct)]  # no back-in-stock journey


def test_the_restock_sends_one_message_with_the_product_and_uses_the_wait_up():
    state, _ = run(accepted(track("Back In Stock Requested", {"product_id": "lamp"})))

    state, effects = run(restock("lamp"), state=state)

    [send] = [effect for effect in effects if isinstance(effect, Send)]
    assert send.message.template == "back_in_stock"
    assert send.message.variables["product"]["name"] == "Desk lamp"
    assert send.message.variables["product"]["url"] == "https://shop.example/lamp"
    assert state.waits == []
    # Another restock a week later (it sold out again): the customer asked once, and heard once.
    state, effects = run(restock("lamp", T0 + timedelta(days=8)), state=state)
    assert not [effect for effect in effects if isinstance(effect, Send)]


def test_a_customer_who_bought_it_meanwhile_or_waited_too_long_hears_nothing():
    bought, _ = run(
        accepted(track("Back In Stock Requested", {"product_id": "lamp"})),
        accepted(track("Order Completed", {"order_id": "o1", "products": [product("lamp")]}), T0 + timedelta(hours=1)),
    )
    assert bought.waits == []
    _, effects = run(restock("lamp"), state=bought)
    assert not [effect for effect in effects if isinstance(effect, Send)]

    wished, _ = run(accepted(track("Product Added to Wishlist", product("lamp"))))
    late, effects = run(restock("lamp", T0 + timedelta(days=91)), state=wished)
    assert not [effect for effect in effects if isinstance(effect, Send)]
    assert "no longer waits for the product" in late.journey_log[-1].reason


def test_the_updater_lists_a_wishlist_add_only_while_the_catalogue_holds_the_product_out_of_stock():
    catalog, waiting = MemoryCatalog(), MemoryWaitingLists()
    fields = {"title": "Lamp", "link": "https://shop.example/lamp", "price": "49.00 EUR", "updated_at": T0}
    catalog.put("demo", Product.model_validate({"id": "gone", "availability": "out_of_stock", **fields}), 0)
    catalog.put("demo", Product.model_validate({"id": "here", "availability": "in_stock", **fields}), 0)
    updater = StateUpdater(None, None, None, lambda: T0, catalog=catalog, waiting=waiting)  # type: ignore[arg-type]

    def watch(product_id: str, if_out_of_stock: bool = True) -> WatchProduct:
        until = T0 + timedelta(days=90)
        return WatchProduct(
            shop_id="demo",
            product_id=product_id,
            customer="u:1",
            since=T0,
            until=until,
            if_out_of_stock=if_out_of_stock,
        )

    updater._carry_out([watch("gone"), watch("here"), watch("unknown"), watch("asked", if_out_of_stock=False)])

    listed = {
        p: [w.customer for w in waiting.page("demo", p, 10, None)[0]] for p in ("gone", "here", "unknown", "asked")
    }
    assert listed == {"gone": ["u:1"], "here": [], "unknown": [], "asked": ["u:1"]}


def test_a_restock_page_that_comes_before_the_catalogue_write_waits_for_it():
    """The catalogue starts the fan-out before it writes the product: a page that runs first must not end the
    restock as 'out of stock again', but be asked again later (SQS redelivers it)."""
    from infra.memory import MemoryQueue, MemoryShops
    from shared.service.fan_out import FanOutNotReady
    from shared.service.restock import RestockPager, restock_job

    catalog, waiting, shops = MemoryCatalog(), MemoryWaitingLists(), MemoryShops()
    shops.apply(SHOP)
    events = MemoryQueue("events.fifo", lambda: T0, fifo=True)
    fields = {"title": "Lamp", "link": "https://shop.example/lamp", "price": "49.00 EUR", "updated_at": T0}
    catalog.put("demo", Product.model_validate({"id": "lamp", "availability": "out_of_stock", **fields}), 0)
    waiting.watch("demo", "lamp", Waiter("u:ana", T0, T0 + timedelta(days=90)))
    pager = RestockPager(catalog, waiting, events, shops, lambda: T0)
    job = restock_job("demo", "lamp", 2, T0)  # the upload that restocks it writes version 2

    with pytest.raises(FanOutNotReady):
        pager.page(job, None)
    assert len(events) == 0 and waiting.page("demo", "lamp", 10, None)[0]  # nobody told, nobody forgotten

    catalog.put("demo", Product.model_validate({"id": "lamp", "availability": "in_stock", **fields}), 1)
    done = pager.page(job, None)

    assert (done.told, done.next, len(events)) == (1, None, 1)
