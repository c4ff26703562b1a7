"""Customer state in DynamoDB: one item per customer, written only on the condition of the version read.

Item (``pk`` = ``<shop>#<customer key>``, ``sk`` = ``state``): ``version`` (number), ``docz`` (the state as compact
JSON, zlib-compressed: a write is billed per started KB, and a 5 KB state compresses to about 1 KB), ``updated_at``,
and ``merged_into`` on the record of an anonymous visitor whose history joined a known customer. ``doc`` (the same
JSON uncompressed, a string) is read too: items written before compression have it, and so do the in-memory
adapter's (``infra.memory``), which compresses only what could reach the item size limit.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from shared.adapters.table import DynamoDBTable
from shared.models.state import CustomerState

STATE_SK = "state"
# Level 6: within a few percent of 9 on customer states, at a fraction of the CPU.
_COMPRESSION_LEVEL = 6
MAX_MERGE_HOPS = 4  # merges point at a live record; a longer chain is damaged data, never followed further


class VersionConflictError(Exception):
    """Another writer changed the customer since it was read; reload and decide again."""


class MergeChainError(Exception):
    """A record's ``merged_into`` pointers do not reach a live record within ``MAX_MERGE_HOPS``."""


class UnloadableStateError(Exception):
    """A customer state that does not load: a stored one (written before a bound existed, or by a bug), or a new one
    that would not load again once written. Retrying cannot help; the message says which and why."""


