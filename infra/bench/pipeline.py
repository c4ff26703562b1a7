"""``nudge bench``: a synthetic month through the real handlers, metered; the figures of its counts."""

from __future__ import annotations

import io
import json
import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from unittest import mock

from infra.bench import shop
from infra.bench.pricing import (
    CALL_LATENCY_MS,
    LAMBDA_FULL_CPU_MB,
    METERED_SERVICES,
    PLATFORM_LOG_BYTES,
    TIMER_ASL,
    Counts,
    endpoint_months,
    timer_transitions,
)
from infra.metering import READ_OPERATIONS, WRITE_OPERATIONS, ApiCallMeter

if TYPE_CHECKING:  # the emulator and the models load when a measurement runs, not with the `nudge` command
    from infra.simulate import HistoryMessage, MotoStage, Outcome, VirtualTimers
    from shared.models.config import ShopConfig
    from shared.models.events import TimerEvent


# ---------------------------------------------------------------- the pipeline, metered


def journey_timers() -> tuple[VirtualTimers, Counter[str], Counter[int]]:
    """Simulate's virtual timers, also counting executions per journey (``deferral``: a router's quiet-hours wait)
    and executions by the number of wake-ups they carry."""
    from infra.simulate import VirtualTimers
    from shared.adapters.timers import executions

    by_journey: Counter[str] = Counter()
    by_size: Counter[int] = Counter()

    class JourneyTimers(VirtualTimers):
        def start(self, events: Sequence[TimerEvent]) -> None:
            for name, wakes in executions(events):
                if name not in self._names:
                    by_journey["deferral" if wakes[0].message is not None else wakes[0].journey] += 1
                    by_size[len(wakes)] += 1
            super().start(events)

    return JourneyTimers(), by_journey, by_size


@dataclass
class FunctionUsage:
    """One function's invocations and the time inside its handler."""

    logical_id: str
    memory_mb: int
    invocations: int = 0
    wall_seconds: float = 0.0


class Probe:
    """Attached to a simulation's stage: the meter on the functions' clients, the handlers timed and scoped, the
    pollers scoped, the functions' log lines counted. ``close()`` undoes it."""

    def __init__(self) -> None:
        self.meter = ApiCallMeter(stored_size=_stored_size)
        self.functions: dict[str, FunctionUsage] = {}
        self.wake_ups: Counter[str] = Counter()  # what each timer wake-up the updater decided did
        self.log = _CountingStream()
        self._patches = ExitStack()

    def __call__(self, stage: MotoStage) -> None:
        from infra.local.pollers import TopicPoller
        from shared import aws

        # The functions' clients (the signing secret's too) are the process's clients for this endpoint.
        for service in METERED_SERVICES:
            self.meter.attach(aws.client(service))
        self._patches.enter_context(self._wake_up_outcomes())
        for runtime in stage.runtimes.values():
            usage = self.functions.setdefault(
                runtime.spec.logical_id, FunctionUsage(runtime.spec.logical_id, runtime.spec.memory_mb)
            )
            runtime.invoke = self._timed(runtime.invoke, usage)  # type: ignore[method-assign]
        for poller in stage.pollers:
            kind = "sns" if isinstance(poller, TopicPoller) else "esm"
            poll_once = poller.poll_once
            scope = f"{kind}:{poller.source.function}"
            poller.poll_once = self._scoped(poll_once, scope)  # type: ignore[method-assign]
        # The functions log at the template's default level (INFO); the lines are counted, not shown.
        logger = logging.getLogger("nudge")
        self._patches.callback(logger.setLevel, logger.level)
        logger.setLevel(logging.INFO)
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                self._patches.callback(handler.setStream, handler.setStream(self.log))

    def close(self) -> None:
        self._patches.close()

    def _wake_up_outcomes(self) -> Any:
        """The updater's ``decide``, also noting what each timer wake-up did."""
        from shared.core.customer import decide
        from shared.models.effects import Send, StartTimer
        from shared.models.events import TimerEvent
        from shared.service import updater

        outcomes = self.wake_ups

        def noted(state: Any, event: Any, *args: Any, **kwargs: Any) -> Any:
            decision = decide(state, event, *args, **kwargs)
            if isinstance(event, TimerEvent):
                if event.message is not None:
                    outcomes["brought a deferred message back"] += 1
                elif decision.state is None:
                    outcomes["found nothing to do (nothing saved)"] += 1
                elif any(isinstance(effect, Send) for effect in decision.effects):
                    outcomes["took a step (a message decided)"] += 1
                elif any(isinstance(effect, StartTimer) for effect in decision.effects):
                    outcomes["re-armed (the wait had moved)"] += 1
                else:
                    outcomes["ended or skipped without a message"] += 1
            return decision

        return mock.patch.object(updater, "decide", noted)

    def _timed(self, handler: Callable[..., Any], usage: FunctionUsage) -> Callable[..., Any]:
        meter = self.meter

        def timed_handler(event: Any) -> Any:
            started = time.perf_counter()
            try:
                with meter.scope(usage.logical_id):
                    return handler(event)
            finally:
                usage.invocations += 1
                usage.wall_seconds += time.perf_counter() - started

        return timed_handler

    def _scoped(self, function: Callable[..., Any], scope: str) -> Callable[..., Any]:
        meter = self.meter

        def scoped(*args: Any, **kwargs: Any) -> Any:
            with meter.scope(scope):
                return function(*args, **kwargs)

        return scoped


