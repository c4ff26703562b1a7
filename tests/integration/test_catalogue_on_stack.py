"""The catalogue journeys on the local stack. A price drop: what only the stack shows is the sweep
(moto's interpreter): its Map runs the sweep's parallel-scan segments side by side, each asking the fan-out function
for one page at a time over SQS with a task token. Who is told and why is test_price_drop.py, in memory."""

from __future__ import annotations

from typing import Any

from shared import aws
from tests.factories import shopper, track
from tests.integration.http import post
from tests.integration.test_journeys_on_stack import SECRET, WRITE, messages, unique


def test_a_price_drop_sweeps_the_customers_in_parallel_segments_and_tells_who_viewed_it(local_stack):
    sku = unique("lamp")
    product = {
        "id": sku,
        "title": "Reading lamp",
        "link": f"https://fast.shop.example/p/{sku}",
        "price": "100.00 EUR",
        "availability": "in_stock",
    }
    assert post(local_stack.base_url, "/v1/catalog", {"products": [product]}, key=SECRET)[0] == 200
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
        told = [m for m in messages(local_stack, user)["messages"] if m["template"] == "price_drop"]
        assert [(m["status"], m["channel"]) for m in told] == [("sent", "email")], told
    assert [m for m in messages(local_stack, bystander)["messages"] if m["template"] == "price_drop"] == []
    client = aws.stepfunctions()
    machine = local_stack.deployment.physical["FanOutStateMachine"]
    executions = client.list_executions(stateMachineArn=machine)["executions"]
    mine = [e for e in executions if sku in client.describe_execution(executionArn=e["executionArn"])["input"]]
    assert [e["status"] for e in mine] == ["SUCCEEDED"]


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
