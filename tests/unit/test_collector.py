"""The garbage collector at a cold import: off while a handler module imports in Lambda, then on again with the
imported objects frozen; untouched outside Lambda (tests and tools import functions' packages without a handler)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/handler.py"))
LAMBDA = {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.13", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}


def _collector_after(code: str, lambda_environment: bool) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_EXECUTION_ENV"}
    if lambda_environment:
        env.update(LAMBDA)
    probe = (
        "import gc, json\n"
        "collections = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and collections.append(info))\n"
        f"{code}\n"
        "print(json.dumps({'enabled': gc.isenabled(), 'frozen': gc.get_freeze_count(),"
        " 'collections': len(collections)}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("function", HANDLERS)
def test_in_lambda_a_handler_imports_without_collections_and_freezes_what_it_made(function: str) -> None:
    after = _collector_after(f"import functions.{function}.handler", lambda_environment=True)

    assert after["enabled"] is True
    assert isinstance(after["frozen"], int) and after["frozen"] > 10_000
    # some 40 with the collector on; the few left run before the pause (the probe's and the package's own imports)
    assert isinstance(after["collections"], int) and after["collections"] <= 4


def test_outside_lambda_the_collector_is_left_alone() -> None:
    after = _collector_after("import functions.state_updater.wiring", lambda_environment=False)

    assert after["enabled"] is True
    assert after["frozen"] == 0
