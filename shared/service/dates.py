"""Date journeys (J9, J10): birthdays and occasions, found by a daily sweep over many customers, not by a timer that
waits a year per customer.

Once a day at 12:00 UTC a schedule (``template.yaml``'s ``DailyDates``, EventBridge Scheduler) asks the fan-out
function to :meth:`DateSweeps.start` one ``dates`` fan-out job per shop with a date or occasion journey
(``Shops.dated_shops``), each named after the shop and the day, so a retried or repeated start starts nothing. The job
covers the next UTC day: :class:`DatePager` sweeps the shop's customers in parallel-scan parts, as a campaign does,
and puts a ``Date Due`` event into the FIFO group of each customer whose birthday or occasion is to be sent on that
day (``days_before`` it, at the trigger's wall time in the customer's zone; ``shared.core.dates``), once per journey
and occurrence. The decision core enters the journey once per occurrence and waits with a timer until the moment to
send: twelve hours ahead, so a customer in UTC+14 is in time. A day run again later (``nudge dates run --day``, after
an outage) finds the same customers; who entered already is passed over, and one entry per occurrence is the core's
rule anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shared.models.journeys import DATE_DUE
from shared.ports import CustomerSweep, EventQueue, FanOuts, Shops
from shared.service.fan_out import FanOutJob, PageDone, fan_out_id
from shared.service.refusal import RequestRefused
from shared.service.restock import customer_event, wait_for

DATES_SCHEDULE = "dates"  # the daily schedule's input: {"schedule": "dates"}
SWEEP_AHEAD = timedelta(hours=12)  # the 12:00 UTC sweep covers the next UTC day
SWEEP_PARTS = 4
SWEEP_PAGE = 500
MAX_CATCH_UP = timedelta(days=7)  # how far back a missed day may be swept again
DATES_RATE = 100  # Date Due events a second, all parts together (celebrants are few: about 1 in 365 a day)


def sweep_day(now: datetime) -> date:
    """The UTC day a sweep started at ``now`` covers: the one that begins next (12 h ahead at 12:00 UTC)."""
    return (now.astimezone(UTC) + SWEEP_AHEAD).date()


def dates_job(shop_id: str, day: date, at: datetime) -> FanOutJob:
    """The date sweep of one shop for one day."""
    return FanOutJob(
        kind="dates",
        shop_id=shop_id,
        fan_out_id=fan_out_id("dates", shop_id, day.isoformat()),
        at=at,
        parts=SWEEP_PARTS,
        day=day,
    )


class DateSweepRequestError(RequestRefused):
    """A date sweep the API refuses (400), with each field and rule."""


class DateSweeps:
    """Starts the day's date sweeps (the daily schedule), or one shop's for a day (``POST /v1/date-sweeps``,
    ``nudge dates run``: a day the schedule missed)."""

    def __init__(self, shops: Shops, fan_outs: FanOuts, clock: Callable[[], datetime]) -> None:
        self._shops, self._fan_outs, self._clock = shops, fan_outs, clock

    def run(self, shop_id: str, body: Any) -> dict[str, str]:
        """The shop's sweep of ``body["day"]`` (default: the next UTC day), from a week back to tomorrow; started
        once per day, so asking again changes nothing."""
        body = {} if body is None else body
        if not isinstance(body, dict) or set(body) - {"day"}:
            raise DateSweepRequestError([{"field": "body", "rule": 'must be {} or {"day": "YYYY-MM-DD"}'}])
        now = self._clock()
        today = now.astimezone(UTC).date()
        try:
            day = date.fromisoformat(body["day"]) if body.get("day") is not None else sweep_day(now)
        except (TypeError, ValueError):
            raise DateSweepRequestError([{"field": "day", "rule": "must be a date YYYY-MM-DD"}]) from None
        errors = []
        if not today - MAX_CATCH_UP <= day <= today + timedelta(days=1):
            rule = f"must be from {today - MAX_CATCH_UP} to {today + timedelta(days=1)} (a day the schedule missed)"
            errors.append({"field": "day", "rule": rule})
        config = self._shops.config(shop_id)
        if config is None or not config.dated_journeys():
            errors.append({"field": "shop", "rule": "the shop has no enabled date or occasion journey"})
        if errors:
            raise DateSweepRequestError(errors)
        job = dates_job(shop_id, day, now)
        self._fan_outs.start(job)
        return {"shop": shop_id, "day": day.isoformat(), "job": job.fan_out_id}

    def start(self, day: date | None = None, shop_id: str | None = None) -> list[FanOutJob]:
        """One job per shop with a date journey (or for ``shop_id`` alone) for ``day`` (default: the next UTC day)."""
        now = self._clock()
        day = day or sweep_day(now)
        shops = self._shops.dated_shops()
        jobs = [dates_job(shop, day, now) for shop in shops if shop_id is None or shop == shop_id]
        for job in jobs:
            self._fan_outs.start(job)
        return jobs


class DatePager:
    """One page of a shop's date sweep."""

    def __init__(
        self,
        customers: CustomerSweep,
        events: EventQueue,
        shops: Shops,
        clock: Callable[[], datetime],
        page_size: int = SWEEP_PAGE,
    ) -> None:
        self._customers, self._events, self._shops = customers, events, shops
        self._clock, self._page_size = clock, page_size

    def page(self, job: FanOutJob, part: int, after: str | None) -> PageDone:
        """Tell the customers on the next page of segment ``part`` whose date or occasion is to be sent on the day."""
        from shared.core.dates import due  # the calendars load with the first page of a date sweep
        from shared.core.journeys import reachable_for

        assert job.day is not None
        now = self._clock()
        config = self._shops.config(job.shop_id)
        journeys = config.dated_journeys() if config is not None else {}
        if config is None or not journeys:
            return PageDone(next=None, wait_seconds=0, told=0, skipped=0, stopped="no date journeys")
        start = datetime.combine(job.day, time(0), tzinfo=UTC)
        end = start + timedelta(days=1)
        customers, last = self._customers.sweep(job.shop_id, part, job.parts, self._page_size, after or None)
        entries = []
        for key, state in customers:
            for name, journey in journeys.items():
                trigger = journey.dated
                assert trigger is not None
                found = due(trigger, state, config, start, end)
                entered = {entry_key for entry_key, _ in state.journey_history.get(name, [])}
                found = [item for item in found if item[0].isoformat() not in entered]
                if not found or not reachable_for(state, config, name, now):
                    continue  # nothing due, entered before, or no channel reaches them: a write for nothing
                for occurrence, title, send_at in found:
                    properties = {
                        "journey": name,
                        "occurrence": occurrence.isoformat(),
                        "title": title,
                        "send_at": send_at.isoformat(),
                    }
                    about = f"{name}\n{occurrence.isoformat()}"
                    entries.append(customer_event(job, key, DATE_DUE, properties, now, about=about))
        if entries:
            self._events.send(entries)
        wait = wait_for(len(entries) * job.parts, DATES_RATE) if last else 0
        told = len({entry.group_id for entry in entries})
        return PageDone(next=last, wait_seconds=wait, told=told, skipped=len(customers) - told)
