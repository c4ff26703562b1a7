"""A shop's secret key as HTTP clients present it (the support API, the in-app inbox)."""

from __future__ import annotations

import base64
import binascii


def secret_key_from(authorization: str | None) -> str | None:
    """The secret key from ``Authorization: Bearer <key>`` or HTTP Basic (key as user, empty password)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().split(":", 1)[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None
