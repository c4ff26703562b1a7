"""Time is a port: nothing in the functions or the shared package reads the wall clock except ``shared/clock.py``.

Code that reads it directly cannot be given a time by a test (or by ``nudge simulate``'s virtual clock), and a test
of it passes or fails by the hour and the date it runs at. ``time.monotonic`` measures durations (caches, deadlines)
and is allowed. How the whole suite was run at other instants is in docs/RELIABILITY.md ("Any hour, any date").
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THE_CLOCK = ROOT / "shared" / "clock.py"
WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "gmtime"),
    ("time", "localtime"),
    ("time", "strftime"),
}


def wall_clock_reads(source: str) -> list[str]:
    """``line call`` for every direct wall-clock read in ``source`` (``datetime.now(...)``, ``time.time()``...)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else None
        if (name, node.func.attr) in WALL_CLOCK:
            found.append(f"{node.lineno} {name}.{node.func.attr}()")
    return found


def test_only_the_clock_port_reads_the_wall_clock():
    sources = sorted([*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py")])
    assert len(sources) > 20  # the scan found the code
    reads = [
        f"{path.relative_to(ROOT)}:{read}"
        for path in sources
        if path != THE_CLOCK
        for read in wall_clock_reads(path.read_text())
    ]
    assert reads == [], "read the time through shared.clock (or take a clock argument): " + ", ".join(reads)


def test_the_guard_sees_every_spelling_of_a_wall_clock_read():
    source = (
        "import datetime, time\n"
        "a = datetime.now(UTC)\n"
        "b = datetime.datetime.now()\n"
        "c = time.time()\n"
        "d = date.today()\n"
        "e = time.monotonic()\n"
    )
    assert wall_clock_reads(source) == ["2 datetime.now()", "3 datetime.now()", "4 time.time()", "5 date.today()"]
    assert [read.split()[1] for read in wall_clock_reads(THE_CLOCK.read_text())] == ["datetime.now()"]
