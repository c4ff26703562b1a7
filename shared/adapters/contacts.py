"""The contact log: one item per customer beside their state (``pk`` = ``<shop>#<customer>``, ``sk`` = ``contact``)
holding the marketing messages that took a slot of the shop's frequency caps and the deferred ones waiting for one
(``shared.core.policy``).

Routers for one customer run at the same time (the outbox is a standard queue), so the log is written only on the
condition of the version read: of two routers reaching for the last slot, one writes and the other reads again
and finds it taken. The item expires (the table's time to live) once no cap window or deferral can need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.adapters.table import DynamoDBTable
from shared.core.policy import ContactLog

CONTACT_SK = "contact"


class ContactConflictError(Exception):
    """Another router wrote the customer's contact log since it was read: read it again and decide again."""


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A customer's contact log as read: ``version`` 0 means no item exists yet."""

    shop_id: str
    customer: str
    log: ContactLog
    version: int = 0


def contact_key(shop_id: str, customer: str) -> dict[str, Any]:
    return {"pk": {"S": f"{shop_id}#{customer}"}, "sk": {"S": CONTACT_SK}}


def save_request(record: ContactRecord, log: ContactLog, now: datetime, keep: timedelta) -> dict[str, Any]:
    """PutItem of ``log`` at the next version, on the condition that the item is still at ``record``'s."""
    if record.version == 0:
        condition, values = "attribute_not_exists(pk)", {}
    else:
        condition, values = "version = :read", {":read": {"N": str(record.version)}}
    request: dict[str, Any] = {
        "Item": {
            **contact_key(record.shop_id, record.customer),
            "version": {"N": str(record.version + 1)},
            "log": {"S": log.to_json()},
            "updated_at": {"S": now.isoformat()},
            "expires_at": {"N": str(int((now + keep).timestamp()))},
        },
        "ConditionExpression": condition,
    }
    if values:
        request["ExpressionAttributeValues"] = values
    return request


def record_of(shop_id: str, customer: str, item: dict[str, Any] | None) -> ContactRecord:
    if not item:
        return ContactRecord(shop_id, customer, ContactLog())
    return ContactRecord(shop_id, customer, ContactLog.from_json(item["log"]["S"]), int(item["version"]["N"]))


class ContactStore(DynamoDBTable):
    """Contact logs in the customers table."""

    def load(self, shop_id: str, customer: str) -> ContactRecord:
        """The customer's contact log (strongly consistent), or an empty one at version 0."""
        item = self.client.get_item(TableName=self._table, Key=contact_key(shop_id, customer), ConsistentRead=True).get(
            "Item"
        )
        return record_of(shop_id, customer, item)

    def save(self, record: ContactRecord, log: ContactLog, now: datetime, keep: timedelta) -> None:
        """Write ``log`` over ``record``; ContactConflictError if the item changed since it was read."""
        try:
            self.client.put_item(TableName=self._table, **save_request(record, log, now, keep))
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise ContactConflictError(f"{record.shop_id}#{record.customer}") from error
