"""The customers and shops tables in memory: customer records, the send ledger, the phone index, the in-app inbox,
and the shop directory, each with its DynamoDB adapter's conditions and encodings.

Each store builds its items with the DynamoDB adapter's own request builders (``put_request``, ``start_request``,
``close_request``, ``deliver_request``) and reads them with its decoders, and evaluates the request's condition here;
so the stored values, the conflicts and the refusals are those of the table (a customer record over DynamoDB's 400 KB
item limit included). One difference, invisible through the ports: a customer's state is kept as its JSON (``doc``)
rather than compressed (``docz``) while it is too small to reach the item limit compressed or not.
"""

from __future__ import annotations

import bisect
import threading
import zlib
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.catalog import (
    HeldProduct,
    ProductConflictError,
    Waiter,
    held_of,
    product_pk,
    waiter_item,
    waiter_of,
    waiting_pk,
)
from shared.adapters.catalog import put_request as product_put_request
from shared.adapters.channels.inbox import DEFAULT_RETENTION, deliver_request, item_of
from shared.adapters.contacts import ContactConflictError, ContactRecord, contact_key, save_request
from shared.adapters.contacts import record_of as contact_record_of
from shared.adapters.customers import (
    StateDocument,
    StoredCustomer,
    VersionConflictError,
    compressed,
    encode_state,
    follow_pointers,
    put_request,
    record_of,
    swept,
)
from shared.adapters.erasure import digest as erasure_digest
from shared.adapters.erasure import suppression_key as erasure_key
from shared.adapters.ledger import (
    ENGAGED_FIELDS,
    LedgerConflictError,
    close_request,
    credit_request,
    engage_request,
    entry_of,
    ledger_key,
    newest_first,
    start_request,
)
from shared.adapters.offers import IssuedOffer, PoolEmptyError
from shared.adapters.phone_index import PhoneChannel, PhoneOwner
from shared.adapters.quotas import quota_key
from shared.adapters.recommendations import ALL, KEEP_SALES
from shared.adapters.reports import ReportRow
from shared.adapters.reports import add_request as add_report_request
from shared.adapters.reports import range_query as report_range_query
from shared.adapters.reports import row_of as report_row_of
from shared.adapters.shops import (
    ShopDirectoryError,
    ShopKey,
    UnknownShopError,
    plan_rotation,
    reconcile,
    without_retired,
)
from shared.clock import ClockSource
from shared.clock import now as clock_now
from shared.core.policy import ContactLog
from shared.models.campaigns import Campaign, CampaignRequest
from shared.models.catalog import Product
from shared.models.channels import InboxItem
from shared.models.config import Channel, KeyKind, ShopConfig, hash_key
from shared.models.effects import OrderLine, Tally
from shared.models.messages import Attempt, Content, LedgerEntry, LedgerStatus, OutboxMessage
from shared.models.nudge_events import EngagementAction
from shared.models.state import CustomerState

Item = dict[str, Any]
_FINAL = frozenset({"sent", "suppressed", "failed"})
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit


def item_size(item: Item) -> int:
    """The item's size as DynamoDB counts it toward ``MAX_ITEM_BYTES``: every attribute's name and value (strings as
    UTF-8, binary as its bytes, a number about one byte per two digits)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        for kind, data in value.items():
            if kind == "S":
                size += len(data) if data.isascii() else len(data.encode())  # UTF-8 bytes, without a copy if ASCII
            elif kind == "B":
                size += len(data)
            elif kind == "N":
                size += (len(data.lstrip("-").replace(".", "")) + 1) // 2 + 1
            else:
                size += len(repr(data).encode())
    return size


# JSON up to this size compresses to less than DynamoDB's item limit, whatever it holds (zlib adds at most about
# 5 bytes per 16 KB block), with room for the item's other attributes: kept uncompressed, it is refused exactly
# when the table would refuse it, which is never.
_PLAIN_LIMIT = MAX_ITEM_BYTES - 4096


def _document_of(item: Item) -> object:
    """The stored document's value in a customer item (``docz`` bytes or ``doc`` text), for an identity check."""
    value = item.get("docz") or item.get("doc") or {}
    return value.get("B", value.get("S"))


def _too_large(operation: str) -> ClientError:
    """What DynamoDB answers a write whose item is over its size limit (before any condition is evaluated)."""
    error = {"Code": "ValidationException", "Message": "Item size has exceeded the maximum allowed size"}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)  # type: ignore[typeddict-item]


