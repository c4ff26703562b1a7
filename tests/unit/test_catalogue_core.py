"""The catalogue in the decision core: what counts as a price drop and who wants the product; each order counted
once for the shop's recommendations."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from shared.adapters.catalog import HeldProduct
from shared.core.customer import decide
from shared.models.catalog import Money, Product
from shared.models.effects import RecordOrder, Send
from shared.models.state import CustomerState
from shared.service.price_drop import dropped_by, price_drop_jobs, price_drops
from tests.factories import T0, accepted, product, shop_config, track
from tests.unit.test_journeys import EMAIL, EMAIL_CONSENT


def reachable_config(journeys):
    """The demo shop with these journeys, sending email."""
    config = shop_config(journeys)
    return config.model_copy(update={"channels": config.channels.model_copy(update={"email": EMAIL})})


# A customer nudge can reach by email (consent and address known before the story starts).
REACHABLE = CustomerState(user_id="u1", traits={"email": "u1@example.com"}, consents=[EMAIL_CONSENT])
SHOP = reachable_config({"price_drop": {}})


def eur(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="EUR")


def lamp(price: str, **fields) -> Product:
    values = {"id": "lamp", "title": "Lamp", "link": "https://shop.example/lamp", "availability": "in_stock"}
    return Product.model_validate({**values, "price": price, **fields, "updated_at": T0})


def test_a_drop_counts_from_the_shops_threshold_in_the_same_currency():
    assert dropped_by(eur("100.00"), eur("90.00"), 10)
    assert not dropped_by(eur("100.00"), eur("90.01"), 10)
    assert not dropped_by(eur("100.00"), Money(amount=Decimal("50"), currency="USD"), 10)
    assert not dropped_by(eur("100.00"), eur("110.00"), 10)


def test_an_upload_drops_only_held_products_and_only_for_a_shop_that_acts_on_drops():
    held = {"lamp": HeldProduct(lamp("100.00 EUR"), 3)}
    cheaper = [lamp("100.00 EUR", sale_price="80.00 EUR"), lamp("10.00 EUR", id="new")]

    [drop] = price_drops(SHOP, held, cheaper, T0)
    assert (drop.product_id, str(drop.previous), str(drop.price)) == ("lamp", "100.00 EUR", "80.00 EUR")
    assert price_drops(shop_config({"welcome": {}}), held, cheaper, T0) == []


def test_a_sale_that_starts_later_drops_at_its_start_once_and_goes_in_a_sweep_of_its_own():
    start = T0 + timedelta(days=3)
    period = f"{start.isoformat()}/{(start + timedelta(days=4)).isoformat()}"
    on_sale = lamp("100.00 EUR", sale_price="70.00 EUR", sale_price_effective_date=period)
    held = {"lamp": HeldProduct(lamp("100.00 EUR"), 3), "desk": HeldProduct(lamp("50.00 EUR", id="desk"), 1)}

    # The upload that announces it: a drop from its start, beside one that counts now
    drops = price_drops(SHOP, held, [on_sale, lamp("40.00 EUR", id="desk")], T0)
    later = next(drop for drop in drops if drop.product_id == "lamp")
    assert (str(later.previous), str(later.price), later.at) == ("100.00 EUR", "70.00 EUR", start)
    jobs = price_drop_jobs("shop", drops, [4, 2], T0)
    assert [(job.not_before, [d.product_id for d in job.drops]) for job in jobs] == [
        (None, ["desk"]),
        (start, ["lamp"]),
    ]
    # The same feed the next night, the sale now held: no new drop
    assert price_drops(SHOP, {"lamp": HeldProduct(on_sale, 4)}, [on_sale], T0 + timedelta(days=1)) == []
    # The sale moved a day later (into its old dates): a drop at the new start
    moved_start = start + timedelta(days=1)
    moved = lamp(
        "100.00 EUR", sale_price="70.00 EUR", sale_price_effective_date=f"{moved_start.isoformat()}/2026-12-31"
    )
    [drop] = price_drops(SHOP, {"lamp": HeldProduct(on_sale, 4)}, [moved], T0 + timedelta(days=1))
    assert (str(drop.previous), drop.at) == ("100.00 EUR", moved_start)
    # A sale a year ahead is not announced (an execution could not wait for it)
    far = T0 + timedelta(days=365)
    next_year = lamp("100.00 EUR", sale_price="70.00 EUR", sale_price_effective_date=f"{far.isoformat()}/2028-01-31")
    assert price_drops(SHOP, {"lamp": HeldProduct(lamp("100.00 EUR"), 3)}, [next_year], T0) == []


def run(*events, state=REACHABLE):
    effects = []
    for event in events:
        decision = decide(state, event, event.received_at, SHOP)
        state = decision.state or state
        effects += decision.effects
    return state, [effect for effect in effects if isinstance(effect, Send)]


def dropped(at):
    properties = product("lamp", name="Lamp", price=80.0, previous_price=100.0, url="https://shop.example/lamp")
    return accepted(track("Price Dropped", properties, messageId=f"drop-{at:%s}"), at)


def test_a_recent_viewer_gets_the_drop_with_both_prices_and_a_buyer_or_an_old_view_does_not():
    viewed, _ = run(accepted(track("Product Viewed", product("lamp"))))
    _, sends = run(dropped(T0 + timedelta(days=1)), state=viewed)
    [send] = sends
    assert (send.message.template, send.message.variables["product"]["previous_price"]) == ("price_drop", 100.0)

    _, sends = run(dropped(T0 + timedelta(days=15)), state=viewed)
    assert sends == []  # the view is older than the shop's 14 days
    bought, _ = run(accepted(track("Order Completed", {"order_id": "o1", "products": [product("lamp")]})), state=viewed)
    _, sends = run(dropped(T0 + timedelta(days=1)), state=bought)
    assert sends == []


def test_a_completed_order_is_counted_once_for_recommendations_with_its_lines():
    order = {"order_id": "o1", "products": [product("lamp", category="Lights", quantity=2), product("bulb")]}
    state, _ = run(accepted(track("Order Completed", order)))
    first = decide(None, accepted(track("Order Completed", order)), T0, SHOP)
    again = decide(state, accepted(track("Order Completed", order)), T0 + timedelta(minutes=1), SHOP)

    [record] = [effect for effect in first.effects if isinstance(effect, RecordOrder)]
    assert [(line.product_id, line.category, line.quantity) for line in record.lines] == [
        ("lamp", "Lights", 2),
        ("bulb", None, 1),
    ]
    assert record.day == T0.date()
    assert not [effect for effect in again.effects if isinstance(effect, RecordOrder)]  # the same order reported again
