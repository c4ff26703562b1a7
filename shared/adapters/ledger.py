"""The send ledger: one item per outgoing message, written with conditions so no message is ever sent twice.

Items live beside the customer's state (``pk`` = ``<shop>#<customer>``, ``sk`` = ``msg#<message_id>``), so support
reads a customer's messages with one Query. The protocol (architecture §4):

1. Before calling a provider, the router marks the message *in flight* on one channel with a conditional write
   (the item is new, or pending/deferred with nothing in flight). A second delivery of the same outbox message finds
   it in flight or final and does not send.
2. After the provider answered, the router records the attempt: ``sent`` (final), a permanent failure (the next
   channel is marked in flight in the same write), or a transient one (nothing in flight; SQS retries later).
3. A message found in flight after its lease ran out belongs to a router that died between the provider call and the
   ledger write: the provider may have sent it, so it is closed as ``failed`` (``outcome_unknown``), never re-sent.

What the customer did with a message lands on its item too (the state updater writes it, in the customer's FIFO
order): the first ``delivered_at``, ``opened_at`` and ``clicked_at`` and a ``clicks`` count, and each order credited
to it as ``credit#<order_id>`` = its revenue (removed again when the order is cancelled or refunded). Both are
conditional on the item existing: engagement with a message nudge never sent (or no longer holds) changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters.table import DynamoDBTable
from shared.models.messages import Attempt, LedgerEntry, LedgerStatus, OutboxMessage
from shared.models.nudge_events import EngagementAction
from shared.models.vocabulary import Channel

SK_PREFIX = "msg#"
RETENTION = timedelta(days=400)  # support can answer "what did they get?" for more than a year
LEASE = timedelta(seconds=120)  # longer than one provider call with its retries


class LedgerConflictError(Exception):
    """Another router holds the message right now (its lease is running): try again later."""


def ledger_key(shop_id: str, customer: str, message_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{shop_id}#{customer}"}, "sk": {"S": SK_PREFIX + message_id}}


def _open_condition(expected_in_flight: str | None) -> tuple[str, dict[str, Any]]:
    """The message may start a channel: new, or not final with nothing (or exactly ``expected``) in flight."""
    if expected_in_flight is None:
        return (
            "attribute_not_exists(pk) OR ((#s = :pending OR #s = :deferred) AND attribute_not_exists(in_flight))",
            {":pending": {"S": "pending"}, ":deferred": {"S": "deferred"}},
        )
    return "in_flight = :expected", {":expected": {"S": expected_in_flight}}


def start_request(
    message: OutboxMessage,
    channel: Channel,
    attempts: Sequence[Attempt],
    now: datetime,
    previous: Channel | None = None,
) -> dict[str, Any]:
    """UpdateItem: mark ``message`` in flight on ``channel`` (creating the item on the first attempt)."""
    condition, values = _open_condition(previous)
    variant = ", variant = :variant" if message.variant is not None else ""
    if message.variant is not None:
        values[":variant"] = {"S": message.variant}
    return {
        "Key": ledger_key(message.shop_id, message.customer, message.message_id),
        "UpdateExpression": (
            "SET #s = :pending, in_flight = :channel, lease_until = :lease, attempts = :attempts, journey = :journey,"
            " step = :step, template = :template, created_at = if_not_exists(created_at, :now), updated_at = :now,"
            " expires_at = :expires" + variant
        ),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {
            **values,
            ":pending": {"S": "pending"},
            ":channel": {"S": channel},
            ":lease": {"N": str(int((now + LEASE).timestamp()))},
            ":attempts": {"S": json.dumps([a.as_json() for a in attempts])},
            ":journey": {"S": message.journey},
            ":step": {"N": str(message.step)},
            ":template": {"S": message.template},
            ":now": {"S": now.isoformat()},
            ":expires": {"N": str(int((now + RETENTION).timestamp()))},
        },
    }


def close_request(
    message: OutboxMessage,
    status: LedgerStatus,
    now: datetime,
    *,
    channel: Channel | None = None,
    reason: str | None = None,
    title: str | None = None,
    attempts: Sequence[Attempt] = (),
    details: dict[str, Any] | None = None,
    in_flight: Channel | None = None,
) -> dict[str, Any]:
    """UpdateItem: record the outcome (``pending`` after a transient failure; final otherwise).

    Conditional on the channel this router put in flight, or (nothing was in flight) on the message not being final.
    """
    names = {"#s": "status"}
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":now": {"S": now.isoformat()},
        ":attempts": {"S": json.dumps([a.as_json() for a in attempts])},
        ":expires": {"N": str(int((now + RETENTION).timestamp()))},
        ":journey": {"S": message.journey},
        ":step": {"N": str(message.step)},
        ":template": {"S": message.template},
    }
    sets = [
        "#s = :status",
        "updated_at = :now",
        "attempts = :attempts",
        "expires_at = :expires",
        "journey = :journey",
        "step = :step",
        "template = :template",
        "created_at = if_not_exists(created_at, :now)",
    ]
    removes = ["in_flight", "lease_until"]
    for name, value in (("channel", channel), ("reason", reason), ("title", title), ("variant", message.variant)):
        if value is not None:
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = {"S": value}
        elif name == "reason":
            removes.append("reason")  # a message sent after a deferral or a retry has no reason left
    if details:
        sets.append("details = :details")
        values[":details"] = {"S": json.dumps(details)}
    if in_flight is not None:
        condition = "in_flight = :expected"
        values[":expected"] = {"S": in_flight}
    else:
        condition = "attribute_not_exists(pk) OR (#s <> :sent AND #s <> :suppressed AND #s <> :failed)"
        values.update({":sent": {"S": "sent"}, ":suppressed": {"S": "suppressed"}, ":failed": {"S": "failed"}})
    return {
        "Key": ledger_key(message.shop_id, message.customer, message.message_id),
        "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


CREDIT_PREFIX = "credit#"
# The first time of each engagement kept on the item; a click is an open as well.
ENGAGED_FIELDS: dict[EngagementAction, tuple[str, ...]] = {
    "delivered": ("delivered_at",),
    "received": ("delivered_at",),
    "opened": ("opened_at",),
    "tapped": ("opened_at",),
    "read": ("opened_at",),
    "clicked": ("opened_at", "clicked_at"),
}


def engage_request(
    shop_id: str, customer: str, message_id: str, action: EngagementAction, at: datetime
) -> dict[str, Any]:
    """UpdateItem: the first time of ``action`` (a click counted as well), on an existing message only."""
    fields = ENGAGED_FIELDS[action]
    expression = "SET " + ", ".join(f"{name} = if_not_exists({name}, :at)" for name in fields)
    values: dict[str, Any] = {":at": {"S": at.isoformat()}}
    if action == "clicked":
        expression += " ADD clicks :one"
        values[":one"] = {"N": "1"}
    return {
        "Key": ledger_key(shop_id, customer, message_id),
        "UpdateExpression": expression,
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeValues": values,
    }


def credit_request(
    shop_id: str, customer: str, message_id: str, order_id: str, revenue: float | None
) -> dict[str, Any]:
    """UpdateItem: ``order_id`` credited to the message with ``revenue`` (None: the credit removed), on an existing
    message only. Setting (not adding) makes it idempotent: the same order credited twice is credited once."""
    names = {"#c": CREDIT_PREFIX + order_id}
    request: dict[str, Any] = {
        "Key": ledger_key(shop_id, customer, message_id),
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeNames": names,
    }
    if revenue is None:
        return {**request, "UpdateExpression": "REMOVE #c"}
    return {**request, "UpdateExpression": "SET #c = :r", "ExpressionAttributeValues": {":r": {"N": repr(revenue)}}}


def entry_of(item: dict[str, Any]) -> LedgerEntry:
    """The item as stored (attribute names unchanged since the first ledger) as a typed entry."""
    fields: dict[str, Any] = {name: item[name]["S"] for name in _TEXT if name in item}
    fields["message_id"] = item["sk"]["S"].removeprefix(SK_PREFIX)
    if "step" in item:
        fields["step"] = int(item["step"]["N"])
    if "lease_until" in item:
        fields["lease_until"] = datetime.fromtimestamp(int(item["lease_until"]["N"]), tz=UTC)
    fields["attempts"] = json.loads(fields.pop("attempts", None) or "[]")
    fields["details"] = json.loads(fields.pop("details", None) or "{}")
    if "clicks" in item:
        fields["clicks"] = int(item["clicks"]["N"])
    fields["credits"] = {
        name.removeprefix(CREDIT_PREFIX): float(value["N"])
        for name, value in item.items()
        if name.startswith(CREDIT_PREFIX)
    }
    return LedgerEntry.model_validate(fields)


_TEXT = (
    "status",
    "journey",
    "template",
    "variant",
    "channel",
    "reason",
    "title",
    "in_flight",
    "created_at",
    "updated_at",
    "attempts",
    "details",
    "delivered_at",
    "opened_at",
    "clicked_at",
)


def newest_first(entries: list[LedgerEntry], limit: int) -> list[LedgerEntry]:
    """The ``limit`` most recently updated entries, newest first (how every ledger lists a customer's messages)."""
    entries.sort(key=lambda e: (e.updated_at or e.created_at or datetime.min).isoformat(), reverse=True)
    return entries[:limit]


class SendLedger(DynamoDBTable):
    """The send ledger in the customers table."""

    def find(self, message: OutboxMessage) -> LedgerEntry | None:
        """The ledger's record of ``message`` (strongly consistent), or None if it was never touched."""
        item = self.client.get_item(
            TableName=self._table,
            Key=ledger_key(message.shop_id, message.customer, message.message_id),
            ConsistentRead=True,
        ).get("Item")
        return entry_of(item) if item else None

    def start(
        self,
        message: OutboxMessage,
        channel: Channel,
        attempts: Sequence[Attempt],
        now: datetime,
        previous: Channel | None = None,
    ) -> None:
        """Mark ``message`` in flight on ``channel``; raises LedgerConflictError if another router got there first."""
        self._update(start_request(message, channel, attempts, now, previous))

    def close(
        self,
        message: OutboxMessage,
        status: LedgerStatus,
        now: datetime,
        *,
        channel: Channel | None = None,
        reason: str | None = None,
        title: str | None = None,
        attempts: Sequence[Attempt] = (),
        details: dict[str, Any] | None = None,
        in_flight: Channel | None = None,
    ) -> None:
        """Record the outcome of ``message``; raises LedgerConflictError if the condition no longer holds."""
        request = close_request(
            message,
            status,
            now,
            channel=channel,
            reason=reason,
            title=title,
            attempts=attempts,
            details=details,
            in_flight=in_flight,
        )
        self._update(request)

    def list(self, shop_id: str, customer: str, limit: int = 100) -> list[LedgerEntry]:
        """A customer's messages, newest first."""
        entries: list[LedgerEntry] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": f"{shop_id}#{customer}"}, ":prefix": {"S": SK_PREFIX}},
        }
        while True:  # a Query page stops at 1 MB; sorting by time needs every page (the keys are message ids)
            page = self.client.query(**query)
            entries.extend(entry_of(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return newest_first(entries, limit)

    def engage(
        self, shop_id: str, customer: str, message_id: str, action: EngagementAction, at: datetime
    ) -> LedgerEntry | None:
        """Record ``action`` on the message's item; the entry as it was before (what was new: a first open, a
        first click), or None when there is no such message (nothing written)."""
        return self._if_held(engage_request(shop_id, customer, message_id, action, at))

    def credit(
        self, shop_id: str, customer: str, message_id: str, order_id: str, revenue: float | None
    ) -> LedgerEntry | None:
        """Credit ``order_id`` to the message (``revenue`` None: remove the credit); the entry as it was before, or
        None when there is no such message (nothing written)."""
        return self._if_held(credit_request(shop_id, customer, message_id, order_id, revenue))

    def _if_held(self, request: dict[str, Any]) -> LedgerEntry | None:
        try:
            answer = self.client.update_item(TableName=self._table, ReturnValues="ALL_OLD", **request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return entry_of(answer["Attributes"])

    def _update(self, request: dict[str, Any]) -> None:
        try:
            self.client.update_item(TableName=self._table, **request)
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise LedgerConflictError(request["Key"]["sk"]["S"]) from error