class MemoryCustomers:
    """Customer records by ``pk``, each the item the DynamoDB adapter would put (version, state, ``merged_into``),
    written on the same conditions: new, or still at the version read.

    The state a save's document loads as (``StateDocument.loaded``, made by ``encode_state``'s check) is kept for
    the next load of that item, which then need not decode the same bytes again; for the ``fresh`` most recently
    saved customers (a customer's events come in sessions), and once: a second load decodes.
    """

    def __init__(self, fresh: int = 256) -> None:
        self.items: dict[str, Item] = {}
        self.writes = 0
        self._fresh: OrderedDict[str, tuple[object, CustomerState]] = OrderedDict()  # pk -> (stored document, state)
        self._keep = fresh

    def forget(self, pk: str) -> None:
        """Drop what is kept of a record's last load (its item was deleted: an erasure)."""
        self._fresh.pop(pk, None)

    def encode(self, state: CustomerState) -> StateDocument:
        """The state's JSON, checked as the table's adapter checks it, and not compressed: :meth:`save` compresses
        only a document that could reach the item size limit, so the refusals are the table's. (Compressing every
        state was a tenth of a long backtest's time.)"""
        return encode_state(state, compress=False)

    def load(self, shop_id: str, key: str) -> StoredCustomer:
        pk = f"{shop_id}#{key}"
        item = self.items.get(pk)
        fresh = self._fresh.pop(pk, None)
        if fresh is not None and item is not None and _document_of(item) is fresh[0]:
            return record_of(shop_id, key, item, loaded=fresh[1])
        return record_of(shop_id, key, item)

    def follow(self, record: StoredCustomer) -> StoredCustomer:
        return follow_pointers(self.load, record)

    def sweep(
        self, shop_id: str, part: int, parts: int, limit: int, after: str | None
    ) -> tuple[list[tuple[str, CustomerState]], str | None]:
        """A parallel scan's page, as the table's: every item in exactly one segment (here by a hash of its key), a
        segment read in pages of ``limit`` items (the shop's or not), the key to go on from while it is not done."""
        keys = sorted(
            pk for pk in self.items if zlib.crc32(pk.encode()) % parts == part and (after is None or pk > after)
        )
        page = keys[:limit]
        prefix = f"{shop_id}#"
        found = swept(shop_id, [{"pk": {"S": pk}, **self.items[pk]} for pk in page if pk.startswith(prefix)])
        return found, (page[-1] if len(keys) > limit else None)

    def save(
        self,
        record: StoredCustomer,
        state: CustomerState,
        now: datetime,
        absorbed: Sequence[StoredCustomer] = (),
        document: bytes | None = None,
    ) -> None:
        document = document or self.encode(state)
        if isinstance(document, StateDocument) and len(document) > _PLAIN_LIMIT:
            document = compressed(document)  # it could reach the limit: measured as the table measures it
        puts = [put_request(record, state, now, document=document)]
        puts += [put_request(other, None, now, merged_into=record.key) for other in absorbed]
        if any(item_size(put["Item"]) > MAX_ITEM_BYTES for put in puts):
            raise _too_large("TransactWriteItems" if absorbed else "PutItem")
        for target in (record, *absorbed):  # a transaction: every condition first, then the writes
            stored_item = self.items.get(target.pk)
            current = int(stored_item["version"]["N"]) if stored_item else 0
            if current != target.version:
                raise VersionConflictError(target.pk)
        for put, target in zip(puts, [record, *absorbed], strict=True):
            self.items[target.pk] = put["Item"]
            self._fresh.pop(target.pk, None)
        self.writes += 1
        if isinstance(document, StateDocument):
            self._fresh[record.pk] = (_document_of(puts[0]["Item"]), document.loaded)
            if len(self._fresh) > self._keep:
                self._fresh.popitem(last=False)


# The attributes a ledger request sets, and the request's value placeholder for each.
_COMMON = {
    "attempts": ":attempts",
    "journey": ":journey",
    "step": ":step",
    "template": ":template",
    "variant": ":variant",
}
_STARTED = {
    **_COMMON,
    "status": ":pending",
    "in_flight": ":channel",
    "lease_until": ":lease",
    "updated_at": ":now",
    "expires_at": ":expires",
}
_CLOSED = {
    **_COMMON,
    "status": ":status",
    "updated_at": ":now",
    "expires_at": ":expires",
    "channel": ":channel",
    "reason": ":reason",
    "title": ":title",
    "details": ":details",
}


