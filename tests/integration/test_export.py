"""A customer's data export (GDPR Art. 15, 20) end to end on template.yaml in memory: ``GET
/v1/customers/{id}/export`` with the shop's secret key holds everything nudge keeps about the customer, each part in
its place (docs/PRIVACY.md), and nobody else's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml

from shared.models.config import ShopConfig
from tests.factories import boots, consent, shopper, track
from tests.integration.test_journeys import SECRET, WRITE, send, settle, unique
from tests.memory import FAST_CONFIG, MemoryStack


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    document["segments"] = {**document.get("segments", {}), "buyers": {"orders": {"gte": 1}}}
    return memory_stack([ShopConfig.model_validate(document)])


def export(stack: MemoryStack, user: str, key: str = SECRET) -> tuple[int, Any]:
    return stack.call("GET", f"/v1/customers/{user}/export", key=key)


def test_the_export_holds_profile_consents_devices_shopping_messages_inbox_codes_journeys_and_segments(stack):
    user, other = unique("ada"), unique("bob")
    app = {"device": {"token": f"tok-{user}", "type": "ios"}}
    send(
        stack,
        *shopper(user, "email", "in_app"),
        track("Application Installed", {}, userId=user, context=app),
        track("Product Added", boots(), userId=user),
        *shopper(other, "email"),
    )
    settle(stack, 5)  # the cart reminder, then the cart offer with its code
    send(stack, consent("sms", "withdrawn", userId=user))
    stack.clock.at += timedelta(hours=1)
    send(stack, track("Order Completed", {"order_id": "o-1", "revenue": 99.0, "cart_id": "c1"}, userId=user))
    settle(stack, 5)

    status, body = export(stack, user)

    assert status == 200
    assert body["format"] == "nudge-customer-export/1" and body["customer_id"] == user and body["shop"] == "fast"
    assert body["profile"]["traits"]["email"] == f"{user}@example.com"
    history = [(c["channel"], c["status"]) for c in body["consents"]["history"]]
    assert ("email", "granted") in history and ("sms", "withdrawn") in history
    assert body["consents"]["in_force"]["in_app"]["status"] == "granted"
    assert [t["token"] for t in body["devices"]["push_tokens"]] == [f"tok-{user}"]
    assert body["shopping"]["orders"]["recent"][0]["order_id"] == "o-1"
    templates = {m["template"] for m in body["messages"]}
    assert {"cart_reminder", "cart_offer"} <= templates and all(m["attempts"] for m in body["messages"])
    codes = {c["code"]: c for c in body["offer_codes"]}  # every code a message carried, as the checkout sees it
    carried = {m["details"]["offer_code"] for m in body["messages"] if "offer_code" in m["details"]}
    assert set(codes) == carried and any(code.startswith("CART") for code in codes)
    assert {c["customer"] for c in codes.values()} == {f"u:{user}"}
    assert body["segments"] == ["buyers"]
    assert body["insights"]["lifecycle"]["stage"] == "new"
    assert any(entry["outcome"] == "entered" for entry in body["journeys"]["log"])
    assert other not in str(body)  # nobody else's data


def test_only_the_shops_secret_key_exports_and_an_unknown_customer_is_a_404(stack):
    user = unique("eve")
    send(stack, *shopper(user, "email"))

    assert export(stack, user, key=WRITE)[0] == 401
    assert export(stack, user, key="demo-secret-key")[0] == 401  # a key of no shop on this deployment
    assert export(stack, unique("nobody"))[0] == 404
