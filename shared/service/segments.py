"""A segment's members, page by page (``GET /v1/segments/{name}/members``, ``nudge segment export``).

Each request reads one page of a scan of the shop's customers (``CustomerSweep``: at most ``limit`` items read, the
1 MB of a DynamoDB page at most) and answers the members on it with a cursor for the next page; the caller follows
the cursors. No request loops over the table, and a page may hold no member at all: only the cursor says when the
segment is done. The shop's distribution (for RFM and lifecycle rules) is read once per page, and only for segments
that use it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.core.insights import ShopDistribution
from shared.core.segments import Audience, in_segment, uses_distribution
from shared.ports import CustomerSweep, OrderAggregates, Shops

DEFAULT_PAGE = 1000  # items a page reads
MAX_PAGE = 5000


class SegmentRequestError(ValueError):
    """A request the segment API refuses (400), naming the parameter and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field, self.rule = field, rule
        self.errors = [{"field": field, "rule": rule}]


class UnknownSegmentError(LookupError):
    """The shop has no segment of that name (404)."""


_BAD_CURSOR = "must be the `next` of the previous page of this segment, unchanged"


def encode_cursor(segment: str, after: str) -> str:
    """The ``next`` of a page: the segment and where the scan goes on, opaque to the caller."""
    text = json.dumps({"segment": segment, "after": after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(segment: str, cursor: str) -> str:
    try:
        document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise SegmentRequestError("after", _BAD_CURSOR) from error
    if (
        not isinstance(document, dict)
        or document.get("segment") != segment
        or not isinstance(document.get("after"), str)
    ):
        raise SegmentRequestError("after", _BAD_CURSOR)
    return str(document["after"])


def page_size(limit: str | None) -> int:
    if limit is None:
        return DEFAULT_PAGE
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
        raise SegmentRequestError("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    return int(limit)


def member_of(key: str, traits: dict[str, Any]) -> dict[str, Any]:
    """A member as the API lists them: the id the shop knows them by, and the addresses an ad audience matches on."""
    kind, _, customer_id = key.partition(":")
    return {
        "customer_id": customer_id,
        "known": kind == "u",  # a userId; else an anonymousId
        "email": traits.get("email"),
        "phone": traits.get("phone"),
    }


class SegmentDesk:
    """Pages of a segment's members for a shop."""

    def __init__(
        self, customers: CustomerSweep, shops: Shops, orders: OrderAggregates, now: Callable[[], datetime]
    ) -> None:
        self._customers, self._shops, self._orders, self._now = customers, shops, orders, now

    def members(self, shop_id: str, name: str, limit: str | None, after: str | None) -> dict[str, Any]:
        """One page: ``members``, how many customers it read, and ``next`` (None: the segment is done)."""
        config = self._shops.config(shop_id)
        if config is None or name not in config.segments:
            known = sorted(config.segments) if config is not None else []
            raise UnknownSegmentError(f"no segment {name!r} in shop {shop_id!r}; the shop has {known}")
        size = page_size(limit)
        start = decode_cursor(name, after) if after else None
        counters = self._orders.distribution(shop_id) if uses_distribution(config, name) else {}
        audience = Audience(config, ShopDistribution.of(counters), self._now())
        try:
            customers, more = self._customers.sweep(shop_id, 0, 1, size, start)
        except ValueError as error:  # a position the scan never handed out
            raise SegmentRequestError("after", _BAD_CURSOR) from error
        members = [member_of(key, state.traits) for key, state in customers if in_segment(state, name, audience)]
        return {
            "segment": name,
            "as_of": audience.now.isoformat().replace("+00:00", "Z"),
            "members": members,
            "customers_read": len(customers),
            "next": encode_cursor(name, more) if more else None,
        }
