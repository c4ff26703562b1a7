"""``nudge bench``: what nudge costs per event, measured on a synthetic shop run through the real handlers.

Four measurements, one report (stdout, and ``docs/PERFORMANCE.md`` with the command that produced it):

1. **The pipeline.** A month of a synthetic shop's Segment traffic (:mod:`infra.bench_shop`) goes through ``nudge
   simulate``'s engine: the real handlers and adapters against the embedded emulator, in virtual time, with virtual
   timers. An :class:`~infra.metering.ApiCallMeter` on every client the functions use counts each AWS call by the
   function that made it, with the item sizes behind DynamoDB write units and the payload sizes behind SQS requests.
   What the emulation does not make itself is added from the model of what AWS does: one Step Functions execution
   per timer (the virtual timers count them), its state transitions (:func:`timer_transitions`) and the SQS
   ``SendMessage`` it makes when it fires.
2. **Cost.** The counts at AWS list price (:data:`PRICES`, from the project's conventions), per 1 million events,
   next to Amazon Pinpoint's price for the same volume.
3. **The pure decision core.** ``decide`` over the same kind of traffic in memory: events per second on one core.
4. **Cold imports.** Each function's handler module imported by a fresh interpreter, against ``import boto3``.
5. **One maximal batch.** 2,500 events in one ``/v1/batch`` through the real ingest handler on the local stack, and
   its model against the ingest function's timeout in AWS (:mod:`infra.bench_batch`).

What is counted, and why (docs/PERFORMANCE.md says the same):

- Calls made by a function's handler are the function's. Calls Lambda's SQS event source makes for it (one
  ``ReceiveMessage`` per batch, one ``DeleteMessageBatch`` per settled batch) are billed to the account as SQS
  requests, so they are counted too, separately. The SNS-to-Lambda delivery of the feedback topic is emulated
  through a queue the local stack subscribes; AWS does not bill that queue, so its calls are left out.
- Calls the harness makes (provisioning, reading the send ledger for the report, putting due timers into the queue
  in place of the state machine) are not counted; the state machine's ``SendMessage`` is added per fired timer.
- Lambda duration is modelled, not taken from the emulator: the handler's own compute (wall time inside the handler
  minus time inside AWS calls, measured) scaled to the function's CPU share (:data:`LAMBDA_FULL_CPU_MB`), plus an
  assumed in-region latency per AWS call (:data:`CALL_LATENCY_MS`).
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import logging
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from unittest import mock

from infra import bench_shop
from infra.metering import READ_OPERATIONS, WRITE_OPERATIONS, ApiCallMeter

if TYPE_CHECKING:  # the emulator and the models load when a measurement runs, not with the `nudge` command
    from infra.bench_batch import BatchFigures
    from infra.simulate import HistoryMessage, Outcome, Stage, VirtualTimers
    from shared.models.config import ShopConfig
    from shared.models.events import TimerEvent

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
TIMER_ASL = ROOT / "infra" / "statemachines" / "timer.asl.json"
DEFAULT_CONFIG = ROOT / "events" / "demo-shop.yaml"
DEFAULT_MARKDOWN = ROOT / "docs" / "PERFORMANCE.md"
PRESERVED_SECTIONS = ("How to reproduce",)
REGION = "us-east-1"  # the emulator's (infra.local.provision)


# ---------------------------------------------------------------- prices and assumptions


@dataclass(frozen=True, slots=True)
class Price:
    """A list price: ``usd`` per ``per`` ``unit``."""

    usd: float
    per: int
    unit: str
    source: str

    @property
    def each(self) -> float:
        return self.usd / self.per


_CONVENTIONS = "conventions.md (us-east-1 list)"
# Every price the cost figures use, in one table. conventions.md lists one SQS price ($0.50 per million FIFO
# requests) and no standard-queue price, so the outbox (a standard queue) is priced at the FIFO rate too.
PRICES: dict[str, Price] = {
    "dynamodb_write": Price(0.625, 1_000_000, "write request unit", _CONVENTIONS),
    "dynamodb_read": Price(0.125, 1_000_000, "read request unit", _CONVENTIONS),
    "sqs_request": Price(0.50, 1_000_000, "request (per 64 KB)", _CONVENTIONS + ": FIFO; applied to the outbox too"),
    "sfn_transition": Price(0.025, 1_000, "state transition", _CONVENTIONS + ": Standard"),
    "lambda_request": Price(0.20, 1_000_000, "request", _CONVENTIONS),
    "lambda_gb_second": Price(0.0000133334, 1, "GB-second", _CONVENTIONS + ": arm64"),
    "apigw_request": Price(1.00, 1_000_000, "request", _CONVENTIONS + ": HTTP API"),
    "scheduler_invocation": Price(1.00, 1_000_000, "invocation", _CONVENTIONS + ": EventBridge Scheduler (unused)"),
    "ses_email": Price(0.10, 1_000, "email", _CONVENTIONS),
    "pinpoint_event": Price(1.00, 1_000_000, "event", "Amazon Pinpoint: events collected"),
    "pinpoint_endpoint_month": Price(
        0.0012, 1, "targeted endpoint-month", "Amazon Pinpoint: monthly targeted audience"
    ),
}

# Lambda gives a function CPU in proportion to its memory: one full vCPU at 1,769 MB (Lambda developer guide).
LAMBDA_FULL_CPU_MB = 1769
# Assumed latency of one AWS call from inside Lambda, in the same region, SDK work included (ms). Not measured here:
# the emulator answers in-process.
CALL_LATENCY_MS: dict[str, float] = {
    "dynamodb": 5.0,
    "sqs": 8.0,
    "stepfunctions": 15.0,
    "sesv2": 40.0,
    "sns": 20.0,
    "pinpoint-sms-voice-v2": 40.0,
    "socialmessaging": 60.0,
    "secretsmanager": 15.0,
}
METERED_SERVICES = tuple(CALL_LATENCY_MS)
# Lambda's own log lines per invocation (START, END, REPORT), about this many bytes.
PLATFORM_LOG_BYTES = 300
# Not in conventions.md: CloudWatch Logs ingestion (Standard class), us-east-1 list. Shown, never added to the total.
CLOUDWATCH_LOGS_PER_GB = 0.50


@dataclass(frozen=True, slots=True)
class Target:
    """A figure the issue asks nudge to reach."""

    key: str
    label: str
    limit: float
    at_most: bool = True

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit


TARGETS = (
    Target("dynamodb_writes_per_event", "DynamoDB writes per event", 1.15),
    Target("executions_per_event", "Step Functions executions per event", 0.02),
    Target("cost_per_million", "AWS cost per 1M events ($)", 2.00),
    Target("import_ratio", "handler import vs bare boto3 (worst, x)", 2.0),
    Target("core_events_per_second", "decision core events/s (one core)", 20_000, at_most=False),
)


# ---------------------------------------------------------------- cost arithmetic (pure)


@dataclass(frozen=True, slots=True)
class Counts:
    """Billable quantities of one run (or of any volume): what the cost figures are computed from."""

    events: int
    api_requests: int = 0
    lambda_invocations: int = 0
    lambda_gb_seconds: float = 0.0
    dynamodb_read_units: float = 0.0
    dynamodb_write_units: float = 0.0
    sqs_requests: int = 0
    sfn_transitions: int = 0
    emails: int = 0
    endpoint_months: float = 0.0


ENGINE_LINES = (
    ("API Gateway HTTP API", "api_requests", "apigw_request"),
    ("Lambda requests", "lambda_invocations", "lambda_request"),
    ("Lambda duration", "lambda_gb_seconds", "lambda_gb_second"),
    ("DynamoDB writes", "dynamodb_write_units", "dynamodb_write"),
    ("DynamoDB reads", "dynamodb_read_units", "dynamodb_read"),
    ("SQS", "sqs_requests", "sqs_request"),
    ("Step Functions", "sfn_transitions", "sfn_transition"),
)


def engine_costs(counts: Counts, prices: dict[str, Price] = PRICES) -> dict[str, float]:
    """USD for ``counts`` per service line of the engine (delivery, such as SES, is not part of it)."""
    return {label: getattr(counts, quantity) * prices[price].each for label, quantity, price in ENGINE_LINES}


def per_million(counts: Counts) -> float:
    """The factor that scales ``counts`` to 1 million events."""
    return 1_000_000 / counts.events if counts.events else 0.0


def engine_cost_per_million(counts: Counts, prices: dict[str, Price] = PRICES) -> float:
    """The engine's AWS cost for 1 million events with the same mix."""
    return sum(engine_costs(counts, prices).values()) * per_million(counts)


