"""The base of every DynamoDB adapter: one table, its client created on first use (never at import time), and the
batch calls with the retries of what DynamoDB leaves unprocessed."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared import aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

WRITE_BATCH = 25  # BatchWriteItem's limit of requests
GET_BATCH = 100  # BatchGetItem's limit of keys
BATCH_ATTEMPTS = 8  # calls for one batch before what is still unprocessed is an error
BACKOFF_SECONDS = 0.05  # the first retry's longest pause; doubling: the eighth call's up to 3.2 s, 6.35 s in all


class UnprocessedError(Exception):
    """DynamoDB still left part of a batch unprocessed after every retry (the table is throttled)."""


def backoff(attempt: int) -> None:
    """Before retry ``attempt`` (1, 2, ...) of what a batch left: exponential backoff with full jitter, as AWS
    advises for ``UnprocessedItems`` and ``UnprocessedKeys`` (the SDK's own retries do not cover them)."""
    time.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** (attempt - 1)))


class DynamoDBTable:
    """An adapter over one DynamoDB table; pass ``client`` to use another (tests, stubs)."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = aws.dynamodb()
        return self._client

    def _batch_write(self, requests: Sequence[dict[str, Any]]) -> None:
        """BatchWriteItem of ``requests`` (``PutRequest``s and ``DeleteRequest``s on this table), 25 a call; what a
        call leaves unprocessed goes again after a backoff. UnprocessedError if some is left after every attempt."""
        for start in range(0, len(requests), WRITE_BATCH):
            pending: list[Any] = list(requests[start : start + WRITE_BATCH])
            for attempt in range(BATCH_ATTEMPTS):
                if attempt:
                    backoff(attempt)
                answer = self.client.batch_write_item(RequestItems={self._table: pending})
                pending = answer.get("UnprocessedItems", {}).get(self._table, [])
                if not pending:
                    break
            else:
                raise UnprocessedError(f"{self._table}: {len(pending)} writes unprocessed after {BATCH_ATTEMPTS} calls")

    def _batch_get(self, keys: Sequence[dict[str, Any]], consistent: bool = False) -> list[dict[str, Any]]:
        """The items of ``keys`` that exist (BatchGetItem, 100 keys a call, in no particular order); keys a call
        leaves unprocessed go again after a backoff. UnprocessedError if some are left after every attempt."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), GET_BATCH):
            pending: Any = {"Keys": list(keys[start : start + GET_BATCH]), "ConsistentRead": consistent}
            for attempt in range(BATCH_ATTEMPTS):
                if attempt:
                    backoff(attempt)
                answer = self.client.batch_get_item(RequestItems={self._table: pending})
                found += answer.get("Responses", {}).get(self._table, [])
                pending = answer.get("UnprocessedKeys", {}).get(self._table)
                if not pending:
                    break
            else:
                raise UnprocessedError(
                    f"{self._table}: {len(pending['Keys'])} keys unprocessed after {BATCH_ATTEMPTS} calls"
                )
        return found
