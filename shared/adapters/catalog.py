"""The shop's products in the customers table, beside its customers (whose keys start with ``u:`` or ``a:``):
``pk = <shop>#product#<id>``, ``sk = product``, the product as JSON in ``doc`` and a ``version`` that each write
raises by one. A write is conditional on the version it read (or on the item being new), so two uploads that change
the same product at once cannot both believe they saw the change: the second reads again and compares with what
the first wrote.

The customers waiting for a product (architecture §10: an index item written with the state change that causes
it): ``pk = <shop>#waiting#<product id>``, ``sk = <customer key>``, with ``since`` and the table's TTL attribute
``expires_at`` at the end of the wait. A restock reads it page by page in key order, and removes each page it told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.table import DynamoDBTable

if TYPE_CHECKING:
    # The catalogue's models load with the first product read (the state updater imports this module for its
    # waiting lists' ``Waiter``, and most of its events never read a product): not at a cold start.
    from shared.models.catalog import Product

PRODUCT_SK = "product"


class ProductConflictError(Exception):
    """The product changed since it was read (another upload wrote it first)."""


@dataclass(frozen=True, slots=True)
class HeldProduct:
    """A product as stored, with the version a conditional write names."""

    product: Product
    version: int


def product_pk(shop_id: str, product_id: str) -> str:
    return f"{shop_id}#product#{product_id}"


def product_key(shop_id: str, product_id: str) -> dict[str, Any]:
    return {"pk": {"S": product_pk(shop_id, product_id)}, "sk": {"S": PRODUCT_SK}}


def put_request(shop_id: str, product: Product, version: int) -> dict[str, Any]:
    """PutItem of ``product`` at ``version + 1``, on condition that the table holds it at ``version`` (0: new)."""
    request: dict[str, Any] = {
        "Item": {
            **product_key(shop_id, product.id),
            "doc": {"S": product.model_dump_json(exclude_none=True, exclude_defaults=True)},
            "version": {"N": str(version + 1)},
        }
    }
    if version == 0:
        request["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        request["ConditionExpression"] = "version = :version"
        request["ExpressionAttributeValues"] = {":version": {"N": str(version)}}
    return request


def held_of(item: dict[str, Any]) -> HeldProduct:
    from shared.models.catalog import Product

    return HeldProduct(Product.model_validate_json(item["doc"]["S"]), int(item["version"]["N"]))


class CatalogStore(DynamoDBTable):
    """Products in the customers table."""

    def get(self, shop_id: str, product_ids: Sequence[str]) -> dict[str, HeldProduct]:
        """The held products among ``product_ids`` (strongly consistent reads), by id."""
        keys = [product_key(shop_id, product_id) for product_id in dict.fromkeys(product_ids)]
        found = [held_of(item) for item in self._batch_get(keys, consistent=True)]
        return {held.product.id: held for held in found}

    def put(self, shop_id: str, product: Product, version: int) -> None:
        """Store ``product`` over the one read at ``version`` (0: none); ProductConflictError if it changed."""
        try:
            self.client.put_item(TableName=self._table, **put_request(shop_id, product, version))
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise ProductConflictError(product_pk(shop_id, product.id)) from error


# ---------------------------------------------------------------- customers waiting for a product


@dataclass(frozen=True, slots=True)
class Waiter:
    """A customer waiting for a product since ``since``, until ``until``."""

    customer: str
    since: datetime
    until: datetime


def waiting_pk(shop_id: str, product_id: str) -> str:
    return f"{shop_id}#waiting#{product_id}"


def waiter_item(shop_id: str, product_id: str, waiter: Waiter) -> dict[str, Any]:
    return {
        "pk": {"S": waiting_pk(shop_id, product_id)},
        "sk": {"S": waiter.customer},
        "since": {"S": waiter.since.isoformat()},
        "expires_at": {"N": str(int(waiter.until.timestamp()))},
    }


def waiter_of(item: dict[str, Any]) -> Waiter:
    until = datetime.fromtimestamp(int(item["expires_at"]["N"]), UTC)
    return Waiter(item["sk"]["S"], datetime.fromisoformat(item["since"]["S"]), until)


class WaitingList(DynamoDBTable):
    """Customers waiting for products, in the customers table."""

    def watch(self, shop_id: str, product_id: str, waiter: Waiter) -> None:
        """List ``waiter`` (again: the later wait replaces the earlier)."""
        self.client.put_item(TableName=self._table, Item=waiter_item(shop_id, product_id, waiter))

    def page(self, shop_id: str, product_id: str, limit: int, after: str | None) -> tuple[list[Waiter], str | None]:
        """Up to ``limit`` waiters in key order after the customer ``after``; and the last one's key if more may
        follow (DynamoDB's LastEvaluatedKey), else None. Lapsed waits the TTL has not removed yet are included."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": waiting_pk(shop_id, product_id)}},
            "Limit": limit,
            "ConsistentRead": True,
        }
        if after is not None:
            query["ExclusiveStartKey"] = {"pk": {"S": waiting_pk(shop_id, product_id)}, "sk": {"S": after}}
        answer = self.client.query(**query)
        last = answer.get("LastEvaluatedKey")
        return [waiter_of(item) for item in answer.get("Items", [])], (last["sk"]["S"] if last else None)

    def forget(self, shop_id: str, product_id: str, customers: Sequence[str]) -> None:
        """Take ``customers`` off the list (told, or no longer waiting)."""
        pk = waiting_pk(shop_id, product_id)
        requests = [{"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": c}}}} for c in dict.fromkeys(customers)]
        self._batch_write(requests)
