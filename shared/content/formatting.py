"""Locale-aware money, percent and date formatting for templates, without a locale database.

A handful of rules covers the shops nudge serves (``89,90 €`` in German, ``€89.90`` in English); languages without a
rule are formatted the English way. Spaces are plain ASCII spaces on purpose: a no-break space is not in the GSM-7
alphabet and would switch an SMS to UCS-2 (70 instead of 160 characters per segment).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from shared.content.locales import language_of


@dataclass(frozen=True, slots=True)
class _NumberStyle:
    decimal: str
    group: str
    symbol_after: bool
    symbol_space: bool
    percent_space: bool


_ENGLISH = _NumberStyle(decimal=".", group=",", symbol_after=False, symbol_space=False, percent_space=False)
_STYLES: dict[str, _NumberStyle] = {
    "en": _ENGLISH,
    "de": _NumberStyle(decimal=",", group=".", symbol_after=True, symbol_space=True, percent_space=True),
    "fr": _NumberStyle(decimal=",", group=" ", symbol_after=True, symbol_space=True, percent_space=True),
    "es": _NumberStyle(decimal=",", group=".", symbol_after=True, symbol_space=True, percent_space=True),
    "it": _NumberStyle(decimal=",", group=".", symbol_after=True, symbol_space=True, percent_space=False),
    "nl": _NumberStyle(decimal=",", group=".", symbol_after=False, symbol_space=True, percent_space=False),
}
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
_ZERO_DECIMAL = {"JPY", "KRW", "ISK"}

_MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
}
_WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
}


def _decimal(value: object) -> Decimal:
    # bool is an int to Python, never an amount to a customer.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    try:
        number = Decimal(str(value)) if isinstance(value, float | str) else Decimal(value)
    except InvalidOperation as error:
        raise ValueError(f"not a number: {value!r}") from error
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _number(value: Decimal, digits: int, style: _NumberStyle) -> str:
    # Enough precision for every digit shown: the default 28 digits would refuse to quantize 1e30 to cents
    # (InvalidOperation), and a message must render whatever amount ingest accepted.
    with localcontext(prec=max(28, value.adjusted() + digits + 2)):
        quantized = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    sign = "-" if quantized < 0 else ""
    integer, _, fraction = f"{quantized.copy_abs():f}".partition(".")
    groups: list[str] = []
    while len(integer) > 3:
        groups.insert(0, integer[-3:])
        integer = integer[:-3]
    groups.insert(0, integer)
    text = style.group.join(groups)
    return sign + (text + style.decimal + fraction if digits else text)


def format_money(amount: object, currency: str, locale: str) -> str:
    """``89.9`` in EUR -> ``89,90 €`` (de) or ``€89.90`` (en); None -> ``""`` so an unknown price shows nothing."""
    if amount is None:
        return ""
    style = _STYLES.get(language_of(locale), _ENGLISH)
    number = _number(_decimal(amount), 0 if currency in _ZERO_DECIMAL else 2, style)
    symbol = _SYMBOLS.get(currency, currency)
    # A currency written as a code always gets a space ("CHF 89.90"); a symbol follows the language's habit.
    space = " " if style.symbol_space or symbol.isalpha() else ""
    return f"{number}{space}{symbol}" if style.symbol_after else f"{symbol}{space}{number}"


def format_percent(value: object, locale: str) -> str:
    """``10`` -> ``10%`` (en) or ``10 %`` (de); ``12.5`` -> ``12,5 %`` (de)."""
    if value is None:
        return ""
    style = _STYLES.get(language_of(locale), _ENGLISH)
    number = _decimal(value)
    digits = 0 if number == number.to_integral_value() else 1
    return _number(number, digits, style) + (" %" if style.percent_space else "%")


def format_date(value: object, locale: str) -> str:
    """A day as people write it: ``Sunday 8 November`` (en), ``Sonntag, 8. November`` (de), else ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {type(value).__name__}")
    language = language_of(locale)
    if language not in _MONTHS:
        return value.strftime("%Y-%m-%d")
    weekday = _WEEKDAYS[language][value.weekday()]
    month = _MONTHS[language][value.month - 1]
    if language == "de":
        return f"{weekday}, {value.day}. {month}"
    return f"{weekday} {value.day} {month}"