def email_cost_per_million(counts: Counts, prices: dict[str, Price] = PRICES) -> float:
    return counts.emails * prices["ses_email"].each * per_million(counts)


def pinpoint_cost_per_million(counts: Counts, prices: dict[str, Price] = PRICES) -> float:
    """Amazon Pinpoint for the same volume: 1M events collected plus the endpoint-months that come with them."""
    scale = per_million(counts)
    return (
        counts.events * scale * prices["pinpoint_event"].each
        + counts.endpoint_months * scale * prices["pinpoint_endpoint_month"].each
    )


def timer_transitions(asl: dict[str, Any]) -> int:
    """State transitions Step Functions bills for one execution of the timer on its happy path.

    The states from ``StartAt`` to the end (here Wait, then the SQS Task), plus the execution's start and end, as the
    Standard price counts them (retries would add one each; the happy path has none).
    """
    states = asl["States"]
    name, visited = asl["StartAt"], 0
    while name is not None:
        visited += 1
        state = states[name]
        name = None if state.get("End") or state["Type"] in ("Succeed", "Fail") else state["Next"]
    return visited + 2


def endpoint_months(endpoints: int, days: int) -> float:
    """Pinpoint bills each endpoint targeted in a month once that month; a run of ``days`` covers this many."""
    return float(endpoints * max(1, math.ceil(days / 30)))


# ---------------------------------------------------------------- the pipeline, metered


