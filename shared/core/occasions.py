"""Calendar occasions a shop greets its customers on, birthdays, and when to send for them. Pure.

Mother's Day and Father's Day move between countries (Mothering Sunday in Britain follows Easter, Germany's
Vatertag is Ascension Day, Spain and Italy keep St Joseph's Day), so the rules of the countries in ``COUNTRIES`` are
written down here; any other country gets the most common rule (second Sunday of May, third Sunday of June). Public
holidays and their names (in the customer's language where it has them) come from the ``holidays`` library, whose
maintainers follow every country's changes better than a hand table would; a country it does not know simply has
none. Easter is the Western one.

``holidays`` and ``dateutil`` are imported inside the functions that need them: ``holidays`` alone costs about
150 ms of import, which a Lambda cold start of a handler that never asks for a holiday should not pay.

Send moments are computed on the customer's wall clock: "09:00 on the day before" means 09:00 where the customer
lives, converted to UTC, so a scheduler that runs on UTC windows (``occurrences_due``) finds each send exactly once.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import get_args
from zoneinfo import ZoneInfo

from shared.models.journeys import Occasion  # the names a date trigger may give

OCCASIONS: tuple[str, ...] = get_args(Occasion)

# The countries whose Mother's and Father's Day rules are built in (ISO 3166 alpha-2).
COUNTRIES: frozenset[str] = frozenset({"DE", "AT", "CH", "FR", "ES", "IT", "NL", "PL", "GB", "US"})

_Rule = Callable[[int], date]  # a year -> that year's date


def _easter(year: int) -> date:
    from dateutil.easter import easter

    return easter(year)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th ``weekday`` (Monday is 0) of the month."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7, weeks=n - 1)


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - calendar.SUNDAY) % 7)


def _nth_sunday(month: int, n: int) -> _Rule:
    return lambda year: _nth_weekday(year, month, calendar.SUNDAY, n)


def _fixed(month: int, day: int) -> _Rule:
    return lambda year: date(year, month, day)


def _from_easter(days: int) -> _Rule:
    return lambda year: _easter(year) + timedelta(days=days)


def _from_thanksgiving(days: int) -> _Rule:
    """Days after the US Thanksgiving, the fourth Thursday of November (Black Friday is the day after)."""
    return lambda year: _nth_weekday(year, 11, calendar.THURSDAY, 4) + timedelta(days=days)


def _french_mothers_day(year: int) -> date:
    """The last Sunday of May, unless that is Pentecost: then the first Sunday of June, as French law has it."""
    last = _last_sunday(year, 5)
    return _nth_weekday(year, 6, calendar.SUNDAY, 1) if last == _easter(year) + timedelta(days=49) else last


_SECOND_SUNDAY_OF_MAY = _nth_sunday(5, 2)
_THIRD_SUNDAY_OF_JUNE = _nth_sunday(6, 3)

_MOTHERS_DAY: dict[str, _Rule] = {
    **dict.fromkeys(("DE", "AT", "CH", "IT", "NL", "US"), _SECOND_SUNDAY_OF_MAY),
    "GB": _from_easter(-21),  # Mothering Sunday, the fourth Sunday of Lent
    "FR": _french_mothers_day,
    "ES": _nth_sunday(5, 1),
    "PL": _fixed(5, 26),
}
_FATHERS_DAY: dict[str, _Rule] = {
    **dict.fromkeys(("US", "GB", "FR", "NL"), _THIRD_SUNDAY_OF_JUNE),
    "DE": _from_easter(39),  # Vatertag is Ascension Day
    "AT": _nth_sunday(6, 2),
    "CH": _nth_sunday(6, 1),
    **dict.fromkeys(("ES", "IT"), _fixed(3, 19)),  # St Joseph's Day
    "PL": _fixed(6, 23),
}
# The occasions every country shares: a rule and an English title.
_EVERYWHERE: dict[str, tuple[_Rule, str]] = {
    "valentines_day": (_fixed(2, 14), "Valentine's Day"),
    "easter": (_from_easter(0), "Easter"),
    "black_friday": (_from_thanksgiving(1), "Black Friday"),
    "cyber_monday": (_from_thanksgiving(4), "Cyber Monday"),
    "singles_day": (_fixed(11, 11), "Singles' Day"),
    "christmas": (_fixed(12, 25), "Christmas"),
    "new_year": (_fixed(1, 1), "New Year's Day"),
}


@lru_cache(maxsize=256)
def _public_holidays(country: str, year: int, locale: str | None = None) -> tuple[tuple[date, str], ...]:
    """The country's national public holidays (no regional ones), named in the customer's language where the
    library has it (``de-AT``: ``de_AT``, then ``de``), else in English, else in the country's own.

    Only the holidays themselves: a substitute day off ("Boxing Day (observed)") is not the occasion being greeted.
    """
    import holidays

    try:
        supported = set(holidays.country_holidays(country).supported_languages)
    except NotImplementedError:  # a code the library does not know
        return ()
    wanted = [*((locale.replace("-", "_"), locale.split("-")[0]) if locale else ()), "en_US"]
    language = next((candidate for candidate in wanted if candidate in supported), None)
    days = holidays.country_holidays(country, years=year, language=language, observed=False)
    return tuple(sorted(days.items()))


def occasion_dates(occasion: str, country: str | None, year: int, locale: str | None = None) -> list[tuple[date, str]]:
    """The dates of ``occasion`` in ``year`` for a customer in ``country``, each with a title, by date: a public
    holiday's in the customer's ``locale`` where the library has it (``Tag der Deutschen Einheit``), else in English;
    the others' in English (the templates name them in the customer's language).

    Without a country, Mother's and Father's Day follow the most common rule and there are no public holidays.
    An occasion not in ``OCCASIONS`` is a configuration error and raises ``ValueError``.
    """
    code = country.strip().upper() if country else ""
    if occasion == "public_holiday":
        return list(_public_holidays(code, year, locale)) if code else []
    if occasion == "mothers_day":
        title = "Mothering Sunday" if code == "GB" else "Mother's Day"
        return [(_MOTHERS_DAY.get(code, _SECOND_SUNDAY_OF_MAY)(year), title)]
    if occasion == "fathers_day":
        return [(_FATHERS_DAY.get(code, _THIRD_SUNDAY_OF_JUNE)(year), "Father's Day")]
    if occasion in _EVERYWHERE:
        rule, title = _EVERYWHERE[occasion]
        return [(rule(year), title)]
    raise ValueError(f"unknown occasion {occasion!r}: one of {', '.join(OCCASIONS)}")


# YYYY-MM-DD, MM-DD or --MM-DD (ISO 8601's date without a year) at the start of the text.
_BIRTHDAY = re.compile(r"(?:(?P<year>\d{4})-|--)?(?P<month>\d{2})-(?P<day>\d{2})")


def birthday_of(value: object) -> tuple[int, int] | None:
    """(month, day) of a birthday trait, or None when it is not a date.

    Segment's identify sends ``birthday`` as an ISO 8601 string, often a datetime ("1990-02-14T00:00:00.000Z"):
    the date is taken as written, never shifted by the time zone. A birthday without a year ("02-14", "--02-14")
    is fine, and 29 February is a real birthday, but an impossible date ("1990-02-30", "1999-02-29") is refused.
    """
    if isinstance(value, date):  # a datetime is a date too
        return value.month, value.day
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _BIRTHDAY.match(text)
    if match is None:
        return None
    rest = text[match.end() :]
    if rest and not (match["year"] and rest[0] in "T " and _is_datetime(text)):
        return None
    month, day = int(match["month"]), int(match["day"])
    try:
        date(int(match["year"] or 2000), month, day)  # 2000 is a leap year: "--02-29" stands
    except ValueError:
        return None
    return month, day


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def birthday_in(month_day: tuple[int, int], year: int) -> date:
    """That year's birthday. A 29 February birthday is celebrated on 28 February in other years: a day early
    still reads as remembered, a day late (1 March) as forgotten, and it stays in the birthday's month."""
    month, day = month_day
    if (month, day) == (2, 29) and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)


