"""The closed vocabularies the models share: channels, API key kinds, IANA time zone names, offer codes and pools.

Apart from the shop configuration (``shared.models.config``, which re-exports them), so that a model or an adapter
that only names a channel does not load the configuration's schema (journeys, templates, channel settings).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field

Channel = Literal["push", "email", "sms", "whatsapp", "in_app"]
CHANNELS: tuple[Channel, ...] = ("push", "email", "sms", "whatsapp", "in_app")
KEY_HASH_PREFIX = "sha256:"
# A shop's API keys: the public write key its tracking clients send, the secret key its servers and support use.
KeyKind = Literal["write", "secret"]
# A discount code as a checkout takes it, and the name of a pool of them the shop uploads.
OfferCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{3,64}$", description="3-64 letters, digits, '_' or '-'")]
PoolName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]


def hash_key(key: str) -> str:
    """The stored form of a presented API key: ``sha256:<hex>``."""
    return KEY_HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def _valid_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown IANA time zone {name!r}") from error
    return name


TimeZoneName = Annotated[str, AfterValidator(_valid_timezone)]
