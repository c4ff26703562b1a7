"""Back in stock (J7) on the local stack: what only it shows is the restock fan-out as a Standard execution of the
fan-out state machine (moto's interpreter): its Page task hands the fan-out function a page with a task token over
SQS, the function answers it, and the machine waits and asks for the next page until the list is done. What the
journey decides (who waits, expiry, bought meanwhile, consent) is test_back_in_stock.py, in memory."""

from __future__ import annotations

from typing import Any

from shared import aws
from tests.factories import shopper, track
from tests.integration.http import call, post
from tests.integration.test_journeys_on_stack import SECRET, WRITE, messages, unique


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
        told = [m for m in messages(local_stack, user)["messages"] if m["template"] == "back_in_stock"]
        assert [(m["status"], m["channel"]) for m in told] == [("sent", "email")], told
    client = aws.stepfunctions()
    machine = local_stack.deployment.physical["FanOutStateMachine"]
    executions = client.list_executions(stateMachineArn=machine)["executions"]
    mine = [e for e in executions if sku in client.describe_execution(executionArn=e["executionArn"])["input"]]
    assert [e["status"] for e in mine] == ["SUCCEEDED"]  # one fan-out, done
    status, view = call(local_stack.base_url, "GET", f"/v1/catalog/{sku}", key=SECRET)
    assert (status, view["availability"]) == (200, "in_stock")