def send_moment(occurrence: date, days_before: int, at: time, zone: ZoneInfo) -> datetime:
    """The UTC moment to send for ``occurrence``: the wall time ``at`` in ``zone``, ``days_before`` days earlier.

    A wall time that a DST change skips (02:30 on the spring-forward night) is sent in the hour after (03:30);
    one that happens twice (the autumn night) is sent the first time.
    """
    wall = datetime.combine(occurrence - timedelta(days=days_before), at.replace(fold=0), tzinfo=zone)
    return wall.astimezone(UTC)


def occurrences_due(
    dates: Callable[[int], list[tuple[date, str]]],
    days_before: int,
    at: time,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[tuple[date, str, datetime]]:
    """(occurrence, title, send moment) of each occurrence whose send moment falls in [start, end), by send moment.

    ``dates(year)`` gives a year's occurrences; ``start`` and ``end`` are aware UTC datetimes a few days apart at
    most. The years around the window are all asked, so a send near New Year, or ``days_before`` reaching back
    into the previous year (a 2 January birthday greeted a week early), is found.
    """
    margin = timedelta(days=abs(days_before) + 2)
    due: set[tuple[date, str, datetime]] = set()
    for year in range((start - margin).year, (end + margin).year + 1):
        for occurrence, title in dates(year):
            moment = send_moment(occurrence, days_before, at, zone)
            if start <= moment < end:
                due.add((occurrence, title, moment))
    return sorted(due, key=lambda item: (item[2], item[0], item[1]))
