"""The public endpoints' composition root: their object graph on AWS, built once per execution environment."""

from __future__ import annotations

from dataclasses import dataclass

from functions.public_api.settings import PublicApiSettings
from shared import clock as wall_clock
from shared.ports import Clock
from shared.service.public import InboxApi, Unsubscribe


@dataclass(frozen=True, slots=True)
class PublicApiWiring:
    """One-click unsubscribe and the in-app inbox."""

    unsubscribe: Unsubscribe
    inbox: InboxApi


def on_aws(settings: PublicApiSettings, clock: Clock = wall_clock.now) -> PublicApiWiring:
    """The signing secret, the events FIFO queue, the shops and customers tables, as the template names them."""
    from shared.adapters.channels.inbox import InboxStore
    from shared.adapters.queue import FifoQueue
    from shared.adapters.shops import ShopDirectory
    from shared.service.links import SigningSecret

    return PublicApiWiring(
        Unsubscribe(SigningSecret(settings.signing_secret_arn), FifoQueue(settings.events_queue_url), clock),
        InboxApi(ShopDirectory(settings.shops_table), InboxStore(settings.customers_table), clock),
    )


def from_environment() -> PublicApiWiring:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(PublicApiSettings.from_environment())
