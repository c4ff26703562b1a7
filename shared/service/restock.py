"""A restock reaching the customers waiting for the product (J7), page by page, at the shop's rate.

The catalogue starts one restock per product coming back in stock (``Restocks.start``: on AWS a Step Functions
execution of ``infra/statemachines/restock.asl.json``, named after the restock, so starting it again changes
nothing). The machine asks for one page at a time (a message on the fan-out queue with its task token) and waits
between pages for as long as the shop's ``catalog.restock_rate`` asks; :class:`RestockPager` does one page: it reads
up to ``PAGE_SIZE`` waiting customers in key order, puts a ``Back In Stock`` event with the product into each one's
own FIFO group (deduplicated per restock and customer, so a page done twice tells nobody twice), takes them off the
list, and answers where the next page starts. The state updater then decides each customer like any event: still
waiting, not bought meanwhile, consent and contact policy at send time (architecture §10).
"""

import hashlib
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.adapters.queue import FifoEntry
from shared.models.catalog import Product
from shared.models.nudge_events import deduplication_id
from shared.ports import Catalog, EventQueue, Shops, WaitingLists

PAGE_SIZE = 500  # customers a page tells (50 SendMessageBatch calls)
MAX_WAIT_SECONDS = 900  # SQS's longest delay: the memory and simulate machines delay the next page's message
BACK_IN_STOCK = "Back In Stock"


class RestockJob(BaseModel):
    """One product back in stock: which, since when, and the name of its fan-out."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    shop_id: str
    product_id: str
    restock_id: str
    at: datetime


class PageDone(BaseModel):
    """What a page answers the machine: where the next page starts (None: done), and how long to wait first."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    next: str | None
    wait_seconds: int
    told: int
    lapsed: int
    stopped: str | None = None  # why the restock ended before the list did (sold out again, product gone)


def restock_id(shop_id: str, product_id: str, version: int) -> str:
    """The fan-out's name: one per product version that came back in stock (Step Functions' name rules: hex)."""
    return "restock-" + hashlib.sha256(f"{shop_id}\n{product_id}\n{version}".encode()).hexdigest()[:40]


def product_properties(product: Product, now: datetime) -> dict[str, Any]:
    """The ``Back In Stock`` event's properties: what the message shows (Segment's product fields)."""
    price = product.effective_price(now)
    properties: dict[str, Any] = {
        "product_id": product.id,
        "name": product.title,
        "price": float(price.amount),
        "currency": price.currency,
        "url": product.link,
    }
    if product.image_link:
        properties["image_url"] = product.image_link
    if product.product_type:
        properties["category"] = product.product_type.split(">")[-1].strip()
    if product.brand:
        properties["brand"] = product.brand
    return properties


def back_in_stock_entry(job: RestockJob, customer: str, properties: dict[str, Any], now: datetime) -> FifoEntry:
    """The ``Back In Stock`` event for one waiting customer, in their FIFO group, once per restock."""
    from shared.models.events import SegmentEvent

    kind, _, identifier = customer.partition(":")
    message_id = f"{job.restock_id}-{hashlib.sha256(customer.encode()).hexdigest()[:16]}"
    event = SegmentEvent.model_validate(
        {
            "shop_id": job.shop_id,
            "received_at": now,
            "authority": "secret",
            "message": {
                "type": "track",
                "event": BACK_IN_STOCK,
                ("userId" if kind == "u" else "anonymousId"): identifier,
                "messageId": message_id,
                "timestamp": job.at,
                "properties": properties,
            },
        }
    )
    return FifoEntry(event.group, deduplication_id(job.shop_id, message_id), event.model_dump_json())


class RestockPager:
    """One page of a restock's fan-out."""

    def __init__(
        self,
        catalog: Catalog,
        waiting: WaitingLists,
        events: EventQueue,
        shops: Shops,
        clock: Callable[[], datetime],
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._catalog = catalog
        self._waiting = waiting
        self._events = events
        self._shops = shops
        self._clock = clock
        self._page_size = page_size

    def page(self, job: RestockJob, after: str | None) -> PageDone:
        """Tell the next page of waiting customers after ``after``; where the next page starts, and when."""
        now = self._clock()
        held = self._catalog.get(job.shop_id, [job.product_id]).get(job.product_id)
        if held is None or not held.product.buyable():
            why = "product not in the catalogue" if held is None else "out of stock again"
            return PageDone(next=None, wait_seconds=0, told=0, lapsed=0, stopped=why)
        waiters, last = self._waiting.page(job.shop_id, job.product_id, self._page_size, after)
        live = [waiter.customer for waiter in waiters if waiter.until > now]
        if live:
            properties = product_properties(held.product, now)
            self._events.send([back_in_stock_entry(job, customer, properties, now) for customer in live])
        # Off the list once their event is queued (a lapsed wait too): the next restock tells only new waiters.
        self._waiting.forget(job.shop_id, job.product_id, [waiter.customer for waiter in waiters])
        config = self._shops.config(job.shop_id)
        rate = config.catalog.restock_rate if config is not None else 50
        wait = min(MAX_WAIT_SECONDS, math.ceil(len(live) / rate)) if last is not None else 0
        return PageDone(next=last, wait_seconds=wait, told=len(live), lapsed=len(waiters) - len(live))
