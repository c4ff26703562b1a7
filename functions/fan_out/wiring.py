"""The fan-out function's composition root: its object graph on AWS, built once per execution environment."""

from __future__ import annotations

from dataclasses import dataclass

from functions.fan_out.settings import FanOutSettings
from shared import clock as wall_clock
from shared.ports import Clock, RestockTasks
from shared.service.restock import RestockPager


@dataclass(frozen=True, slots=True)
class FanOutWiring:
    """What the handler needs: the pager (one page of a restock) and the machine's tasks to answer."""

    pager: RestockPager
    tasks: RestockTasks


def on_aws(settings: FanOutSettings, clock: Clock = wall_clock.now, tasks: RestockTasks | None = None) -> FanOutWiring:
    """DynamoDB, the events queue and Step Functions, as the template names them."""
    from shared.adapters.catalog import CatalogStore, WaitingList
    from shared.adapters.queue import FifoQueue
    from shared.adapters.restocks import StepFunctionsTasks
    from shared.adapters.shops import ShopDirectory

    pager = RestockPager(
        CatalogStore(settings.customers_table),
        WaitingList(settings.customers_table),
        FifoQueue(settings.events_queue_url),
        ShopDirectory(settings.shops_table),
        clock,
    )
    return FanOutWiring(pager, tasks if tasks is not None else StepFunctionsTasks())


def from_environment() -> FanOutWiring:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(FanOutSettings.from_environment())
