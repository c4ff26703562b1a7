"""Offer codes a checkout can check: the codes nudge handed out, and the pools of codes shops upload.

In the customers table, beside the customers (their keys never start with ``offer#`` or ``pool#``):

- ``pk = <shop>#offer#<code>``, ``sk = offer``: a code handed out, to whom, by which message, its discount and
  expiry, and (once an order used it) when, by which order. Written by the router before the message goes out, so
  the code is known to ``GET /v1/offers/{code}`` by the time the customer reads it.
- ``pk = <shop>#pool#<name>``: ``sk = code#<code>`` for each code not yet handed out, and ``sk = claim#<message>``
  for each message that took one. Taking a code is one transaction: delete the free code (it must still be there),
  write the message's claim (it must not exist) and the handed-out code (it must not exist), so a code goes to one
  message only, a message gets one code only, and a code uploaded again after it was handed out is never handed out
  twice.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.table import DynamoDBTable

OFFER_SK = "offer"
FREE, CLAIM = "code#", "claim#"
RETENTION = timedelta(days=400)  # a code's record outlives any offer's validity, as the send ledger does
UPLOAD_LIMIT = 10_000  # codes per upload request

OfferStatus = Literal["valid", "expired", "redeemed", "unknown"]


class PoolEmptyError(Exception):
    """The pool has no code left to hand out."""


class IssuedOffer(BaseModel):
    """A code nudge handed out: to whom, by which message, for what discount, until when; and its redemption."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    shop_id: str
    code: str
    customer: str
    message_id: str
    journey: str
    percent: int = Field(description="0 for free shipping alone")
    free_shipping: bool = False
    expires_at: datetime
    issued_at: datetime
    pool: str | None = None
    acknowledged_at: datetime | None = None  # a webhook offer: when the shop's system accepted the code
    redeemed_at: datetime | None = None
    order_id: str | None = None
    redeemed_by: str | None = None

    def status(self, now: datetime) -> OfferStatus:
        if self.redeemed_at is not None:
            return "redeemed"
        return "expired" if now >= self.expires_at else "valid"


def offer_key(shop_id: str, code: str) -> dict[str, Any]:
    return {"pk": {"S": f"{shop_id}#offer#{code}"}, "sk": {"S": OFFER_SK}}


def pool_pk(shop_id: str, pool: str) -> str:
    return f"{shop_id}#pool#{pool}"


def offer_item(offer: IssuedOffer) -> dict[str, Any]:
    item: dict[str, Any] = {
        **offer_key(offer.shop_id, offer.code),
        "customer": {"S": offer.customer},
        "message_id": {"S": offer.message_id},
        "journey": {"S": offer.journey},
        "percent": {"N": str(offer.percent)},
        "offer_expires_at": {"S": offer.expires_at.isoformat()},
        "issued_at": {"S": offer.issued_at.isoformat()},
        "expires_at": {"N": str(int((offer.expires_at + RETENTION).timestamp()))},
    }
    if offer.pool is not None:
        item["pool"] = {"S": offer.pool}
    if offer.free_shipping:
        item["free_shipping"] = {"BOOL": True}
    if offer.acknowledged_at is not None:
        item["acknowledged_at"] = {"S": offer.acknowledged_at.isoformat()}
    return item


def issue_request(offer: IssuedOffer) -> dict[str, Any]:
    """PutItem of a handed-out code: new, or already this very message's (a redelivery writes it again)."""
    return {
        "Item": offer_item(offer),
        "ConditionExpression": "attribute_not_exists(pk) OR message_id = :message",
        "ExpressionAttributeValues": {":message": {"S": offer.message_id}},
    }


def redeem_request(shop_id: str, code: str, customer: str, order_id: str, at: datetime) -> dict[str, Any]:
    """UpdateItem: the code was used by ``order_id`` (only a handed-out code, and only its first order)."""
    return {
        "Key": offer_key(shop_id, code),
        "UpdateExpression": "SET redeemed_at = :at, order_id = :order, redeemed_by = :customer",
        "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(redeemed_at)",
        "ExpressionAttributeValues": {
            ":at": {"S": at.isoformat()},
            ":order": {"S": order_id},
            ":customer": {"S": customer},
        },
    }


