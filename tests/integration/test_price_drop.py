"""Price drop end to end on template.yaml in memory: the catalogue says a product's price fell by the shop's threshold,
a sweep of the shop's customers (the fan-out state machine's parts played in virtual time) finds who wants it, and
each gets one ``price_drop`` message, at most once per product per 30 days. Through real Step Functions (moto's
interpreter): test_catalogue_on_stack.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.factories import shopper, track
from tests.integration.test_back_in_stock import catalog, until_quiet
from tests.integration.test_journeys import messages, send, unique
from tests.memory import FAST_CONFIG, MemoryStack


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([FAST_CONFIG])


def lamp(product_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": product_id,
        "title": "Reading lamp",
        "link": f"https://fast.shop.example/p/{product_id}",
        "price": "100.00 EUR",
        "availability": "in_stock",
        **fields,
    }


def told(stack: MemoryStack, user: str) -> list[dict[str, Any]]:
    return [m for m in messages(stack, user)["messages"] if m["template"] == "price_drop"]


def seen(event: str, product_id: str, user: str, **properties: Any) -> dict[str, Any]:
    return track(event, {"product_id": product_id, "name": "Reading lamp", **properties}, userId=user)


def test_who_viewed_wishlisted_or_carted_the_product_hears_of_its_drop_once(stack):
    sku, chair = unique("lamp"), unique("chair")
    names = ("viewer", "wisher", "carter", "stale", "buyer", "other", "mute")
    viewer, wisher, carter, stale, buyer, other, mute = (unique(n) for n in names)
    catalog(stack, lamp(sku), lamp(chair, title="Chair"))
    send(stack, *shopper(stale, "email"), seen("Product Viewed", sku, stale))
    stack.clock.at += timedelta(days=15)  # the stale view is now older than the shop's 14 days
    send(
        stack,
        *shopper(viewer, "email"),
        seen("Product Viewed", sku, viewer),
        *shopper(wisher, "email"),
        seen("Product Added to Wishlist", sku, wisher),
        *shopper(carter, "email"),
        seen("Product Added", sku, carter),
        *shopper(buyer, "email"),
        seen("Product Viewed", sku, buyer),
        track("Order Completed", {"order_id": unique("o"), "products": [{"product_id": sku}]}, userId=buyer),
        *shopper(other, "email"),
        seen("Product Viewed", chair, other),
        *shopper(mute),
        seen("Product Viewed", sku, mute),
    )

    answer = catalog(stack, {"id": sku, "price": "85.00 EUR"})  # 15 % off
    until_quiet(stack)

    assert {"id": sku, "field": "price", "from": "100.00 EUR", "to": "85.00 EUR"} in answer["changes"]
    for user in (viewer, wisher, carter):
        [message] = told(stack, user)
        assert (message["status"], message["channel"]) == ("sent", "email")
        assert "85.00" in message["title"] and "100.00" in message["title"]
    for user in (stale, buyer, other):
        assert told(stack, user) == []
    assert told(stack, mute) == []  # no channel reaches them: the sweep does not tell them

    # A second, deeper drop a week later: once per product per 30 days.
    stack.clock.at += timedelta(days=7)
    catalog(stack, {"id": sku, "price": "60.00 EUR"})
    until_quiet(stack)
    assert len(told(stack, viewer)) == 1


def test_a_drop_below_the_threshold_tells_nobody_and_a_sale_price_counts(stack):
    sku, user = unique("lamp"), unique("u")
    catalog(stack, lamp(sku))
    send(stack, *shopper(user, "email"), seen("Product Viewed", sku, user))

    catalog(stack, {"id": sku, "price": "95.00 EUR"})  # 5 %: below the shop's 10 %
    until_quiet(stack)
    assert told(stack, user) == []
    assert stack.cloud.fan_outs.started == 0

    catalog(stack, {"id": sku, "sale_price": "79.00 EUR"})  # the price a customer pays: 95 -> 79
    until_quiet(stack)
    [message] = told(stack, user)
    assert "79.00" in message["title"]
    assert stack.cloud.fan_outs.jobs[-1].parts == 4  # the sweep's parallel-scan segments


def test_a_sale_that_starts_later_is_announced_when_it_starts_once_and_not_if_it_is_called_off_before(stack):
    sku, other = unique("lamp"), unique("lamp")
    viewer = unique("viewer")
    catalog(stack, lamp(sku), lamp(other, title="Desk lamp"))
    send(stack, *shopper(viewer, "email"), seen("Product Viewed", sku, viewer), seen("Product Viewed", other, viewer))
    # The feed announces two sales (20 % off) that start in two days
    start = stack.clock.at + timedelta(days=2)
    period = f"{start.isoformat()}/{(start + timedelta(days=5)).isoformat()}"
    sale = {"sale_price": "80.00 EUR", "sale_price_effective_date": period}
    answer = catalog(stack, {"id": sku, **sale}, {"id": other, **sale})
    assert answer["changes"] == []  # nothing a customer pays changes yet

    # Until the start nobody hears of it; the feed comes again the next night with the same sale, and the shop calls
    # off the second one
    stack.settle()
    stack.clock.at += timedelta(days=1)
    catalog(stack, {"id": sku, **sale})
    catalog(stack, {"id": other, "sale_price": None, "sale_price_effective_date": None})
    while (moment := stack.cloud.next_visible()) is not None and moment < start:
        stack.clock.at = max(stack.clock.at, moment)
        stack.settle()
    assert told(stack, viewer) == []

    # From the start, the viewer hears of the sale that stands, once; each part waited once (the machine held it)
    pages = stack.cloud.fan_outs.pages
    until_quiet(stack)
    # one sweep (both sales start together) of 4 parts: a page each at the upload, and one after the wait
    assert (pages, stack.cloud.fan_outs.pages) == (4, 8)
    [message] = told(stack, viewer)
    assert message["status"] == "sent" and "80.00" in message["title"] and "100.00" in message["title"]
    assert "Reading lamp" in message["title"]  # the sale that stands, not the desk lamp's called off
    assert stack.clock.at >= start


def test_the_sweeps_parts_together_keep_to_the_shops_rate(memory_stack):
    # Given a shop that tells 1 customer a second, 16 customers who viewed the lamp, and pages of 2 customers
    from shared.models.config import ShopConfig
    from shared.service.price_drop import PriceDropPager

    document = ShopConfig.from_yaml_file(FAST_CONFIG).model_dump(mode="json", exclude_unset=True)
    document["catalog"]["restock_rate"] = 1
    stack: MemoryStack = memory_stack([ShopConfig.model_validate(document)])
    sku = unique("lamp")
    catalog(stack, lamp(sku))
    for _ in range(16):
        user = unique("fan")
        send(stack, *shopper(user, "email"), seen("Product Viewed", sku, user))
    catalog(stack, {"id": sku, "price": "50.00 EUR"})
    [job] = [j for j in stack.cloud.fan_outs.jobs if j.kind == "price_drop"]
    cloud = stack.cloud
    pager = PriceDropPager(cloud.catalog, cloud.customers, cloud.events, cloud.shops, stack.clock, page_size=2)

    # When each part's pages tell their customers (16 in 4 parts: some part has two pages at least)
    waits = []
    for part in range(job.parts):
        done = pager.page(job, part, None)
        while done.next is not None:
            waits.append((done.told, done.wait_seconds))
            done = pager.page(job, part, done.next)

    # Then each page but a part's last waits as long as the 4 parts together need for what it told: 4 s a customer
    # at 1 a second
    assert job.parts == 4 and any(told for told, _ in waits), waits
    assert all(wait == told * 4 for told, wait in waits), waits
