"""Counts AWS API calls as they leave boto3 (a botocore event hook, not an estimate).

Used by the demo and the benchmark to report DynamoDB reads and writes per event and the size of each item
written (a DynamoDB write is billed per started KB of the item).

Calls are counted per (service, operation) and, for the benchmark, per *scope*: whoever made the call (a function's
handler, Lambda's SQS poller, or nobody in particular), set with :meth:`ApiCallMeter.scope` around the code that
makes it. Besides the call counts the meter keeps what AWS bills by:

- DynamoDB write request units: per started KB of the larger of the item before and after the write (two per KB in a
  transaction; a failed conditional write still costs its item's size). Sizes come from ``stored_size`` (the
  emulator's copy of the item) when the meter has one, else from the request (``PutItem`` and transaction puts only).
- DynamoDB read request units: per started 4 KB read, half for an eventually consistent read.
- SQS requests: per started 64 KB of payload (a batch of small messages is one request).
- the time spent inside AWS calls, so that a caller can tell its own compute from waiting on AWS.

Each DynamoDB item written (:class:`WrittenItem`) and each read request (:class:`ReadRequest`) is kept with the
partition keys it touched, so that a reader can tell the kinds of item apart (a customer, a product, a waiting list).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
SQS_CHUNK_BYTES = 64 * 1024

# (table name, an item or key holding the key attributes) -> the stored item's size in bytes, None if absent
StoredSize = Callable[[str, dict[str, Any]], int | None]


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item in bytes: attribute names plus values (numbers taken at their digit count)."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        ((kind, content),) = value.items()
        if kind in ("S", "N", "B"):
            total += len(content.encode()) if isinstance(content, str) else len(content)
        elif kind == "BOOL" or kind == "NULL":
            total += 1
        elif kind == "M":
            total += 3 + item_size(content)
        else:
            total += 3 + len(str(content).encode())
    return total


def write_units(size: int | None, transactional: bool = False) -> int:
    """Write request units for an item of ``size`` bytes (at least one)."""
    units = max(1, math.ceil((size or 0) / WRITE_UNIT_BYTES))
    return units * (2 if transactional else 1)


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    """Read request units for ``size`` bytes read (at least one, halved for an eventually consistent read)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return units * 2.0
    return float(units) if consistent else units / 2


def sqs_requests(payload_bytes: int) -> int:
    """Billed SQS requests for one API call carrying ``payload_bytes`` (each started 64 KB is one request)."""
    return max(1, math.ceil(payload_bytes / SQS_CHUNK_BYTES))


