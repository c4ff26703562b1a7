"""Shop-wide hourly quotas: how many of something a shop did within a window, taken one at a time and refused past
a limit. One item per shop, quota and window in the customers table (``pk`` = ``<shop>#quota``, ``sk`` =
``<name>#<window start>``), ``taken`` counting up; the table's time to live (``expires_at``) removes it once the
window is long past.

The confirmation messages of double opt-in use it (``confirm-email``, ``confirm-sms``): a sign-up form is public, so
a script can sign strangers up by the thousand, and the shop's domain would mail them all (list bombing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.adapters.table import DynamoDBTable


def quota_key(shop_id: str, name: str, window: datetime) -> dict[str, Any]:
    return {"pk": {"S": f"{shop_id}#quota"}, "sk": {"S": f"{name}#{window.isoformat()}"}}


def take_request(shop_id: str, name: str, window: datetime, limit: int, keep: timedelta) -> dict[str, Any]:
    """The UpdateItem that takes one unit of the window's quota, on the condition that fewer than ``limit`` were."""
    return {
        "Key": quota_key(shop_id, name, window),
        "UpdateExpression": "ADD taken :one SET expires_at = if_not_exists(expires_at, :expires)",
        "ConditionExpression": "attribute_not_exists(taken) OR taken < :limit",
        "ExpressionAttributeValues": {
            ":one": {"N": "1"},
            ":limit": {"N": str(limit)},
            ":expires": {"N": str(int((window + keep).timestamp()))},
        },
    }


class QuotaStore(DynamoDBTable):
    """Takes units of shop-wide quotas in the customers table."""

    def take(self, shop_id: str, name: str, window: datetime, limit: int, keep: timedelta) -> bool:
        """One unit of quota ``name`` in the window starting at ``window``, if fewer than ``limit`` were taken (then
        True); the item is kept ``keep`` after the window's start."""
        try:
            self.client.update_item(TableName=self._table, **take_request(shop_id, name, window, limit, keep))
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