def offer_of(item: dict[str, Any]) -> IssuedOffer:
    shop_id, _, code = item["pk"]["S"].partition("#offer#")
    names = ("redeemed_at", "order_id", "redeemed_by", "pool", "acknowledged_at")
    text = {name: item[name]["S"] for name in names if name in item}
    return IssuedOffer(
        shop_id=shop_id,
        code=code,
        customer=item["customer"]["S"],
        message_id=item["message_id"]["S"],
        journey=item["journey"]["S"],
        percent=int(item["percent"]["N"]),
        free_shipping=item.get("free_shipping", {}).get("BOOL", False),
        expires_at=datetime.fromisoformat(item["offer_expires_at"]["S"]),
        issued_at=datetime.fromisoformat(item["issued_at"]["S"]),
        **text,
    )


def duplicates(codes: Sequence[str]) -> list[str]:
    """The codes that appear more than once in ``codes``, in order of first repetition."""
    seen: set[str] = set()
    repeated: dict[str, None] = {}
    for code in codes:
        if code in seen:
            repeated[code] = None
        seen.add(code)
    return list(repeated)


class OfferStore(DynamoDBTable):
    """Handed-out codes and code pools in the customers table."""

    def find(self, shop_id: str, code: str) -> IssuedOffer | None:
        item = self.client.get_item(TableName=self._table, Key=offer_key(shop_id, code), ConsistentRead=True).get(
            "Item"
        )
        return offer_of(item) if item else None

    def issue(self, offer: IssuedOffer) -> None:
        """Record ``offer`` handed out; a code another message holds is refused (ValueError)."""
        try:
            self.client.put_item(TableName=self._table, **issue_request(offer))
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise ValueError(f"offer code {offer.code!r} was handed out by another message") from error

    def redeem(self, shop_id: str, code: str, customer: str, order_id: str, at: datetime) -> bool:
        """Record that ``order_id`` used ``code``; False if nudge never handed it out or an order used it first."""
        try:
            self.client.update_item(TableName=self._table, **redeem_request(shop_id, code, customer, order_id, at))
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def upload(self, shop_id: str, pool: str, codes: Sequence[str]) -> int:
        """Add ``codes`` to the pool (a code already free in it stays one code); how many were written."""
        items = [{"PutRequest": {"Item": {"pk": {"S": pool_pk(shop_id, pool)}, "sk": {"S": FREE + c}}}} for c in codes]
        self._batch_write(items)
        return len(items)

    def available(self, shop_id: str, pool: str) -> int:
        """How many codes the pool still has."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :free)",
            "ExpressionAttributeValues": {":pk": {"S": pool_pk(shop_id, pool)}, ":free": {"S": FREE}},
            "Select": "COUNT",
        }
        total = 0
        while True:
            page = self.client.query(**query)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                return total
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim(self, pool: str, offer: IssuedOffer) -> IssuedOffer:
        """A code from ``pool`` for ``offer``'s message (the one it took before, on a redelivery), recorded handed
        out; PoolEmptyError when none is left."""
        table, pk = self._table, pool_pk(offer.shop_id, pool)
        for _ in range(20):  # each round loses at most a race for one code to another router
            held = self.client.get_item(
                TableName=table, Key={"pk": {"S": pk}, "sk": {"S": CLAIM + offer.message_id}}, ConsistentRead=True
            ).get("Item")
            if held is not None:
                found = self.find(offer.shop_id, held["code"]["S"])
                if found is not None:
                    return found
            free = self.client.query(
                TableName=table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :free)",
                ExpressionAttributeValues={":pk": {"S": pk}, ":free": {"S": FREE}},
                ConsistentRead=True,
                Limit=1,
            ).get("Items", [])
            if not free:
                raise PoolEmptyError(pool)
            code = free[0]["sk"]["S"].removeprefix(FREE)
            taken = offer.model_copy(update={"code": code, "pool": pool})
            try:
                self.client.transact_write_items(TransactItems=claim_transaction(table, pk, taken))
            except self.client.exceptions.TransactionCanceledException as error:
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                    # handed out before (uploaded again): never again; drop it from the free codes and go on
                    self.client.delete_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": FREE + code}})
                continue
            return taken
        raise RuntimeError(f"could not take a code from pool {pool!r}: too many routers at once")


def claim_transaction(table: str, pk: str, taken: IssuedOffer) -> list[Any]:
    """Take ``taken.code`` out of the pool for ``taken.message_id``: delete the free code, write the claim and the
    handed-out code, each on its condition (in this order: a refusal's position says which failed)."""
    return [
        {
            "Delete": {
                "TableName": table,
                "Key": {"pk": {"S": pk}, "sk": {"S": FREE + taken.code}},
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": pk}, "sk": {"S": CLAIM + taken.message_id}, "code": {"S": taken.code}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {"Put": {"TableName": table, "Item": offer_item(taken), "ConditionExpression": "attribute_not_exists(pk)"}},
    ]
