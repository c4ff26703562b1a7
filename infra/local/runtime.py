"""Invokes a function's real handler the way Lambda does: imported by its fully qualified Handler, one at a time.

Each function behaves like one warm Lambda container: invocations of the same function are serialized (Powertools'
resolvers keep the current event on the app object, as they may in a single-threaded container), different
functions run concurrently.
"""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.local.provision import ACCOUNT, REGION, STACK, FunctionSpec


@dataclass
class LambdaContext:
    """The context object Lambda passes to a handler (the fields Powertools reads)."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionRuntime:
    """One function: its handler, imported on first use (a cold start), invoked one event at a time."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.name = f"{STACK}-{spec.logical_id}"
        self.invocations = 0
        self._handler: Callable[[dict[str, Any], Any], Any] | None = None
        self._lock = threading.Lock()

    def _load(self) -> Callable[[dict[str, Any], Any], Any]:
        if self._handler is None:
            module_name, attribute = self.spec.handler.rsplit(".", 1)
            self._handler = getattr(importlib.import_module(module_name), attribute)
        return self._handler

    def invoke(self, event: dict[str, Any]) -> Any:
        """Run the handler on ``event`` and return what it returns (exceptions propagate, as a failed invoke)."""
        with self._lock:
            handler = self._load()
            self.invocations += 1
            return handler(event, LambdaContext(self.name, self.spec.memory_mb, self.spec.timeout_s))
