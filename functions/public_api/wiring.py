"""The public endpoints' composition root: their object graph on AWS, built once per execution environment."""

from __future__ import annotations

from dataclasses import dataclass

from functions.public_api.settings import PublicApiSettings
from shared import clock as wall_clock
from shared.ports import Clock
from shared.service.decide import OfferDecider
from shared.service.engagement import Clicks
from shared.service.preferences import Confirmations, PreferenceCentre
from shared.service.public import InboxApi, Unsubscribe


@dataclass(frozen=True, slots=True)
class PublicApiWiring:
    """One-click unsubscribe, the in-app inbox, the real-time offer decision, the click redirect, the preference
    centre and the double opt-in confirmation."""

    unsubscribe: Unsubscribe
    inbox: InboxApi
    decider: OfferDecider
    clicks: Clicks
    preferences: PreferenceCentre
    confirmations: Confirmations


def on_aws(settings: PublicApiSettings, clock: Clock = wall_clock.now) -> PublicApiWiring:
    """The signing secret, the events FIFO queue, the shops and customers tables, as the template names them."""
    from shared.adapters.channels.inbox import InboxStore
    from shared.adapters.customers import CustomerStore
    from shared.adapters.offers import OfferStore
    from shared.adapters.queue import FifoQueue
    from shared.adapters.shops import ShopDirectory
    from shared.service.links import SigningSecret

    shops, events = ShopDirectory(settings.shops_table), FifoQueue(settings.events_queue_url)
    inbox = InboxApi(shops, InboxStore(settings.customers_table), clock, events)
    customers, offers = CustomerStore(settings.customers_table), OfferStore(settings.customers_table)
    signing_keys = SigningSecret(settings.signing_secret_arn)
    return PublicApiWiring(
        Unsubscribe(signing_keys, events, clock),
        inbox,
        OfferDecider(inbox.shop_for, shops, customers, offers, events, clock),
        Clicks(signing_keys, events, clock),
        PreferenceCentre(signing_keys, events, clock, shops, customers),
        Confirmations(signing_keys, events, clock, shops),
    )


def from_environment() -> PublicApiWiring:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(PublicApiSettings.from_environment())
