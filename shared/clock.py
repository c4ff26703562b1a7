"""The clock port (architecture §5): what time it is, for every function in this process.

Handlers give their services :func:`now` as the clock. It reads the process-wide source, which is the system clock
(``datetime.now(UTC)``) unless ``nudge simulate`` installed a virtual one with :func:`use` (time-skipping: the same
handlers and adapters, only the clock and the timer adapter differ). The pure core never reads a clock; it is handed
``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

ClockSource = Callable[[], datetime]
"""Something that says what time it is: an aware UTC datetime."""


def system_time() -> datetime:
    """The system clock, aware UTC."""
    return datetime.now(UTC)


_source: ClockSource = system_time


def now() -> datetime:
    """The current time (aware UTC) from the installed source: the system clock unless a virtual one is in use."""
    return _source()


@contextmanager
def use(source: ClockSource) -> Iterator[ClockSource]:
    """Make ``source`` the process-wide clock inside the ``with`` block (the previous one comes back after)."""
    global _source
    previous, _source = _source, source
    try:
        yield source
    finally:
        _source = previous