def _updated(key: tuple[str, str], item: Item | None, values: dict[str, Any], sets: dict[str, str]) -> Item:
    """``item`` (or a new one at ``key``) with what an UpdateItem request's values set (``created_at`` only once)."""
    updated = dict(item or {"pk": {"S": key[0]}, "sk": {"S": key[1]}})
    updated.setdefault("created_at", values[":now"])
    updated.update({name: values[placeholder] for name, placeholder in sets.items() if placeholder in values})
    return updated


class MemoryLedger:
    """Ledger items by (customer partition, message id), updated as the ledger's UpdateItem requests say, on their
    conditions; removed once past their ``expires_at``, as the table's time to live removes them (DynamoDB does
    it within days; here at the next write after that moment). A backtest of years keeps the ledger's retention,
    not every message ever sent."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Item] = {}
        self._expiring: deque[tuple[int, tuple[str, str]]] = deque()  # (expires_at, key) in the order written

    def _expire(self, now: datetime) -> None:
        # Every write sets expires_at to its time plus the same retention, so the order written is the order due.
        moment = int(now.timestamp())
        while self._expiring and self._expiring[0][0] <= moment:
            _, key = self._expiring.popleft()
            item = self.items.get(key)
            if item is not None and int(item["expires_at"]["N"]) <= moment:  # not written again since
                del self.items[key]

    def _put(self, key: tuple[str, str], item: Item, now: datetime) -> None:
        self._expire(now)
        self.items[key] = item
        self._expiring.append((int(item["expires_at"]["N"]), key))

    @staticmethod
    def _key(message: OutboxMessage) -> tuple[str, str]:
        key = ledger_key(message.shop_id, message.customer, message.message_id)
        return key["pk"]["S"], key["sk"]["S"]

    def find(self, message: OutboxMessage) -> LedgerEntry | None:
        item = self.items.get(self._key(message))
        return entry_of(item) if item else None

    def start(
        self,
        message: OutboxMessage,
        channel: Channel,
        attempts: Sequence[Attempt],
        now: datetime,
        previous: Channel | None = None,
    ) -> None:
        key = self._key(message)
        item = self.items.get(key)
        if previous is None:
            allowed = item is None or (item["status"]["S"] in ("pending", "deferred") and "in_flight" not in item)
        else:
            allowed = item is not None and item.get("in_flight", {}).get("S") == previous
        if not allowed:
            raise LedgerConflictError(key[1])
        values = start_request(message, channel, attempts, now, previous)["ExpressionAttributeValues"]
        self._put(key, _updated(key, item, values, _STARTED), now)

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
        key = self._key(message)
        item = self.items.get(key)
        if in_flight is not None:
            allowed = item is not None and item.get("in_flight", {}).get("S") == in_flight
        else:
            allowed = item is None or item["status"]["S"] not in _FINAL
        if not allowed:
            raise LedgerConflictError(key[1])
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
        updated = _updated(key, item, request["ExpressionAttributeValues"], _CLOSED)
        for name in ("in_flight", "lease_until", *(("reason",) if reason is None else ())):
            updated.pop(name, None)
        self._put(key, updated, now)

    def list(self, shop_id: str, customer: str, limit: int = 100) -> list[LedgerEntry]:
        pk = f"{shop_id}#{customer}"
        return newest_first([entry_of(item) for (p, _), item in self.items.items() if p == pk], limit)

    def engage(
        self, shop_id: str, customer: str, message_id: str, action: EngagementAction, at: datetime
    ) -> LedgerEntry | None:
        request = engage_request(shop_id, customer, message_id, action, at)
        item = self._held(request)
        if item is None:
            return None
        before = entry_of(item)
        values = request["ExpressionAttributeValues"]
        for name in ENGAGED_FIELDS[action]:
            item.setdefault(name, values[":at"])
        if ":one" in values:
            item["clicks"] = {"N": str(int(item.get("clicks", {"N": "0"})["N"]) + 1)}
        return before

    def credit(
        self, shop_id: str, customer: str, message_id: str, order_id: str, revenue: float | None
    ) -> LedgerEntry | None:
        request = credit_request(shop_id, customer, message_id, order_id, revenue)
        item = self._held(request)
        if item is None:
            return None
        before = entry_of(item)
        name = request["ExpressionAttributeNames"]["#c"]
        if revenue is None:
            item.pop(name, None)
        else:
            item[name] = request["ExpressionAttributeValues"][":r"]
        return before

    def _held(self, request: dict[str, Any]) -> Item | None:
        """The item a request's ``attribute_exists(pk)`` condition finds (changed in place: no new expiry)."""
        return self.items.get((request["Key"]["pk"]["S"], request["Key"]["sk"]["S"]))


