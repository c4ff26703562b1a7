"""Date journeys, decided: when a customer's birthday or an occasion of their country is due, and what it is called.

Pure, like the rest of the core. The daily date sweep (``shared.service.dates``) asks :func:`due` for each customer
on its pages; the decision core asks :func:`occasion_title` for a message's ``occasion.title``. The calendars are
``shared.core.occasions``'s.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from shared.core.occasions import birthday_in, birthday_of, occasion_dates, occurrences_due
from shared.core.policy import zone_of

if TYPE_CHECKING:
    from shared.models.config import ShopConfig
    from shared.models.journeys import Trigger
    from shared.models.state import CustomerState

BIRTHDAY_TITLE = "Birthday"


def customer_country(state: CustomerState, config: ShopConfig) -> str | None:
    """The customer's country (ISO 3166 alpha-2): the ``country`` trait, else ``address.country``, else the shop's."""
    traits = state.traits
    address = traits.get("address")
    for value in (traits.get("country"), address.get("country") if isinstance(address, dict) else None):
        if isinstance(value, str) and len(value.strip()) == 2 and value.strip().isalpha():
            return value.strip().upper()
    return config.shop.country


def occurrences(trigger: Trigger, state: CustomerState, config: ShopConfig, year: int) -> list[tuple[date, str]]:
    """The trigger's dates in ``year`` for this customer, with their titles (none: no birthday that is a date)."""
    if trigger.date == "birthday":
        month_day = birthday_of(state.traits.get("birthday"))
        return [(birthday_in(month_day, year), BIRTHDAY_TITLE)] if month_day is not None else []
    assert trigger.occasion is not None
    return occasion_dates(trigger.occasion, customer_country(state, config), year, state.locale)


def due(
    trigger: Trigger, state: CustomerState, config: ShopConfig, start: datetime, end: datetime
) -> list[tuple[date, str, datetime]]:
    """(occurrence, title, moment to send) of the trigger whose moment falls in [start, end): ``days_before`` the
    occurrence at the wall time ``at`` in the customer's time zone (else the shop's)."""
    zone = zone_of(state.timezone, config.shop.timezone)

    def dates(year: int) -> list[tuple[date, str]]:
        return occurrences(trigger, state, config, year)

    return occurrences_due(dates, trigger.days_before, trigger.at, zone, start, end)


def occasion_title(trigger: Trigger, occurrence: str, state: CustomerState, config: ShopConfig) -> str:
    """The title of the occurrence (``2026-12-25`` -> "Christmas Day" for a public holiday), else the occasion."""
    try:
        day = date.fromisoformat(occurrence)
    except ValueError:
        return str(trigger.date or trigger.occasion)
    titles = dict(occurrences(trigger, state, config, day.year))
    return str(titles.get(day, trigger.date or trigger.occasion))
