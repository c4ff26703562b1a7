"""The in-memory adapters are the AWS adapters' equals (architecture §5): the same history replayed by
``nudge simulate`` through moto and through memory gives the same lines, message for message, and the same totals.

Lines of one customer come in the same order. Between customers, lines of the same virtual second may interleave
differently: the outbox is a standard queue, which SQS does not order, and moto keeps a FIFO deduplication id only
while its message is in the queue (SQS and the memory queue keep it five minutes), so a client's retried message
can make a batch of the events queue hold other records on moto.

Each run is a subprocess (moto's ``mock_aws`` resets every emulator backend in the process when it ends).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DEMO_CONFIG, FAST_CONFIG

ROOT = Path(__file__).resolve().parents[2]
NUDGE = Path(sys.executable).with_name("nudge")
MONTH = ROOT / "events" / "history" / "small-shop-month.jsonl"
# what the machine took, not what happened
TIMINGS = {"wall_seconds", "setup_seconds", "events_per_second"}

pytestmark = pytest.mark.slow


def simulate(config: Path, history: Path, emulator: str) -> subprocess.Popen[str]:
    """Start ``nudge simulate`` on ``emulator``; ``outcome`` reads what it printed. The two runs of a test go at once
    (the moto one takes most of the time; the other core does the memory one meanwhile)."""
    command = [str(NUDGE), "simulate", "--config", str(config), "--events", str(history), "--summary"]
    return subprocess.Popen(
        [*command, "--emulator", emulator],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TZ": "UTC"},
    )


def outcome(run: subprocess.Popen[str]) -> tuple[list[str], dict[str, Any]]:
    """The outcome lines as printed, and the summary without its timings."""
    stdout, stderr = run.communicate(timeout=280)
    assert run.returncode == 0, stderr
    *lines, last = stdout.splitlines()
    summary = {name: value for name, value in json.loads(last)["summary"].items() if name not in TIMINGS}
    return lines, summary


@pytest.mark.slow(seconds=85)  # the suite's longest test: started first (tests/conftest.py)
def test_the_sample_month_replays_line_for_line_the_same_through_moto_and_through_memory():
    # Given a month of a small shop's traffic (964 messages, every journey of the demo shop), replayed through moto
    moto_run = simulate(DEMO_CONFIG, MONTH, "moto")

    # When it is replayed through the in-memory adapters
    memory_run = simulate(DEMO_CONFIG, MONTH, "memory")
    on_moto, in_memory = outcome(moto_run), outcome(memory_run)

    # Then every message nudge sent or held back is the same line, in the same order, and so are the totals
    lines, summary = in_memory
    assert len(lines) > 300 and summary["messages"]["sent"] > 300
    assert lines == on_moto[0]
    assert summary == on_moto[1]


def by_customer(lines: list[str]) -> dict[str, list[str]]:
    """Each customer's lines, in the order printed."""
    customers: dict[str, list[str]] = {}
    for line in lines:
        customers.setdefault(json.loads(line)["customer"], []).append(line)
    return customers


def test_the_fast_shops_journeys_replay_the_same_through_moto_and_through_memory(tmp_path):
    from tests.e2e.test_simulate import journeys_history, write_history

    history = write_history(tmp_path / "journeys.jsonl", journeys_history())

    moto_run, memory_run = simulate(FAST_CONFIG, history, "moto"), simulate(FAST_CONFIG, history, "memory")
    (on_moto, moto_totals), (in_memory, memory_totals) = outcome(moto_run), outcome(memory_run)

    assert sorted(in_memory) == sorted(on_moto) and len(in_memory) >= 12
    assert by_customer(in_memory) == by_customer(on_moto)
    assert [json.loads(line)["at"] for line in in_memory] == [json.loads(line)["at"] for line in on_moto]
    assert memory_totals == moto_totals