class _CountingStream(io.TextIOBase):
    """A text stream that keeps only the number of bytes written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.lines = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        self.lines += text.count("\n")
        return len(text)


def _stored_size(table: str, key: dict[str, Any]) -> int | None:
    """The emulator's copy of an item, by its key attributes: its size in bytes (None: no such item)."""
    from moto.dynamodb.exceptions import MockValidationException, ResourceNotFoundException
    from moto.dynamodb.models import dynamodb_backends

    from infra.local.provision import ACCOUNT, REGION

    try:
        item = dynamodb_backends[ACCOUNT][REGION].get_item(table, key)
    except (MockValidationException, ResourceNotFoundException):
        return None
    return item.size() if item is not None else None


@dataclass
class PipelineRun:
    """What one metered simulation produced."""

    customers: int
    days: int
    seed: int
    events: int
    requests: int
    rejected: int
    distinct_customers: int
    targeted_customers: int
    virtual_start: datetime
    virtual_end: datetime
    wall_seconds: float
    meter: ApiCallMeter
    functions: dict[str, FunctionUsage]
    executions: int
    executions_by_journey: Counter[str]
    executions_by_wake_ups: Counter[int]  # wake-ups an execution carries -> executions
    wake_ups_fired: int  # each one SendMessage of the state machine
    wake_up_outcomes: Counter[str]  # what the wake-ups did when the updater decided them
    transitions: int  # state transitions of all executions (timer_transitions per execution)
    outcomes: Counter[tuple[str, str]]  # (channel or "-", status)
    log_bytes: int

    @property
    def ingested(self) -> int:
        return self.events - self.rejected

    @property
    def wake_ups(self) -> int:
        """Wake-ups the executions carried (all came due: the run goes on until nothing is pending)."""
        return sum(size * n for size, n in self.executions_by_wake_ups.items())


def history_of(bodies: Sequence[dict[str, Any]]) -> list[HistoryMessage]:
    """Generated request bodies as simulate's history, in time order: a message at its timestamp, an app's batch at
    its ``sentAt``."""
    from infra.simulate import history_of as messages_of

    return sorted(messages_of(bodies, source="generated history"), key=lambda m: m.at)


