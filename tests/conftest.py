"""Shared fixtures: one local stack per test session (moto, provisioned from template.yaml, real handlers), and
template.yaml in memory for the tests of what the services do (``memory_stack``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.stack import LocalStack

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "events" / "demo-shop.yaml"
FAST_CONFIG = Path(__file__).resolve().parents[1] / "events" / "fast-shop.yaml"  # journeys that wait seconds


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    with LocalStack(configs=[DEMO_CONFIG, FAST_CONFIG], log_level="ERROR") as stack:
        yield stack


@pytest.fixture
def memory_stack(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Makes template.yaml deployments in memory (``tests/memory.py``: the real handlers on the in-memory adapters, on
    a clock the test sets), for the tests of what the services and handlers do rather than what AWS does."""
    from tests.memory import QUIET, MemoryStack

    for name, value in QUIET.items():
        monkeypatch.setenv(name, value)
    return MemoryStack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every test on the local stack before the tests that use ``mock_aws``, and the slow end-to-end runs next.

    The local stack's emulator runs in this process, and moto keeps one set of backends per process: a ``mock_aws``
    block resets them all when it ends, which would wipe the stack's tables and queues under later tests. The suite
    runs on every core (pytest-xdist, ``-n auto --dist worksteal`` in pyproject.toml): each worker first gets an
    equal run of tests in this order (the first worker every local-stack test, so only it starts a local stack), and
    a worker that runs out takes the last half of another's queue: not local-stack tests, which come first and are
    done minutes before the other worker runs out (if that ever changed, a local-stack test would fail at once).
    The slow runs (a minute and more each, in subprocesses) start early rather than leaving one worker busy at the
    end while the others wait, the longest first (``@pytest.mark.slow(seconds=N)``, about what each takes);
    stealing evens out the rest (on 2026-12-03, 1,378 tests: 434 s with xdist's default ``load``, 391 s with
    ``worksteal``, the same 682 s of tests; with the sample month's parity replay, 84 s, started last, one worker
    waited the last 59 s of a 394 s run for the other).
    """

    def seconds(item: pytest.Item) -> float:
        slow = item.get_closest_marker("slow")
        return float(slow.kwargs.get("seconds", 0)) if slow is not None else 0.0

    items.sort(
        key=lambda item: (
            "local_stack" not in getattr(item, "fixturenames", ()),
            item.get_closest_marker("slow") is None,
            -seconds(item),
        )
    )
