"""Batch calls against a throttled table: DynamoDB answers part of a BatchWriteItem or BatchGetItem and hands the rest
back (``UnprocessedItems``, ``UnprocessedKeys``), which the SDK does not retry. The adapters send it again after an
exponential backoff with jitter, land every item, and give up with an error that says what is left, instead of
spinning on a throttled table for ever.

The table is moto's; the client in front of it processes only a few requests a call, as a throttled table does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared.adapters import table as table_module
from shared.adapters.catalog import CatalogStore
from shared.adapters.erasure import CustomerErasure
from shared.adapters.offers import OfferStore
from shared.adapters.table import BACKOFF_SECONDS, BATCH_ATTEMPTS, UnprocessedError
from shared.models.catalog import Product

TABLE = "customers"


class Throttled:
    """A DynamoDB client whose batch calls process at most ``per_call`` requests or keys and hand back the rest."""

    def __init__(self, client: Any, per_call: int) -> None:
        self.client, self.per_call = client, per_call
        self.consistent: list[bool] = []

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        [(name, requests)] = RequestItems.items()
        done, left = requests[: self.per_call], requests[self.per_call :]
        if done:
            self.client.batch_write_item(RequestItems={name: done})
        return {"UnprocessedItems": {name: left} if left else {}}

    def batch_get_item(self, RequestItems: dict[str, dict[str, Any]]) -> dict[str, Any]:
        [(name, request)] = RequestItems.items()
        self.consistent.append(request.get("ConsistentRead", False))
        keys = request["Keys"]
        done, left = keys[: self.per_call], keys[self.per_call :]
        found = self.client.batch_get_item(RequestItems={name: {**request, "Keys": done}}) if done else {}
        return {
            "Responses": {name: found.get("Responses", {}).get(name, [])},
            "UnprocessedKeys": {name: {**request, "Keys": left}} if left else {},
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff's sleeps, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(table_module.time, "sleep", slept.append)
    return slept


def test_a_code_pool_uploaded_to_a_throttled_table_lands_whole_with_growing_pauses(dynamodb, pauses):
    # Given a table that takes 10 writes a call
    store = OfferStore(TABLE, client=Throttled(dynamodb, per_call=10))

    # When a shop uploads 60 codes (BatchWriteItem takes 25 a call: 25, 25 and 10)
    uploaded = store.upload("demo", "spring", [f"CODE{n:03}" for n in range(60)])

    # Then every code is in the pool, and each batch of 25 took three calls with two pauses before the retries
    assert uploaded == 60 and OfferStore(TABLE, client=dynamodb).available("demo", "spring") == 60
    assert len(pauses) == 4
    for first, second in (pauses[0:2], pauses[2:4]):
        assert 0 <= first <= BACKOFF_SECONDS and 0 <= second <= 2 * BACKOFF_SECONDS


def test_a_table_throttled_for_good_fails_the_erasure_saying_how_much_is_left(dynamodb, pauses):
    # Given a customer with 30 items, and a table that takes no write at all
    for n in range(30):
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "demo#u:ann"}, "sk": {"S": f"ledger#{n:02}"}})
    erasure = CustomerErasure(TABLE, client=Throttled(dynamodb, per_call=0))

    # When the erasure deletes them, it gives up after its attempts (the caller's retry comes later)
    with pytest.raises(UnprocessedError, match=f"^{TABLE}: 25 writes unprocessed after {BATCH_ATTEMPTS} calls$"):
        erasure.delete("demo", ["u:ann"], [])

    # having paused before each retry, up to twice as long each time
    assert len(pauses) == BATCH_ATTEMPTS - 1
    assert all(0 <= pause <= BACKOFF_SECONDS * 2**n for n, pause in enumerate(pauses))


def test_a_throttled_catalogue_read_finds_every_product_with_strong_reads(dynamodb, pauses):
    # Given 150 products, read back 40 keys a call
    writer = CatalogStore(TABLE, client=dynamodb)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    for n in range(150):
        fields = {"id": f"p{n}", "title": f"Product {n}", "link": f"https://shop.example/p{n}", "updated_at": at}
        writer.put("demo", Product.model_validate(fields | {"price": "9.00 EUR", "availability": "in_stock"}), 0)
    throttled = Throttled(dynamodb, per_call=40)

    # When the catalogue reads them (BatchGetItem takes 100 keys a call: 100 and 50) with one unknown id
    found = CatalogStore(TABLE, client=throttled).get("demo", [f"p{n}" for n in range(150)] + ["gone"])

    # Then every product is found, each call a strongly consistent read, after pauses for the keys handed back
    assert sorted(found) == sorted(f"p{n}" for n in range(150))
    assert throttled.consistent == [True] * len(throttled.consistent) and len(throttled.consistent) == 3 + 2
    assert len(pauses) == 3
