"""Checks that a built layer ships its bytecode: every module compiled, for this Python, as unchecked-hash .pyc.

Lambda's /opt is read-only: a module without a usable .pyc there is compiled from source at every cold start. A
timestamp-based .pyc is usable only while the source's modification time matches the one recorded in it, which the
layer's zip does not reliably keep; an unchecked-hash .pyc is used as it is. CI runs it on ``sam build``'s output::

    python -m infra.bytecode .aws-sam/build/SharedLayer/python
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_HASH_BASED = 0b01
_CHECK_SOURCE = 0b10


def uncompiled(root: Path) -> list[str]:
    """Each module under ``root`` without an unchecked-hash .pyc for this Python, and why (empty: all compiled)."""
    problems = []
    for source in sorted(root.rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        name = str(source.relative_to(root))
        if not cached.is_file():
            problems.append(f"{name}: no {cached.name}")
            continue
        header = cached.read_bytes()[:8]
        if header[:4] != importlib.util.MAGIC_NUMBER:
            problems.append(f"{name}: {cached.name} is for another Python version")
        elif int.from_bytes(header[4:8], "little") != _HASH_BASED:
            kind = "checked-hash" if int.from_bytes(header[4:8], "little") & _CHECK_SOURCE else "timestamp-based"
            problems.append(f"{name}: {cached.name} is {kind}, not unchecked-hash")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m infra.bytecode <layer's python folder>", file=sys.stderr)
        return 2
    root = Path(argv[0])
    modules = sum(1 for _ in root.rglob("*.py"))
    if modules == 0:
        print(f"{root}: no Python modules", file=sys.stderr)
        return 1
    problems = uncompiled(root)
    for problem in problems[:20]:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} of {modules} modules lack an unchecked-hash .pyc", file=sys.stderr)
        return 1
    print(f"{modules} modules, each with an unchecked-hash .pyc")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
