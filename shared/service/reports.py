"""The journey report API (``GET /v1/reports/journeys?from=&to=``): the shop's report counters of a date range,
summed by ``shared.core.reports``. One Query of the day-keyed rows (a few hundred small items a month), never a scan
of the customers; a range is at most 366 days (a year, leap day included), and left out it is the last 30 days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from shared.core.reports import MAX_DAYS, journey_report
from shared.ports import Reports
from shared.service.refusal import RequestRefused

DEFAULT_DAYS = 30


class ReportRequestError(RequestRefused):
    """A report query the API refuses (400), with each field and rule."""


def report_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """The days a report covers: ``from`` and ``to`` (ISO dates, both included), by default the last 30 days."""
    errors: list[dict[str, str]] = []

    def day(name: str, text: str | None, default: date) -> date:
        if text is None:
            return default
        try:
            return date.fromisoformat(text)
        except ValueError:
            errors.append({"field": name, "rule": f"must be a date as YYYY-MM-DD, not {text[:40]!r}"})
            return default

    last = day("to", end, today)
    first = day("from", start, last - timedelta(days=DEFAULT_DAYS - 1))
    if not errors and first > last:
        errors.append({"field": "from", "rule": f"must not be after to ({last.isoformat()})"})
    if not errors and (last - first).days + 1 > MAX_DAYS:
        errors.append({"field": "to", "rule": f"a report covers at most {MAX_DAYS} days; ask for each year apart"})
    if errors:
        raise ReportRequestError(errors)
    return first, last


class JourneyReports:
    """Reads a shop's journey report."""

    def __init__(self, reports: Reports, clock: Callable[[], datetime]) -> None:
        self._reports = reports
        self._clock = clock

    def journeys(self, shop_id: str, start: str | None, end: str | None) -> dict[str, Any]:
        first, last = report_range(start, end, self._clock().date())
        return {"shop": shop_id, **journey_report(self._reports.read(shop_id, first, last), first, last)}