class MemoryReports:
    """Report rows by (shop partition, day-first key), each counter added as the table's ``ADD`` adds it; a range is
    read in key order, as the Query reads it."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Item] = {}
        self._lock = threading.Lock()

    def add(self, tally: Tally) -> None:
        if not tally.counts:
            return
        request = add_report_request(tally)
        key = (request["Key"]["pk"]["S"], request["Key"]["sk"]["S"])
        names, values = request["ExpressionAttributeNames"], request["ExpressionAttributeValues"]
        with self._lock:
            item = self.items.setdefault(key, {"pk": request["Key"]["pk"], "sk": request["Key"]["sk"]})
            item["expires_at"] = values[":e"]
            for placeholder, name in names.items():
                if placeholder.startswith("#c"):
                    held = float(item.get(name, {"N": "0"})["N"])
                    added = held + float(values[":" + placeholder[1:]]["N"])
                    item[name] = {"N": repr(int(added)) if added.is_integer() else repr(round(added, 6))}

    def read(self, shop_id: str, start: date, end: date) -> list[ReportRow]:
        query = report_range_query(shop_id, start, end)["ExpressionAttributeValues"]
        pk, low, high = query[":pk"]["S"], query[":start"]["S"], query[":end"]["S"]
        with self._lock:
            found = sorted((sk, item) for (p, sk), item in self.items.items() if p == pk and low <= sk <= high)
        return [report_row_of(item) for _, item in found]


class MemoryContacts:
    """Contact log items by customer partition, written as the DynamoDB adapter's PutItem says, on its condition (the
    version read). A lock makes read-compare-write one step, as the table's condition is, for routers on threads. One
    item per customer, kept (the table's time to live removes it some time after ``expires_at``; nothing reads that
    moment)."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self._lock = threading.Lock()

    def load(self, shop_id: str, customer: str) -> ContactRecord:
        with self._lock:
            return contact_record_of(shop_id, customer, self.items.get(contact_key(shop_id, customer)["pk"]["S"]))

    def save(self, record: ContactRecord, log: ContactLog, now: datetime, keep: timedelta) -> None:
        request = save_request(record, log, now, keep)
        pk = request["Item"]["pk"]["S"]
        with self._lock:
            stored = self.items.get(pk)
            current = int(stored["version"]["N"]) if stored is not None else 0
            if current != record.version:
                raise ContactConflictError(pk)
            self.items[pk] = request["Item"]


class MemoryQuotas:
    """Quota items as the DynamoDB adapter's UpdateItem leaves them, taken on its condition (under a lock, one step
    as the table's condition is)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Item] = {}
        self._lock = threading.Lock()

    def take(self, shop_id: str, name: str, window: datetime, limit: int, keep: timedelta) -> bool:
        key = quota_key(shop_id, name, window)
        at = (key["pk"]["S"], key["sk"]["S"])
        with self._lock:
            item = self.items.get(at)
            taken = int(item["taken"]["N"]) if item is not None else 0
            if taken >= limit:
                return False
            expires = item["expires_at"] if item is not None else {"N": str(int((window + keep).timestamp()))}
            self.items[at] = {"taken": {"N": str(taken + 1)}, "expires_at": expires}
            return True


class MemoryCatalog:
    """Products as the DynamoDB adapter stores them (the same item, the same JSON), written on the same condition:
    new, or still at the version read."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self._lock = threading.Lock()

    def get(self, shop_id: str, product_ids: Sequence[str]) -> dict[str, HeldProduct]:
        found = {}
        for product_id in dict.fromkeys(product_ids):
            item = self.items.get(product_pk(shop_id, product_id))
            if item is not None:
                found[product_id] = held_of(item)
        return found

    def put(self, shop_id: str, product: Product, version: int) -> None:
        request = product_put_request(shop_id, product, version)
        pk = request["Item"]["pk"]["S"]
        with self._lock:
            item = self.items.get(pk)
            if (int(item["version"]["N"]) if item else 0) != version:
                raise ProductConflictError(pk)
            self.items[pk] = request["Item"]


