"""Engagement on its way to the state updater: the click redirect, and the FIFO entry of every engagement event.

The click redirect (``/c/{token}``, every tracked link of an e-mail, SMS or WhatsApp message) verifies the token
against every signing key (rotation), puts a ``clicked`` engagement event on the customer's FIFO group and answers
``302`` to the target the token signs: one HMAC and one SQS send, no table read. Clicks of one link within one
minute are one event (a double click, a client's retry). A ``HEAD`` (link scanners, previews) answers the same
redirect and records nothing. A forged, tampered or malformed token is a plain 404, never a redirect: the redirect
goes only where nudge pointed it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from shared.adapters.queue import FifoEntry
from shared.core.tokens import ClickClaim, verify_click_token
from shared.models.nudge_events import EngagementEvent, deduplication_id
from shared.service.public import SignedLinks

CLICK_WINDOW = timedelta(minutes=1)
"""Clicks of one link within one such window (counted from the epoch) are one event."""
REDIRECT_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def engagement_entry(event: EngagementEvent) -> FifoEntry:
    """The FIFO message of an engagement event: the customer's group, deduplicated per shop and engagement id."""
    return FifoEntry(event.group, deduplication_id(event.shop_id, event.message_id), event.model_dump_json())


def click_event(claim: ClickClaim, token: str, now: datetime) -> EngagementEvent:
    """The engagement event of one click on a tracked link; the same link in the same minute is the same event."""
    window = int(now.timestamp()) // int(CLICK_WINDOW.total_seconds())
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    return EngagementEvent(
        shop_id=claim.shop_id,
        customer=claim.customer,
        message=claim.message_id,
        channel=claim.channel,
        action="clicked",
        url=claim.url,
        source="click-redirect",
        engagement_id=f"click:{digest}:{window}",
        occurred_at=now,
        received_at=now,
    )


class Clicks(SignedLinks):
    """Follows tracked links: records the click, then says where to go."""

    def target(self, token: str) -> str:
        """Where the link leads, recording nothing (HEAD); InvalidTokenError for a token nudge did not sign."""
        return verify_click_token(self._signing_keys(), token).url

    def follow(self, token: str) -> EngagementEvent:
        """Record the click on the customer's FIFO group; the event says where to go (``url``)."""
        claim = verify_click_token(self._signing_keys(), token)
        event = click_event(claim, token, self._clock())
        self._queue.send([engagement_entry(event)])
        return event
