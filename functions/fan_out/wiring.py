"""The fan-out function's composition root: its object graph on AWS, built once per execution environment."""

from __future__ import annotations

from dataclasses import dataclass

from functions.fan_out.settings import FanOutSettings
from shared import clock as wall_clock
from shared.ports import Clock, FanOuts, FanOutTasks
from shared.service.campaigns import CampaignPager
from shared.service.dates import DatePager, DateSweeps
from shared.service.price_drop import PriceDropPager
from shared.service.restock import RestockPager
from shared.service.retention import RetentionPager, RetentionSweeps


@dataclass(frozen=True, slots=True)
class FanOutWiring:
    """What the handler needs: a pager per kind of job, the machine's tasks to answer, and the daily date sweeps to
    start."""

    restocks: RestockPager
    price_drops: PriceDropPager
    campaigns: CampaignPager
    dates: DatePager
    tasks: FanOutTasks
    sweeps: DateSweeps
    retention: RetentionPager
    retention_sweeps: RetentionSweeps


def on_aws(
    settings: FanOutSettings,
    clock: Clock = wall_clock.now,
    tasks: FanOutTasks | None = None,
    fan_outs: FanOuts | None = None,
) -> FanOutWiring:
    """DynamoDB, the events queue and Step Functions, as the template names them; ``tasks`` and ``fan_outs``
    replace the state machine (``nudge simulate --emulator moto`` runs it in virtual time)."""
    from shared.adapters.campaigns import CampaignStore
    from shared.adapters.catalog import CatalogStore, WaitingList
    from shared.adapters.customers import CustomerStore
    from shared.adapters.erasure import CustomerErasure
    from shared.adapters.fan_out import StepFunctionsFanOuts, StepFunctionsTasks
    from shared.adapters.ledger import SendLedger
    from shared.adapters.queue import FifoQueue
    from shared.adapters.recommendations import OrderAggregates
    from shared.adapters.shops import ShopDirectory

    catalog, events = CatalogStore(settings.customers_table), FifoQueue(settings.events_queue_url)
    shops = ShopDirectory(settings.shops_table)
    restocks = RestockPager(catalog, WaitingList(settings.customers_table), events, shops, clock)
    customers = CustomerStore(settings.customers_table)
    price_drops = PriceDropPager(catalog, customers, events, shops, clock)
    campaigns = CampaignPager(
        CampaignStore(settings.customers_table),
        customers,
        events,
        shops,
        OrderAggregates(settings.customers_table),
        clock,
    )
    dates = DatePager(customers, events, shops, clock)
    starts = fan_outs if fan_outs is not None else StepFunctionsFanOuts(settings.fan_out_state_machine_arn)
    sweeps = DateSweeps(shops, starts, clock)
    retention = RetentionPager(
        customers, shops, SendLedger(settings.customers_table), CustomerErasure(settings.customers_table), clock
    )
    retention_sweeps = RetentionSweeps(shops, starts, clock)
    answers = tasks if tasks is not None else StepFunctionsTasks()
    return FanOutWiring(restocks, price_drops, campaigns, dates, answers, sweeps, retention, retention_sweeps)


def from_environment() -> FanOutWiring:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(FanOutSettings.from_environment())
