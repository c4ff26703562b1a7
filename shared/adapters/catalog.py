"""The shop's products in the customers table, beside its customers (whose keys start with ``u:`` or ``a:``):
``pk = <shop>#product#<id>``, ``sk = product``, the product as JSON in ``doc`` and a ``version`` that each write
raises by one. A write is conditional on the version it read (or on the item being new), so two uploads that change
the same product at once cannot both believe they saw the change: the second reads again and compares with what
the first wrote.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.adapters.table import DynamoDBTable
from shared.models.catalog import Product

PRODUCT_SK = "product"
BATCH_GET_LIMIT = 100  # keys per BatchGetItem


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
    return HeldProduct(Product.model_validate_json(item["doc"]["S"]), int(item["version"]["N"]))


class CatalogStore(DynamoDBTable):
    """Products in the customers table."""

    def get(self, shop_id: str, product_ids: Sequence[str]) -> dict[str, HeldProduct]:
        """The held products among ``product_ids`` (strongly consistent reads), by id."""
        found: dict[str, HeldProduct] = {}
        ids = list(dict.fromkeys(product_ids))
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            keys = [product_key(shop_id, product_id) for product_id in ids[start : start + BATCH_GET_LIMIT]]
            pending: Any = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while pending:  # BatchGetItem may leave some keys for a retry (throttling, 16 MB)
                answer = self.client.batch_get_item(RequestItems=pending)
                for item in answer.get("Responses", {}).get(self._table, []):
                    held = held_of(item)
                    found[held.product.id] = held
                pending = answer.get("UnprocessedKeys") or None
        return found

    def put(self, shop_id: str, product: Product, version: int) -> None:
        """Store ``product`` over the one read at ``version`` (0: none); ProductConflictError if it changed."""
        try:
            self.client.put_item(TableName=self._table, **put_request(shop_id, product, version))
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise ProductConflictError(product_pk(shop_id, product.id)) from error
