"""The ingest function's composition root: its object graph on AWS, built once per execution environment."""

from __future__ import annotations

from dataclasses import dataclass

from functions.ingest.settings import IngestSettings
from shared import clock as wall_clock
from shared.ports import Clock, Shops
from shared.service.ingest import Ingestor


@dataclass(frozen=True, slots=True)
class IngestWiring:
    """The shop directory (keys, origins) and the ingestor that enqueues what it accepts."""

    shops: Shops
    ingestor: Ingestor


def on_aws(settings: IngestSettings, clock: Clock = wall_clock.now) -> IngestWiring:
    """The shops table and the events FIFO queue, as the template names them."""
    from shared.adapters.queue import FifoQueue
    from shared.adapters.shops import ShopDirectory

    shops = ShopDirectory(settings.shops_table)
    return IngestWiring(shops, Ingestor(shops, FifoQueue(settings.events_queue_url), clock))


def from_environment() -> IngestWiring:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(IngestSettings.from_environment())
