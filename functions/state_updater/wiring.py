"""The state updater's composition root: its object graph on AWS, built once per execution environment."""

from __future__ import annotations

from dataclasses import dataclass

from functions.state_updater.settings import StateUpdaterSettings
from shared import clock as wall_clock
from shared.ports import Clock, Timers
from shared.service.updater import StateUpdater


@dataclass(frozen=True, slots=True)
class StateUpdaterWiring:
    """What the handler needs: the updater, and the events queue's ``maxReceiveCount`` (the last receive parks)."""

    updater: StateUpdater
    max_receives: int


def on_aws(
    settings: StateUpdaterSettings, clock: Clock = wall_clock.now, timers: Timers | None = None
) -> StateUpdaterWiring:
    """DynamoDB, SQS and Step Functions, as the template names them; ``timers`` replaces Step Functions
    (``nudge simulate --emulator moto`` keeps its timers in virtual time)."""
    from shared.adapters.catalog import CatalogStore, WaitingList
    from shared.adapters.customers import CustomerStore
    from shared.adapters.erasure import CustomerErasure
    from shared.adapters.ledger import SendLedger
    from shared.adapters.offers import OfferStore
    from shared.adapters.queue import FifoQueue, StandardQueue
    from shared.adapters.recommendations import OrderAggregates
    from shared.adapters.reports import ReportCounters
    from shared.adapters.shops import ShopDirectory
    from shared.adapters.timers import StepFunctionsTimers

    updater = StateUpdater(
        CustomerStore(settings.customers_table),
        ShopDirectory(settings.shops_table),
        FifoQueue(settings.events_dlq_url),
        clock,
        timers if timers is not None else StepFunctionsTimers(settings.timer_state_machine_arn),
        StandardQueue(settings.outbox_queue_url),
        OfferStore(settings.customers_table),
        CatalogStore(settings.customers_table),
        WaitingList(settings.customers_table),
        OrderAggregates(settings.customers_table),
        SendLedger(settings.customers_table),
        ReportCounters(settings.customers_table),
        CustomerErasure(settings.customers_table),
    )
    return StateUpdaterWiring(updater, settings.events_max_receives)


def from_environment() -> StateUpdaterWiring:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(StateUpdaterSettings.from_environment())