@dataclass(frozen=True, slots=True)
class WrittenItem:
    """One item a DynamoDB write touched, and the size its write units were billed on: its partition key (``pk``,
    the customers table's; "" for a table keyed otherwise) tells what kind of item it is, ``deleted`` a delete
    (``DeleteItem``, or a ``DeleteRequest`` of a ``BatchWriteItem``) from a put or an update."""

    scope: str | None
    operation: str
    table: str
    size: int
    units: int
    pk: str = ""
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One DynamoDB read request, the partition keys it asked for (none for a ``Scan``) and its read units."""

    scope: str | None
    operation: str
    table: str
    pks: tuple[str, ...]
    units: float


@dataclass
class _Pending:
    scope: str | None
    service: str
    operation: str
    params: dict[str, Any]
    started: float
    before: list[tuple[Touched, int | None]] = field(default_factory=list)


class ApiCallMeter:
    """Counts calls per (service, operation) on the clients it is attached to; thread-safe."""

    def __init__(self, stored_size: StoredSize | None = None) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.write_units = 0
        self.item_sizes: list[int] = []
        # per scope (None: no scope was set)
        self.scoped_calls: Counter[tuple[str | None, str, str]] = Counter()
        self.scoped_write_units: Counter[str | None] = Counter()
        self.scoped_read_units: defaultdict[str | None, float] = defaultdict(float)
        self.scoped_sqs_requests: Counter[tuple[str | None, str]] = Counter()
        self.aws_seconds: defaultdict[str | None, float] = defaultdict(float)
        self.written: list[WrittenItem] = []
        self.reads: list[ReadRequest] = []
        self._stored_size = stored_size
        self._lock = threading.Lock()
        self._local = threading.local()

    def attach(self, client: Any) -> None:
        """Count every call ``client`` makes from now on."""
        client.meta.events.register("before-parameter-build", self._on_call)
        client.meta.events.register("after-call", self._after_call)
        client.meta.events.register("after-call-error", self._after_error)

    # ---------------------------------------------------------------- scopes
    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Attribute the calls made by this thread inside the ``with`` block to ``name`` (scopes nest)."""
        stack = self._scopes()
        stack.append(name)
        try:
            yield
        finally:
            stack.pop()

    @property
    def current_scope(self) -> str | None:
        stack = self._scopes()
        return stack[-1] if stack else None

    def _scopes(self) -> list[str]:
        if not hasattr(self._local, "scopes"):
            self._local.scopes = []
        stack: list[str] = self._local.scopes
        return stack

    def _pending(self) -> list[_Pending]:
        if not hasattr(self._local, "pending"):
            self._local.pending = []
        pending: list[_Pending] = self._local.pending
        return pending

    # ---------------------------------------------------------------- reading
    def count(
        self, service: str, operations: frozenset[str] | None = None, scopes: frozenset[str | None] | None = None
    ) -> int:
        """Calls made to ``service`` (only ``operations`` and only from ``scopes``, if given)."""
        with self._lock:
            if scopes is None:
                return sum(
                    n for (s, op), n in self.calls.items() if s == service and (operations is None or op in operations)
                )
            return sum(
                n
                for (scope, s, op), n in self.scoped_calls.items()
                if s == service and scope in scopes and (operations is None or op in operations)
            )

    # ---------------------------------------------------------------- hooks
    def _on_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        scope = self.current_scope
        pending = _Pending(scope, service, operation, params, time.perf_counter())
        if service == "dynamodb" and self._stored_size is not None:
            pending.before = [
                (touched, self._stored_size(touched.table, touched.key)) for touched in _touched(operation, params)
            ]
        with self._lock:
            self.calls[(service, operation)] += 1
            self.scoped_calls[(scope, service, operation)] += 1
            if service == "dynamodb" and self._stored_size is None:
                for item in _written_items(operation, params):
                    size = item_size(item)
                    self.item_sizes.append(size)
                    # a transaction costs two write units per started KB
                    self.write_units += write_units(size, operation == "TransactWriteItems")
            if service == "sqs" and operation not in ("ReceiveMessage",):
                self.scoped_sqs_requests[(scope, operation)] += sqs_requests(_sent_bytes(operation, params))
        self._pending().append(pending)

    def _after_call(self, model: Any, parsed: dict[str, Any] | None = None, **_: Any) -> None:
        pending = self._pop(model)
        if pending is None:
            return
        elapsed = time.perf_counter() - pending.started
        parsed = parsed or {}
        with self._lock:
            self.aws_seconds[pending.scope] += elapsed
            if pending.service == "sqs" and pending.operation == "ReceiveMessage":
                received = sum(_message_bytes(m) for m in parsed.get("Messages", []))
                self.scoped_sqs_requests[(pending.scope, "ReceiveMessage")] += sqs_requests(received)
        if pending.service != "dynamodb":
            return
        if pending.operation in READ_OPERATIONS:
            read = _read_units(pending.operation, pending.params, parsed)
            request = ReadRequest(
                pending.scope, pending.operation, _read_table(pending.params), _read_keys(pending.params), read
            )
            with self._lock:
                self.scoped_read_units[pending.scope] += read
                self.reads.append(request)
        elif pending.operation in WRITE_OPERATIONS and self._stored_size is not None:
            transactional = pending.operation == "TransactWriteItems"
            for touched, before in pending.before:
                after = self._stored_size(touched.table, touched.key)
                size = max(before or 0, after or 0)
                units = write_units(size, transactional)
                written = WrittenItem(
                    pending.scope, pending.operation, touched.table, size, units, touched.pk, touched.deleted
                )
                with self._lock:
                    self.written.append(written)
                    self.item_sizes.append(size)
                    self.write_units += units
                    self.scoped_write_units[pending.scope] += units
        if pending.operation in WRITE_OPERATIONS and self._stored_size is None:
            items = _written_items(pending.operation, pending.params)
            estimated = sum(write_units(item_size(i), pending.operation == "TransactWriteItems") for i in items)
            with self._lock:
                self.scoped_write_units[pending.scope] += estimated or 1

    def _after_error(self, event_name: str = "", **_: Any) -> None:
        # no response (e.g. the connection failed): only the time spent is known
        pending = self._pop_operation(event_name.rsplit(".", 1)[-1])
        if pending is not None:
            with self._lock:
                self.aws_seconds[pending.scope] += time.perf_counter() - pending.started

    def _pop(self, model: Any) -> _Pending | None:
        return self._pop_operation(model.name)

    def _pop_operation(self, operation: str) -> _Pending | None:
        stack = self._pending()
        for index in range(len(stack) - 1, -1, -1):
            if stack[index].operation == operation:
                return stack.pop(index)
        return None


