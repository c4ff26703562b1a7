"""A state updater on the local stack's tables, driven directly by a test at the events' own time."""

from __future__ import annotations

from shared.adapters.customers import CustomerStore
from shared.adapters.queue import FifoQueue
from shared.adapters.shops import ShopDirectory
from shared.service.updater import StateUpdater
from tests.factories import T0


class ArmedTimers:
    """Keeps the timers an updater arms (a cart's reminder), instead of starting them on the stack's state machine."""

    def __init__(self) -> None:
        self.events: list = []

    def start(self, events) -> None:
        self.events.extend(events)


def updater_for(local_stack) -> StateUpdater:
    """An updater on the stack's tables whose clock is T0, the time ``accepted()`` receives events at: the test then
    passes on any date the suite runs, and journeys armed by its events keep their timers here."""
    resources = local_stack.resources
    return StateUpdater(
        CustomerStore(resources["CustomersTable"]),
        ShopDirectory(resources["ShopsTable"]),
        FifoQueue(resources["EventsDeadLetterQueue"]),
        lambda: T0,
        timers=ArmedTimers(),  # type: ignore[arg-type]
    )
