"""A measurement in a fresh interpreter: the emulator keeps its resources per process (a second local stack in the
bench's own process would find its secret taken), and a process of its own keeps its figures its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_module(module: str, arguments: list[str], what: str) -> dict[str, Any]:
    """Run ``python -m module arguments`` from the checkout and return the JSON of its last line of output;
    RuntimeError naming ``what`` (with the end of its stderr) when it fails."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", module, *arguments]
    done = subprocess.run(
        command, cwd=ROOT, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {what} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures
