"""Boto3 client factories: created on first use, never at import time, one per service and endpoint per process.

Clients honour ``AWS_ENDPOINT_URL`` (set by the local stack and the tests), so the same adapters talk to AWS
in the cloud and to the embedded emulator on a laptop. A client is kept per service *and* the endpoint settings in
force when it is asked for, so a process that starts a second local stack (another endpoint) gets clients of that
one without anything being forgotten by hand.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

# Adaptive retries absorb throttling; the queues' redrive handles whatever still fails.
_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


def client(service: str) -> Any:
    """The process-wide boto3 client for ``service`` at the endpoint and region the environment names now."""
    endpoints = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return _client(service, endpoints, region)


@cache
def _client(service: str, endpoints: tuple[tuple[str, str], ...], region: str | None) -> Any:
    """One client per service, endpoint settings and region (botocore reads the endpoints from the environment; the
    region is the one the client is kept under, so ``AWS_REGION`` and ``AWS_DEFAULT_REGION`` cannot disagree)."""
    return boto3.client(service, region_name=region, config=_CONFIG)  # type: ignore[call-overload]


def dynamodb() -> DynamoDBClient:
    """The DynamoDB client."""
    return client("dynamodb")  # type: ignore[no-any-return]


def sqs() -> SQSClient:
    """The SQS client."""
    return client("sqs")  # type: ignore[no-any-return]


def stepfunctions() -> SFNClient:
    """The Step Functions client."""
    return client("stepfunctions")  # type: ignore[no-any-return]


# boto3-stubs for these services are not installed: their clients are typed as Any.
def sesv2() -> Any:
    """The SES v2 client (email)."""
    return client("sesv2")


def sns() -> Any:
    """The SNS client (mobile push)."""
    return client("sns")


def sms_voice_v2() -> Any:
    """The AWS End User Messaging SMS client (``pinpoint-sms-voice-v2``)."""
    return client("pinpoint-sms-voice-v2")


def social_messaging() -> Any:
    """The AWS End User Messaging Social client (``socialmessaging``, WhatsApp)."""
    return client("socialmessaging")
