"""Locale tags and the fallback chain: the customer's ``de-AT`` -> ``de`` -> the shop's default -> ``en``."""

from __future__ import annotations

import re

FALLBACK_LOCALE = "en"
_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def canonical_locale(tag: str | None) -> str | None:
    """``de_at`` / ``DE-AT`` -> ``de-AT``; None for anything that is not a locale tag.

    Clients send ``context.locale`` in every spelling (``de_DE``, ``de-de``); templates and overrides are looked up
    by one canonical form: language lower case, region upper case, script title case.
    """
    if tag is None:
        return None
    tag = tag.strip()
    if not _TAG.match(tag):
        return None
    language, *rest = re.split(r"[-_]", tag)
    subtags = [language.lower()]
    for subtag in rest:
        if len(subtag) == 2 and subtag.isalpha():
            subtags.append(subtag.upper())
        elif len(subtag) == 4 and subtag.isalpha():
            subtags.append(subtag.title())
        else:
            subtags.append(subtag.lower())
    return "-".join(subtags)


def language_of(locale: str) -> str:
    """The language subtag: ``de-AT`` -> ``de``."""
    return locale.split("-", 1)[0].lower()


def fallback_chain(locale: str | None, default_locale: str) -> list[str]:
    """Locales to try in order, most specific first, without repeats.

    ``fallback_chain("de-AT", "fr-CH")`` -> ``["de-AT", "de", "fr-CH", "fr", "en"]``. An unusable customer locale
    (missing, malformed) starts the chain at the shop's default.
    """
    chain: list[str] = []
    for tag in (locale, default_locale, FALLBACK_LOCALE):
        canonical = canonical_locale(tag)
        if canonical is None:
            continue
        subtags = canonical.split("-")
        for end in range(len(subtags), 0, -1):
            candidate = "-".join(subtags[:end])
            if candidate not in chain:
                chain.append(candidate)
    return chain
