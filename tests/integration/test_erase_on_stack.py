"""Erasing a customer on the local stack (GDPR Art. 17): a customer with every kind of item nudge keeps (their
state and a merged visitor's record, sent messages in the send ledger, an offer code, an in-app message, a phone
index entry, a back-in-stock wait) is erased with ``DELETE /v1/customers/{id}``; then every item of every table of
the stack is scanned for the customer's id, e-mail and phone: none is left but the suppression record's digests.
A late event sent before the erasure starts no new profile."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta

from shared import aws
from shared.adapters.phone_index import PhoneIndex
from tests.factories import boots, consent, identify, track
from tests.integration.http import call
from tests.integration.test_journeys_on_stack import SECRET, WRITE, send, settle, unique


def _readable(value: object) -> str:
    """A binary attribute as text: the customer state's zlib-compressed document, inflated."""
    assert isinstance(value, bytes)
    try:
        return zlib.decompress(value).decode("utf-8", errors="replace")
    except zlib.error:
        return value.decode("utf-8", errors="replace")


def everything(stack) -> str:
    """Every item of every DynamoDB table of the stack, as text (compressed documents inflated)."""
    dynamodb = aws.client("dynamodb")
    found = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            found += [json.dumps(item, default=_readable) for item in page["Items"]]
    return "\n".join(found)


def test_an_erased_customer_leaves_no_trace_in_any_table_and_a_late_event_brings_nothing_back(local_stack):
    user, visitor = unique("erase"), unique("anon")
    email, phone = f"{user}@example.com", "+4915790001234"
    app = {"device": {"token": f"tok-{user}", "type": "android"}}
    send(
        local_stack,
        track("Product Viewed", {"product_id": "lamp"}, anonymousId=visitor),
        identify({"firstName": "Eva", "email": email, "phone": phone}, userId=user, anonymousId=visitor),
        consent("email", userId=user),
        consent("in_app", userId=user),
        track("Application Installed", {}, userId=user, context=app),
        track("Product Added", boots(), userId=user),
        track("Back In Stock Requested", {"product_id": "sold-out-lamp", "name": "Lamp"}, userId=user),
        track("Cart Viewed", {"cart_id": "c3", "products": [{"product_id": "socks", "price": 9.0}]}, userId=user),
    )
    settle(local_stack, 5)  # the cart reminder, then the cart offer with its code
    PhoneIndex(local_stack.deployment.physical["CustomersTable"]).remember("fast", f"u:{user}", phone, "+4930000")
    before = everything(local_stack)
    assert user in before and email in before and phone in before and visitor in before
    kinds = {json.loads(line)["sk"]["S"].split("#")[0] for line in before.splitlines() if user in line}
    kinds |= {json.loads(line)["pk"]["S"].split("#")[0] for line in before.splitlines() if user in line}
    # every kind of item: state (and the visitor's), ledger, inbox, offer code, phone index, waiting list
    assert {"state", "msg", "inbox", "offer", "phone"} <= kinds, kinds
    assert any("#waiting#" in line and user in line for line in before.splitlines())

    status, erased = call(local_stack.base_url, "DELETE", f"/v1/customers/{user}", key=SECRET)

    assert status == 200 and set(erased["records"]) == {f"u:{user}", f"a:{visitor}"}
    after = everything(local_stack)
    for trace in (user, visitor, email, phone, f"tok-{user}"):
        assert trace not in after, [line[:300] for line in after.splitlines() if trace in line]
    assert call(local_stack.base_url, "GET", f"/v1/customers/{user}", key=SECRET)[0] == 404

    # A client's retry of an event sent before the erasure changes nothing; the customer stays erased
    late = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    send(local_stack, track("Product Added", boots("c9"), userId=user, timestamp=late))
    assert call(local_stack.base_url, "GET", f"/v1/customers/{user}", key=SECRET)[0] == 404
    assert user not in everything(local_stack)


def test_erasing_needs_the_shops_secret_key(local_stack):
    user = unique("keep")
    send(local_stack, identify({"email": f"{user}@example.com"}, userId=user))

    assert call(local_stack.base_url, "DELETE", f"/v1/customers/{user}", key=WRITE)[0] == 401
    assert call(local_stack.base_url, "DELETE", f"/v1/customers/{unique('nobody')}", key=SECRET)[0] == 404
    assert call(local_stack.base_url, "GET", f"/v1/customers/{user}", key=SECRET)[0] == 200
