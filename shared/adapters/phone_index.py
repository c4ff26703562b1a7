"""Phone index: which customers of which shops nudge texts (SMS) or writes (WhatsApp) at a phone number.

A reply (STOP, a WhatsApp message) arrives with the customer's number and the number it was sent to, never with a
shop or customer id, so the router remembers each (number, shop, customer) before it sends. Items live in the
customers table:

- ``pk`` = ``phone#<E.164>`` (a customer record's ``pk`` is ``<shop>#u:...`` / ``<shop>#a:...``, and an E.164 number
  starts with ``+``, so the two can never meet), ``sk`` = ``<shop_id>#<customer key>``
- ``shop_id``, ``customer``, ``origination`` (the shop's SMS origination identity) and ``whatsapp`` (the shop's
  WhatsApp phone number id), each set by the channel that used the number last.

This is the one read that is not keyed by a shop first (architecture §6): inbound replies name no shop. Every match is
a (shop, customer) pair, and the caller picks the shop by the number the reply went to.

``remember`` runs before every SMS and WhatsApp message, so its usual outcome, "already known", must be cheap: an
eventually consistent GetItem of the one item (half a read unit, $0.0625 per million) and no write. Only a new or
changed mapping writes (a conditional write that fails also costs a full write unit, ten times the read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shared.adapters.table import DynamoDBTable

if TYPE_CHECKING:
    pass

PHONE_PREFIX = "phone#"
PhoneChannel = Literal["sms", "whatsapp"]
_ATTRIBUTE: dict[PhoneChannel, str] = {"sms": "origination", "whatsapp": "whatsapp"}


@dataclass(frozen=True, slots=True)
class PhoneOwner:
    """One customer of one shop reached at a number, and from which of the shop's identities."""

    shop_id: str
    customer: str
    origination: str | None = None  # SMS origination identity (phone number, pool, sender id or their ARN)
    whatsapp: str | None = None  # WhatsApp phone number id (``phone-number-id-...`` or its ARN)


def phone_key(phone: str, shop_id: str, customer: str) -> dict[str, Any]:
    """The table key of one (number, shop, customer) mapping."""
    return {"pk": {"S": f"{PHONE_PREFIX}{phone}"}, "sk": {"S": f"{shop_id}#{customer}"}}


def remember_request(
    phone: str, shop_id: str, customer: str, origination: str, channel: PhoneChannel = "sms"
) -> dict[str, Any]:
    """The UpdateItem request that records the mapping unless it already says exactly this."""
    return {
        "Key": phone_key(phone, shop_id, customer),
        "UpdateExpression": "SET #shop = :shop, #customer = :customer, #identity = :identity",
        "ConditionExpression": "attribute_not_exists(#identity) OR #identity <> :identity",
        "ExpressionAttributeNames": {"#shop": "shop_id", "#customer": "customer", "#identity": _ATTRIBUTE[channel]},
        "ExpressionAttributeValues": {
            ":shop": {"S": shop_id},
            ":customer": {"S": customer},
            ":identity": {"S": origination},
        },
    }


def _owner(item: dict[str, Any]) -> PhoneOwner:
    return PhoneOwner(
        shop_id=item["shop_id"]["S"],
        customer=item["customer"]["S"],
        origination=item["origination"]["S"] if "origination" in item else None,
        whatsapp=item["whatsapp"]["S"] if "whatsapp" in item else None,
    )


class PhoneIndex(DynamoDBTable):
    """Remembers and looks up who nudge reaches at a phone number."""

    def remember(
        self, shop_id: str, customer: str, phone: str, origination: str, channel: PhoneChannel = "sms"
    ) -> bool:
        """Record that ``shop_id`` reaches ``customer`` at ``phone`` from ``origination``; False if already known.

        ``channel`` says which identity ``origination`` is: the SMS origination identity (default) or the WhatsApp
        phone number id. ``phone`` is the E.164 number the message goes to.
        """
        attribute = _ATTRIBUTE[channel]
        known = self.client.get_item(
            TableName=self._table,
            Key=phone_key(phone, shop_id, customer),
            ProjectionExpression="#identity",
            ExpressionAttributeNames={"#identity": attribute},
        ).get("Item")
        if known and known.get(attribute, {}).get("S") == origination:
            return False
        try:
            self.client.update_item(
                TableName=self._table, **remember_request(phone, shop_id, customer, origination, channel)
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False  # a concurrent router recorded the same mapping a moment ago
        return True

    def lookup(self, phone: str) -> list[PhoneOwner]:
        """Every (shop, customer) nudge reaches at ``phone`` (E.164), in key order."""
        owners: list[PhoneOwner] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"{PHONE_PREFIX}{phone}"}},
        }
        while True:
            page = self.client.query(**query)
            owners.extend(_owner(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return owners
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