class MemoryWaitingLists:
    """Customers waiting for products, as the DynamoDB adapter stores them, read in key order (a Query's order:
    the customer keys' UTF-8 bytes, as Python compares these strings)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Item]] = {}  # pk -> sk -> item
        self._lock = threading.Lock()

    def watch(self, shop_id: str, product_id: str, waiter: Waiter) -> None:
        with self._lock:
            self.items.setdefault(waiting_pk(shop_id, product_id), {})[waiter.customer] = waiter_item(
                shop_id, product_id, waiter
            )

    def page(self, shop_id: str, product_id: str, limit: int, after: str | None) -> tuple[list[Waiter], str | None]:
        with self._lock:
            listed = self.items.get(waiting_pk(shop_id, product_id), {})
            keys = sorted(key for key in listed if after is None or key > after)
            taken = keys[:limit]
            waiters = [waiter_of(listed[key]) for key in taken]
        # DynamoDB answers a LastEvaluatedKey when the page is full, whether or not more follow.
        return waiters, (taken[-1] if len(taken) == limit else None)

    def forget(self, shop_id: str, product_id: str, customers: Sequence[str]) -> None:
        with self._lock:
            listed = self.items.get(waiting_pk(shop_id, product_id), {})
            for customer in customers:
                listed.pop(customer, None)


class MemoryCampaigns:
    """Campaigns as the DynamoDB adapter keeps them: created once per id, conditional status changes, each page's
    members counted once, each part's end once."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Campaign] = {}
        self._pages: dict[tuple[str, str], set[str]] = {}
        self._parts: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    def create(self, shop_id: str, request: CampaignRequest, now: datetime) -> Campaign | None:
        with self._lock:
            if (shop_id, request.id) in self.items:
                return None
            campaign = Campaign(request=request, status="scheduled", created_at=now)
            self.items[shop_id, request.id] = campaign
            return campaign

    def get(self, shop_id: str, campaign_id: str) -> Campaign | None:
        return self.items.get((shop_id, campaign_id))

    def cancel(self, shop_id: str, campaign_id: str) -> bool:
        return self._set_status(shop_id, campaign_id, "cancelled", ("scheduled", "running"))

    def start(self, shop_id: str, campaign_id: str) -> bool:
        return self._set_status(shop_id, campaign_id, "running", ("scheduled", "running"))

    def finish(self, shop_id: str, campaign_id: str) -> None:
        self._set_status(shop_id, campaign_id, "done", ("running",))

    def count_page(self, shop_id: str, campaign_id: str, page: str, members: int, part_done: str | None) -> None:
        key = (shop_id, campaign_id)
        with self._lock:
            campaign = self.items.get(key)
            pages = self._pages.setdefault(key, set())
            if campaign is None or page in pages:
                return
            pages.add(page)
            parts = self._parts.setdefault(key, set())
            if part_done is not None:
                parts.add(part_done)
            update = {"members": campaign.members + members, "parts_done": len(parts)}
            self.items[key] = campaign.model_copy(update=update)

    def count_outcome(self, shop_id: str, campaign_id: str, status: str, reason: str | None) -> None:
        key = (shop_id, campaign_id)
        with self._lock:
            campaign = self.items.get(key)
            if campaign is None:
                return
            if status == "suppressed":
                why = reason or "unknown"
                held = {**campaign.suppressed, why: campaign.suppressed.get(why, 0) + 1}
                self.items[key] = campaign.model_copy(update={"suppressed": held})
            else:
                self.items[key] = campaign.model_copy(update={status: getattr(campaign, status) + 1})

    def _set_status(self, shop_id: str, campaign_id: str, status: str, when: tuple[str, ...]) -> bool:
        key = (shop_id, campaign_id)
        with self._lock:
            campaign = self.items.get(key)
            if campaign is None or campaign.status not in when:
                return False
            self.items[key] = campaign.model_copy(update={"status": status})
            return True


