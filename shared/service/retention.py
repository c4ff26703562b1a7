"""Retention: a shop's customers inactive for its ``shop.retention`` (e.g. ``P3Y``) are erased, as an erasure
request would (``shared.service.erase``), by a sweep the daily schedule starts (architecture §10: a fan-out job of
parallel-scan parts on the fan-out machine, one page per invocation, never one function looping over the table).

Inactive means no event since: the later of the customer's last activity and, for a customer who never did
anything, when nudge first saw them. Each erasure is counted in the ``CustomersErased`` metric.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from shared.service.fan_out import FanOutJob, PageDone, fan_out_id

if TYPE_CHECKING:
    from shared.ports import CustomerSweep, Erasure, FanOuts, Ledger, Shops

RETENTION_PARTS = 4
RETENTION_PAGE = 200  # each customer erased costs a Query of their ledger and a few deletes


def retention_job(shop_id: str, at: datetime) -> FanOutJob:
    """The retention sweep of one shop for the day of ``at`` (started twice, it runs once)."""
    return FanOutJob(
        kind="retention",
        shop_id=shop_id,
        fan_out_id=fan_out_id("retention", shop_id, at.date().isoformat()),
        at=at,
        parts=RETENTION_PARTS,
    )


class RetentionSweeps:
    """Starts the day's retention sweeps: one job per shop with a ``retention``."""

    def __init__(self, shops: Shops, fan_outs: FanOuts, clock: Callable[[], datetime]) -> None:
        self._shops, self._fan_outs, self._clock = shops, fan_outs, clock

    def start(self, shop_id: str | None = None) -> list[FanOutJob]:
        now = self._clock()
        jobs = [retention_job(shop, now) for shop in self._shops.retained_shops() if shop_id in (None, shop)]
        for job in jobs:
            self._fan_outs.start(job)
        return jobs


class RetentionPager:
    """One page of a shop's retention sweep: erases the inactive customers on it."""

    def __init__(
        self,
        customers: CustomerSweep,
        shops: Shops,
        ledger: Ledger,
        erasure: Erasure,
        clock: Callable[[], datetime],
        page_size: int = RETENTION_PAGE,
    ) -> None:
        self._customers, self._shops, self._ledger, self._erasure = customers, shops, ledger, erasure
        self._clock, self._page_size = clock, page_size

    def page(self, job: FanOutJob, part: int, after: str | None) -> PageDone:
        from shared.service.erase import erase_customer

        now = self._clock()
        config = self._shops.config(job.shop_id)
        retention = config.shop.retention if config is not None else None
        if retention is None:
            return PageDone(next=None, wait_seconds=0, told=0, skipped=0, stopped="no retention")
        customers, last = self._customers.sweep(job.shop_id, part, job.parts, self._page_size, after or None)
        erased = 0
        for key, state in customers:
            active = state.last_activity_at or state.first_seen_at
            if active is not None and now - active > retention:
                erase_customer(key, state, job.shop_id, self._ledger, self._erasure, now)
                erased += 1
        return PageDone(next=last, wait_seconds=0, told=erased, skipped=len(customers) - erased)