def run_pipeline(
    config: ShopConfig, customers: int, days: int, seed: int, progress: Callable[[str], None] | None = None
) -> PipelineRun:
    """Generate the shop's traffic and replay it, metered, through the real handlers (moto in this process)."""
    from infra.simulate import Simulation

    bodies = shop.history(customers, days, seed)
    targeted: set[str] = set()
    outcomes: Counter[tuple[str, str]] = Counter()

    def report(outcome: Outcome) -> None:
        outcomes[(outcome.channel or "-", outcome.status)] += 1
        if outcome.status == "sent":
            targeted.add(outcome.customer)

    probe = Probe()
    timers, by_journey, by_size = journey_timers()
    simulation = Simulation(
        config, history_of(bodies), report, warn=progress or (lambda line: None), instrument=probe, emulator="moto"
    )
    simulation.timers = timers
    try:
        summary = simulation.run()
    finally:
        probe.close()
    asl = json.loads(TIMER_ASL.read_text(encoding="utf-8"))
    assert summary.start is not None and summary.end is not None
    return PipelineRun(
        customers=customers,
        days=days,
        seed=seed,
        events=summary.events,
        requests=summary.requests,
        rejected=summary.rejected,
        distinct_customers=shop.distinct_customers(shop.messages_of(bodies)),
        targeted_customers=len(targeted),
        virtual_start=summary.start,
        virtual_end=summary.end,
        wall_seconds=summary.wall_seconds,
        meter=probe.meter,
        functions=probe.functions,
        executions=timers.started,
        executions_by_journey=by_journey,
        executions_by_wake_ups=by_size,
        wake_ups_fired=timers.fired,
        wake_up_outcomes=probe.wake_ups,
        transitions=sum(n * timer_transitions(asl, size) for size, n in by_size.items()),
        outcomes=outcomes,
        log_bytes=probe.log.bytes,
    )


# ---------------------------------------------------------------- from the run's counts to figures


@dataclass
class FunctionFigures:
    """Per function: invocations, measured time, modelled billed duration."""

    name: str
    memory_mb: int
    invocations: int
    measured_ms: float  # mean wall time inside the handler, in the emulator
    compute_ms: float  # mean of it outside AWS calls
    modelled_ms: float  # compute scaled to the function's CPU share + assumed AWS call latency
    gb_seconds: float


@dataclass
class PipelineFigures:
    """The run's counts, ready for the report."""

    run: PipelineRun
    counts: Counts
    functions: list[FunctionFigures]
    dynamodb_read_requests: int
    dynamodb_write_requests: int
    writes_by_kind: dict[str, tuple[int, float, int, float]]  # kind -> (writes, mean size, max size, units)
    sqs: dict[str, int]  # category -> billed requests
    sqs_calls: dict[str, int]  # category -> API calls
    sends: dict[str, int]  # channel -> messages sent
    held_back: dict[str, int]  # status -> messages not sent
    provider_calls: dict[str, int]
    other_calls: dict[str, int]
    log_bytes: int


_WRITE_KINDS = {
    ("StateUpdaterFunction", "PutItem"): "customer state (updater PutItem)",
    ("StateUpdaterFunction", "TransactWriteItems"): "customer state + merged record (updater transaction)",
    ("ChannelRouterFunction", "UpdateItem"): "send ledger (router UpdateItem)",
    ("ChannelRouterFunction", "PutItem"): "phone index / in-app inbox (router PutItem)",
}
_PROVIDER_OPERATIONS = {
    ("sesv2", "SendEmail"): "email",
    ("sns", "Publish"): "push",
    ("pinpoint-sms-voice-v2", "SendTextMessage"): "sms",
    ("socialmessaging", "SendWhatsAppMessage"): "whatsapp",
}