class MemoryOrderAggregates:
    """Co-purchases, daily sales, the customers' distribution and the monthly churn counters as the DynamoDB adapter
    counts them; a day's sales are forgotten after 35 days, as the table's TTL does."""

    def __init__(self) -> None:
        self.bought: dict[tuple[str, str], Counter[str]] = {}
        self.sales: dict[tuple[str, str], dict[str, Counter[str]]] = {}  # (shop, category) -> day -> units
        self.customers: dict[str, Counter[str]] = {}  # shop -> distribution counters
        self.months: dict[str, dict[str, dict[str, float]]] = {}  # shop -> month -> churn counters
        self._lock = threading.Lock()

    def move(self, shop_id: str, changes: Mapping[str, int]) -> None:
        with self._lock:
            self.customers.setdefault(shop_id, Counter()).update(changes)

    def distribution(self, shop_id: str) -> dict[str, int]:
        return {key: count for key, count in self.customers.get(shop_id, Counter()).items() if count}

    def count_churn(self, shop_id: str, month: str, changes: Mapping[str, float]) -> None:
        with self._lock:
            counters = self.months.setdefault(shop_id, {}).setdefault(month, {})
            for name, amount in changes.items():  # to the cent, as DynamoDB adds decimal numbers
                counters[name] = round(counters.get(name, 0.0) + round(amount, 2), 2)

    def churn(self, shop_id: str, first: str, last: str) -> dict[str, dict[str, float]]:
        months = {
            month: {name: amount for name, amount in counters.items() if amount}
            for month, counters in sorted(self.months.get(shop_id, {}).items())
            if first <= month <= last
        }
        return {month: counters for month, counters in months.items() if counters}

    def record(self, shop_id: str, lines: Sequence[OrderLine], day: date) -> None:
        products = list(dict.fromkeys(line.product_id for line in lines))
        with self._lock:
            for product in products:
                counts = self.bought.setdefault((shop_id, product), Counter())
                counts.update(other for other in products if other != product)
            for line in lines:
                for category in {ALL, *([line.category] if line.category else [])}:
                    days = self.sales.setdefault((shop_id, category), {})
                    days.setdefault(day.isoformat(), Counter())[line.product_id] += max(1, line.quantity)
                    for old in [d for d in days if d < (day - KEEP_SALES).isoformat()]:
                        del days[old]

    def bought_with(self, shop_id: str, product_ids: Sequence[str]) -> Counter[str]:
        total: Counter[str] = Counter()
        for product in dict.fromkeys(product_ids):
            total.update(self.bought.get((shop_id, product), Counter()))
        return total

    def best_sellers(self, shop_id: str, category: str, since: date) -> Counter[str]:
        total: Counter[str] = Counter()
        for day, sold in self.sales.get((shop_id, category), {}).items():
            if day >= since.isoformat():
                total.update(sold)
        return total


class MemoryOffers:
    """Handed-out codes and code pools, with the DynamoDB adapter's conditions: a code goes to one message, a message
    gets one code, a code handed out is never handed out again, free codes are taken in key order (as the table's
    Query returns them) and the first order that used a code is the one on record."""

    def __init__(self) -> None:
        self.offers: dict[tuple[str, str], IssuedOffer] = {}
        self.free: dict[tuple[str, str], list[str]] = {}  # (shop, pool) -> free codes, sorted
        self.claims: dict[tuple[str, str, str], str] = {}  # (shop, pool, message) -> code
        self._lock = threading.Lock()

    def find(self, shop_id: str, code: str) -> IssuedOffer | None:
        return self.offers.get((shop_id, code))

    def issue(self, offer: IssuedOffer) -> None:
        with self._lock:
            held = self.offers.get((offer.shop_id, offer.code))
            if held is not None and held.message_id != offer.message_id:
                raise ValueError(f"offer code {offer.code!r} was handed out by another message")
            self.offers[(offer.shop_id, offer.code)] = offer

    def redeem(self, shop_id: str, code: str, customer: str, order_id: str, at: datetime) -> bool:
        with self._lock:
            held = self.offers.get((shop_id, code))
            if held is None or held.redeemed_at is not None:
                return False
            update = {"redeemed_at": at, "order_id": order_id, "redeemed_by": customer}
            self.offers[(shop_id, code)] = held.model_copy(update=update)
            return True

    def upload(self, shop_id: str, pool: str, codes: Sequence[str]) -> int:
        with self._lock:
            free = self.free.setdefault((shop_id, pool), [])
            for code in codes:
                index = bisect.bisect_left(free, code)
                if index == len(free) or free[index] != code:
                    free.insert(index, code)
        return len(codes)

    def available(self, shop_id: str, pool: str) -> int:
        return len(self.free.get((shop_id, pool), []))

    def claim(self, pool: str, offer: IssuedOffer) -> IssuedOffer:
        with self._lock:
            held = self.claims.get((offer.shop_id, pool, offer.message_id))
            if held is not None:
                return self.offers[(offer.shop_id, held)]
            free = self.free.get((offer.shop_id, pool), [])
            while free:
                code = free.pop(0)
                if (offer.shop_id, code) in self.offers:
                    continue  # handed out before (uploaded again): never again
                taken = offer.model_copy(update={"code": code, "pool": pool})
                self.claims[(offer.shop_id, pool, offer.message_id)] = code
                self.offers[(offer.shop_id, code)] = taken
                return taken
            raise PoolEmptyError(pool)


