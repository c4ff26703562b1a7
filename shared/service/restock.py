"""A restock reaching the customers waiting for the product (J7), page by page, at the shop's rate.

The catalogue starts a ``restock`` fan-out job (``shared.service.fan_out``) when a product that customers wait for
becomes buyable. :class:`RestockPager` does one page of it: it reads up to ``PAGE_SIZE`` waiting customers in key
order, puts a ``Back In Stock`` event with the product into each one's own FIFO group (deduplicated per restock and
customer), takes them off the list, and answers where the next page starts. The state updater then decides each
customer like any event: still waiting, not bought meanwhile, consent and contact policy at send time.
"""

import hashlib
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.adapters.queue import FifoEntry
from shared.models.catalog import Product
from shared.models.nudge_events import deduplication_id
from shared.ports import Catalog, EventQueue, Shops, WaitingLists
from shared.service.fan_out import MAX_WAIT_SECONDS, FanOutJob, PageDone, check_written, fan_out_id

PAGE_SIZE = 500  # customers a page tells (50 SendMessageBatch calls)
BACK_IN_STOCK = "Back In Stock"


def restock_job(shop_id: str, product_id: str, version: int, at: datetime) -> FanOutJob:
    """The restock of ``product_id`` at its ``version`` that became buyable (one fan-out per such version)."""
    name = fan_out_id("restock", shop_id, product_id, version)
    return FanOutJob(
        kind="restock", shop_id=shop_id, fan_out_id=name, at=at, product_id=product_id, versions={product_id: version}
    )


def product_properties(product: Product, now: datetime) -> dict[str, Any]:
    """A product event's properties from the catalogue: what the message shows (Segment's product fields)."""
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
    if product.category:
        properties["category"] = product.category
    if product.brand:
        properties["brand"] = product.brand
    return properties


def customer_event(
    job: FanOutJob, customer: str, event: str, properties: dict[str, Any], now: datetime, about: str = ""
) -> FifoEntry:
    """The ``event`` a fan-out job tells one customer, in their FIFO group, once per job (and ``about``)."""
    from shared.models.events import SegmentEvent

    kind, _, identifier = customer.partition(":")
    digest = hashlib.sha256(f"{customer}\n{about}".encode()).hexdigest()[:16]
    message_id = f"{job.fan_out_id}-{digest}"
    event_model = SegmentEvent.model_validate(
        {
            "shop_id": job.shop_id,
            "received_at": now,
            "authority": "secret",
            "message": {
                "type": "track",
                "event": event,
                ("userId" if kind == "u" else "anonymousId"): identifier,
                "messageId": message_id,
                "timestamp": job.not_before or job.at,  # when the change happened (a sale: when it starts)
                "properties": properties,
            },
        }
    )
    return FifoEntry(event_model.group, deduplication_id(job.shop_id, message_id), event_model.model_dump_json())


def wait_for(told: int, rate: int) -> int:
    """Seconds before the next page, so that ``told`` customers a page keep to ``rate`` a second."""
    return min(MAX_WAIT_SECONDS, math.ceil(told / rate))


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

    def page(self, job: FanOutJob, after: str | None) -> PageDone:
        """Tell the next page of waiting customers after ``after``; where the next page starts, and when."""
        assert job.product_id is not None
        now = self._clock()
        held = self._catalog.get(job.shop_id, [job.product_id]).get(job.product_id)
        check_written(job, {job.product_id: held.version} if held is not None else {})
        if held is None or not held.product.buyable():
            why = "product not in the catalogue" if held is None else "out of stock again"
            return PageDone(next=None, wait_seconds=0, told=0, skipped=0, stopped=why)
        waiters, last = self._waiting.page(job.shop_id, job.product_id, self._page_size, after)
        live = [waiter.customer for waiter in waiters if waiter.until > now]
        if live:
            properties = product_properties(held.product, now)
            self._events.send([customer_event(job, c, BACK_IN_STOCK, properties, now) for c in live])
        # Off the list once their event is queued (a lapsed wait too): the next restock tells only new waiters.
        self._waiting.forget(job.shop_id, job.product_id, [waiter.customer for waiter in waiters])
        config = self._shops.config(job.shop_id)
        wait = wait_for(len(live), config.catalog.restock_rate if config is not None else 50) if last else 0
        return PageDone(next=last, wait_seconds=wait, told=len(live), skipped=len(waiters) - len(live))
