"""A price drop reaching the customers who wanted the product: viewed it lately, wishlisted it or carted it.

Who viewed a product is not indexed (a view is a third of a shop's events: an index item for each would cost more
than everything else nudge writes). A price drop is rare, so the catalogue starts one ``price_drop`` fan-out job
per upload with drops (``shared.service.fan_out``): a sweep of the shop's customers in ``SWEEP_PARTS`` parallel-scan
segments side by side. :class:`PriceDropPager` does one page of a segment: it reads the customers on it, and tells
each who wants a dropped product (``shared.core.journeys.wants``) with a ``Price Dropped`` event in their own FIFO
group, deduplicated per sweep, customer and product. The journey decides again when the event arrives (once per
product per 30 days, consent and contact policy at send time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from shared.adapters.catalog import HeldProduct
from shared.models.catalog import Money, Product
from shared.ports import Catalog, CustomerSweep, EventQueue, Shops
from shared.service.fan_out import (
    MAX_START_AHEAD,
    FanOutJob,
    PageDone,
    PriceDrop,
    check_written,
    fan_out_id,
    not_started,
)
from shared.service.restock import customer_event, product_properties, wait_for

if TYPE_CHECKING:
    from shared.models.config import ShopConfig

PRICE_DROPPED = "Price Dropped"
SWEEP_PARTS = 4  # parallel-scan segments a sweep reads side by side
SWEEP_PAGE = 500  # items a page reads


def dropped_by(before: Money, after: Money, percent: int) -> bool:
    """``after`` is at least ``percent`` below ``before`` (in the same currency)."""
    if before.currency != after.currency or before.amount <= 0:
        return False
    return (before.amount - after.amount) * 100 >= before.amount * Decimal(percent)


def price_drops(
    config: ShopConfig, held: dict[str, HeldProduct], products: Sequence[Product], now: datetime
) -> list[PriceDrop]:
    """The products whose effective price falls by at least the shop's threshold with this upload."""
    if not config.journeys_triggered_by(PRICE_DROPPED):
        return []
    drops = []
    for product in products:
        before = held.get(product.id)
        if before is None:
            continue
        was, now_price = before.product.effective_price(now), product.effective_price(now)
        if dropped_by(was, now_price, config.catalog.price_drop_percent):
            drops.append(PriceDrop(product_id=product.id, previous=was, price=now_price))
            continue
        # A sale that starts later (within MAX_START_AHEAD): a drop at its start, against the price just before it.
        # A feed sent again every night with the same sale is no new drop (the held product has this very sale); a
        # sale moved is.
        start = sale_start(product, now)
        if start is not None and start - now <= MAX_START_AHEAD and _sale(before.product) != _sale(product):
            was, then = product.effective_price(start - timedelta(seconds=1)), product.effective_price(start)
            if dropped_by(was, then, config.catalog.price_drop_percent):
                drops.append(PriceDrop(product_id=product.id, previous=was, price=then, at=start))
    return drops


def _sale(product: Product) -> tuple[object, object]:
    return product.sale_price, product.sale_price_effective_date


def sale_start(product: Product, now: datetime) -> datetime | None:
    """When the product's sale begins, if that is after ``now``."""
    period = product.sale_price_effective_date
    if product.sale_price is None or period is None or period[0] <= now:
        return None
    return period[0]


def price_drop_jobs(shop_id: str, drops: Sequence[PriceDrop], versions: Sequence[int], at: datetime) -> list[FanOutJob]:
    """One sweep for the drops of an upload that count now, and one for each later sale start among them; each
    named after its products' new versions (a retried upload starts none)."""
    by_start: dict[datetime | None, list[tuple[PriceDrop, int]]] = {}
    for drop, version in zip(drops, versions, strict=True):
        by_start.setdefault(drop.at, []).append((drop, version))
    jobs = []
    for start, group in sorted(by_start.items(), key=lambda item: item[0] or at):
        named = sorted(f"{drop.product_id}@{version}" for drop, version in group)
        jobs.append(
            FanOutJob(
                kind="price_drop",
                shop_id=shop_id,
                fan_out_id=fan_out_id("price_drop", shop_id, *named, *([start.isoformat()] if start else [])),
                at=at,
                parts=SWEEP_PARTS,
                drops=tuple(drop for drop, _ in group),
                versions={drop.product_id: version for drop, version in group},
                not_before=start,
            )
        )
    return jobs


class PriceDropPager:
    """One page of a price drop sweep."""

    def __init__(
        self,
        catalog: Catalog,
        customers: CustomerSweep,
        events: EventQueue,
        shops: Shops,
        clock: Callable[[], datetime],
        page_size: int = SWEEP_PAGE,
    ) -> None:
        self._catalog = catalog
        self._customers = customers
        self._events = events
        self._shops = shops
        self._clock = clock
        self._page_size = page_size

    def page(self, job: FanOutJob, part: int, after: str | None) -> PageDone:
        """Tell the customers on the next page of segment ``part`` who want a product whose price dropped."""
        from shared.core.journeys import reachable_by, wants  # the decision core's own rules

        now = self._clock()
        config = self._shops.config(job.shop_id)
        held = self._catalog.get(job.shop_id, [drop.product_id for drop in job.drops])
        check_written(job, {product_id: found.version for product_id, found in held.items()})
        if (waiting := not_started(job, after, now)) is not None:
            return waiting  # a sale that starts later: nobody is told before it does
        after = after or None  # "" is a part that waited for its start: from the beginning
        # Only what is still as low as announced (a later upload may have raised it again, or a write was lost).
        live = [drop for drop in job.drops if _still_dropped(held.get(drop.product_id), drop, now)]
        if config is None or not live:
            return PageDone(next=None, wait_seconds=0, told=0, skipped=0, stopped="no price drop stands")
        customers, last = self._customers.sweep(job.shop_id, part, job.parts, self._page_size, after)
        viewed_since = now - config.catalog.viewed_within
        entries = []
        for key, state in customers:
            if not reachable_by(state, config, PRICE_DROPPED, now):
                continue  # no channel of the journey reaches them: telling them would cost a write and send nothing
            for drop in live:
                if wants(state, drop.product_id, viewed_since):
                    product = held[drop.product_id].product
                    properties = {**product_properties(product, now), "previous_price": float(drop.previous.amount)}
                    entries.append(customer_event(job, key, PRICE_DROPPED, properties, now, about=drop.product_id))
        if entries:
            self._events.send(entries)
        # The parts run side by side: each keeps to its share of the shop's rate.
        wait = wait_for(len(entries) * job.parts, config.catalog.restock_rate) if last else 0
        return PageDone(next=last, wait_seconds=wait, told=len(entries), skipped=len(customers) - len(entries))


def _still_dropped(held: HeldProduct | None, drop: PriceDrop, now: datetime) -> bool:
    if held is None:
        return False
    price = held.product.effective_price(now)
    return price.currency == drop.price.currency and price.amount <= drop.price.amount