class MemoryPhoneBook:
    """(number, shop, customer) mappings with the identity each channel used last."""

    def __init__(self) -> None:
        self.owners: dict[str, dict[str, PhoneOwner]] = {}

    def remember(
        self, shop_id: str, customer: str, phone: str, origination: str, channel: PhoneChannel = "sms"
    ) -> bool:
        known = self.owners.setdefault(phone, {})
        sort_key = f"{shop_id}#{customer}"
        owner = known.get(sort_key) or PhoneOwner(shop_id=shop_id, customer=customer)
        field = "origination" if channel == "sms" else "whatsapp"
        if getattr(owner, field) == origination:
            return False
        known[sort_key] = PhoneOwner(
            shop_id=shop_id,
            customer=customer,
            origination=origination if field == "origination" else owner.origination,
            whatsapp=origination if field == "whatsapp" else owner.whatsapp,
        )
        return True

    def lookup(self, phone: str) -> list[PhoneOwner]:
        known = self.owners.get(phone, {})
        return [known[sort_key] for sort_key in sorted(known)]


class MemoryInbox:
    """In-app inbox items, put once per message id, listed newest first without the expired ones."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Item] = {}

    def deliver(
        self,
        shop_id: str,
        customer: str,
        message_id: str,
        content: Content,
        now: datetime,
        ttl: timedelta = DEFAULT_RETENTION,
    ) -> bool:
        item = deliver_request(shop_id, customer, message_id, content, now, ttl)["Item"]
        key = (item["pk"]["S"], item["sk"]["S"])
        if key in self.items:
            return False
        self.items[key] = item
        return True

    def list(self, shop_id: str, customer: str, limit: int = 50, now: datetime | None = None) -> list[InboxItem]:
        pk = f"{shop_id}#{customer}"
        found = [
            item_of(item)
            for (p, _), item in self.items.items()
            if p == pk and (now is None or int(item["expires_at"]["N"]) > now.timestamp())
        ]
        found.sort(key=lambda item: (item.created_at, item.message_id), reverse=True)
        return found[:limit]

    def mark_read(self, shop_id: str, customer: str, message_id: str, now: datetime) -> bool:
        item = self.items.get((f"{shop_id}#{customer}", f"inbox#{message_id}"))
        if item is None:
            return False
        item.setdefault("read_at", {"S": now.isoformat()})
        return True


@lru_cache(maxsize=256)
def _presented(key: str) -> str:
    """``hash_key`` of a presented key: a run presents the same few keys with every request."""
    return hash_key(key)


class MemoryErasure:
    """Erasing a customer from the in-memory tables: every item the table adapter's deletes would remove (the
    customer's partitions in the records, the ledger, the contact log and the inbox; phone index entries, offer
    codes, waiting-list entries, by the same keys), and the suppression records."""

    def __init__(
        self,
        customers: MemoryCustomers,
        ledger: MemoryLedger,
        contacts: MemoryContacts,
        inbox: MemoryInbox,
        phones: MemoryPhoneBook,
        offers: MemoryOffers,
        waiting: MemoryWaitingLists,
    ) -> None:
        self._customers, self._ledger, self._contacts, self._inbox = customers, ledger, contacts, inbox
        self._phones, self._offers, self._waiting = phones, offers, waiting
        self.suppressed: dict[tuple[str, str], Item] = {}

    def suppress(self, shop_id: str, customers: Sequence[str], identifiers: Sequence[str], at: datetime) -> None:
        hashed = sorted({erasure_digest(value) for value in identifiers})
        for customer in customers:
            key = erasure_key(shop_id, customer)
            self.suppressed[(key["pk"]["S"], key["sk"]["S"])] = {
                **key,
                "erased_at": {"S": at.astimezone(UTC).isoformat()},
                **({"identifiers": {"SS": hashed}} if hashed else {}),
            }

    def erased_at(self, shop_id: str, customer: str) -> datetime | None:
        key = erasure_key(shop_id, customer)
        item = self.suppressed.get((key["pk"]["S"], key["sk"]["S"]))
        return datetime.fromisoformat(item["erased_at"]["S"]) if item else None

    def delete(self, shop_id: str, customers: Sequence[str], others: Sequence[dict[str, Any]]) -> int:
        deleted = 0
        for customer in customers:
            pk = f"{shop_id}#{customer}"
            deleted += self._customers.items.pop(pk, None) is not None
            self._customers.forget(pk)
            deleted += self._contacts.items.pop(pk, None) is not None
            for store in (self._ledger.items, self._inbox.items):
                for held in [held for held in store if held[0] == pk]:
                    del store[held]
                    deleted += 1
        for key in others:
            pk, sk = key["pk"]["S"], key["sk"]["S"]
            if pk.startswith("phone#"):
                deleted += self._phones.owners.get(pk.removeprefix("phone#"), {}).pop(sk, None) is not None
            elif "#waiting#" in pk:
                deleted += self._waiting.items.get(pk, {}).pop(sk, None) is not None
            elif "#offer#" in pk:
                shop, _, code = pk.partition("#offer#")
                deleted += self._offers.offers.pop((shop, code), None) is not None
        return deleted


class MemoryShops:
    """Shop configurations (as stored: the JSON round trip the table makes) and the key hashes that identify
    shops. Key retirements are held against ``clock``: by default the clock port, which the DynamoDB directory
    reads."""

    def __init__(self, clock: ClockSource = clock_now) -> None:
        self._clock = clock
        self._configs: dict[str, ShopConfig] = {}
        self._keys: dict[str, ShopKey] = {}
        self._retires: dict[str, datetime] = {}  # a key item's ``retires_at``; the item stays once retired
        self._paused: dict[str, set[str]] = {}

    def authenticate(self, key: str) -> ShopKey | None:
        digest = _presented(key)
        retires_at = self._retires.get(digest)
        return self._keys.get(digest) if retires_at is None or self._clock() < retires_at else None

    def config(self, shop_id: str) -> ShopConfig | None:
        config = self._configs.get(shop_id)
        if config is None:
            return None
        paused = self._paused.get(shop_id)
        config = config.model_copy(update={"paused": frozenset(paused)}) if paused else config
        return without_retired(config, self._retires, self._clock())

    def pause(self, shop_id: str, journey: str, paused: bool = True) -> frozenset[str]:
        if shop_id not in self._configs:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "UpdateItem")
        held = self._paused.setdefault(shop_id, set())
        if paused:
            held.add(journey)
        else:
            held.discard(journey)
        return frozenset(held)

    def allowed_origins(self, shop_id: str) -> frozenset[str]:
        config = self._configs.get(shop_id)
        return frozenset(config.shop.allowed_origins) if config else frozenset()

    def origins_of_any_shop(self) -> frozenset[str]:
        return frozenset(origin for config in self._configs.values() for origin in config.shop.allowed_origins)

    def dated_shops(self) -> list[str]:
        return sorted(shop_id for shop_id, config in self._configs.items() if config.dated_journeys())

    def retained_shops(self) -> list[str]:
        return sorted(shop_id for shop_id, config in self._configs.items() if config.shop.retention)

    def apply(self, config: ShopConfig) -> None:
        shop_id = config.shop.id
        wanted: dict[str, KeyKind] = {k: "write" for k in config.shop.write_keys}
        wanted.update({k: "secret" for k in config.shop.secret_keys})
        for digest, kind in wanted.items():
            owner = self._keys.get(digest)
            if owner is not None and owner.shop_id != shop_id:
                raise ShopDirectoryError(f"a {kind} key of shop {shop_id!r} already belongs to another shop")
        stored, _ = reconcile(config, self._configs.get(shop_id), self._retires, self._clock())
        for digest, key in list(self._keys.items()):
            if key.shop_id == shop_id and digest not in wanted and digest not in self._retires:
                del self._keys[digest]
        self._keys.update({digest: ShopKey(shop_id=shop_id, kind=kind) for digest, kind in wanted.items()})
        self._configs[shop_id] = ShopConfig.model_validate_json(stored.model_dump_json())

    def rotate(self, shop_id: str, kind: KeyKind, key_hash: str, retire_at: datetime) -> dict[str, datetime]:
        stored = self._configs.get(shop_id)
        if stored is None:
            raise UnknownShopError(f"no shop {shop_id!r}")
        if key_hash in self._keys:
            raise ShopDirectoryError(f"the rotation of shop {shop_id!r}'s {kind} key was refused; nothing was stored")
        plan = plan_rotation(stored, self._retires, kind, key_hash, retire_at, self._clock())
        self._keys[key_hash] = ShopKey(shop_id=shop_id, kind=kind)
        self._retires.update(plan.retire)
        self._configs[shop_id] = ShopConfig.model_validate_json(plan.config.model_dump_json())
        return plan.retire
