"""Logger, Tracer and Metrics, created once for every function.

Service name and metrics namespace come from the POWERTOOLS_* environment the template sets. The log formatter
masks e-mail addresses and phone numbers in every line, whatever put them there: a safety net behind the rule that
handlers log ids, never traits.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

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

    def annotate(self, key: str, value: str) -> None:
        """Annotate the current X-Ray (sub)segment, which makes its trace searchable by it
        (``annotation.<key> = "<value>"``); nothing, and no X-Ray SDK imported, while tracing is off."""
        tracer = self.tracer
        if tracer is not None:
            tracer.put_annotation(key=key, value=value)

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
    correlate(None)  # a request is no event's work (ingest names the events it accepted in its line)
    logger.set_correlation_id(context.get("requestId") if isinstance(context, dict) else None)


def correlate(event_id: str | None) -> None:
    """From here on, every log line carries ``event_id`` (as its correlation id and as ``event_id``) and, with X-Ray
    on, the current subsegment is annotated with it: the id of the event that caused the work (architecture §8),
    so that one Logs Insights query and one X-Ray filter find everything an event led to (docs/OPERATIONS.md). None
    when the work's event is not known: then the lines carry no stale id of the record before."""
    logger.set_correlation_id(event_id)
    if event_id is None:
        logger.remove_keys(["event_id"])
        return
    logger.append_keys(event_id=event_id)
    tracer.annotate("event_id", event_id)


def add_count(name: str, value: float = 1) -> None:
    """``metrics.add_metric`` of a count, skipped while metrics are off (``POWERTOOLS_METRICS_DISABLED``: simulate,
    the tests): Powertools would do all the work of adding it anyway (formatting a debug line with every value so
    far among it), only to write nothing at the flush."""
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


# The dimension sets of the metrics that split by more than one thing (each set also has ``service``).
#
# CloudWatch bills every distinct combination of dimension values of a metric as a metric of its own (about $0.30 a
# month each), so a metric is published under a few small sets, whose counts add up, rather than under one set of
# everything, whose counts multiply: shop x journey x step x channel x status x reason would be thousands of metrics
# per shop. The small sets answer what the dashboard and the alarms ask (how many by outcome; by channel and outcome;
# why not sent; which shop; which journey step), a few dozen metrics in all plus a handful per shop and per journey
# step; the EMF line itself carries every value, so Logs Insights can still split any other way, at no metric cost.
# Values are closed sets (outcomes, channels, reason codes, the shops' journey names) or tenants, never customer or
# message ids. Powertools allows 29 dimensions per metric; the widest set here has four.
EVENT_DIMENSIONS: tuple[tuple[str, ...], ...] = (("outcome",), ("shop", "outcome"))
MESSAGE_DIMENSIONS: tuple[tuple[str, ...], ...] = (
    ("channel", "outcome"),
    ("outcome", "reason"),
    ("shop", "outcome"),
    ("journey", "step", "outcome"),
)
SERVICE_ONLY: tuple[tuple[str, ...], ...] = ((),)  # the other values go along in the line, as properties
_REASON_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def reason_code(reason: str | None) -> str | None:
    """A reason as a dimension value: its code, without the detail some reasons add after a colon
    (``template_error: ...`` is ``template_error``), so that the values stay a closed set; ``other`` for a reason
    that is no code."""
    if not reason:
        return None
    code = reason.split(":", 1)[0].strip()
    return code if _REASON_CODE.fullmatch(code) else "other"


def count(
    name: str, value: float = 1, *, sets: Sequence[Sequence[str]] | None = None, **dimensions: str | None
) -> None:
    """Count ``name`` under its own dimensions (journey, channel, outcome), in one EMF blob written now.

    The dimensions of ``metrics`` hold for everything one flush writes, and the records of one batch differ; the
    name stays fixed so that one metric sums over them and the dimensions split it. Without ``sets``, the count goes
    under one set of all the dimensions given a value; with ``sets`` (see :data:`MESSAGE_DIMENSIONS`), under each
    set whose every dimension has a value (so that each published set counts one kind of thing: a message sent,
    with no reason, is not counted under ``outcome, reason``), or under ``service`` alone when none has. Unlike
    ``metrics``, Powertools' own single-metric blob prints even with ``POWERTOOLS_METRICS_DISABLED`` (the local
    stack's console), hence the check.
    """
    _publish(name, MetricUnit.Count, value, dimensions, sets)


def milliseconds(
    name: str, value: float, *, sets: Sequence[Sequence[str]] | None = None, **dimensions: str | None
) -> None:
    """Like :func:`count`, for a duration in milliseconds (its percentiles are what the dashboard shows)."""
    _publish(name, MetricUnit.Milliseconds, value, dimensions, sets)


def _publish(
    name: str,
    unit: MetricUnit,
    value: float,
    dimensions: dict[str, str | None],
    sets: Sequence[Sequence[str]] | None,
) -> None:
    if is_metrics_disabled():
        return
    given = {key: dimension for key, dimension in dimensions.items() if dimension is not None}
    chosen = [tuple(given)] if sets is None else [tuple(keys) for keys in sets if all(key in given for key in keys)]
    first, *others = dict.fromkeys(chosen or [()])  # without repeats, in order
    blob = AmazonCloudWatchEMFProvider(namespace=SERVICE, service=SERVICE)
    blob.add_metric(name=name, unit=unit, value=value)
    blob.add_dimension(name="service", value=SERVICE)
    for key in first:
        blob.add_dimension(name=key, value=given[key])
    for keys in others:
        blob.add_dimensions(service=SERVICE, **{key: given[key] for key in keys})
    for key in given.keys() - {key for keys in chosen for key in keys}:
        blob.add_metadata(key=key, value=given[key])
    blob.flush_metrics()
