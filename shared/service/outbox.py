"""The outbox consumer around the router: parsing, retry with backoff, and parking in the dead-letter queue.

A message that can never be delivered (malformed, unknown shop) and a message whose transient failures outlast the
queue's ``maxReceiveCount`` are parked in the outbox dead-letter queue with a ``reason`` attribute, and the send
ledger closes them as ``failed`` with the same reason, so support sees it too. Transient failures back off
exponentially by extending the message's visibility timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared.adapters.ledger import LedgerConflictError
from shared.core.routing import deferral_timer
from shared.models.campaigns import CAMPAIGN_JOURNEY
from shared.models.config import Channel, ShopConfig
from shared.models.messages import OutboxMessage, TransientDeliveryError
from shared.models.nudge_events import FeedbackEvent
from shared.ports import (
    Campaigns,
    Catalog,
    Contacts,
    CustomerRecords,
    Erasure,
    EventQueue,
    Inbox,
    Ledger,
    Offers,
    OrderAggregates,
    Outbox,
    PhoneBook,
    Quotas,
    Reports,
    Shops,
    Timers,
)
from shared.service.links import Links
from shared.service.router import ChannelRouter, Delivery, StateNotSavedError, UnknownShopError

if TYPE_CHECKING:
    from shared.adapters.channels import ChannelProvider

BACKOFF_BASE_SECONDS = 30
NOT_SAVED_RETRY_SECONDS = 5  # a message read before its decision's save lands: the save is milliseconds behind


def backoff_seconds(receive_count: int) -> int:
    """30 s, 60 s, 120 s, ... capped at 15 minutes."""
    return int(min(900, BACKOFF_BASE_SECONDS * 2 ** max(0, receive_count - 1)))


class OutboxConsumer:
    """Handles one received outbox message."""

    def __init__(
        self,
        router: ChannelRouter,
        outbox: Outbox,
        dead_letters: Outbox,
        max_receives: int,
        clock: Callable[[], datetime],
        timers: Timers,
        campaigns: Campaigns | None = None,
    ) -> None:
        self.router = router
        self._campaigns = campaigns
        self._clock = clock
        self._timers = timers
        self._outbox = outbox
        self._dead_letters = dead_letters
        self._max_receives = max_receives

    def handle(self, body: str, receipt_handle: str, receive_count: int) -> Delivery | None:
        """Deliver; None when the message was parked. Raises to have SQS retry it later (after a backoff)."""
        try:
            message = OutboxMessage.model_validate_json(body)
        except ValidationError as error:
            self._dead_letters.park(body, f"malformed outbox message: {error.errors()[0]['msg']}")
            return None
        try:
            delivery = self.router.deliver(message)
        except UnknownShopError as error:
            self._dead_letters.park(body, str(error))
            return None
        except Exception as error:
            # Transient provider errors, a ledger conflict, or AWS failing under the router itself: retried with
            # backoff; the last receive parks the message with its reason instead of letting redrive drop the why.
            if receive_count >= self._max_receives:
                self._give_up(message, body, f"gave up after {receive_count} attempts: {_reason(error)}")
                return None
            unsaved = isinstance(error, StateNotSavedError)
            delay = NOT_SAVED_RETRY_SECONDS if unsaved else backoff_seconds(receive_count)
            self._outbox.delay_retry(receipt_handle, delay)
            raise
        if self._campaigns is not None and message.journey.startswith(CAMPAIGN_JOURNEY) and delivery.status in _COUNTED:
            campaign_id = message.journey.removeprefix(CAMPAIGN_JOURNEY)
            self._campaigns.count_outcome(message.shop_id, campaign_id, delivery.status, delivery.reason)
        if delivery.retry_at is not None:
            # Deferred (quiet hours, a frequency cap): one timer until it may go puts it back through the customer's
            # FIFO group (SQS could delay it by at most 15 minutes, so an overnight wait would hop some 40 times).
            self._timers.start([deferral_timer(message, delivery.retry_at)])
        return delivery

    def _give_up(self, message: OutboxMessage, body: str, reason: str) -> None:
        # The ledger says it too, so support sees it; but the ledger may be what keeps failing, and the dead-letter
        # queue gets the reason either way.
        with contextlib.suppress(Exception):
            self.router.park(message, reason)
        self._dead_letters.park(body, reason)


_COUNTED = frozenset({"sent", "suppressed", "failed"})  # a campaign's progress counts what ended a message


def _reason(error: Exception) -> str:
    if isinstance(error, TransientDeliveryError):
        return error.reason
    if isinstance(error, LedgerConflictError):
        return "another delivery in progress"
    return f"{type(error).__name__}: {error}"[:500]


def assemble_consumer(
    *,
    customers: CustomerRecords,
    shops: Shops,
    ledger: Ledger,
    contacts: Contacts,
    offers: Offers,
    phones: PhoneBook,
    inbox: Inbox,
    events: EventQueue,
    outbox: Outbox,
    dead_letters: Outbox,
    timers: Timers,
    links: Links,
    clock: Callable[[], datetime],
    max_receives: int,
    provider_clients: Mapping[Channel, Any] | None = None,
    post: Callable[[str, bytes, dict[str, str]], int] | None = None,
    catalog: Catalog | None = None,
    orders: OrderAggregates | None = None,
    campaigns: Campaigns | None = None,
    reports: Reports | None = None,
    erasure: Erasure | None = None,
    pause: Callable[[float], None] | None = None,
    quotas: Quotas | None = None,
) -> OutboxConsumer:
    """The router's object graph over any adapters of the ports (AWS in Lambda, in-memory in the fast backtest):
    one place, so both run the same router. ``provider_clients`` replaces the channel providers' AWS clients,
    ``post`` the HTTP client of offer webhooks, ``pause`` the router's sleep while a record's save is behind."""
    from shared.adapters.channels import providers_for
    from shared.service.feedback_events import feedback_entry

    def providers(config: ShopConfig) -> Mapping[Channel, ChannelProvider]:
        return providers_for(config.shop.id, config.channels, inbox=inbox, clock=clock, clients=provider_clients)

    def feedback(event: FeedbackEvent) -> None:
        events.send([feedback_entry(event)])

    from shared.service.webhooks import OfferWebhooks

    webhooks = OfferWebhooks(links.signing_keys, post) if post is not None else OfferWebhooks(links.signing_keys)
    from shared.service.shelf import Shelf

    shelf = Shelf(catalog, clock, orders) if catalog is not None else None
    router = ChannelRouter(
        customers,
        shops,
        ledger,
        providers,
        links.for_message,
        clock,
        feedback,
        phones,
        contacts,
        offers,
        webhooks,
        shelf,
        links.tracked,
        reports,
        erasure,
        pause=pause,
        quotas=quotas,
    )
    return OutboxConsumer(router, outbox, dead_letters, max_receives, clock, timers, campaigns)
