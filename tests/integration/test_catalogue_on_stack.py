"""The catalogue journeys on the local stack. What only the stack shows is the fan-out as a Standard execution of the
fan-out state machine (moto's interpreter): a restock's one part, or a price drop sweep's parallel-scan segments
side by side (its Map), each asking the fan-out function for one page at a time over SQS with a task token, which
the function answers; and the free-shipping nudge reaching the app inbox. Who is told and why: test_back_in_stock.py,
test_price_drop.py and test_catalogue_journeys.py, in memory."""

from __future__ import annotations

from typing import Any

from shared import aws
from tests.factories import shopper, track
from tests.integration.http import call, post
from tests.integration.test_journeys_on_stack import SECRET, WRITE, messages, unique


def told(stack, user: str, template: str) -> list[tuple[str, str | None]]:
    """(status, channel) of each ``template`` message support sees for ``user``."""
    return [(m["status"], m["channel"]) for m in messages(stack, user)["messages"] if m["template"] == template]


def fan_outs_about(stack, marker: str) -> list[str]:
    """The statuses of the fan-out machine's executions whose input names ``marker`` (a product id)."""
    client = aws.stepfunctions()
    machine = stack.deployment.physical["FanOutStateMachine"]
    executions = client.list_executions(stateMachineArn=machine)["executions"]
    return [
        e["status"] for e in executions if marker in client.describe_execution(executionArn=e["executionArn"])["input"]
    ]


def test_a_restock_reaches_each_waiting_customer_through_the_restock_machine(local_stack):
    sku = unique("boots")
    product = {
        "id": sku,
        "title": "Alpine boots",
        "link": f"https://fast.shop.example/p/{sku}",
        "price": "129.00 EUR",
        "availability": "out_of_stock",
    }
    assert post(local_stack.base_url, "/v1/catalog", {"products": [product]}, key=SECRET)[0] == 200
    users = [unique("wait") for _ in range(3)]
    batch: list[dict[str, Any]] = []
    for user in users:
        batch += [*shopper(user, "email"), track("Back In Stock Requested", {"product_id": sku}, userId=user)]
    assert post(local_stack.base_url, "/v1/batch", {"batch": batch}, key=WRITE)[0] == 200
    local_stack.wait_idle()

    restock = {"products": [{"id": sku, "availability": "in_stock"}]}
    assert post(local_stack.base_url, "/v1/catalog", restock, key=SECRET)[0] == 200
    local_stack.wait_idle(timeout=60, timers=True)

    for user in users:
        assert told(local_stack, user, "back_in_stock") == [("sent", "email")]
    assert fan_outs_about(local_stack, sku) == ["SUCCEEDED"]  # one fan-out, done
    status, view = call(local_stack.base_url, "GET", f"/v1/catalog/{sku}", key=SECRET)
    assert (status, view["availability"]) == (200, "in_stock")


def lamp(sku: str) -> dict[str, Any]:
    """A reading lamp at 100 EUR, in stock."""
    link = f"https://fast.shop.example/p/{sku}"
    return {"id": sku, "title": "Reading lamp", "link": link, "price": "100.00 EUR", "availability": "in_stock"}


def test_a_price_drop_sweeps_the_customers_in_parallel_segments_and_tells_who_viewed_it(local_stack):
    sku = unique("lamp")
    assert post(local_stack.base_url, "/v1/catalog", {"products": [lamp(sku)]}, key=SECRET)[0] == 200
    viewers, bystander = [unique("view") for _ in range(3)], unique("other")
    batch: list[dict[str, Any]] = [*shopper(bystander, "email")]
    for user in viewers:
        batch += [*shopper(user, "email"), track("Product Viewed", {"product_id": sku}, userId=user)]
    assert post(local_stack.base_url, "/v1/batch", {"batch": batch}, key=WRITE)[0] == 200
    local_stack.wait_idle()

    drop = {"products": [{"id": sku, "price": "80.00 EUR"}]}
    assert post(local_stack.base_url, "/v1/catalog", drop, key=SECRET)[0] == 200
    local_stack.wait_idle(timeout=60, timers=True)

    for user in viewers:
        assert told(local_stack, user, "price_drop") == [("sent", "email")]
    assert told(local_stack, bystander, "price_drop") == []
    assert fan_outs_about(local_stack, sku) == ["SUCCEEDED"]


