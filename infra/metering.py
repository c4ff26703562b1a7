"""Counts AWS API calls as they leave boto3 (a botocore event hook, not an estimate).

Used by the demo and the benchmark to report DynamoDB reads and writes per event and the size of each item
written (a DynamoDB write is billed per started KB of the item).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Any

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


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


class ApiCallMeter:
    """Counts calls per (service, operation) on the clients it is attached to; thread-safe."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.write_units = 0
        self.item_sizes: list[int] = []
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        """Count every call ``client`` makes from now on."""
        client.meta.events.register("before-parameter-build", self._on_call)

    def _on_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        with self._lock:
            self.calls[(service, operation)] += 1
            for item in _written_items(operation, params):
                size = item_size(item)
                self.item_sizes.append(size)
                # a transaction costs two write units per started KB
                self.write_units += math.ceil(size / 1024) * (2 if operation == "TransactWriteItems" else 1)

    def count(self, service: str, operations: frozenset[str] | None = None) -> int:
        """Calls made to ``service`` (only ``operations``, if given)."""
        with self._lock:
            return sum(
                n for (s, op), n in self.calls.items() if s == service and (operations is None or op in operations)
            )


def _written_items(operation: str, body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    if operation == "PutItem":
        return [body.get("Item", {})]
    if operation == "TransactWriteItems":
        return [entry["Put"]["Item"] for entry in body.get("TransactItems", []) if "Put" in entry]
    return []
