"""nudge's public endpoints: RFC 8058 one-click unsubscribe and the in-app inbox a shop's app reads.

Unsubscribe (``/u/{token}``, the link in every marketing email's ``List-Unsubscribe``):

- ``GET`` shows a confirmation page with a button and changes nothing: mail providers' link scanners prefetch
  links, and a prefetch must never unsubscribe anyone.
- ``POST`` (the mail client's one-click ``List-Unsubscribe=One-Click``, or the page's button) verifies the token
  against every signing key (rotation) and enqueues an ``unsubscribe_link`` feedback event on the customer's FIFO
  group; it answers 200 with a short page, never a redirect. The POST carries no cookies and no auth: the HMAC in
  the token is the authorisation, so the body is not required to be exactly ``List-Unsubscribe=One-Click``.
  Clicks of one link within one retry window (10 minutes, counted from the epoch by the injected clock) are one
  event: a mail client's retry or a double click dedupes, a genuine click later (after consenting again) does not.
- A forged, tampered or malformed token is a plain 404 either way, with no detail.

In-app inbox (``/v1/inbox/{customer_id}``): the app authenticates as the shop with its **write key** (HTTP Basic
user with an empty password, as Segment clients send it, or the ``X-Nudge-Write-Key`` header) and proves which
customer it speaks for with ``X-Nudge-Customer-Token``, which the shop's *backend* computes::

    key   = lowercase hex( SHA-256( UTF-8(secret_key) ) )      # 64 characters; used as the HMAC key as ASCII bytes
    token = lowercase hex( HMAC-SHA256( key, UTF-8( shop_id + "\\n" + customer_id ) ) )

``secret_key`` is one of the shop's secret keys (any of them, so keys can rotate), ``shop_id`` the nudge shop id and
``customer_id`` the shop's user id (the ``userId`` its tracking calls send). The key is exactly what the shop
configuration stores after ``sha256:`` in ``secret_keys``, so nudge verifies without ever holding a clear secret,
and the secret itself never reaches the app. (Whoever can read the shops table could mint inbox tokens: guard it
like the keys.)
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from shared.core.tokens import (
    ConfirmClaim,
    UnsubscribeClaim,
    issue_preferences_token,
    verify_inbox_token,
    verify_unsubscribe_token,
)
from shared.models.nudge_events import EngagementEvent, FeedbackEvent, FeedbackReason
from shared.models.vocabulary import KEY_HASH_PREFIX, Channel
from shared.ports import EventQueue, Inbox, Shops
from shared.service.feedback_events import feedback_entry
from shared.service.keys import secret_key_from

WRITE_KEY_HEADER = "x-nudge-write-key"
CUSTOMER_TOKEN_HEADER = "x-nudge-customer-token"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}
_WHAT: dict[Channel, str] = {
    "email": "emails",
    "sms": "text messages",
    "push": "push notifications",
    "whatsapp": "WhatsApp messages",
    "in_app": "in-app messages",
}
UNSUBSCRIBE_RETRY_WINDOW = timedelta(minutes=10)
"""Clicks of one unsubscribe link within one such window are one event: retries and double clicks dedupe."""
_STYLE = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}"


class InboxAccessDeniedError(Exception):
    """No valid write key, or no valid customer token for this shop and customer."""


class UnknownInboxMessageError(Exception):
    """The customer has no such message in the inbox."""


# ---------------------------------------------------------------- unsubscribe


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n<meta name="robots" content="noindex">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )


def confirmation_page(claim: UnsubscribeClaim, preferences_path: str | None = None) -> str:
    """The GET page: asks, with a button that POSTs ``List-Unsubscribe=One-Click`` to the same URL; and offers the
    customer's preference centre (``preferences_path``), to hear less rather than nothing."""
    what = _WHAT[claim.channel]
    instead = (
        f'\n<p>Or <a href="{html.escape(preferences_path)}">choose what you receive</a> instead.</p>'
        if preferences_path
        else ""
    )
    return _page(
        "Unsubscribe?",
        f"<p>Stop receiving marketing {what} from this shop?</p>\n"
        '<form method="post">\n<input type="hidden" name="List-Unsubscribe" value="One-Click">\n'
        f'<button type="submit">Unsubscribe</button>\n</form>{instead}',
    )


def unsubscribed_page(claim: UnsubscribeClaim) -> str:
    """The POST answer: done (it takes effect within minutes, long before the 2 days bulk-sender rules allow)."""
    return _page("You are unsubscribed", f"<p>You will no longer receive marketing {_WHAT[claim.channel]} from us.</p>")


def unsubscribe_event(claim: UnsubscribeClaim, token: str, now: datetime) -> FeedbackEvent:
    """The feedback event of a one-click unsubscribe; the same token in the same retry window is the same event.

    The dedupe id is the token's digest and the number of the window ``now`` falls in, not the calendar day: the
    core remembers applied ids for 26 hours, so an id that lasts a day would keep out a genuine later click (after
    consenting again). A retry that straddles two windows is two events, which is harmless: the second withdraws
    again what is withdrawn already (one more record in the consent history).
    """
    window = int(now.timestamp()) // int(UNSUBSCRIBE_RETRY_WINDOW.total_seconds())
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    return customer_feedback(claim, "unsubscribe_link", "unsubscribe-link", f"unsubscribe:{digest}:{window}", now)


