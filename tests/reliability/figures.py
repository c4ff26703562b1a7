"""Figures the reliability suites report: examples run, faults injected, events applied or parked, sends.

Each suite adds its counts here; ``tests/reliability/conftest.py`` prints them at the end of the run (and writes
them as JSON to ``$NUDGE_RELIABILITY_FIGURES`` when that is set), which is where docs/RELIABILITY.md's numbers come
from.
"""

from __future__ import annotations

from collections import Counter, defaultdict

FIGURES: defaultdict[str, Counter[str]] = defaultdict(Counter)


def add(suite: str, **counts: int) -> None:
    """Add ``counts`` to ``suite``'s figures."""
    FIGURES[suite].update({name: value for name, value in counts.items() if value})
