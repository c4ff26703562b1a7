"""Shared fixtures: one local stack per test session (moto, provisioned from template.yaml, real handlers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.stack import LocalStack

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "events" / "demo-shop.yaml"


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    with LocalStack(configs=[DEMO_CONFIG], log_level="ERROR") as stack:
        yield stack
