"""The outbox consumer around the router: parsing, retry with backoff, and parking in the dead-letter queue.

A message that can never be delivered (malformed, unknown shop) and a message whose transient failures outlast the
queue's ``maxReceiveCount`` are parked in the outbox dead-letter queue with a ``reason`` attribute, and the send
ledger closes them as ``failed`` with the same reason, so support sees it too. Transient failures back off
exponentially by extending the message's visibility timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from shared.adapters.ledger import LedgerConflictError
from shared.adapters.phone_index import PhoneIndex
from shared.adapters.queue import StandardQueue
from shared.models.config import Channel, ShopConfig
from shared.models.messages import OutboxMessage, TransientDeliveryError
from shared.service.router import ChannelRouter, Delivery, UnknownShopError

if TYPE_CHECKING:
    from shared.adapters.channels import ChannelProvider

BACKOFF_BASE_SECONDS = 30


class RouterSettings(Protocol):
    customers_table: str
    shops_table: str
    outbox_queue_url: str
    outbox_dlq_url: str
    events_queue_url: str
    outbox_max_receives: int
    public_base_url: str
    signing_secret_arn: str


def backoff_seconds(receive_count: int) -> int:
    """30 s, 60 s, 120 s, ... capped at 15 minutes."""
    return int(min(900, BACKOFF_BASE_SECONDS * 2 ** max(0, receive_count - 1)))


class OutboxConsumer:
    """Handles one received outbox message."""

    def __init__(
        self,
        router: ChannelRouter,
        outbox: StandardQueue,
        dead_letters: StandardQueue,
        max_receives: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.router = router
        self._clock = clock
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
        except (TransientDeliveryError, LedgerConflictError) as error:
            reason = error.reason if isinstance(error, TransientDeliveryError) else "another delivery in progress"
            if receive_count >= self._max_receives:
                self.router.park(message, f"gave up after {receive_count} attempts: {reason}")
                self._dead_letters.park(body, f"gave up after {receive_count} attempts: {reason}")
                return None
            self._outbox.delay_retry(receipt_handle, backoff_seconds(receive_count))
            raise
        if delivery.retry_at is not None:
            # Deferred (quiet hours): back on the outbox; SQS delays at most 15 minutes, so a long deferral hops.
            wait = delivery.retry_at - self._clock()
            self._outbox.send(body, delay_seconds=max(1, int(wait.total_seconds())))
        return delivery


def build_consumer(settings: RouterSettings, clock: Callable[[], datetime]) -> OutboxConsumer:
    """The consumer with its AWS adapters, as the router function runs it."""
    from shared.adapters.channels import InboxStore, providers_for
    from shared.adapters.customers import CustomerStore
    from shared.adapters.ledger import SendLedger
    from shared.adapters.queue import FifoEntry, FifoQueue
    from shared.adapters.shops import ShopDirectory
    from shared.models.events import FeedbackEvent, deduplication_id
    from shared.service.links import Links

    inbox = InboxStore(settings.customers_table)
    links = Links(settings.public_base_url, settings.signing_secret_arn)

    def providers(config: ShopConfig) -> Mapping[Channel, ChannelProvider]:
        return providers_for(config.shop.id, config.channels, inbox=inbox, clock=clock)

    def links_for(message: OutboxMessage, config: ShopConfig, channel: Channel) -> Mapping[str, Any]:
        return links.for_message(message, config, channel)

    events = FifoQueue(settings.events_queue_url)

    def feedback(event: FeedbackEvent) -> None:
        events.send(
            [FifoEntry(event.group, deduplication_id(event.shop_id, event.message_id), event.model_dump_json())]
        )

    router = ChannelRouter(
        CustomerStore(settings.customers_table),
        ShopDirectory(settings.shops_table),
        SendLedger(settings.customers_table),
        providers,
        links_for,
        clock,
        feedback,
        PhoneIndex(settings.customers_table),
    )
    return OutboxConsumer(
        router,
        StandardQueue(settings.outbox_queue_url),
        StandardQueue(settings.outbox_dlq_url),
        settings.outbox_max_receives,
        clock,
    )