def figures_of(run: PipelineRun) -> PipelineFigures:
    """Turn one run's meter readings and model counts into the report's figures."""
    meter = run.meter
    function_scopes = frozenset(run.functions)
    functions: list[FunctionFigures] = []
    gb_seconds_total = 0.0
    for logical_id, usage in sorted(run.functions.items()):
        if not usage.invocations:
            continue
        aws_seconds = meter.aws_seconds[logical_id]
        compute = max(0.0, usage.wall_seconds - aws_seconds)
        cpu_share = max(1.0, LAMBDA_FULL_CPU_MB / usage.memory_mb)
        latency = sum(
            n * CALL_LATENCY_MS.get(service, 10.0)
            for (scope, service, _), n in meter.scoped_calls.items()
            if scope == logical_id
        )
        modelled_total_ms = compute * 1000 * cpu_share + latency + 0.5 * usage.invocations  # + billing round-up
        gb_seconds = modelled_total_ms / 1000 * usage.memory_mb / 1024
        gb_seconds_total += gb_seconds
        functions.append(
            FunctionFigures(
                name=logical_id.removesuffix("Function"),
                memory_mb=usage.memory_mb,
                invocations=usage.invocations,
                measured_ms=usage.wall_seconds * 1000 / usage.invocations,
                compute_ms=compute * 1000 / usage.invocations,
                modelled_ms=modelled_total_ms / usage.invocations,
                gb_seconds=gb_seconds,
            )
        )

    read_requests = meter.count("dynamodb", READ_OPERATIONS, function_scopes)
    write_requests = meter.count("dynamodb", WRITE_OPERATIONS, function_scopes)
    write_units = sum(meter.scoped_write_units[s] for s in function_scopes)
    read_units = sum(meter.scoped_read_units[s] for s in function_scopes)
    writes_by_kind: dict[str, list[int]] = {}
    units_by_kind: Counter[str] = Counter()
    for written in meter.written:
        if written.scope not in function_scopes:
            continue
        kind = _WRITE_KINDS.get((written.scope, written.operation), f"{written.scope} {written.operation}")
        writes_by_kind.setdefault(kind, []).append(written.size)
        units_by_kind[kind] += written.units
    writes_summary = {
        kind: (len(sizes), statistics.fmean(sizes), max(sizes), float(units_by_kind[kind]))
        for kind, sizes in sorted(writes_by_kind.items(), key=lambda item: -len(item[1]))
    }

    sqs: Counter[str] = Counter()
    sqs_calls: Counter[str] = Counter()
    for (scope, operation), billed in meter.scoped_sqs_requests.items():
        category = _sqs_category(scope, operation, function_scopes)
        if category is not None:
            sqs[category] += billed
    for (scope, service, operation), n in meter.scoped_calls.items():
        if service == "sqs" and (category := _sqs_category(scope, operation, function_scopes)) is not None:
            sqs_calls[category] += n
    # The timer state machine's Task: one SendMessage into the events queue per wake-up that came due.
    sqs["state machine → events (SendMessage)"] += run.wake_ups_fired
    sqs_calls["state machine → events (SendMessage)"] += run.wake_ups_fired

    sends = {channel: n for (channel, status), n in sorted(run.outcomes.items()) if status == "sent"}
    held_back: Counter[str] = Counter()
    for (_, status), n in run.outcomes.items():
        if status != "sent":
            held_back[status] += n
    provider_calls = {
        channel: meter.count(service, frozenset({operation}), function_scopes)
        for (service, operation), channel in _PROVIDER_OPERATIONS.items()
    }
    other: Counter[str] = Counter()
    for (scope, service, operation), n in meter.scoped_calls.items():
        if (
            scope in function_scopes
            and service not in ("dynamodb", "sqs")
            and (service, operation) not in (_PROVIDER_OPERATIONS)
        ):
            other[f"{service} {operation}"] += n

    invocations = sum(f.invocations for f in functions)
    counts = Counts(
        events=run.ingested,
        api_requests=run.requests,
        lambda_invocations=invocations,
        lambda_gb_seconds=gb_seconds_total,
        dynamodb_read_units=read_units,
        dynamodb_write_units=write_units,
        sqs_requests=sum(sqs.values()),
        sfn_transitions=run.transitions,
        timer_wake_ups=run.wake_ups,
        emails=sends.get("email", 0),
        endpoint_months=endpoint_months(run.distinct_customers, run.days),
    )
    log_bytes = run.log_bytes + PLATFORM_LOG_BYTES * invocations
    return PipelineFigures(
        run=run,
        counts=counts,
        functions=functions,
        dynamodb_read_requests=read_requests,
        dynamodb_write_requests=write_requests,
        writes_by_kind=writes_summary,
        sqs=dict(sqs),
        sqs_calls=dict(sqs_calls),
        sends=sends,
        held_back=dict(held_back),
        provider_calls=provider_calls,
        other_calls=dict(sorted(other.items())),
        log_bytes=log_bytes,
    )


def _sqs_category(scope: str | None, operation: str, function_scopes: frozenset[str]) -> str | None:
    """Which SQS line a call belongs to; None for calls AWS would not bill (harness, emulated SNS delivery)."""
    if scope in function_scopes:
        return f"{scope.removesuffix('Function')} ({operation})"
    if scope is not None and scope.startswith("esm:"):
        return f"Lambda poller for {scope[4:].removesuffix('Function')} ({operation})"
    return None