def _written_items(operation: str, body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    if operation == "PutItem":
        return [body.get("Item", {})]
    if operation == "TransactWriteItems":
        return [entry["Put"]["Item"] for entry in body.get("TransactItems", []) if "Put" in entry]
    return []


@dataclass(frozen=True, slots=True)
class Touched:
    """An item a write request may change: its table, the item or key holding its key attributes, and whether the
    request deletes it."""

    table: str
    key: dict[str, Any]
    deleted: bool = False

    @property
    def pk(self) -> str:
        return _partition_key(self.key)


def _touched(operation: str, params: dict[str, Any]) -> list[Touched]:
    """Every item a write request may change (a transaction's condition checks too)."""
    if operation == "PutItem":
        return [Touched(params["TableName"], params["Item"])]
    if operation == "UpdateItem":
        return [Touched(params["TableName"], params["Key"])]
    if operation == "DeleteItem":
        return [Touched(params["TableName"], params["Key"], deleted=True)]
    if operation == "TransactWriteItems":
        touched = []
        for entry in params.get("TransactItems", []):
            ((kind, request),) = entry.items()
            key = request["Item"] if kind == "Put" else request["Key"]
            touched.append(Touched(request["TableName"], key, deleted=kind == "Delete"))
        return touched
    if operation == "BatchWriteItem":
        return [
            Touched(table, request["PutRequest"]["Item"])
            if "PutRequest" in request
            else Touched(table, request["DeleteRequest"]["Key"], deleted=True)
            for table, requests in params.get("RequestItems", {}).items()
            for request in requests
        ]
    return []


def _partition_key(item: dict[str, Any]) -> str:
    """The customers table's partition key of an item or key (``pk``), "" if it has none."""
    value = item.get("pk")
    return str(value.get("S", "")) if isinstance(value, dict) else ""


def _read_table(params: dict[str, Any]) -> str:
    if "TableName" in params:
        return str(params["TableName"])
    tables = list(params.get("RequestItems", {})) or [
        get["Get"]["TableName"] for get in params.get("TransactItems", []) if "Get" in get
    ]
    return ",".join(dict.fromkeys(tables))


def _read_keys(params: dict[str, Any]) -> tuple[str, ...]:
    """The partition keys a read request asks for: a ``GetItem``'s, a batch's or a transaction's, the value a
    ``Query`` names for ``pk``; none for a ``Scan`` (it reads whatever it finds)."""
    if "Key" in params:
        return (_partition_key(params["Key"]),)
    if "RequestItems" in params:
        return tuple(_partition_key(key) for request in params["RequestItems"].values() for key in request["Keys"])
    if "TransactItems" in params:
        return tuple(_partition_key(get["Get"]["Key"]) for get in params["TransactItems"] if "Get" in get)
    condition = str(params.get("KeyConditionExpression", ""))
    match = re.search(r"\bpk\s*=\s*(:\w+)", condition)
    if match is not None:
        value = params.get("ExpressionAttributeValues", {}).get(match.group(1), {})
        return (str(value.get("S", "")),)
    return ()


def _read_units(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> float:
    consistent = bool(params.get("ConsistentRead"))
    if operation == "GetItem":
        return read_units(item_size(parsed["Item"]) if parsed.get("Item") else 0, consistent)
    if operation in ("Query", "Scan"):
        return read_units(sum(item_size(item) for item in parsed.get("Items", [])), consistent)
    if operation == "TransactGetItems":
        return sum(
            read_units(item_size(r.get("Item") or {}), True, transactional=True) for r in parsed.get("Responses", [])
        )
    if operation == "BatchGetItem":
        items = [item for table in parsed.get("Responses", {}).values() for item in table]
        return sum(read_units(item_size(item), consistent) for item in items) or read_units(0, consistent)
    return 1.0


def _attributes_bytes(attributes: dict[str, Any] | None) -> int:
    total = 0
    for name, value in (attributes or {}).items():
        total += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        content = value.get("StringValue") or value.get("BinaryValue") or ""
        total += len(content.encode()) if isinstance(content, str) else len(content)
    return total


def _sent_bytes(operation: str, params: dict[str, Any]) -> int:
    if operation == "SendMessage":
        return len(str(params.get("MessageBody", "")).encode()) + _attributes_bytes(params.get("MessageAttributes"))
    if operation == "SendMessageBatch":
        return sum(
            len(str(entry.get("MessageBody", "")).encode()) + _attributes_bytes(entry.get("MessageAttributes"))
            for entry in params.get("Entries", [])
        )
    return 0


def _message_bytes(message: dict[str, Any]) -> int:
    return len(str(message.get("Body", "")).encode()) + _attributes_bytes(message.get("MessageAttributes"))
