"""The channel router's composition root: its object graph on AWS, built once per execution environment."""

from __future__ import annotations

from collections.abc import Callable

from functions.channel_router.settings import ChannelRouterSettings
from shared import clock as wall_clock
from shared.ports import Clock, Timers
from shared.service.outbox import OutboxConsumer


def on_aws(
    settings: ChannelRouterSettings,
    clock: Clock = wall_clock.now,
    timers: Timers | None = None,
    post: Callable[[str, bytes, dict[str, str]], int] | None = None,
) -> OutboxConsumer:
    """The outbox consumer on DynamoDB, SQS, Step Functions and the channels' AWS services, as the template names
    them; ``timers`` replaces Step Functions (``nudge simulate --emulator moto`` keeps its timers in virtual time),
    ``post`` the HTTP client of offer webhooks (a simulation acknowledges them without calling the shop)."""
    from shared.adapters.campaigns import CampaignStore
    from shared.adapters.catalog import CatalogStore
    from shared.adapters.channels import InboxStore
    from shared.adapters.contacts import ContactStore
    from shared.adapters.customers import CustomerStore
    from shared.adapters.erasure import CustomerErasure
    from shared.adapters.ledger import SendLedger
    from shared.adapters.offers import OfferStore
    from shared.adapters.phone_index import PhoneIndex
    from shared.adapters.queue import FifoQueue, StandardQueue
    from shared.adapters.quotas import QuotaStore
    from shared.adapters.recommendations import OrderAggregates
    from shared.adapters.reports import ReportCounters
    from shared.adapters.shops import ShopDirectory
    from shared.adapters.timers import StepFunctionsTimers
    from shared.service.links import Links, SigningSecret
    from shared.service.outbox import assemble_consumer

    return assemble_consumer(
        customers=CustomerStore(settings.customers_table),
        shops=ShopDirectory(settings.shops_table),
        ledger=SendLedger(settings.customers_table),
        contacts=ContactStore(settings.customers_table),
        offers=OfferStore(settings.customers_table),
        phones=PhoneIndex(settings.customers_table),
        inbox=InboxStore(settings.customers_table),
        events=FifoQueue(settings.events_queue_url),
        outbox=StandardQueue(settings.outbox_queue_url),
        dead_letters=StandardQueue(settings.outbox_dlq_url),
        timers=timers if timers is not None else StepFunctionsTimers(settings.timer_state_machine_arn),
        links=Links(settings.public_base_url, SigningSecret(settings.signing_secret_arn)),
        clock=clock,
        max_receives=settings.outbox_max_receives,
        campaigns=CampaignStore(settings.customers_table),
        post=post,
        catalog=CatalogStore(settings.customers_table),
        orders=OrderAggregates(settings.customers_table),
        reports=ReportCounters(settings.customers_table),
        erasure=CustomerErasure(settings.customers_table),
        quotas=QuotaStore(settings.customers_table),
    )


def from_environment() -> OutboxConsumer:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(ChannelRouterSettings.from_environment())