def customer_feedback(
    claim: UnsubscribeClaim | ConfirmClaim,
    reason: FeedbackReason,
    source: str,
    feedback_id: str,
    now: datetime,
    **fields: Any,
) -> FeedbackEvent:
    """What the customer did on one of nudge's signed pages, as feedback for their FIFO group, stamped ``now``."""
    return FeedbackEvent(
        shop_id=claim.shop_id,
        customer=claim.customer,
        channel=claim.channel,
        reason=reason,
        source=source,
        feedback_id=feedback_id,
        occurred_at=now,
        received_at=now,
        **fields,
    )


class SignedLinks:
    """What answers a signed link of a message (unsubscribe, click): the deployment's signing keys, newest first,
    to verify its token; the events queue, to tell the customer's state; the clock."""

    def __init__(
        self, signing_keys: Callable[[], Sequence[bytes]], queue: EventQueue, clock: Callable[[], datetime]
    ) -> None:
        self._signing_keys = signing_keys
        self._queue = queue
        self._clock = clock


class Unsubscribe(SignedLinks):
    """Verifies unsubscribe tokens and enqueues the unsubscribe."""

    def claim(self, token: str) -> UnsubscribeClaim:
        """Who the token is about; raises InvalidTokenError for a forged, tampered or malformed token."""
        return verify_unsubscribe_token(self._signing_keys(), token)

    def page(self, token: str) -> str:
        """The confirmation page for a GET, with a link to the customer's preference centre; changes nothing."""
        claim = self.claim(token)
        preferences = issue_preferences_token(self._signing_keys()[0], claim.shop_id, claim.customer, claim.channel)
        return confirmation_page(claim, f"../p/{preferences}")  # relative: the API may sit under a base path

    def confirm(self, token: str) -> tuple[FeedbackEvent, str]:
        """Enqueue the unsubscribe of a POST; the event and the page to answer with."""
        claim = self.claim(token)
        event = unsubscribe_event(claim, token, self._clock())
        self._queue.send([feedback_entry(event)])
        return event, unsubscribed_page(claim)


# ---------------------------------------------------------------- inbox


def customer_token_keys(secret_key_hashes: Sequence[str]) -> list[bytes]:
    """The inbox token keys of a shop: the hex digests its configuration stores as ``sha256:<hex>``."""
    return [digest.removeprefix(KEY_HASH_PREFIX).encode("ascii") for digest in secret_key_hashes]


def write_key_from(headers: Mapping[str, str]) -> str | None:
    """The write key from ``X-Nudge-Write-Key`` or HTTP Basic (key as user name, empty password)."""
    return headers.get(WRITE_KEY_HEADER) or secret_key_from(headers.get("authorization"))


class InboxApi:
    """Lists and marks read a customer's in-app inbox for the shop's app."""

    def __init__(
        self, shops: Shops, store: Inbox, clock: Callable[[], datetime], events: EventQueue | None = None
    ) -> None:
        self._shops = shops
        self._store = store
        self._clock = clock
        self._events = events

    def shop_for(self, headers: Mapping[str, str], customer_id: str) -> str:
        """The shop whose write key and customer token were presented; raises InboxAccessDeniedError otherwise."""
        lowered = {name.lower(): value for name, value in headers.items()}
        key = write_key_from(lowered)
        found = self._shops.authenticate(key) if key else None
        config = self._shops.config(found.shop_id) if found is not None and found.kind == "write" else None
        token = lowered.get(CUSTOMER_TOKEN_HEADER, "")
        if config is None or not verify_inbox_token(
            customer_token_keys(config.shop.secret_keys), config.shop.id, customer_id, token
        ):
            raise InboxAccessDeniedError("a write key and a valid customer token are required")
        return config.shop.id

    def list(self, shop_id: str, customer_id: str) -> dict[str, Any]:
        """``{"messages": [...newest first, each with "read"], "unread": n}``."""
        items = self._store.list(shop_id, _customer(customer_id), now=self._clock())
        return {
            "messages": [item.model_dump(mode="json") for item in items],
            "unread": sum(1 for item in items if not item.read),
        }

    def mark_read(self, shop_id: str, customer_id: str, message_id: str) -> dict[str, Any]:
        """Mark one message read (the first read time stays) and tell the customer's state (a ``read`` engagement,
        once per message); raises UnknownInboxMessageError if there is none."""
        now = self._clock()
        if not self._store.mark_read(shop_id, _customer(customer_id), message_id, now):
            raise UnknownInboxMessageError("no such message")
        if self._events is not None:
            from shared.service.engagement import engagement_entry

            read = EngagementEvent(
                shop_id=shop_id,
                customer=_customer(customer_id),
                message=message_id,
                channel="in_app",
                action="read",
                source="inbox",
                engagement_id=f"read:{hashlib.sha256(message_id.encode()).hexdigest()[:32]}",
                occurred_at=now,
                received_at=now,
            )
            self._events.send([engagement_entry(read)])
        return {"message_id": message_id, "read": True}


def _customer(customer_id: str) -> str:
    return f"u:{customer_id}"