def journey_timers() -> tuple[VirtualTimers, Counter[str]]:
    """Simulate's virtual timers, also counting executions per journey (``deferral``: a router's quiet-hours wait)."""
    from infra.simulate import VirtualTimers

    by_journey: Counter[str] = Counter()

    class JourneyTimers(VirtualTimers):
        def start(self, events: Sequence[TimerEvent]) -> None:
            for event in events:
                if event.timer_id not in self._names:
                    by_journey["deferral" if event.message is not None else event.journey] += 1
            super().start(events)

    return JourneyTimers(), by_journey


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
        self.log = _CountingStream()
        self._patches = ExitStack()

    def __call__(self, stage: Stage) -> None:
        from aws_lambda_powertools.utilities.parameters import constants as parameters
        from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider

        from infra.local.pollers import TopicPoller
        from shared import aws

        for service in METERED_SERVICES:
            self.meter.attach(aws.client(service))
        # Powertools reads the signing secret through its own provider: give it the metered client.
        secrets = SecretsProvider(boto3_client=aws.client("secretsmanager"))
        self._patches.enter_context(mock.patch.dict(parameters.DEFAULT_PROVIDERS, {"secrets": secrets}))
        for spec in stage.deployment.functions.values():
            module_name, attribute = spec.handler.rsplit(".", 1)
            module = importlib.import_module(module_name)
            usage = self.functions.setdefault(spec.logical_id, FunctionUsage(spec.logical_id, spec.memory_mb))
            timed = self._timed(getattr(module, attribute), usage)
            self._patches.enter_context(mock.patch.object(module, attribute, timed))
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

    def _timed(self, handler: Callable[..., Any], usage: FunctionUsage) -> Callable[..., Any]:
        meter = self.meter

        def timed_handler(event: Any, context: Any) -> Any:
            started = time.perf_counter()
            try:
                with meter.scope(usage.logical_id):
                    return handler(event, context)
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
    executions_fired: int
    executions_by_journey: Counter[str]
    transitions_per_execution: int
    outcomes: Counter[tuple[str, str]]  # (channel or "-", status)
    log_bytes: int

    @property
    def ingested(self) -> int:
        return self.events - self.rejected


def history_of(messages: Sequence[dict[str, Any]]) -> list[HistoryMessage]:
    """Generated messages as simulate's history (in time order, each at its timestamp)."""
    from infra.simulate import HistoryMessage

    history = [
        HistoryMessage(datetime.fromisoformat(m["timestamp"]).astimezone(UTC), line, m)
        for line, m in enumerate(messages, start=1)
    ]
    history.sort(key=lambda m: m.at)
    return history


