"""Clocks for tests: time is a port (``shared.clock``), so a test that involves time sets it, and the suite passes at
any hour and on any date (``docs/RELIABILITY.md``, "Any hour, any date")."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.clock import ClockSource, system_time


class SetClock:
    """A clock that says ``at`` until the test moves it (``clock.at = ...``)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def running_at(local: time, zone: str, now: datetime | None = None) -> ClockSource:
    """The system clock moved forward to the next ``local`` o'clock in ``zone`` (less than a day ahead), running on.

    For tests on the local stack, whose moto services keep real time: moving forward only keeps everything already
    recorded at real time (consents, events) in the past of the handlers' clock.
    """
    real = now or system_time()
    here = real.astimezone(ZoneInfo(zone))
    target = datetime.combine(here.date(), local, tzinfo=ZoneInfo(zone))
    if target < here:
        target = datetime.combine(here.date() + timedelta(days=1), local, tzinfo=ZoneInfo(zone))
    offset = target.astimezone(UTC) - real
    return lambda: system_time() + offset
