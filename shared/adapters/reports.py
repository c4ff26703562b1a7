"""The shop's report counters: a daily rollup per journey, step, variant and channel, kept as the work happens, so a
report is one Query of a few hundred small items and never a scan of the customers (architecture §11).

In the customers table, beside the customers (their keys never end in ``#report``):
``pk = <shop>#report``, ``sk = <YYYY-MM-DD>#<journey>#<step>#<variant>#<channel>`` (``-`` where a row has none:
the journey as a whole has no step, and its ``variant`` is the group, ``treatment`` or ``holdout``), one numeric
attribute ``n:<counter>`` per counter, each added with one UpdateItem (``ADD``). Items expire 400 days after their
day, like the send ledger. A day's key sorts by day first, so a date range is one key-condition Query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.table import DynamoDBTable

if TYPE_CHECKING:
    from shared.models.effects import Tally

RETENTION = timedelta(days=400)
_COUNTER = "n:"
_NONE = "-"


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One day's counters of one row (journey, step, variant, channel)."""

    day: date
    journey: str
    step: int | None
    variant: str | None
    channel: str | None
    counts: dict[str, float] = field(default_factory=dict)


def report_pk(shop_id: str) -> str:
    return f"{shop_id}#report"


def row_sk(tally: Tally) -> str:
    parts = (tally.journey, tally.step, tally.variant, tally.channel)
    return tally.day.isoformat() + "".join(f"#{_NONE if part is None else part}" for part in parts)


def add_request(tally: Tally) -> dict[str, Any]:
    """UpdateItem: add the tally's counts to its row (created at the first)."""
    names = {"#e": "expires_at"}
    values: dict[str, Any] = {":e": {"N": str(_epoch(tally.day + RETENTION))}}
    adds = []
    for index, (name, value) in enumerate(sorted(tally.counts.items())):
        names[f"#c{index}"] = _COUNTER + name
        values[f":c{index}"] = {"N": repr(round(value, 2) if isinstance(value, float) else value)}
        adds.append(f"#c{index} :c{index}")
    return {
        "Key": {"pk": {"S": report_pk(tally.shop_id)}, "sk": {"S": row_sk(tally)}},
        "UpdateExpression": "SET #e = :e ADD " + ", ".join(adds),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def row_of(item: dict[str, Any]) -> ReportRow:
    day, journey, step, variant, channel = item["sk"]["S"].split("#", 4)
    return ReportRow(
        day=date.fromisoformat(day),
        journey=journey,
        step=None if step == _NONE else int(step),
        variant=None if variant == _NONE else variant,
        channel=None if channel == _NONE else channel,
        counts={
            name.removeprefix(_COUNTER): float(value["N"]) for name, value in item.items() if name.startswith(_COUNTER)
        },
    )


def range_query(shop_id: str, start: date, end: date) -> dict[str, Any]:
    """Query of the rows from ``start`` to ``end``, both days included (``~`` sorts after every key character)."""
    return {
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :start AND :end",
        "ExpressionAttributeValues": {
            ":pk": {"S": report_pk(shop_id)},
            ":start": {"S": start.isoformat()},
            ":end": {"S": end.isoformat() + "#~"},
        },
    }


def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86400


class ReportCounters(DynamoDBTable):
    """The report counters in the customers table."""

    def add(self, tally: Tally) -> None:
        """Add a tally's counts to its day's row."""
        if tally.counts:
            self.client.update_item(TableName=self._table, **add_request(tally))

    def read(self, shop_id: str, start: date, end: date) -> list[ReportRow]:
        """Every row from ``start`` to ``end`` (both included), in key order, through every page."""
        rows: list[ReportRow] = []
        query: dict[str, Any] = {"TableName": self._table, **range_query(shop_id, start, end)}
        while True:
            page = self.client.query(**query)
            rows.extend(row_of(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return rows
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