def run_pipeline(
    config: ShopConfig, customers: int, days: int, seed: int, progress: Callable[[str], None] | None = None
) -> PipelineRun:
    """Generate the shop's traffic and replay it, metered, through the real handlers (moto in this process)."""
    from infra.simulate import Simulation

    messages = bench_shop.generate(customers, days, seed)
    targeted: set[str] = set()
    outcomes: Counter[tuple[str, str]] = Counter()

    def report(outcome: Outcome) -> None:
        outcomes[(outcome.channel or "-", outcome.status)] += 1
        if outcome.status == "sent":
            targeted.add(outcome.customer)

    probe = Probe()
    timers, by_journey = journey_timers()
    simulation = Simulation(
        config, history_of(messages), report, warn=progress or (lambda line: None), instrument=probe
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
        distinct_customers=bench_shop.distinct_customers(messages),
        targeted_customers=len(targeted),
        virtual_start=summary.start,
        virtual_end=summary.end,
        wall_seconds=summary.wall_seconds,
        meter=probe.meter,
        functions=probe.functions,
        executions=timers.started,
        executions_fired=timers.fired,
        executions_by_journey=by_journey,
        transitions_per_execution=timer_transitions(asl),
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
    # The timer state machine's Task: one SendMessage into the events queue per execution that fired.
    sqs["state machine → events (SendMessage)"] += run.executions_fired
    sqs_calls["state machine → events (SendMessage)"] += run.executions_fired

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
        sfn_transitions=run.executions * run.transitions_per_execution,
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


# ---------------------------------------------------------------- the pure core


@dataclass
class CoreFigures:
    """Throughput of the pure decision core on one core."""

    events: int
    customers: int
    decide_seconds: float  # inside ``decide`` only
    copy_seconds: float  # the same states deep-copied once more, timed alone (what ``decide`` starts with)
    roundtrip_seconds: float  # ``decide`` plus loading and saving the state as JSON
    timers_armed: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.decide_seconds if self.decide_seconds else 0.0

    @property
    def roundtrip_events_per_second(self) -> float:
        return self.events / self.roundtrip_seconds if self.roundtrip_seconds else 0.0

    @property
    def copy_share(self) -> float:
        return self.copy_seconds / self.decide_seconds if self.decide_seconds else 0.0


def core_events(customers: int, days: int, seed: int, shop_id: str) -> list[Any]:
    """The synthetic traffic as the updater gets it: SegmentEvents, validated by ingest's own models."""
    from shared.models.events import SegmentEvent
    from shared.service.ingest import parse_messages, stamp

    messages = bench_shop.generate(customers, days, seed)
    events = []
    for start in range(0, len(messages), 1000):
        chunk = messages[start : start + 1000]
        for index, message in enumerate(parse_messages("batch", {"batch": chunk})):
            received = datetime.fromisoformat(chunk[index]["timestamp"])
            events.append(SegmentEvent(shop_id=shop_id, received_at=received, message=stamp(message, received, index)))
    return events


def core_throughput(config: ShopConfig, events: Sequence[Any]) -> CoreFigures:
    """Time ``decide`` over ``events`` in order, for every customer in one process (no I/O, one core); then the
    same with the state's JSON round trip the updater adds around it (load before, save after)."""
    from shared.core.customer import decide, merge
    from shared.models.effects import StartTimer
    from shared.models.state import CustomerState

    clock = time.perf_counter

    def replay(roundtrip: bool) -> tuple[float, float, int]:
        states: dict[str, Any] = {}
        joined: dict[str, str] = {}
        timers = 0
        busy = copying = 0.0
        for event in events:
            key = joined.get(event.customer, event.customer)
            started = clock()
            state = states.get(key)
            if roundtrip and state is not None:
                state = CustomerState.model_validate_json(state)
            for other in event.merges:  # what the updater does around decide when an identify joins two records
                absorbed = states.pop(other, None)
                if absorbed is not None:
                    absorbed = CustomerState.model_validate_json(absorbed) if roundtrip else absorbed
                    state = merge(state or CustomerState(), absorbed)
                    joined[other] = key
            decision = decide(state, event, event.received_at, config, owned=True)  # as the updater calls it
            new_state = decision.state or state
            if roundtrip and new_state is not None:
                new_state = new_state.model_dump_json(exclude_defaults=True)
            busy += clock() - started
            if not roundtrip and state is not None:
                started = clock()
                CustomerState.model_validate(state.model_dump())  # the copy decide makes of its input
                copying += clock() - started
            timers += sum(isinstance(effect, StartTimer) for effect in decision.effects)
            if new_state is not None:
                states[key] = new_state
        return busy, copying, timers

    decide_seconds, copy_seconds, timers = replay(roundtrip=False)
    roundtrip_seconds, _, _ = replay(roundtrip=True)
    customers = len({event.customer for event in events})
    return CoreFigures(len(events), customers, decide_seconds, copy_seconds, roundtrip_seconds, timers)


# ---------------------------------------------------------------- cold imports


@dataclass
class ImportFigures:
    """Median import time of each handler module and of bare boto3, fresh interpreters, the same run."""

    runs: int
    boto3_ms: float
    handlers: dict[str, float]  # function -> ms
    heaviest: list[tuple[str, float]]  # top-level packages by own import time in the slowest handler (ms)

    def ratio(self, name: str) -> float:
        return self.handlers[name] / self.boto3_ms if self.boto3_ms else 0.0

    @property
    def worst(self) -> tuple[str, float]:
        name = max(self.handlers, key=self.handlers.__getitem__)
        return name, self.ratio(name)


def handler_modules() -> dict[str, str]:
    """Each function in template.yaml and the module its Handler names."""
    from infra.template import function_property, load_template, resources_of_type

    template = load_template(TEMPLATE)
    return {
        logical_id.removesuffix("Function"): str(function_property(template, resource, "Handler")).rsplit(".", 1)[0]
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items()
    }


def lambda_environment() -> dict[str, str]:
    """What a function's interpreter sees in Lambda (values that matter at import: tracing on, service names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": "nudge-bench",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_SERVICE_NAME": "nudge",
            "POWERTOOLS_METRICS_NAMESPACE": "nudge",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
    )
    return env


def _import_ms(module: str, env: dict[str, str]) -> float:
    code = f"import time\nt = time.perf_counter()\nimport {module}\nprint(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout.strip()) * 1000


def _heaviest_packages(module: str, env: dict[str, str], top: int = 5) -> list[tuple[str, float]]:
    """Own import time per top-level package (``-X importtime``), largest first."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    own: dict[str, float] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)", line)
        if match:
            package = match.group(2).split(".")[0]
            own[package] = own.get(package, 0.0) + int(match.group(1)) / 1000
    heaviest = sorted(own.items(), key=lambda item: -item[1])[:top]
    return [(name, round(ms, 1)) for name, ms in heaviest]


def import_times(runs: int = 5) -> ImportFigures:
    """Median cold import per handler and for ``import boto3``: one warm-up round (bytecode caches), then ``runs``
    rounds, each round one fresh interpreter per module, interleaved so drift hits all alike."""
    modules = {"boto3": "boto3", **handler_modules()}
    env = lambda_environment()
    for module in modules.values():
        _import_ms(module, env)
    samples: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(runs):
        for name, module in modules.items():
            samples[name].append(_import_ms(module, env))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    boto3_ms = medians.pop("boto3")
    slowest = max(medians, key=medians.__getitem__)
    return ImportFigures(runs, boto3_ms, medians, _heaviest_packages(modules[slowest], env))


# ---------------------------------------------------------------- the report


