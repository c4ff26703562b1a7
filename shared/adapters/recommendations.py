"""What the shop's orders say about its products (IN4), kept as small aggregates updated with each order, never
computed by a scan at send time (architecture §11), in the customers table:

- ``pk = <shop>#bought-with#<product>``, ``sk = counts``: for every product bought in the same order, ``n:<id>`` the
  number of orders that had both ("customers who bought this also bought"). Bounded by the catalogue's size.
- ``pk = <shop>#sales#<category>``, ``sk = <YYYY-MM-DD>``: ``n:<id>`` the units of each product of the category sold
  that day, and the same for the whole shop under the category ``*``; each day's item expires after 35 days, so
  best-sellers over the last 30 days are one Query of at most 31 small items.
- ``pk = <shop>#customers``, ``sk = distribution``: how the shop's buyers spread (``shared/core/insights.py``):
  ``r:<YYYY-MM-DD>`` customers whose last order was that day, ``f:<n>`` customers with n orders, ``m:<bucket>``
  customers per monetary bucket, ``g:<days>`` repeat orders that many days after the previous one. Each order or
  refund moves its customer (one UpdateItem of ADDs); a few thousand small counters even after years.
- ``pk = <shop>#churn``, ``sk = <YYYY-MM>``: the month's buyers, revenue and who came back from the month before
  (``shared/core/churn.py``), eight counters. An order, cancellation or refund that moves them adds to its month's
  item (one UpdateItem of ADDs; two when it also moves the next month's); a report of a year reads 13 items with one
  Query.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.table import DynamoDBTable

if TYPE_CHECKING:
    from shared.models.effects import OrderLine

ALL = "*"  # the shop-wide best-sellers' category
KEEP_SALES = timedelta(days=35)
_PREFIX = "n:"


def bought_with_pk(shop_id: str, product_id: str) -> str:
    return f"{shop_id}#bought-with#{product_id}"


def sales_pk(shop_id: str, category: str) -> str:
    return f"{shop_id}#sales#{category}"


def order_updates(shop_id: str, lines: "Sequence[OrderLine]", day: date) -> list[dict[str, Any]]:
    """The UpdateItem requests one completed order makes: its pairs, and its day's sales per category and shop-wide."""
    updates: list[dict[str, Any]] = []
    products = list(dict.fromkeys(line.product_id for line in lines))
    for product in products:
        others = [other for other in products if other != product]
        if others:
            updates.append(_adding(bought_with_pk(shop_id, product), "counts", dict.fromkeys(others, 1), None))
    expires = _epoch(day + KEEP_SALES)
    per_category: dict[str, Counter[str]] = {}
    for line in lines:
        for category in {ALL, *([line.category] if line.category else [])}:
            per_category.setdefault(category, Counter())[line.product_id] += max(1, line.quantity)
    for category, sold in sorted(per_category.items()):
        updates.append(_adding(sales_pk(shop_id, category), day.isoformat(), dict(sold), expires))
    return updates


def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86400


def _adding(pk: str, sk: str, counts: dict[str, int], expires: int | None) -> dict[str, Any]:
    names = {f"#p{n}": _PREFIX + product for n, product in enumerate(counts)}
    values: dict[str, Any] = {f":v{n}": {"N": str(count)} for n, count in enumerate(counts.values())}
    expression = "ADD " + ", ".join(f"#p{n} :v{n}" for n in range(len(counts)))
    if expires is not None:
        expression += " SET expires_at = :expires"
        values[":expires"] = {"N": str(expires)}
    return {
        "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def distribution_key(shop_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{shop_id}#customers"}, "sk": {"S": "distribution"}}


