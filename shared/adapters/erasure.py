"""Erasing a customer (GDPR Art. 17): every item of theirs in the customers table, and the suppression record that
keeps late events from bringing them back.

What goes: every item of the customer's partitions (``<shop>#u:<id>`` and each merged visitor's ``<shop>#a:<id>``:
the state, the send ledger, the contact log, the in-app inbox), the phone index entries of their numbers, the offer
codes their messages carried, their entries in back-in-stock waiting lists. What stays, in ``pk = <shop>#erased``,
``sk = <SHA-256 of the customer key>``: the erasure's time and the SHA-256 digests of the identifiers it covered
(customer keys, e-mail addresses, phone numbers), nothing else, so that an event for an erased key sent before the
erasure (a client's retry, a queued message) is ignored instead of starting a new profile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.adapters.table import DynamoDBTable


def digest(identifier: str) -> str:
    """The SHA-256 hex digest a suppression record keeps of an identifier (a customer key, an address)."""
    return hashlib.sha256(identifier.strip().lower().encode()).hexdigest()


def suppression_key(shop_id: str, customer: str) -> dict[str, Any]:
    return {"pk": {"S": f"{shop_id}#erased"}, "sk": {"S": digest(customer)}}


def item_keys(
    shop_id: str, phones: Sequence[str], codes: Sequence[str], products: Sequence[str], customers: Sequence[str]
) -> list[dict[str, Any]]:
    """The keys of a customer's items outside their own partitions."""
    keys: list[dict[str, Any]] = []
    for customer in customers:
        keys += [{"pk": {"S": f"phone#{phone}"}, "sk": {"S": f"{shop_id}#{customer}"}} for phone in phones]
        keys += [{"pk": {"S": f"{shop_id}#waiting#{product}"}, "sk": {"S": customer}} for product in products]
    keys += [{"pk": {"S": f"{shop_id}#offer#{code}"}, "sk": {"S": "offer"}} for code in codes]
    return keys


class CustomerErasure(DynamoDBTable):
    """Deletes a customer's items and keeps their suppression record, in the customers table."""

    def suppress(self, shop_id: str, customers: Sequence[str], identifiers: Sequence[str], at: datetime) -> None:
        """Record that ``customers`` (keys) were erased at ``at``, with the digests of ``identifiers``."""
        hashed = sorted({digest(value) for value in identifiers})
        for customer in customers:
            item = {
                **suppression_key(shop_id, customer),
                "erased_at": {"S": at.astimezone(UTC).isoformat()},
                **({"identifiers": {"SS": hashed}} if hashed else {}),
            }
            self.client.put_item(TableName=self._table, Item=item)

    def erased_at(self, shop_id: str, customer: str) -> datetime | None:
        """When ``customer`` was erased, or None."""
        item = self.client.get_item(TableName=self._table, Key=suppression_key(shop_id, customer)).get("Item")
        return datetime.fromisoformat(item["erased_at"]["S"]) if item else None

    def delete(self, shop_id: str, customers: Sequence[str], others: Sequence[dict[str, Any]]) -> int:
        """Delete every item of the customers' partitions and the ``others`` keys; how many keys were deleted."""
        keys = [key for customer in customers for key in self._partition(f"{shop_id}#{customer}")] + list(others)
        self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])
        return len(keys)

    def _partition(self, pk: str) -> Iterator[dict[str, Any]]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": "pk, sk",
        }
        while True:
            page = self.client.query(**query)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
