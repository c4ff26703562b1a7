"""Campaigns in the customers table: ``pk = <shop>#campaign#<id>``, ``sk = campaign``, one item each.

The item holds the request (``request``, JSON), the status (``scheduled`` until its first page, then ``running``,
``done`` when every part of its sweep ended; ``cancelled``), and the progress counters:

- ``members``: customers of the segment told, added once per page;
- ``parts_done``: the sweep parts that ended (each ends with a page, counted with it);
- ``sent``, ``failed`` and ``suppressed.<reason>``: what the channel router did with each member's message, added
  once per message it closed (a router that crashes between closing the message and counting loses one count:
  progress is a report, the send ledger is the record).

A page is counted once: in one transaction with the counters, a marker item ``sk = page#<page>`` is put on the
condition that it is new (a page the state machine asks again adds nothing). The markers live beside the campaign,
not in it, so the campaign's item keeps its size however many pages its sweeps have: every write of it (the router
counts each message) is billed on its whole size, and an item may not pass 400 KB. They expire with the campaign's
messages (``expires_at``, 400 days).

Creating is conditional on the id being new; cancelling on the status being ``scheduled`` or ``running``; starting on
it not being ``cancelled``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import clock
from shared.adapters.ledger import RETENTION  # the markers are kept as long as the campaign's messages
from shared.adapters.table import DynamoDBTable
from shared.models.campaigns import Campaign, CampaignRequest

CAMPAIGN_SK = "campaign"
PAGE_SK = "page#"


def campaign_key(shop_id: str, campaign_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{shop_id}#campaign#{campaign_id}"}, "sk": {"S": CAMPAIGN_SK}}


def campaign_of(item: dict[str, Any]) -> Campaign:
    return Campaign(
        request=CampaignRequest.model_validate_json(item["request"]["S"]),
        status=item["status"]["S"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        members=int(item.get("members", {}).get("N", 0)),
        sent=int(item.get("sent", {}).get("N", 0)),
        failed=int(item.get("failed", {}).get("N", 0)),
        suppressed={reason: int(count["N"]) for reason, count in item.get("suppressed", {}).get("M", {}).items()},
        parts_done=_parts_done(item.get("parts_done", {})),
    )


def _parts_done(value: dict[str, Any]) -> int:
    # A counter; campaigns stored before it kept the parts' names in a string set.
    return int(value["N"]) if "N" in value else len(value.get("SS", []))


class CampaignStore(DynamoDBTable):
    """The shop's campaigns."""

    def create(self, shop_id: str, request: CampaignRequest, now: datetime) -> Campaign | None:
        """Store a new campaign as ``scheduled``; None when the id exists (nothing written)."""
        item = {
            **campaign_key(shop_id, request.id),
            "request": {"S": request.model_dump_json()},
            "status": {"S": "scheduled"},
            "created_at": {"S": now.isoformat()},
            "suppressed": {"M": {}},
        }
        try:
            self.client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return campaign_of(item)

    def get(self, shop_id: str, campaign_id: str) -> Campaign | None:
        found = self.client.get_item(
            TableName=self._table, Key=campaign_key(shop_id, campaign_id), ConsistentRead=True
        ).get("Item")
        return campaign_of(found) if found else None

    def cancel(self, shop_id: str, campaign_id: str) -> bool:
        """Cancel a campaign that has not ended: nobody not told yet is told; False if it ended (or is no campaign)."""
        return self._set_status(shop_id, campaign_id, "cancelled", "#s = :scheduled OR #s = :running")

    def start(self, shop_id: str, campaign_id: str) -> bool:
        """Mark the campaign running; False if it was cancelled (or is no campaign)."""
        return self._set_status(shop_id, campaign_id, "running", "#s = :scheduled OR #s = :running")

    def count_page(self, shop_id: str, campaign_id: str, page: str, members: int, part_done: str | None) -> None:
        """Add a page's members, once per ``page``; ``part_done`` names the part the page ended."""
        key = campaign_key(shop_id, campaign_id)
        update = "ADD members :members" + (", parts_done :one" if part_done is not None else "")
        values: dict[str, Any] = {":members": {"N": str(members)}}
        if part_done is not None:
            values[":one"] = {"N": "1"}
        marker = {
            "pk": key["pk"],
            "sk": {"S": f"{PAGE_SK}{page}"},
            "expires_at": {"N": str(int((clock.now() + RETENTION).timestamp()))},
        }
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": marker,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": key,
                            "UpdateExpression": update,
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                return  # counted already (the machine asked the page again), or no such campaign
            raise

    def count_outcome(self, shop_id: str, campaign_id: str, status: str, reason: str | None) -> None:
        """Add one message the router closed as ``status`` (``suppressed`` with its ``reason``)."""
        if status == "suppressed":
            update, names = "ADD suppressed.#reason :one", {"#reason": reason or "unknown"}
        else:
            update, names = "ADD #status :one", {"#status": status}
        try:
            self.client.update_item(
                TableName=self._table,
                Key=campaign_key(shop_id, campaign_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return  # no such campaign (erased): nothing to count

    def finish(self, shop_id: str, campaign_id: str) -> None:
        """Mark a running campaign done (every part of its sweep ended)."""
        self._set_status(shop_id, campaign_id, "done", "#s = :running")

    def _set_status(self, shop_id: str, campaign_id: str, status: str, condition: str) -> bool:
        values = {":status": {"S": status}}
        values.update({f":{name}": {"S": name} for name in ("scheduled", "running") if f":{name}" in condition})
        try:
            self.client.update_item(
                TableName=self._table,
                Key=campaign_key(shop_id, campaign_id),
                UpdateExpression="SET #s = :status",
                ConditionExpression=f"attribute_exists(pk) AND ({condition})",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
