"""The layer's bytecode check: it passes a folder compiled as the layer's build compiles it, and names what is not."""

from __future__ import annotations

import compileall
import py_compile
from pathlib import Path

from infra.bytecode import main, uncompiled


def _package(root: Path) -> Path:
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (root / "single.py").write_text("X = 2\n")
    return root


def test_a_folder_compiled_unchecked_hash_passes(tmp_path: Path) -> None:
    root = _package(tmp_path)
    assert compileall.compile_dir(root, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)

    assert uncompiled(root) == []
    assert main([str(root)]) == 0


def test_missing_and_timestamp_based_bytecode_is_named(tmp_path: Path) -> None:
    root = _package(tmp_path)
    py_compile.compile(str(root / "pkg" / "mod.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    py_compile.compile(str(root / "single.py"), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)

    problems = uncompiled(root)

    assert problems == [
        "pkg/__init__.py: no __init__.cpython-313.pyc",
        "pkg/mod.py: mod.cpython-313.pyc is timestamp-based, not unchecked-hash",
    ]
    assert main([str(root)]) == 1


def test_an_empty_folder_is_not_a_compiled_layer(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 1