def move_request(shop_id: str, changes: Mapping[str, int]) -> dict[str, Any] | None:
    """The UpdateItem that adds ``changes`` to the shop's distribution counters (None: nothing to add)."""
    moved = {key: delta for key, delta in changes.items() if delta}
    if not moved:
        return None
    names = {f"#c{n}": key for n, key in enumerate(moved)}
    values = {f":c{n}": {"N": str(delta)} for n, delta in enumerate(moved.values())}
    return {
        "Key": distribution_key(shop_id),
        "UpdateExpression": "ADD " + ", ".join(f"#c{n} :c{n}" for n in range(len(moved))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def churn_key(shop_id: str, month: str) -> dict[str, Any]:
    return {"pk": {"S": f"{shop_id}#churn"}, "sk": {"S": month}}


def _number(amount: float) -> str:
    """A DynamoDB number to the cent, as plain digits (1, -12.5)."""
    return f"{amount:.2f}".rstrip("0").rstrip(".")


def churn_request(shop_id: str, month: str, changes: Mapping[str, float]) -> dict[str, Any] | None:
    """The UpdateItem that adds ``changes`` to the shop's churn counters of ``month`` (None: nothing to add)."""
    moved = {name: amount for name, amount in changes.items() if round(amount, 2)}
    if not moved:
        return None
    return {
        "Key": churn_key(shop_id, month),
        "UpdateExpression": "ADD " + ", ".join(f"#c{n} :c{n}" for n in range(len(moved))),
        "ExpressionAttributeNames": {f"#c{n}": name for n, name in enumerate(moved)},
        "ExpressionAttributeValues": {f":c{n}": {"N": _number(amount)} for n, amount in enumerate(moved.values())},
    }


def churn_query(table: str, shop_id: str, first: str, last: str) -> dict[str, Any]:
    """The Query of the shop's churn items from month ``first`` to ``last``: a year's are 13 items of a few hundred
    bytes, one page (a page holds 1 MB), eventually consistent (half a read unit: a report, not a decision)."""
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
        "ExpressionAttributeValues": {
            ":pk": churn_key(shop_id, first)["pk"],
            ":first": {"S": first},
            ":last": {"S": last},
        },
    }


def counts_of(item: dict[str, Any]) -> Counter[str]:
    return Counter({name[len(_PREFIX) :]: int(value["N"]) for name, value in item.items() if name.startswith(_PREFIX)})


class OrderAggregates(DynamoDBTable):
    """Co-purchases and daily sales, in the customers table."""

    def record(self, shop_id: str, lines: "Sequence[OrderLine]", day: date) -> None:
        """Count one completed order (the caller records each order once)."""
        for update in order_updates(shop_id, lines, day):
            self.client.update_item(TableName=self._table, **update)

    def bought_with(self, shop_id: str, product_ids: Sequence[str]) -> Counter[str]:
        """How many orders had each other product together with any of ``product_ids``."""
        keys = [{"pk": {"S": bought_with_pk(shop_id, p)}, "sk": {"S": "counts"}} for p in dict.fromkeys(product_ids)]
        total: Counter[str] = Counter()
        for item in self._batch_get(keys):
            total.update(counts_of(item))
        return total

    def best_sellers(self, shop_id: str, category: str, since: date) -> Counter[str]:
        """Units sold of each product of ``category`` (``ALL``: the shop) from ``since`` on."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk >= :since",
            "ExpressionAttributeValues": {
                ":pk": {"S": sales_pk(shop_id, category)},
                ":since": {"S": since.isoformat()},
            },
        }
        total: Counter[str] = Counter()
        while True:
            answer = self.client.query(**query)
            for item in answer.get("Items", []):
                total.update(counts_of(item))
            if "LastEvaluatedKey" not in answer:
                return total
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def move(self, shop_id: str, changes: Mapping[str, int]) -> None:
        """Add ``changes`` to the shop's distribution counters (the caller moves each customer once)."""
        request = move_request(shop_id, changes)
        if request is not None:
            self.client.update_item(TableName=self._table, **request)

    def distribution(self, shop_id: str) -> dict[str, int]:
        """The shop's distribution counters that are not zero (strongly consistent: one small item)."""
        item = self.client.get_item(TableName=self._table, Key=distribution_key(shop_id), ConsistentRead=True)
        counters = item.get("Item", {})
        return {
            key: int(value["N"])
            for key, value in counters.items()
            if key not in ("pk", "sk") and "N" in value and int(value["N"])
        }

    def count_churn(self, shop_id: str, month: str, changes: Mapping[str, float]) -> None:
        """Add ``changes`` to the shop's churn counters of ``month`` (the caller counts each change once)."""
        request = churn_request(shop_id, month, changes)
        if request is not None:
            self.client.update_item(TableName=self._table, **request)

    def churn(self, shop_id: str, first: str, last: str) -> dict[str, dict[str, float]]:
        """The shop's churn counters that are not zero, per month from ``first`` to ``last`` that has any."""
        answer = self.client.query(**churn_query(self._table, shop_id, first, last))
        months: dict[str, dict[str, float]] = {}
        for item in answer.get("Items", []):
            counters = {name: float(value["N"]) for name, value in item.items() if "N" in value and float(value["N"])}
            if counters:
                months[item["sk"]["S"]] = counters
        return months
