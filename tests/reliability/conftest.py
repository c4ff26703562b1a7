"""Reports the reliability suites' figures at the end of the run."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.reliability.figures import FIGURES


@pytest.fixture
def no_retry_waits(monkeypatch):
    """botocore's retry decisions stay, its waiting goes (virtual time): no backoff sleep, no client rate limiter.

    The rate limiter's token bucket is switched off too: a client made before this test (the functions' clients are
    kept per process) registered its limiter's bound method when it was made, and after a throttling fault that
    limiter would really wait for tokens, tens of seconds per test."""
    from botocore.retries import adaptive, bucket, standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(adaptive.ClientRateLimiter, "on_sending_request", lambda self, request, **kwargs: None)
    monkeypatch.setattr(bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)


# Read before any test runs: tests change the process environment (moto, the local stack) and put it back.
_FIGURES_FILE = os.environ.get("NUDGE_RELIABILITY_FIGURES")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for suite, counts in sorted(FIGURES.items()):
        terminalreporter.write_line(
            f"{suite}: " + ", ".join(f"{name}={value}" for name, value in sorted(counts.items()))
        )
    if _FIGURES_FILE:
        with open(_FIGURES_FILE, "w") as out:
            json.dump({suite: dict(sorted(counts.items())) for suite, counts in sorted(FIGURES.items())}, out, indent=2)
