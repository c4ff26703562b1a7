"""Calendar occasions, birthdays and send moments, checked against real dates (each computed once by hand or script)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shared.core.occasions import (
    COUNTRIES,
    OCCASIONS,
    birthday_in,
    birthday_of,
    occasion_dates,
    occurrences_due,
    send_moment,
)

ROOT = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14, the first to see a new day
NINE = time(9)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def only(occasion: str, country: str | None, year: int) -> date:
    (day, _title), *rest = occasion_dates(occasion, country, year)
    assert rest == []
    return day


# Mother's Day 2027: Easter is 28 March, Pentecost 16 May.
@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("DE", date(2027, 5, 9)),
        ("AT", date(2027, 5, 9)),
        ("CH", date(2027, 5, 9)),
        ("IT", date(2027, 5, 9)),
        ("NL", date(2027, 5, 9)),
        ("US", date(2027, 5, 9)),
        ("GB", date(2027, 3, 7)),  # Mothering Sunday: Easter minus three weeks
        ("FR", date(2027, 5, 30)),  # last Sunday of May; Pentecost is two weeks earlier
        ("ES", date(2027, 5, 2)),
        ("PL", date(2027, 5, 26)),
    ],
)
def test_mothers_day_2027_by_country(country, expected):
    assert only("mothers_day", country, 2027) == expected


def test_britain_calls_it_mothering_sunday():
    assert occasion_dates("mothers_day", "GB", 2027) == [(date(2027, 3, 7), "Mothering Sunday")]
    assert occasion_dates("mothers_day", "DE", 2027) == [(date(2027, 5, 9), "Mother's Day")]


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2020, date(2020, 6, 7)),  # Pentecost 31 May 2020, the last Sunday of May
        (2023, date(2023, 6, 4)),  # Pentecost 28 May 2023, likewise
        (2024, date(2024, 5, 26)),  # Pentecost 19 May 2024: the last Sunday of May stands
    ],
)
def test_french_mothers_day_moves_to_june_when_it_falls_on_pentecost(year, expected):
    assert only("mothers_day", "FR", year) == expected


# Father's Day 2027: Ascension Day is 6 May.
@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("US", date(2027, 6, 20)),
        ("GB", date(2027, 6, 20)),
        ("FR", date(2027, 6, 20)),
        ("NL", date(2027, 6, 20)),
        ("DE", date(2027, 5, 6)),  # Vatertag is Ascension Day
        ("AT", date(2027, 6, 13)),
        ("CH", date(2027, 6, 6)),
        ("ES", date(2027, 3, 19)),
        ("IT", date(2027, 3, 19)),
        ("PL", date(2027, 6, 23)),
    ],
)
def test_fathers_day_2027_by_country(country, expected):
    assert occasion_dates("fathers_day", country, 2027) == [(expected, "Father's Day")]


@pytest.mark.parametrize("year", range(2024, 2036))
def test_german_fathers_day_is_the_ascension_day_the_holidays_library_knows(year):
    ascension = [day for day, name in occasion_dates("public_holiday", "DE", year) if name == "Ascension Day"]

    assert [only("fathers_day", "DE", year)] == ascension


@pytest.mark.parametrize("country", [None, "", "JP", "BR", "XX"])
def test_without_built_in_rules_mothers_and_fathers_day_follow_the_most_common_rule(country):
    assert only("mothers_day", country, 2027) == date(2027, 5, 9)  # 2nd Sunday of May
    assert only("fathers_day", country, 2027) == date(2027, 6, 20)  # 3rd Sunday of June


def test_a_lower_case_country_code_is_the_same_country():
    assert occasion_dates("fathers_day", "de", 2027) == occasion_dates("fathers_day", "DE", 2027)


@pytest.mark.parametrize(
    ("occasion", "year", "expected"),
    [
        ("valentines_day", 2026, (date(2026, 2, 14), "Valentine's Day")),
        ("easter", 2026, (date(2026, 4, 5), "Easter")),
        ("easter", 2027, (date(2027, 3, 28), "Easter")),
        ("black_friday", 2026, (date(2026, 11, 27), "Black Friday")),  # Thanksgiving is 26 Nov 2026
        ("cyber_monday", 2026, (date(2026, 11, 30), "Cyber Monday")),
        ("black_friday", 2027, (date(2027, 11, 26), "Black Friday")),  # Thanksgiving is 25 Nov 2027
        ("cyber_monday", 2027, (date(2027, 11, 29), "Cyber Monday")),
        ("singles_day", 2026, (date(2026, 11, 11), "Singles' Day")),
        ("christmas", 2026, (date(2026, 12, 25), "Christmas")),
        ("new_year", 2027, (date(2027, 1, 1), "New Year's Day")),
    ],
)
def test_occasions_every_country_shares(occasion, year, expected):
    for country in ("DE", "US", "JP", None):
        assert occasion_dates(occasion, country, year) == [expected]


def test_black_friday_is_the_day_after_the_thanksgiving_the_holidays_library_knows():
    for year in range(2024, 2036):
        thanksgiving = [day for day, name in occasion_dates("public_holiday", "US", year) if name == "Thanksgiving Day"]

        assert [only("black_friday", None, year)] == [day + timedelta(days=1) for day in thanksgiving]


def test_german_public_holidays_are_national_ones_with_english_names():
    holidays = occasion_dates("public_holiday", "DE", 2026)

    assert (date(2026, 10, 3), "German Unity Day") in holidays
    assert (date(2026, 12, 25), "Christmas Day") in holidays
    assert date(2026, 1, 6) not in [day for day, _ in holidays]  # Epiphany is a holiday in three states only
    assert holidays == sorted(holidays)


def test_british_public_holidays_are_the_days_themselves_not_the_substitute_days_off():
    holidays = occasion_dates("public_holiday", "GB", 2026)

    assert (date(2026, 12, 25), "Christmas Day") in holidays
    assert (date(2026, 12, 26), "Boxing Day") in holidays  # a Saturday; the bank holiday moves to Monday 28 Dec
    assert date(2026, 12, 28) not in [day for day, _ in holidays]


def test_a_country_without_built_in_rules_still_has_its_public_holidays():
    assert (date(2026, 2, 11), "Foundation Day") in occasion_dates("public_holiday", "JP", 2026)


def test_an_unknown_country_or_none_has_no_public_holidays():
    assert occasion_dates("public_holiday", "XX", 2026) == []
    assert occasion_dates("public_holiday", None, 2026) == []


def test_an_unknown_occasion_is_a_configuration_error():
    with pytest.raises(ValueError, match="unknown occasion 'name_day'"):
        occasion_dates("name_day", "DE", 2026)


def test_every_occasion_has_dates_in_every_built_in_country():
    for occasion in OCCASIONS:
        for country in COUNTRIES:
            assert occasion_dates(occasion, country, 2027), (occasion, country)


def test_importing_the_module_leaves_holidays_and_dateutil_unloaded():
    # Lambda cold starts: the ~150 ms of `import holidays` are paid only by a caller that needs a holiday.
    check = "import sys, shared.core.occasions; print(sorted({'holidays', 'dateutil'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-02-14", (2, 14)),
        ("1990-02-14T00:00:00Z", (2, 14)),
        ("1990-02-14T00:00:00.000Z", (2, 14)),
        ("1990-02-14T23:30:00-05:00", (2, 14)),  # the date as written, not moved to UTC
        ("1990-02-14 08:00", (2, 14)),
        (" 1990-02-14 ", (2, 14)),
        ("02-14", (2, 14)),
        ("--02-14", (2, 14)),
        ("--02-29", (2, 29)),
        ("02-29", (2, 29)),
        ("2000-02-29", (2, 29)),
        ("1850-12-31", (12, 31)),  # the year is not judged, only the date
        ("2999-01-01", (1, 1)),
        (date(1990, 2, 14), (2, 14)),
        (datetime(1990, 2, 14, 23, 30, tzinfo=UTC), (2, 14)),
    ],
)
def test_birthday_forms_that_are_dates(value, expected):
    assert birthday_of(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "1990-02-30",
        "1999-02-29",  # 1999 is not a leap year
        "13-01",
        "--00-10",
        "1990-13-01",
        "0000-01-01",
        "1990-02-14T",
        "1990-02-14T25:00:00Z",
        "1990-02-14x00:00",
        "1990-02-14garbage",
        "14.02.1990",
        "02/14/1990",
        "12-25-1990",
        "19900214",
        "1990-2-14",
        "February 14",
        "",
        None,
        19900214,
        ["1990-02-14"],
    ],
)
def test_birthday_forms_that_are_refused(value):
    assert birthday_of(value) is None


def test_a_29_february_birthday_is_celebrated_on_28_february_in_common_years():
    assert birthday_in((2, 29), 2027) == date(2027, 2, 28)
    assert birthday_in((2, 29), 2028) == date(2028, 2, 29)
    assert birthday_in((2, 29), 2100) == date(2100, 2, 28)  # a century year that is not a leap year
    assert birthday_in((7, 4), 2027) == date(2027, 7, 4)


@pytest.mark.parametrize(
    ("occurrence", "days_before", "at", "zone", "expected"),
    [
        (date(2026, 12, 24), 0, NINE, BERLIN, utc(2026, 12, 24, 8)),  # CET, UTC+1
        (date(2026, 12, 25), 1, NINE, BERLIN, utc(2026, 12, 24, 8)),
        (date(2026, 7, 4), 0, NINE, NEW_YORK, utc(2026, 7, 4, 13)),  # EDT, UTC-4
        (date(2027, 1, 1), 0, NINE, KIRITIMATI, utc(2026, 12, 31, 19)),
        (date(2027, 3, 28), 0, time(2, 30), BERLIN, utc(2027, 3, 28, 1, 30)),  # skipped: sent at 03:30 CEST
        (date(2027, 10, 31), 0, time(2, 30), BERLIN, utc(2027, 10, 31, 0, 30)),  # twice: sent at the first (CEST)
        (date(2027, 10, 31), 0, time(2, 30, fold=1), BERLIN, utc(2027, 10, 31, 0, 30)),
    ],
)
def test_send_moment_is_the_wall_time_in_the_customers_zone(occurrence, days_before, at, zone, expected):
    moment = send_moment(occurrence, days_before, at, zone)

    assert moment == expected
    assert moment.tzinfo is UTC


def new_year_dates(year: int) -> list[tuple[date, str]]:
    return occasion_dates("new_year", None, year)


def christmas_dates(year: int) -> list[tuple[date, str]]:
    return occasion_dates("christmas", None, year)


def test_new_year_is_due_where_the_customers_clock_reaches_nine_inside_the_window():
    start, end = utc(2026, 12, 31, 12), utc(2027, 1, 1, 12)

    assert occurrences_due(new_year_dates, 0, NINE, KIRITIMATI, start, end) == [
        (date(2027, 1, 1), "New Year's Day", utc(2026, 12, 31, 19))
    ]
    assert occurrences_due(new_year_dates, 0, NINE, BERLIN, start, end) == [
        (date(2027, 1, 1), "New Year's Day", utc(2027, 1, 1, 8))
    ]
    assert occurrences_due(new_year_dates, 0, NINE, LOS_ANGELES, start, end) == []  # 17:00 UTC on 1 January


def test_a_send_moment_on_the_window_end_belongs_to_the_next_window():
    moment = utc(2027, 1, 1, 8)  # 09:00 in Berlin

    assert occurrences_due(new_year_dates, 0, NINE, BERLIN, utc(2027, 1, 1), moment) == []
    assert occurrences_due(new_year_dates, 0, NINE, BERLIN, moment, utc(2027, 1, 2))[0][2] == moment


def test_a_day_before_christmas_is_found_on_the_24th():
    due = occurrences_due(christmas_dates, 1, NINE, BERLIN, utc(2026, 12, 24), utc(2026, 12, 25))

    assert due == [(date(2026, 12, 25), "Christmas", utc(2026, 12, 24, 8))]


def test_a_birthday_greeted_days_early_reaches_back_into_the_previous_year():
    birthday = birthday_of("--01-02")
    assert birthday is not None

    def dates(year: int) -> list[tuple[date, str]]:
        return [(birthday_in(birthday, year), "Birthday")]

    due = occurrences_due(dates, 7, NINE, BERLIN, utc(2026, 12, 26), utc(2026, 12, 27))

    assert due == [(date(2027, 1, 2), "Birthday", utc(2026, 12, 26, 8))]


def test_a_send_after_the_occasion_crosses_the_year_too():
    # days_before may be negative (a thank-you three days after): 1 January is found in the window of 4 January
    due = occurrences_due(new_year_dates, -3, NINE, BERLIN, utc(2027, 1, 4), utc(2027, 1, 5))

    assert due == [(date(2027, 1, 1), "New Year's Day", utc(2027, 1, 4, 8))]


def test_occurrences_due_are_sorted_by_send_moment_without_duplicates():
    def dates(year: int) -> list[tuple[date, str]]:
        # the same public holiday given twice, and two occasions in one window in reverse order
        return [
            (date(year, 12, 26), "Boxing Day"),
            (date(year, 12, 25), "Christmas"),
            (date(year, 12, 25), "Christmas"),
        ]

    due = occurrences_due(dates, 0, NINE, NEW_YORK, utc(2026, 12, 24), utc(2026, 12, 28))

    assert due == [
        (date(2026, 12, 25), "Christmas", utc(2026, 12, 25, 14)),  # EST, UTC-5
        (date(2026, 12, 26), "Boxing Day", utc(2026, 12, 26, 14)),
    ]


@pytest.mark.parametrize(
    ("country", "locale", "title"),
    [
        ("DE", "de-DE", "Tag der Deutschen Einheit"),  # the customer's language, where the library has it
        ("DE", "de-AT", "Tag der Deutschen Einheit"),  # de_AT is not there: de
        ("DE", "en-GB", "German Unity Day"),
        ("DE", None, "German Unity Day"),
        ("DE", "fr-FR", "German Unity Day"),  # no French names for Germany's holidays: English
    ],
)
def test_a_public_holiday_is_named_in_the_customers_language_else_in_english(country, locale, title):
    names = dict(occasion_dates("public_holiday", country, 2026, locale))
    assert names[date(2026, 10, 3)] == title


def test_a_country_without_english_names_keeps_its_own_only_when_nothing_else_fits():
    assert dict(occasion_dates("public_holiday", "CH", 2026, "fr-CH"))[date(2026, 1, 1)] == "Nouvel An"
    assert dict(occasion_dates("public_holiday", "CH", 2026, "it-CH"))[date(2026, 1, 1)] == "Capodanno"
    assert dict(occasion_dates("public_holiday", "US", 2026, "de-DE"))[date(2026, 1, 1)] == "New Year's Day"
