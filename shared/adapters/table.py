"""The base of every DynamoDB adapter: one table, its client created on first use (never at import time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


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
