"""What every function's composition root (``functions/<fn>/wiring.py``) shares.

A handler takes its object graph as an argument (``lambda_handler(event, context, wiring=...)``): tests, the local
stack's tools and ``nudge simulate`` inject one. Lambda passes none, so the handler uses its execution
environment's own, built from the environment at the first invocation (:class:`Built`) and kept for the
environment's life, as Lambda keeps the module.
"""

from __future__ import annotations

from collections.abc import Callable


class Built[T]:
    """A value built by ``build`` when first asked for, then kept. Call it for the value."""

    __slots__ = ("_build", "_value")

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None

    def __call__(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value
