"""Logger, Tracer and Metrics, created once for every function.

Service name and metrics namespace come from the POWERTOOLS_* environment the template sets. The log formatter
masks e-mail addresses and phone numbers in every line, whatever put them there: a safety net behind the rule that
handlers log ids, never traits.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# International format (E.164 with optional separators): bare digit runs would also hit dates and epochs.
_PHONE = re.compile(r"\+\d[\d\s().-]{6,}\d")


def mask_pii(text: str) -> str:
    """Replace e-mail addresses and phone numbers in ``text`` with placeholders."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with PII masked in the serialized line."""

    def serialize(self, log: Any) -> str:
        return mask_pii(super().serialize(log))


def tracing_enabled() -> bool:
    """Whether X-Ray tracing is on, by the rule Powertools' Tracer applies: in Lambda (``LAMBDA_TASK_ROOT``), not
    under ``sam local`` or Chalice, and not switched off with ``POWERTOOLS_TRACE_DISABLED``."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in {"1", "true", "y", "yes", "t", "on"}:
        return False
    in_lambda = bool(os.environ.get("LAMBDA_TASK_ROOT"))
    emulated = bool(os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE"))
    return in_lambda and not emulated


class LazyTracer:
    """Powertools' Tracer, built at the first traced call and only when tracing is on.

    Constructing a Tracer imports the X-Ray SDK (a third of a handler's cold import) even when tracing is off, and
    reads the environment. Here the decorators wrap at import without either; the first call decides once: with
    tracing on (Lambda with ``Tracing: Active``) it builds the Tracer, which patches botocore for every client, and
    the function runs under the Tracer's own decorator from then on; with tracing off it runs undecorated.
    """

    def __init__(self, service: str) -> None:
        self._service = service
        self._tracer: Tracer | None = None
        self._decided = False

    @property
    def tracer(self) -> Tracer | None:
        """The Powertools Tracer, or ``None`` while tracing is off (decided once, at the first traced call)."""
        if not self._decided:
            if tracing_enabled():
                from aws_lambda_powertools import Tracer

                self._tracer = Tracer(service=self._service)
            self._decided = True
        return self._tracer

    def _capture(
        self,
        decorator: Literal["capture_lambda_handler", "capture_method"],
        function: Callable[..., Any] | None,
        capture_response: bool | None,
        capture_error: bool | None,
    ) -> Any:
        """The Tracer's ``decorator`` (with these options), applied to the function at its first call when tracing is
        on; the function as it is when tracing is off. Both Powertools decorators take the options first, the
        function after, so one wrapper serves both."""

        def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
            traced: list[Callable[..., Any]] = []

            @functools.wraps(function)
            def call(*args: Any, **kwargs: Any) -> Any:
                if not traced:
                    tracer = self.tracer
                    options = {"capture_response": capture_response, "capture_error": capture_error}
                    traced.append(function if tracer is None else getattr(tracer, decorator)(**options)(function))
                return traced[0](*args, **kwargs)

            return call

        return wrap if function is None else wrap(function)

    @overload
    def capture_lambda_handler[F: Callable[..., Any]](self, lambda_handler: F) -> F: ...

    @overload
    def capture_lambda_handler[F: Callable[..., Any]](
        self, lambda_handler: None = None, *, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[F], F]: ...

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        *,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Any:
        """``Tracer.capture_lambda_handler``, applied at the first call when tracing is on."""
        return self._capture("capture_lambda_handler", lambda_handler, capture_response, capture_error)

    @overload
    def capture_method[F: Callable[..., Any]](self, method: F) -> F: ...

    @overload
    def capture_method[F: Callable[..., Any]](
        self, method: None = None, *, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[F], F]: ...

    def capture_method(
        self,
        method: Callable[..., Any] | None = None,
        *,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Any:
        """``Tracer.capture_method`` for plain functions, applied at the first call when tracing is on."""
        return self._capture("capture_method", method, capture_response, capture_error)


# One service and one namespace for every function (the template sets the same through POWERTOOLS_*); named here
# too so that code imported before the environment is set (tests, the local stack) logs and measures the same way.
SERVICE = "nudge"
logger = Logger(service=SERVICE, logger_formatter=MaskingFormatter())
tracer = LazyTracer(SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)


def correlate_request(event: dict[str, Any]) -> None:
    """The API Gateway request id as the log lines' correlation id: what ``inject_lambda_context`` does with
    ``correlation_paths.API_GATEWAY_HTTP`` (``requestContext.requestId``), read directly. Powertools evaluates that
    path with a JMESPath interpreter built for each invocation, whose reference cycles are left to the garbage
    collector (and a percent of ingest's time)."""
    context = event.get("requestContext")
    logger.set_correlation_id(context.get("requestId") if isinstance(context, dict) else None)


def add_count(name: str, value: float = 1) -> None:
    """``metrics.add_metric`` of a count, skipped while metrics are off (``POWERTOOLS_METRICS_DISABLED``: simulate,
    the tests): Powertools would do all the work of adding it anyway (formatting a debug line with every value so
    far among it), only to write nothing at the flush."""
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Count ``name`` under its own dimensions (journey, channel, outcome), in one EMF blob written now.

    The dimensions of ``metrics`` hold for everything one flush writes, and the records of one batch differ; the
    name stays fixed so that one metric sums over them and the dimensions split it. Unlike ``metrics``, Powertools'
    ``single_metric`` prints even with ``POWERTOOLS_METRICS_DISABLED`` (the local stack's console), hence the check.
    """
    if is_metrics_disabled():
        return
    with single_metric(
        name=name, unit=MetricUnit.Count, value=value, namespace=SERVICE, default_dimensions={"service": SERVICE}
    ) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)
