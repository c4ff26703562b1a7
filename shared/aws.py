"""Boto3 client factories: created on first use, never at import time, one per service per process.

Clients honour ``AWS_ENDPOINT_URL`` (set by the local stack and the tests), so the same adapters talk to AWS
in the cloud and to the embedded emulator on a laptop.
"""

from __future__ import annotations

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


@cache
def client(service: str) -> Any:
    """The process-wide boto3 client for ``service``."""
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


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