def test_a_cart_below_free_shipping_reaches_the_app_inbox_with_the_gap(local_stack):
    from shared.adapters.channels import InboxStore

    user, mug = unique("app"), unique("mug")
    product = {
        "id": mug,
        "title": "Enamel mug",
        "link": f"https://fast.shop.example/p/{mug}",
        "price": "39.90 EUR",
        "availability": "in_stock",
    }
    assert post(local_stack.base_url, "/v1/catalog", {"products": [product]}, key=SECRET)[0] == 200
    cart = {"cart_id": "c1", "products": [{"product_id": mug, "name": "Enamel mug", "price": 39.9}]}
    batch = [
        *shopper(user, "in_app"),
        track("Application Installed", {"version": "4.2"}, userId=user),
        track("Cart Viewed", cart, userId=user),
    ]
    assert post(local_stack.base_url, "/v1/batch", {"batch": batch}, key=WRITE)[0] == 200
    local_stack.wait_idle()

    inbox = InboxStore(local_stack.resources["CustomersTable"]).list("fast", f"u:{user}")
    [item] = [item for item in inbox if "free shipping" in item.title]  # beside the welcome
    assert "€10.10" in item.text


def test_the_cross_sell_recommends_what_others_bought_with_the_order(local_stack):
    import time

    from tests.integration.test_channels_on_stack import emails_to

    mug, tea, user = unique("mug"), unique("tea"), unique("new")
    products = [
        {"id": pid, "title": title, "link": f"https://fast.shop.example/p/{pid}", "price": "9.00 EUR"}
        | {"availability": "in_stock"}
        for pid, title in ((mug, "Enamel mug"), (tea, "Green tea"))
    ]
    assert post(local_stack.base_url, "/v1/catalog", {"products": products}, key=SECRET)[0] == 200
    earlier = [
        track("Order Completed", {"order_id": unique("o"), "products": [{"product_id": mug}, {"product_id": tea}]})
        | {"userId": unique("earlier")}
        for _ in range(2)
    ]
    order = {"order_id": unique("o"), "revenue": 9.0, "products": [{"product_id": mug, "name": "Enamel mug"}]}
    batch = [*earlier, *shopper(user, "email"), track("Order Completed", order, userId=user)]
    assert post(local_stack.base_url, "/v1/batch", {"batch": batch}, key=WRITE)[0] == 200

    time.sleep(4)  # the fast shop's post-purchase steps: thank-you, review request, cross-sell, a second apart
    local_stack.wait_idle(timeout=60, timers=True)

    assert told(local_stack, user, "cross_sell") == [("sent", "email")]
    [email] = [e for e in emails_to(f"{user}@example.com") if "ideas" in str(e["Subject"])]
    text = email.get_body(("plain",)).get_content()
    assert "Green tea" in text and "Enamel mug" not in text  # bought with the mug by others; never what they own


def test_a_sale_that_starts_later_is_announced_when_it_starts_through_the_machines_wait(local_stack):
    from datetime import UTC, datetime, timedelta

    sku = unique("lamp")
    assert post(local_stack.base_url, "/v1/catalog", {"products": [lamp(sku)]}, key=SECRET)[0] == 200
    viewer = unique("view")
    batch = [*shopper(viewer, "email"), track("Product Viewed", {"product_id": sku}, userId=viewer)]
    assert post(local_stack.base_url, "/v1/batch", {"batch": batch}, key=WRITE)[0] == 200
    local_stack.wait_idle()

    # A sale (20 % off) that starts in a few seconds
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=6)
    period = f"{start.isoformat()}/{(start + timedelta(days=3)).isoformat()}"
    sale = {"products": [{"id": sku, "sale_price": "80.00 EUR", "sale_price_effective_date": period}]}
    assert post(local_stack.base_url, "/v1/catalog", sale, key=SECRET)[0] == 200
    local_stack.wait_idle(timeout=60)  # the sweep's first pages ran and were told to wait
    assert datetime.now(UTC) < start, "the machine was too slow to look before the start"
    assert told(local_stack, viewer, "price_drop") == []

    local_stack.wait_idle(timeout=60, timers=True)
    assert told(local_stack, viewer, "price_drop") == [("sent", "email")]
    assert fan_outs_about(local_stack, sku) == ["SUCCEEDED"]
