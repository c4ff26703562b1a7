"""Signed webhooks (Stripe's scheme): ``Nudge-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` where each ``v1`` is
HMAC-SHA256 over ``"<t>.<body>"`` with one of the shop's webhook keys (every active key, newest first, so a shop
that still holds the previous key verifies during a rotation). The receiver recomputes it with its key, compares in
constant time, and refuses a timestamp outside its tolerance (five minutes), so a captured request cannot be
replayed later. Pure, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER = "Nudge-Signature"
TOLERANCE_SECONDS = 300


def webhook_key(signing_key: bytes, shop_id: str) -> bytes:
    """The shop's webhook key, derived from one of the deployment's signing keys (so it rotates with them)."""
    return hmac.new(signing_key, f"offer-webhook\n{shop_id}".encode(), hashlib.sha256).hexdigest().encode()


def signature_header(keys: Sequence[bytes], body: bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp``, signed with each of ``keys``."""
    signed = f"{timestamp}.".encode() + body
    signatures = [f"v1={hmac.new(key, signed, hashlib.sha256).hexdigest()}" for key in keys]
    return ",".join([f"t={timestamp}", *signatures])


def verify(key: bytes, header: str, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether ``header`` signs ``body`` with ``key`` and was made within ``tolerance`` seconds of ``now``."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for name, value in parts if name == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > tolerance:
        return False
    expected = hmac.new(key, f"{stamps[0]}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for name, value in parts if name == "v1")
