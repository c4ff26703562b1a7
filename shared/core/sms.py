"""SMS facts that cost money or break the law when wrong: segment counting and reply keywords. Pure.

Segments (3GPP TS 23.038): a text that fits the GSM 03.38 alphabet is sent as GSM-7, 160 characters in one
segment or 153 per segment when concatenated; ``^ { } \\ [ ] ~ | €`` (and form feed) live in the extension table
and take two characters (escape + code). One character outside the alphabet (an emoji, a curly quote, a Cyrillic
letter) turns the whole message into UCS-2: 70 UTF-16 code units in one segment, 67 per segment concatenated; an
emoji outside the Basic Multilingual Plane is a surrogate pair and counts two. A two-unit character is never split
across segments, so long messages can need one more segment than plain division says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SmsEncoding = Literal["GSM-7", "UCS-2"]

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[]~|€\f")
_SINGLE = {"GSM-7": 160, "UCS-2": 70}
_PER_PART = {"GSM-7": 153, "UCS-2": 67}

# AWS End User Messaging SMS opt-out keywords, plus replies the FCC (2025) treats as revoking consent.
OPT_OUT_KEYWORDS = frozenset(
    {"ARRET", "CANCEL", "END", "OPT-OUT", "OPTOUT", "QUIT", "REMOVE", "STOP", "TD", "UNSUBSCRIBE"}
    | {"REVOKE", "OPT OUT", "STOP ALL", "STOPALL", "UNSUBSCRIBE ALL", "CANCEL ALL", "END ALL", "QUIT ALL"}
)
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
_TRAILING_PUNCTUATION = ".!?,;:"
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class SmsSegments:
    """How a text goes over the air: its encoding, its length in that encoding's units, and how many segments.

    ``characters`` counts GSM-7 septets (an extension character counts two) or UTF-16 code units for UCS-2.
    An empty text has no segments.
    """

    encoding: SmsEncoding
    characters: int
    segments: int


def _unit_costs(text: str) -> tuple[SmsEncoding, list[int]]:
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text):
        return "GSM-7", [2 if c in _GSM_EXTENSION else 1 for c in text]
    return "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in text]


def segments(text: str) -> SmsSegments:
    """The encoding, length and segment count of ``text`` as an SMS."""
    encoding, costs = _unit_costs(text)
    total = sum(costs)
    if total == 0:
        return SmsSegments(encoding, 0, 0)
    if total <= _SINGLE[encoding]:
        return SmsSegments(encoding, total, 1)
    per_part, parts, used = _PER_PART[encoding], 1, 0
    for cost in costs:
        if used + cost > per_part:  # a two-unit character moves whole to the next segment
            parts, used = parts + 1, 0
        used += cost
    return SmsSegments(encoding, total, parts)


def _normalise(text: str) -> str:
    return _WHITESPACE.sub(" ", text.strip().rstrip(_TRAILING_PUNCTUATION).strip()).upper()


def opt_out_keyword(text: str) -> str | None:
    """The opt-out keyword the whole reply is (``"STOP"``, ``"STOP ALL"``, ``"REVOKE"``, ...), or None.

    Case-insensitive; surrounding whitespace, inner runs of whitespace and trailing punctuation ("Stop.") are
    ignored. A reply that merely *contains* a keyword ("don't stop") is not an opt-out here.
    """
    keyword = _normalise(text)
    return keyword if keyword in OPT_OUT_KEYWORDS else None


def is_help_keyword(text: str) -> bool:
    """Whether the whole reply asks for help (HELP or INFO), which gets the shop's help message."""
    return _normalise(text) in HELP_KEYWORDS
