"""The in-app inbox's DynamoDB requests: where a message lands in the customers table and how it stays single."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from shared.adapters.channels.inbox import InAppProvider, InboxStore, deliver_request, mark_read_request
from shared.models.messages import Address, Content, TransientDeliveryError

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def content() -> Content:
    return Content(channel="in_app", locale="en", title="New in", text="Fresh arrivals", data={"promo_code": "NEW5"})


def test_a_message_lands_in_the_customers_partition_under_an_inbox_key_never_the_state_key():
    request = deliver_request("demo", "u:ada", "state", content(), T0, timedelta(days=30))

    assert request["Item"]["pk"] == {"S": "demo#u:ada"}
    assert request["Item"]["sk"] == {"S": "inbox#state"}  # even a message id of "state" cannot hit the record


def test_a_delivery_is_conditional_so_a_redelivery_cannot_duplicate_or_overwrite():
    request = deliver_request("demo", "u:ada", "m-1", content(), T0, timedelta(days=30))

    assert request["ConditionExpression"] == "attribute_not_exists(sk)"
    # the key holds no time: a redelivery at another time hits the same item
    later = deliver_request("demo", "u:ada", "m-1", content(), T0 + timedelta(hours=5), timedelta(days=30))
    assert later["Item"]["sk"] == request["Item"]["sk"]


def test_a_message_expires_through_the_tables_ttl_attribute():
    request = deliver_request("demo", "u:ada", "m-1", content(), T0, timedelta(days=30))

    assert request["Item"]["expires_at"] == {"N": str(int((T0 + timedelta(days=30)).timestamp()))}
    assert request["Item"]["data"] == {"M": {"promo_code": {"S": "NEW5"}}}


def test_marking_read_keeps_the_first_read_time_and_needs_the_message_to_exist():
    request = mark_read_request("demo", "u:ada", "m-1", T0)

    assert request["UpdateExpression"] == "SET read_at = if_not_exists(read_at, :now)"
    assert request["ConditionExpression"] == "attribute_exists(sk)"


def test_dynamodb_throttling_is_retried_never_a_fallback():
    client = boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_client_error("put_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400)
    provider = InAppProvider(InboxStore("customers", client), "demo", clock=lambda: T0)

    with stub, pytest.raises(TransientDeliveryError, match="inbox_unavailable"):
        provider.send(Address(channel="in_app", value="u:ada"), content(), "m-1")
