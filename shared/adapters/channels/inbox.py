"""The in-app inbox: messages a shop's app shows inside the app, kept in the customers table.

Item: ``pk`` = ``<shop>#<customer key>`` (the customer's partition, so one customer's inbox is one Query and never
crosses shops), ``sk`` = ``inbox#<message id>``; attributes ``title``, ``text``, ``image_url``, ``url``, ``data``
(map), ``created_at``, ``read_at`` and ``expires_at`` (the table's TTL attribute, epoch seconds). The sort key
holds the message id and no time, so a redelivered message (whenever it arrives) hits the same key and the
conditional put keeps it once; the ``inbox#`` prefix can never equal the customer record's ``sk = "state"``.
``list`` therefore orders by ``created_at`` itself; an inbox holds at most ``retention`` worth of messages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import clock as wall_clock
from shared.adapters.channels._aws import AWS_CALL_ERRORS, AwsFailure
from shared.adapters.table import DynamoDBTable
from shared.models.channels import InboxItem, SendContext
from shared.models.messages import (
    Address,
    Content,
    DeliveryError,
    Receipt,
    TransientDeliveryError,
)
from shared.models.vocabulary import Channel

if TYPE_CHECKING:
    from shared.ports import Inbox

INBOX_PREFIX = "inbox#"
DEFAULT_RETENTION = timedelta(days=30)


def inbox_key(shop_id: str, customer: str, message_id: str) -> dict[str, Any]:
    """The table key of one inbox message."""
    return {"pk": {"S": f"{shop_id}#{customer}"}, "sk": {"S": f"{INBOX_PREFIX}{message_id}"}}


def deliver_request(
    shop_id: str, customer: str, message_id: str, content: Content, now: datetime, ttl: timedelta
) -> dict[str, Any]:
    """The PutItem request that puts a message in the inbox unless it is already there."""
    item: dict[str, Any] = {
        **inbox_key(shop_id, customer, message_id),
        "title": {"S": content.title},
        "text": {"S": content.text},
        "data": {"M": {key: {"S": value} for key, value in content.data.items()}},
        "created_at": {"S": now.isoformat()},
        "expires_at": {"N": str(int((now + ttl).timestamp()))},
    }
    if content.image_url:
        item["image_url"] = {"S": content.image_url}
    if content.url:
        item["url"] = {"S": content.url}
    return {"Item": item, "ConditionExpression": "attribute_not_exists(sk)"}


def mark_read_request(shop_id: str, customer: str, message_id: str, now: datetime) -> dict[str, Any]:
    """The UpdateItem request that marks a message read (keeping the first read time) if it exists."""
    return {
        "Key": inbox_key(shop_id, customer, message_id),
        "UpdateExpression": "SET read_at = if_not_exists(read_at, :now)",
        "ConditionExpression": "attribute_exists(sk)",
        "ExpressionAttributeValues": {":now": {"S": now.isoformat()}},
    }


def item_of(raw: dict[str, Any]) -> InboxItem:
    return InboxItem(
        message_id=raw["sk"]["S"].removeprefix(INBOX_PREFIX),
        title=raw["title"]["S"],
        text=raw["text"]["S"],
        image_url=raw["image_url"]["S"] if "image_url" in raw else None,
        url=raw["url"]["S"] if "url" in raw else None,
        data={key: value["S"] for key, value in raw.get("data", {}).get("M", {}).items()},
        created_at=datetime.fromisoformat(raw["created_at"]["S"]),
        read_at=datetime.fromisoformat(raw["read_at"]["S"]) if "read_at" in raw else None,
    )


class InboxStore(DynamoDBTable):
    """Delivers, lists and marks read the messages in customers' in-app inboxes."""

    def deliver(
        self,
        shop_id: str,
        customer: str,
        message_id: str,
        content: Content,
        now: datetime,
        ttl: timedelta = DEFAULT_RETENTION,
    ) -> bool:
        """Put the message in the customer's inbox; False if it was already there (a redelivery changes nothing)."""
        request = deliver_request(shop_id, customer, message_id, content, now, ttl)
        try:
            self.client.put_item(TableName=self._table, **request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def list(self, shop_id: str, customer: str, limit: int = 50, now: datetime | None = None) -> list[InboxItem]:
        """The customer's inbox, newest first, at most ``limit`` items; expired ones are left out if ``now`` is given.

        DynamoDB's TTL deletes expired items lazily (within days), hence the filter.
        """
        items: list[InboxItem] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": f"{shop_id}#{customer}"}, ":prefix": {"S": INBOX_PREFIX}},
        }
        while True:
            page = self.client.query(**query)
            for raw in page.get("Items", []):
                if now is not None and int(raw["expires_at"]["N"]) <= now.timestamp():
                    continue
                items.append(item_of(raw))
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        items.sort(key=lambda item: (item.created_at, item.message_id), reverse=True)
        return items[:limit]

    def mark_read(self, shop_id: str, customer: str, message_id: str, now: datetime) -> bool:
        """Mark a message read (the first read time stays); False if the customer has no such message."""
        try:
            self.client.update_item(TableName=self._table, **mark_read_request(shop_id, customer, message_id, now))
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def inbox_error(error: Exception) -> DeliveryError:
    """The delivery error for a failed inbox write: DynamoDB failing is always worth a retry, never a fallback."""
    failure = AwsFailure.of(error)
    if failure.server_side or failure.code in {"ProvisionedThroughputExceededException", "ThrottlingException"}:
        return TransientDeliveryError("inbox_unavailable")
    return TransientDeliveryError(f"inbox_config: {failure.code}")


class InAppProvider:
    """Delivers messages to the shop's in-app inbox; ``address.value`` is the customer key (``u:<userId>``)."""

    channel: Channel = "in_app"

    def __init__(
        self,
        store: Inbox,
        shop_id: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = wall_clock.now,
    ) -> None:
        self.store = store
        self.shop_id = shop_id
        self.retention = retention
        self.clock = clock

    def send(
        self, address: Address, content: Content, message_id: str, *, context: SendContext | None = None
    ) -> Receipt:
        """Put ``content`` in the customer's inbox (once); raises TransientDeliveryError if DynamoDB fails."""
        try:
            created = self.store.deliver(self.shop_id, address.value, message_id, content, self.clock(), self.retention)
        except AWS_CALL_ERRORS as error:
            raise inbox_error(error) from error
        return Receipt(details={"inbox": "delivered" if created else "already_delivered"})
