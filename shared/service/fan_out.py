"""Work over many customers (architecture §10): a fan-out job, done one page at a time.

The catalogue starts a job (``FanOuts.start``: on AWS a Step Functions execution of
``infra/statemachines/fan_out.asl.json``, named after the job, so starting it again changes nothing). The job has
``parts`` that run side by side (a waiting list is one part; a sweep of the customers table is one part per
parallel-scan segment); in each, the machine asks the fan-out function for one page at a time (a message on the
fan-out queue with its task token) and waits between pages for as long as the shop's rate asks. A page tells each
customer it concerns with an event in their own FIFO group, deduplicated per job and customer, so a page done
twice tells nobody twice; the state updater decides each one like any event.
"""

import hashlib
import math
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models.catalog import Price

MAX_WAIT_SECONDS = 900  # SQS's longest delay: the memory and simulate machines delay the next page's message
# A job that starts later (a sale that begins in three days) waits at most this long per Wait state, then asks again.
MAX_START_WAIT_SECONDS = 30 * 24 * 3600
# How far ahead a job may start: a Standard execution lives at most a year (its waits included).
MAX_START_AHEAD = timedelta(days=330)
FanOutKind = Literal["restock", "price_drop", "campaign", "dates", "retention"]


class PriceDrop(BaseModel):
    """A product whose price a customer pays fell: from ``previous`` to ``price`` (written ``"15.00 EUR"``)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    product_id: str
    previous: Price
    price: Price
    at: datetime | None = None  # a sale that starts later: the drop counts from then


class FanOutJob(BaseModel):
    """One job of work over many customers: what, for which shop, since when, under which name, in how many parts."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: FanOutKind
    shop_id: str
    fan_out_id: str
    at: datetime
    parts: int = Field(default=1, ge=1, le=64)
    product_id: str | None = None  # a restock: the product back in stock
    drops: tuple[PriceDrop, ...] = ()  # a price drop sweep: the products whose price fell
    campaign_id: str | None = None  # a campaign: its id (the request is stored with the campaign)
    step: int = 0  # a campaign: which of its messages
    wave: int | None = None  # a local-time campaign: which hour of the day's time zones (0: UTC+14)
    day: date | None = None  # a date sweep: the UTC day whose birthday and occasion messages it finds
    # The version each product's write that caused the job gives it: the job starts before that write, so a page that
    # finds an older version comes too early (FanOutNotReady: the page is asked again later).
    versions: dict[str, int] = Field(default_factory=dict)
    # Its pages do nothing before this moment but ask the machine to wait for it (a sale that starts later).
    not_before: datetime | None = None


class FanOutNotReady(Exception):
    """The write that caused the job has not landed yet: the page is to be asked again later (SQS redelivers it)."""


def check_written(job: "FanOutJob", held_versions: dict[str, int]) -> None:
    """FanOutNotReady while a product the job is about is at an older version than the write that caused it."""
    for product_id, version in job.versions.items():
        if held_versions.get(product_id, 0) < version:
            raise FanOutNotReady(f"{job.fan_out_id}: product {product_id!r} not yet at version {version}")


class PageDone(BaseModel):
    """What a page answers the machine: where the part's next page starts (None: done), how long to wait first."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    next: str | None
    wait_seconds: int
    told: int
    skipped: int
    stopped: str | None = None  # why the part ended before its customers did (sold out again, product gone)


def not_started(job: FanOutJob, after: str | None, now: datetime) -> PageDone | None:
    """The answer of a page asked before the job's ``not_before``: wait until then (the part's place kept), else None.

    ``next`` cannot be None (that ends the part): a part not begun waits with ``""``, read as "from the start"."""
    if job.not_before is None or now >= job.not_before:
        return None
    seconds = math.ceil((job.not_before - now).total_seconds())
    return PageDone(next=after or "", wait_seconds=min(MAX_START_WAIT_SECONDS, seconds), told=0, skipped=0)


def fan_out_id(kind: FanOutKind, shop_id: str, *parts: object) -> str:
    """A job's name: the same job, the same name (Step Functions' name rules: letters, digits, '-')."""
    digest = hashlib.sha256("\n".join([kind, shop_id, *map(str, parts)]).encode()).hexdigest()[:40]
    return f"{kind.replace('_', '-')}-{digest}"