def _first_problem(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "(state)"
    return f"{error.error_count()} error(s), first {where}: {first['msg']}"


@dataclass(frozen=True, slots=True)
class StoredCustomer:
    """A customer record as read: ``version`` 0 means no item exists yet."""

    shop_id: str
    key: str
    state: CustomerState | None = None
    version: int = 0
    merged_into: str | None = None

    @property
    def pk(self) -> str:
        return f"{self.shop_id}#{self.key}"


class StateDocument(bytes):
    """The bytes :func:`encode_state` stores, carrying ``loaded``: the state they load as, which the check made,
    and ``compressed``: zlib data (the ``docz`` attribute) or the JSON itself (``doc``).

    A store that keeps its items in memory may hand ``loaded`` to the next load of that very item instead of
    decoding the same bytes again (nobody else holds it). Everywhere else it is the bytes it is.
    """

    loaded: CustomerState
    compressed: bool


def encode_state(state: CustomerState, compress: bool = True) -> StateDocument:
    """The state as stored: compact JSON without the fields at their defaults, zlib-compressed (a 5 KB state becomes
    about 1 KB, one write unit); ``compress=False``: the JSON alone (what the in-memory adapter keeps while it
    cannot reach the size limit).

    The JSON is loaded once before it is compressed: a state that would not load again (an infinite amount is
    written as ``null``) raises UnloadableStateError instead of being written, so no event can break a customer.
    """
    try:
        document = state.model_dump_json(exclude_defaults=True).encode()
        loaded = CustomerState.model_validate_json(document)
    except PydanticSerializationError as error:
        raise UnloadableStateError(f"the new state cannot be written as JSON: {error}") from error
    except ValidationError as error:
        raise UnloadableStateError(f"the new state would not load again: {_first_problem(error)}") from error
    stored = StateDocument(zlib.compress(document, _COMPRESSION_LEVEL) if compress else document)
    stored.loaded, stored.compressed = loaded, compress
    return stored


def compressed(document: StateDocument) -> StateDocument:
    """``document`` as zlib data (itself if it is already)."""
    if document.compressed:
        return document
    stored = StateDocument(zlib.compress(document, _COMPRESSION_LEVEL))
    stored.loaded, stored.compressed = document.loaded, True
    return stored


def document_attribute(document: bytes) -> dict[str, Any]:
    """The item attribute holding ``document``: ``docz`` for zlib data, ``doc`` for a :class:`StateDocument` that
    kept the JSON uncompressed."""
    if isinstance(document, StateDocument) and not document.compressed:
        return {"doc": {"S": document.decode()}}
    return {"docz": {"B": bytes(document)}}  # the bytes alone, not the state a StateDocument carries


def decode_state(item: dict[str, Any]) -> CustomerState | None:
    """The state in a stored item (``docz``; items written before compression carry plain JSON in ``doc``).

    Raises UnloadableStateError naming the record and the first problem when it does not load.
    """
    try:
        if "docz" in item:
            return CustomerState.model_validate_json(zlib.decompress(item["docz"]["B"]))
        if "doc" in item:
            return CustomerState.model_validate_json(item["doc"]["S"])
    except ValidationError as error:
        raise UnloadableStateError(f"the stored state of {_pk(item)} does not load: {_first_problem(error)}") from error
    except zlib.error as error:
        raise UnloadableStateError(f"the stored state of {_pk(item)} is not zlib data: {error}") from error
    return None


def _pk(item: dict[str, Any]) -> str:
    return str(item.get("pk", {}).get("S", "(unknown record)"))


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": STATE_SK}}


def record_of(
    shop_id: str, key: str, item: dict[str, Any] | None, loaded: CustomerState | None = None
) -> StoredCustomer:
    """The record a stored item holds (an empty one at version 0 when there is no item).

    ``loaded`` is the state the item's document loads as, when the caller has it (``StateDocument.loaded`` of the
    bytes it stored); otherwise the document is decoded."""
    if not item:
        return StoredCustomer(shop_id=shop_id, key=key)
    return StoredCustomer(
        shop_id=shop_id,
        key=key,
        state=loaded if loaded is not None else decode_state(item),
        version=int(item["version"]["N"]),
        merged_into=item["merged_into"]["S"] if "merged_into" in item else None,
    )


def follow_pointers(load: Callable[[str, str], StoredCustomer], record: StoredCustomer) -> StoredCustomer:
    """Follow ``merged_into`` pointers with ``load`` to the live record (every store follows them this one way)."""
    for _ in range(MAX_MERGE_HOPS):
        if record.merged_into is None:
            return record
        record = load(record.shop_id, record.merged_into)
    if record.merged_into is None:
        return record
    raise MergeChainError(f"merge pointers of {record.key!r} form a chain longer than {MAX_MERGE_HOPS}")


def put_request(
    record: StoredCustomer,
    state: CustomerState | None,
    now: datetime,
    merged_into: str | None = None,
    document: bytes | None = None,
) -> dict[str, Any]:
    """The PutItem request that replaces ``record`` with ``state``, on condition nobody wrote in between.

    ``document`` is ``encode_state(state)`` when the caller has it already."""
    item: dict[str, Any] = {
        **_key(record.pk),
        "version": {"N": str(record.version + 1)},
        "updated_at": {"S": now.isoformat()},
    }
    if state is not None:
        item.update(document_attribute(document if document is not None else encode_state(state)))
    if merged_into is not None:
        item["merged_into"] = {"S": merged_into}
    if record.version == 0:
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        condition = {
            "ConditionExpression": "version = :read",
            "ExpressionAttributeValues": {":read": {"N": str(record.version)}},
        }
    return {"Item": item, **condition}


class CustomerStore(DynamoDBTable):
    """Loads and saves customer state with optimistic locking."""

    def sweep(
        self, shop_id: str, part: int, parts: int, limit: int, after: str | None
    ) -> tuple[list[tuple[str, CustomerState]], str | None]:
        """One page of a parallel scan of the shop's customers (eventually consistent): (key, state) of those on it,
        and where the segment goes on (None: done). ``limit`` counts the items read, the shop's or not. Raises
        ValueError for an ``after`` that is not where a page of this scan ended."""
        request = sweep_request(shop_id, part, parts, limit, after)
        try:
            answer = self.client.scan(TableName=self._table, **request)
        except self.client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ValidationException" and after is not None:
                raise ValueError(f"not a position of this scan: {after!r}") from error
            raise
        last = answer.get("LastEvaluatedKey")
        return swept(shop_id, answer.get("Items", [])), (json.dumps(last, sort_keys=True) if last else None)

    def encode(self, state: CustomerState) -> StateDocument:
        """The document :meth:`save` writes for ``state`` (compressed), or UnloadableStateError."""
        return encode_state(state)

    def load(self, shop_id: str, key: str) -> StoredCustomer:
        """The customer's record (strongly consistent), or an empty record at version 0."""
        item = self.client.get_item(TableName=self._table, Key=_key(f"{shop_id}#{key}"), ConsistentRead=True).get(
            "Item"
        )
        return record_of(shop_id, key, item)

    def follow(self, record: StoredCustomer) -> StoredCustomer:
        """The live record ``record`` leads to through its ``merged_into`` pointers (``record`` itself if it has none).

        Raises MergeChainError when the pointers do not end within ``MAX_MERGE_HOPS`` loads.
        """
        return follow_pointers(self.load, record)

    def save(
        self,
        record: StoredCustomer,
        state: CustomerState,
        now: datetime,
        absorbed: Sequence[StoredCustomer] = (),
        document: bytes | None = None,
    ) -> None:
        """Write ``state`` over ``record``; records in ``absorbed`` become pointers to it, in one transaction.

        ``document`` is ``encode_state(state)`` if the caller checked it already. Raises VersionConflictError if any
        of them changed since it was read, UnloadableStateError (nothing written) if ``state`` would not load again.
        """
        request = put_request(record, state, now, document=document)
        try:
            if not absorbed:
                self.client.put_item(TableName=self._table, **request)
                return
            puts = [request, *(put_request(other, None, now, merged_into=record.key) for other in absorbed)]
            items: list[Any] = [{"Put": {"TableName": self._table, **put}} for put in puts]
            self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise VersionConflictError(record.pk) from error
        except self.client.exceptions.TransactionCanceledException as error:
            cancellation: list[Any] = error.response.get("CancellationReasons", [])
            reasons = [r.get("Code") for r in cancellation]
            if "ConditionalCheckFailed" in reasons:
                raise VersionConflictError(record.pk) from error
            raise


def sweep_request(shop_id: str, part: int, parts: int, limit: int, after: str | None) -> dict[str, Any]:
    """One page of a parallel scan's segment ``part`` of ``parts``, for the shop's customer records."""
    request: dict[str, Any] = {
        "Segment": part,
        "TotalSegments": parts,
        "Limit": limit,
        "FilterExpression": "begins_with(pk, :shop) AND sk = :state",
        "ExpressionAttributeValues": {":shop": {"S": f"{shop_id}#"}, ":state": {"S": STATE_SK}},
    }
    if after is not None:
        start = json.loads(after)  # ValueError if it is not JSON
        if not isinstance(start, dict):
            raise ValueError(f"not a position of this scan: {after!r}")
        request["ExclusiveStartKey"] = start
    return request


def swept(shop_id: str, items: list[dict[str, Any]]) -> list[tuple[str, CustomerState]]:
    """The customers (key, state) of a scanned page; merge pointers and records that do not load are left out."""
    found = []
    for item in items:
        try:
            state = decode_state(item)
        except UnloadableStateError:
            continue  # parked with its reason when its own events come; a sweep does not stop for it
        if state is not None:
            found.append((item["pk"]["S"][len(shop_id) + 1 :], state))
    return found
