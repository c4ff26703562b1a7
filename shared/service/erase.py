"""Erasing a customer (GDPR Art. 17): ``DELETE /v1/customers/{id}``, ``nudge customer erase``.

Everything nudge holds about the customer goes (``shared.adapters.erasure``): their state and every merged
visitor's record, the send ledger, the contact log, the in-app inbox, the phone index entries of their numbers, the
offer codes their messages carried, their entries in waiting lists. What is left is the suppression record (the
erasure's time and SHA-256 digests of the identifiers), first written, so that from the moment of the request:

- an event sent before the erasure and arriving after it (a client's retry, a queued message) is ignored, not the
  start of a new profile; an event sent after it is a new customer, with no consent until they give it again;
- a timer that comes due finds no customer and changes nothing;
- a message on the outbox is dropped by the router without a ledger record.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.erasure import item_keys

if TYPE_CHECKING:
    from shared.models.state import CustomerState
    from shared.ports import Erasure, Ledger

MAX_MESSAGES = 100_000  # every message the ledger holds of a customer (400 days)


def _phone(value: Any) -> str | None:
    """A phone number as the router stored it in the phone index (E.164 without separators)."""
    return re.sub(r"[\s().-]", "", value) if isinstance(value, str) and value.strip() else None


def erase_customer(
    key: str, state: CustomerState, shop_id: str, ledger: Ledger, erasure: Erasure, now: datetime
) -> dict[str, Any]:
    """Erase the customer whose live record is ``key`` (``u:<id>`` or ``a:<id>``) with ``state``; what was erased."""
    customer_id = key.partition(":")[2]
    keys = sorted({key, *(f"a:{anonymous}" for anonymous in state.anonymous_ids)})
    messages = [entry for record in keys for entry in ledger.list(shop_id, record, limit=MAX_MESSAGES)]
    codes = sorted({str(code) for entry in messages if (code := entry.details.get("offer_code"))})
    phones = sorted({p for name in ("phone", "whatsapp") if (p := _phone(state.traits.get(name)))})
    products = sorted(
        {wait.product_id for wait in state.waits}
        | {product.product_id for product in state.wishlist}
        | {item.product_id for cart in state.carts.values() for item in cart.items}
    )
    email = state.traits.get("email")
    identifiers = [*keys, customer_id, *phones, *([email] if isinstance(email, str) else [])]
    erasure.suppress(shop_id, keys, identifiers, now)  # first: from now on, late events find the suppression
    deleted = erasure.delete(shop_id, keys, item_keys(shop_id, phones, codes, products, keys))
    return {
        "customer_id": customer_id,
        "erased_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "records": keys,
        "items_deleted": deleted,
    }