@dataclass
class Report:
    """Everything one ``nudge bench`` measured, and the command that did it."""

    command: str
    config: str
    pipeline: PipelineFigures
    core: CoreFigures | None
    imports: ImportFigures | None
    batch: BatchFigures | None = None
    machine: str = field(
        default_factory=lambda: f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    generated: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d"))

    def target_values(self) -> dict[str, float | None]:
        figures = self.pipeline
        events = figures.counts.events or 1
        return {
            "dynamodb_writes_per_event": figures.dynamodb_write_requests / events,
            "executions_per_event": figures.run.executions / events,
            "cost_per_million": engine_cost_per_million(figures.counts),
            "import_ratio": self.imports.worst[1] if self.imports else None,
            "core_events_per_second": self.core.events_per_second if self.core else None,
        }


Row = tuple[str, str, str]  # label, per event, per 1M events


def _n(value: float, digits: int = 3) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _amount(value: float) -> str:
    """A price as written in a price list: no exponent, no trailing zeros (0.0000133334, 0.5, 1)."""
    return f"{value:.10f}".rstrip("0").rstrip(".")


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.995 or value == 0 else f"${value:,.3f}"


def usage_rows(figures: PipelineFigures) -> list[Row]:
    """Per ingested event and per 1M events, what the run did."""
    events = figures.counts.events or 1
    million = 1_000_000 / events

    def row(label: str, total: float, digits: int = 3) -> Row:
        return label, _n(total / events, digits), _n(total * million, 0)

    run = figures.run
    rows: list[Row] = [row("API Gateway requests (ingest)", run.requests)]
    for function in figures.functions:
        rows.append(row(f"Lambda invocations: {function.name}", function.invocations))
    rows.append(row("DynamoDB read requests", figures.dynamodb_read_requests))
    rows.append(row("  read request units", figures.counts.dynamodb_read_units))
    rows.append(row("DynamoDB write requests", figures.dynamodb_write_requests))
    rows.append(row("  write request units", figures.counts.dynamodb_write_units))
    for kind, (writes, _, _, units) in figures.writes_by_kind.items():
        rows.append(row(f"  {kind}: items written", writes))
        rows.append(row(f"  {kind}: units", units))
    for category, billed in sorted(figures.sqs.items()):
        rows.append(row(f"SQS requests: {category}", billed))
    rows.append(row("SQS requests (billed, all)", figures.counts.sqs_requests))
    rows.append(row("Step Functions executions started", run.executions))
    for journey, n in figures.run.executions_by_journey.most_common():
        rows.append(row(f"  for {journey}", n))
    rows.append(row("Step Functions state transitions", figures.counts.sfn_transitions))
    for channel, n in figures.sends.items():
        rows.append(row(f"Messages sent: {channel}", n))
    for status, n in sorted(figures.held_back.items()):
        rows.append(row(f"Messages {status} (not sent)", n))
    for call, n in figures.other_calls.items():
        rows.append(row(f"Other calls: {call}", n))
    return rows


def cost_rows(counts: Counts) -> list[tuple[str, str, str, str]]:
    """Per service: quantity per 1M events, unit price, USD per 1M events."""
    scale = per_million(counts)
    costs = engine_costs(counts)
    rows = []
    for label, quantity, price in ENGINE_LINES:
        p = PRICES[price]
        rows.append(
            (
                label,
                _n(getattr(counts, quantity) * scale, 0),
                f"${_amount(p.usd)} per {p.per:,} {p.unit}",
                _usd(costs[label] * scale),
            )
        )
    return rows


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> list[str]:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
        # an indented label is a detail of the row above it
        return lines + ["| " + " | ".join(re.sub(r"^  ", "↳ ", cell) for cell in row) + " |" for row in rows]
    widths = [max([len(headers[i])] + [len(row[i]) for row in rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(headers), line(["-" * w for w in widths])] + [line(row) for row in rows]


def render(report: Report, markdown: bool) -> list[str]:
    """The report's figures as text (stdout) or as the body of docs/PERFORMANCE.md."""
    figures = report.pipeline
    run = figures.run
    counts = figures.counts
    heading = (lambda text: ["", f"## {text}", ""]) if markdown else (lambda text: ["", text, "=" * len(text)])
    out: list[str] = []
    span = (run.virtual_end - run.virtual_start).total_seconds() / 86400
    out += [
        f"{run.customers} customers x {run.days} days (seed {run.seed}), shop config {report.config}: "
        f"{run.ingested:,} events ingested in {run.requests:,} requests ({run.rejected} refused) from "
        f"{run.distinct_customers:,} distinct customers; virtual time {run.virtual_start:%Y-%m-%d} → "
        f"{run.virtual_end:%Y-%m-%d} ({span:.1f} days, until nothing was pending); wall {run.wall_seconds:.0f} s.",
    ]
    out += heading("Per ingested event")
    out += _table(("", "per event", "per 1M events"), usage_rows(figures), markdown)
    out += heading("Item sizes behind DynamoDB write units")
    size_rows = [
        (kind, f"{writes:,}", f"{mean:,.0f} B", f"{largest:,} B", _n(units / writes, 2))
        for kind, (writes, mean, largest, units) in figures.writes_by_kind.items()
    ]
    out += _table(("item", "items written", "mean size", "max size", "units per item"), size_rows, markdown)
    out += heading("Lambda invocations and duration")
    function_rows = [
        (
            f.name,
            f"{f.memory_mb}",
            f"{f.invocations:,}",
            f"{f.measured_ms:.1f}",
            f"{f.compute_ms:.1f}",
            f"{f.modelled_ms:.1f}",
            _n(f.gb_seconds * per_million(counts), 0),
        )
        for f in figures.functions
    ]
    out += _table(
        (
            "function",
            "MB",
            "invocations",
            "ms in emulator",
            "ms own compute",
            "ms modelled (billed)",
            "GB-s per 1M events",
        ),
        function_rows,
        markdown,
    )
    out += heading("AWS list price per 1M events")
    cost = cost_rows(counts)
    engine = engine_cost_per_million(counts)
    cost.append(("Engine total", "", "", _usd(engine)))
    emails = email_cost_per_million(counts)
    cost.append(
        (
            "SES emails (delivery; not in the engine total)",
            _n(counts.emails * per_million(counts), 0),
            "$0.1 per 1,000 email",
            _usd(emails),
        )
    )
    out += _table(("service", "quantity per 1M events", "list price", "USD per 1M events"), cost, markdown)
    endpoints_per_million = counts.endpoint_months * per_million(counts)
    pinpoint = pinpoint_cost_per_million(counts)
    targeted = run.targeted_customers * max(1, math.ceil(run.days / 30)) * per_million(counts)
    pinpoint_targeted = 1.0 + targeted * PRICES["pinpoint_endpoint_month"].each
    out += [
        "",
        f"Amazon Pinpoint for the same volume: $1.00 for 1M events + {endpoints_per_million:,.0f} endpoint-months "
        f"(the run's {run.distinct_customers:,} distinct customers per {counts.events:,} events) x $0.0012 = "
        f"{_usd(pinpoint)} per 1M events; counting only the customers nudge sent a message to "
        f"({run.targeted_customers:,}): {_usd(pinpoint_targeted)}. nudge's engine: {_usd(engine)}.",
        f"Not in the total: CloudWatch Logs, {figures.log_bytes / counts.events:,.0f} B per event at INFO (the "
        f"functions' lines, measured, + ~{PLATFORM_LOG_BYTES} B of Lambda's per invocation) ≈ "
        f"{_usd(figures.log_bytes * per_million(counts) / 1e9 * CLOUDWATCH_LOGS_PER_GB)} per 1M events at $0.50/GB "
        f"(not a conventions.md price); X-Ray traces; SMS, WhatsApp and push delivery (priced per destination).",
    ]
    if report.core is not None:
        core = report.core
        out += heading("Pure decision core")
        out += [
            f"`decide` over {core.events:,} events of {core.customers:,} customers, in time order, one process, "
            f"no I/O: **{core.events_per_second:,.0f} events/s** ({core.timers_armed:,} timers armed), called as "
            f"the updater calls it (the state handed over, `owned=True`). A caller that keeps its state gets a copy "
            f"first, which would add {core.copy_share:.0%} to that time (measured apart). With the state's JSON "
            f"round trip the updater adds (load + save): {core.roundtrip_events_per_second:,.0f} events/s."
        ]
    if report.imports is not None:
        imports = report.imports
        out += heading("Cold import of each handler")
        rows = [("boto3 (bare)", f"{imports.boto3_ms:.0f}", "1.00")]
        rows += [(name, f"{ms:.0f}", f"{imports.ratio(name):.2f}") for name, ms in sorted(imports.handlers.items())]
        out += _table(("module", f"ms (median of {imports.runs})", "x boto3"), rows, markdown)
        worst = imports.worst[0]
        heavy = ", ".join(f"{name} {ms:.0f} ms" for name, ms in imports.heaviest)
        out += ["", f"Own import time by package in {worst} (`-X importtime`): {heavy}."]
    if report.batch is not None:
        from infra.bench_batch import render_batch

        out += heading(f"One {report.batch.events:,}-event batch")
        out += render_batch(report.batch)
    out += heading("Targets")
    values = report.target_values()
    target_rows = []
    for target in TARGETS:
        value = values[target.key]
        shown = "not measured" if value is None else _n(value, 3 if value < 100 else 0)
        verdict = "—" if value is None else ("met" if target.met(value) else "missed")
        bound = f"{'≤' if target.at_most else '≥'} {_n(target.limit, 2)}"
        target_rows.append((target.label, bound, shown, verdict))
    out += _table(("target", "goal", "measured", "verdict"), target_rows, markdown)
    return out


def markdown_document(report: Report, previous: str | None) -> str:
    """docs/PERFORMANCE.md: the figures, how they were made, and the hand-kept sections of ``previous``."""
    kept = _sections(previous or "")
    lines = [
        "# Performance and cost",
        "",
        f"Produced by `{report.command}` on {report.generated} ({report.machine}). Every figure below is from that "
        "run. Rerunning it rewrites the figures and keeps the sections written by hand at the end as they are.",
        "",
        *render(report, markdown=True),
        "",
        "## What is counted",
        "",
        *_COUNTING_NOTES,
    ]
    for title in PRESERVED_SECTIONS:
        lines += ["", f"## {title}", "", kept.get(title, _DEFAULT_SECTIONS[title]).strip()]
    for title, body in kept.items():
        if title not in PRESERVED_SECTIONS and title in _HAND_KEPT:
            lines += ["", f"## {title}", "", body.strip()]
    return "\n".join(lines).rstrip() + "\n"


# Sections a person writes into docs/PERFORMANCE.md; a rerun keeps them as they are.
_HAND_KEPT = ("Where targets are missed, and what it would take",)

_COUNTING_NOTES = [
    "- **Events** are the Segment messages ingest accepted (client retries included: they cost a request too).",
    "- **AWS calls** are counted by a botocore hook on every client the functions use (DynamoDB, SQS, Step Functions,",
    "  SES v2, SNS, End User Messaging SMS and Social, Secrets Manager), per function. Calls of the harness",
    "  (provisioning, reading the send ledger for the report) are not counted.",
    "- **DynamoDB units**: a write costs one unit per started KB of the larger of the item before and after it (read",
    "  from the emulator's copy of the item around each write, so `UpdateItem`s of the send ledger are sized exactly;",
    "  two per KB in a transaction; a failed conditional write still costs its item's size). A read costs one unit per",
    "  started 4 KB, half if eventually consistent.",
    "- **SQS**: every request a function makes, plus those Lambda's event source mapping makes for it",
    "  (`ReceiveMessage` per batch, `DeleteMessageBatch` per settled batch): AWS bills them to the account as SQS",
    "  requests (empty receives of idle polling too; those are a fixed monthly amount per queue, not per event, and",
    "  not in these figures). Each started 64 KB of a request's payload is one billed request. conventions.md lists",
    "  only the FIFO price ($0.50 per million), which is applied to the outbox (standard queue) too.",
    "- **Step Functions**: the emulation replaces the timer state machine with virtual timers, so each armed timer",
    "  counts as one `StartExecution` (a name is started once, as Step Functions does) and each fired one adds the",
    "  SQS `SendMessage` of the state machine's Task. State transitions per execution: the happy path of",
    "  `infra/statemachines/timer.asl.json` (Wait, Task) plus the execution's start and end = 4. If only the states",
    "  entered are billed (2), that line halves.",
    "- **Lambda**: invocations are the batches each function was invoked with. Duration is modelled: the handler's",
    "  own compute (wall time in the handler minus time in AWS calls, measured here) x 1,769 MB / the function's",
    "  memory (Lambda's CPU share; this machine's core is taken as one vCPU), plus an assumed latency per AWS call",
    "  (DynamoDB 5 ms, SQS 8 ms, Step Functions 15 ms, SES 40 ms, SNS 20 ms, SMS 40 ms, WhatsApp 60 ms, Secrets",
    "  Manager 15 ms), + 0.5 ms rounding per invocation. The emulator's own times are shown for comparison.",
    "- **API Gateway**: one request per ingest call. The generated traffic posts each message alone, as analytics.js",
    "  does by default (messages at the same instant share a `/v1/batch`); the mobile SDKs batch (20 a request by",
    "  default), which the generator does not model, so app traffic costs a little less than shown.",
    "- **Endpoints** (Pinpoint comparison): the distinct customers of the run (user ids, and anonymous ids never",
    "  joined to one), one endpoint-month each per 30 days of traffic.",
    "- The run starts on an empty nudge, so every member's first login starts a welcome journey; the executions per",
    "  journey show how much of the figure that is.",
    "- **One batch**: 2,500 track events of 250 customers in one `/v1/batch`, through the ingest handler of a local",
    "  stack without pollers, after one warm-up call. Compute is the handler's wall time while no AWS call was in",
    "  flight. The AWS model takes the busiest lane's `SendMessageBatch` calls one after the other at an assumed",
    "  30 ms each (the other lanes run meanwhile); `--batch-events 0` skips it.",
]

_DEFAULT_SECTIONS = {
    "How to reproduce": "\n".join(
        [
            "```",
            "make bench                      # = TZ=UTC .venv/bin/nudge bench (200 customers x 30 days, fixed seed)",
            "TZ=UTC .venv/bin/nudge bench --customers 1000 --days 30 --seed 7 --no-markdown",
            "```",
            "",
            "`--customers`, `--days` and `--seed` shape the synthetic shop (`infra/bench_shop.py`); `--config` picks",
            "the shop configuration (journeys, channels); `--import-runs 0` and `--core-customers 0` skip those",
            "measurements; `--markdown PATH` writes the report elsewhere, `--no-markdown` not at all. The same",
            "arguments give the same counts; times vary with the machine.",
        ]
    ),
}


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    matches = list(re.finditer(r"^## (.+)$", text, flags=re.MULTILINE))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        sections[match.group(1).strip()] = text[match.end() : end].strip("\n")
    return sections


# ---------------------------------------------------------------- the command


@contextmanager
def _stage(message: str, err: IO[str]) -> Iterator[None]:
    started = time.perf_counter()
    err.write(f"bench: {message} ...\n")
    err.flush()
    yield
    err.write(f"bench: {message}: {time.perf_counter() - started:.1f} s\n")
    err.flush()


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces ``args`` (defaults left out)."""
    parts = ["TZ=UTC .venv/bin/nudge bench"]
    defaults = {
        "customers": 200,
        "days": 30,
        "seed": bench_shop.SEED,
        "import_runs": 5,
        "core_customers": 1000,
        "batch_events": 2500,
    }
    for name, default in defaults.items():
        value = getattr(args, name, default)
        if value != default:
            parts.append(f"--{name.replace('_', '-')} {value}")
    if Path(args.config).resolve() != DEFAULT_CONFIG:
        parts.append(f"--config {args.config}")
    return " ".join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``nudge bench``'s options."""
    parser.add_argument("--customers", type=int, default=200, help="shoppers in the synthetic shop (default 200)")
    parser.add_argument("--days", type=int, default=30, help="days of traffic (default 30)")
    parser.add_argument("--seed", type=int, default=bench_shop.SEED, help="random seed (default fixed)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="shop config YAML (default: the demo shop)")
    parser.add_argument("--import-runs", type=int, default=5, help="fresh interpreters per handler (0: skip)")
    parser.add_argument(
        "--core-customers", type=int, default=1000, help="customers in the decision-core measurement (0: skip)"
    )
    parser.add_argument("--batch-events", type=int, default=2500, help="events in the one-batch measurement (0: skip)")
    parser.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN, help="where to write the report")
    parser.add_argument("--no-markdown", action="store_true", help="print only")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON")


def run_cli(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """``nudge bench``: measure, print the tables, write docs/PERFORMANCE.md."""
    from infra.admin import load_config

    out, err = out or sys.stdout, err or sys.stderr
    if args.customers < 1 or args.days < 1:
        print("bench: --customers and --days must be at least 1", file=err)
        return 2
    config = load_config(args.config)
    with _stage(f"pipeline: {args.customers} customers x {args.days} days through the real handlers", err):
        run = run_pipeline(config, args.customers, args.days, args.seed, progress=lambda line: print(line, file=err))
    pipeline = figures_of(run)
    core = None
    if args.core_customers > 0:
        with _stage(f"decision core: {args.core_customers} customers in memory", err):
            events = core_events(args.core_customers, args.days, args.seed + 1, config.shop.id)
            core = core_throughput(config, events)
    imports = None
    if args.import_runs > 0:
        with _stage(f"cold imports: {args.import_runs} fresh interpreters per handler", err):
            imports = import_times(args.import_runs)
    batch = None
    if getattr(args, "batch_events", 0) > 0:
        from infra.bench_batch import measure_batch

        with _stage(f"one batch: {args.batch_events} events through the ingest handler on the local stack", err):
            batch = measure_batch(config, args.batch_events)
    config_name = (
        str(Path(args.config).resolve().relative_to(ROOT))
        if Path(args.config).resolve().is_relative_to(ROOT)
        else str(args.config)
    )
    report = Report(command_line(args), config_name, pipeline, core, imports, batch)
    out.write("\n".join(render(report, markdown=False)) + "\n")
    out.flush()
    if not args.no_markdown:
        path = Path(args.markdown)
        previous = path.read_text(encoding="utf-8") if path.exists() else None
        path.write_text(markdown_document(report, previous), encoding="utf-8")
        print(f"bench: wrote {path}", file=err)
    if args.json:
        Path(args.json).write_text(json.dumps(raw_figures(report), indent=2, default=str) + "\n", encoding="utf-8")
    return 0


def raw_figures(report: Report) -> dict[str, Any]:
    """The report's numbers, for tests and tooling."""
    figures = report.pipeline
    counts = figures.counts
    return {
        "events": counts.events,
        "requests": figures.run.requests,
        "distinct_customers": figures.run.distinct_customers,
        "counts": {name: getattr(counts, name) for name in Counts.__dataclass_fields__},
        "dynamodb_read_requests": figures.dynamodb_read_requests,
        "dynamodb_write_requests": figures.dynamodb_write_requests,
        "executions": figures.run.executions,
        "executions_by_journey": dict(figures.run.executions_by_journey),
        "transitions_per_execution": figures.run.transitions_per_execution,
        "sqs": figures.sqs,
        "sends": figures.sends,
        "held_back": figures.held_back,
        "provider_calls": figures.provider_calls,
        "lambda": {f.name: {"invocations": f.invocations, "modelled_ms": f.modelled_ms} for f in figures.functions},
        "engine_cost_per_million": engine_cost_per_million(counts),
        "pinpoint_cost_per_million": pinpoint_cost_per_million(counts),
        "targets": report.target_values(),
        "batch": None
        if report.batch is None
        else {
            "events": report.batch.events,
            "status": report.batch.status,
            "wall_ms": report.batch.wall_ms,
            "send_calls": report.batch.send_calls,
            "lanes": report.batch.lanes,
            "modelled_ms": report.batch.modelled_ms,
            "timeout_s": report.batch.timeout_s,
        },
    }
