"""Invokes a function's real handler the way Lambda does: imported by its fully qualified Handler, in execution
environments that each run one invocation at a time.

As in Lambda, an invocation that arrives while every environment of the function is busy gets a new one (a cold
start), so a long invocation (a 2,500-event batch) does not hold up the others. An environment is its own copy of
the handler's module (Powertools' resolvers keep the current event on the module's app object, which is safe only
in a single-threaded container), so it builds its own wiring from the environment at its first invocation, as in
Lambda: a process that runs a second stack or simulation after another gets functions bound to the new one with
nothing to forget. Modules below the handler (``shared``) are one per process.

``wiring``, if given, builds each environment's object graph instead (``nudge simulate --emulator moto`` puts its
virtual clock and timers there); it is passed to the handler as its ``wiring`` argument.

:class:`SerialRuntime` is the same for a caller that invokes from one thread, one invocation at a time (the
backtest's loop): one execution environment, kept warm, and no locking around it.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
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


MAX_ENVIRONMENTS = 16  # per function; beyond it an invocation waits for one to be free (Lambda would throttle)


class FunctionRuntime:
    """One function: its handler, loaded in a new execution environment whenever all of them are busy."""

    def __init__(
        self, spec: FunctionSpec, max_environments: int = MAX_ENVIRONMENTS, wiring: Callable[[], Any] | None = None
    ) -> None:
        self.spec = spec
        self.wiring = wiring
        self.name = f"{STACK}-{spec.logical_id}"
        self.invocations = 0
        self.environments = 0  # created so far (each one a cold start)
        self._max = max_environments
        self._idle: list[Callable[[dict[str, Any], Any], Any]] = []
        self._free = threading.Condition()

    def _load(self) -> Callable[[dict[str, Any], Any], Any]:
        """The handler of a new environment: a private copy of its module, with its own wiring."""
        module_name, attribute = self.spec.handler.rsplit(".", 1)
        importlib.import_module(module_name)  # its parents and what it imports: once per process, as ``shared``
        found = importlib.util.find_spec(module_name)
        assert found is not None and found.loader is not None, module_name
        module = importlib.util.module_from_spec(found)  # not in sys.modules: this environment's own
        found.loader.exec_module(module)
        handler: Callable[..., Any] = getattr(module, attribute)
        if self.wiring is None:
            return handler
        wiring = self.wiring()
        return lambda event, context: handler(event, context, wiring=wiring)

    def _acquire(self) -> Callable[[dict[str, Any], Any], Any]:
        with self._free:
            while not self._idle and self.environments >= self._max:
                self._free.wait()
            self.invocations += 1
            if self._idle:
                return self._idle.pop()
            self.environments += 1
        try:
            return self._load()
        except BaseException:
            with self._free:
                self.environments -= 1
                self._free.notify()
            raise

    def _release(self, handler: Callable[[dict[str, Any], Any], Any]) -> None:
        with self._free:
            self._idle.append(handler)
            self._free.notify()

    def invoke(self, event: dict[str, Any]) -> Any:
        """Run the handler on ``event`` and return what it returns (exceptions propagate, as a failed invoke)."""
        handler = self._acquire()
        try:
            return handler(event, LambdaContext(self.name, self.spec.memory_mb, self.spec.timeout_s))
        finally:
            self._release(handler)


class SerialRuntime(FunctionRuntime):
    """A function invoked from one thread, one invocation at a time: never busy, so one execution environment (one
    cold start), reused without a lock; request ids counted rather than drawn at random."""

    def __init__(self, spec: FunctionSpec, max_environments: int = 1, wiring: Callable[[], Any] | None = None) -> None:
        super().__init__(spec, max_environments=1, wiring=wiring)
        self._handler: Callable[[dict[str, Any], Any], Any] | None = None
        self._requests = itertools.count(1)

    def invoke(self, event: dict[str, Any]) -> Any:
        handler = self._handler
        if handler is None:
            handler = self._handler = self._load()
            self.environments = 1
        self.invocations += 1
        request_id = f"00000000-0000-4000-8000-{next(self._requests):012x}"
        return handler(event, LambdaContext(self.name, self.spec.memory_mb, self.spec.timeout_s, request_id))
