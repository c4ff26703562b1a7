"""The send ledger's reads: every Query page is read (DynamoDB stops a page at 1 MB), exact requests via Stubber."""

from __future__ import annotations

import json

import boto3
from botocore.stub import Stubber

from shared.adapters.ledger import SendLedger

TABLE = "nudge-customers"
PK = "demo-shop#c-1"


def ledger_stub() -> tuple[SendLedger, Stubber]:
    client = boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return SendLedger(TABLE, client=client), Stubber(client)


def item(message_id: str, updated_at: str) -> dict:
    return {
        "pk": {"S": PK},
        "sk": {"S": f"msg#{message_id}"},
        "status": {"S": "sent"},
        "journey": {"S": "abandoned_cart"},
        "step": {"N": "0"},
        "template": {"S": "cart_reminder"},
        "channel": {"S": "email"},
        "created_at": {"S": updated_at},
        "updated_at": {"S": updated_at},
    }


def query(start: dict | None = None) -> dict:
    request = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": PK}, ":prefix": {"S": "msg#"}},
    }
    return {**request, "ExclusiveStartKey": start} if start else request


def test_a_customers_messages_are_read_from_every_page_and_sorted_newest_first():
    ledger, stub = ledger_stub()
    last = {"pk": {"S": PK}, "sk": {"S": "msg#m-2"}}
    stub.add_response(
        "query",
        {
            "Items": [item("m-1", "2026-03-01T10:00:00+00:00"), item("m-2", "2026-03-01T09:00:00+00:00")],
            "LastEvaluatedKey": last,
        },
        query(),
    )
    stub.add_response("query", {"Items": [item("m-3", "2026-03-02T08:00:00+00:00")]}, query(last))
    with stub:
        entries = ledger.list("demo-shop", "c-1")
    stub.assert_no_pending_responses()
    assert [entry.message_id for entry in entries] == ["m-3", "m-1", "m-2"]


def test_the_limit_applies_after_every_page_was_read():
    ledger, stub = ledger_stub()
    last = {"pk": {"S": PK}, "sk": {"S": "msg#m-1"}}
    stub.add_response("query", {"Items": [item("m-1", "2026-03-01T10:00:00+00:00")], "LastEvaluatedKey": last}, query())
    stub.add_response("query", {"Items": [item("m-2", "2026-03-05T10:00:00+00:00")]}, query(last))
    with stub:
        entries = ledger.list("demo-shop", "c-1", limit=1)
    assert [entry.message_id for entry in entries] == ["m-2"]


def test_an_item_as_stored_loads_typed_and_support_sees_the_same_json():
    ledger, stub = ledger_stub()
    attempts = (
        '[{"channel": "push", "outcome": "permanent_failure", "reason": "push_endpoint_disabled",'
        ' "at": "2026-03-01T09:59:58+00:00"}, {"channel": "email", "outcome": "sent", "reason": null,'
        ' "at": "2026-03-01T10:00:00+00:00"}]'
    )
    stored = {
        **item("m-1", "2026-03-01T10:00:00+00:00"),
        "attempts": {"S": attempts},
        "details": {"S": '{"provider_message_id": "ses-1"}'},
        "expires_at": {"N": "1807000000"},
    }
    stub.add_response("query", {"Items": [stored]}, query())
    with stub:
        (entry,) = ledger.list("demo-shop", "c-1")
    assert entry.final and entry.status == "sent" and entry.channel == "email"
    assert [(a.channel, a.outcome) for a in entry.attempts] == [("push", "permanent_failure"), ("email", "sent")]
    view = entry.view()
    assert view["attempts"] == json.loads(attempts)
    assert view["details"] == {"provider_message_id": "ses-1"}
