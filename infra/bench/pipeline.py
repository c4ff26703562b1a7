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
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from unittest import mock

from infra.bench import shop
from infra.bench.pricing import (
    CALL_LATENCY_MS,
    FAN_OUT_ASL,
    LAMBDA_FULL_CPU_MB,
    METERED_SERVICES,
    PLATFORM_LOG_BYTES,
    TIMER_ASL,
    Counts,
    endpoint_months,
    fan_out_transitions,
    timer_transitions,
)
from infra.metering import READ_OPERATIONS, WRITE_OPERATIONS, ApiCallMeter, ReadRequest, WrittenItem

if TYPE_CHECKING:  # the emulator and the models load when a measurement runs, not with the `nudge` command
    from infra.simulate import Answer, HistoryMessage, MotoStage, Outcome, VirtualTimers
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
        self.fan_out_jobs: dict[str, tuple[str, int]] = {}  # fan-out execution name -> (kind, parts)
        self.fan_out_pages: Counter[str] = Counter()  # kind -> pages the fan-out function was asked for
        self.told: Counter[str] = Counter()  # a fan-out's event (Back In Stock, Price Dropped) -> customers told
        self.told_saved = 0  # of those, the updater's decisions that changed the customer's state
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
            invoke = runtime.invoke
            if runtime.spec.logical_id == FAN_OUT_FUNCTION:
                invoke = self._paging(invoke)
            runtime.invoke = self._timed(invoke, usage)  # type: ignore[method-assign]
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
        from shared.models.segment_events import SegmentEvent
        from shared.service import updater

        outcomes = self.wake_ups

        def noted(state: Any, event: Any, *args: Any, **kwargs: Any) -> Any:
            decision = decide(state, event, *args, **kwargs)
            if isinstance(event, SegmentEvent) and (name := getattr(event.message, "event", None)) in TOLD_EVENTS:
                self.told[name] += 1
                self.told_saved += decision.state is not None
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

    def _paging(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """The fan-out function's handler, also noting the pages it is asked for (one per record) and their jobs."""

        def paging(event: Any) -> Any:
            for record in event.get("Records", []):
                job = json.loads(record["body"])["job"]
                self.fan_out_jobs.setdefault(job["fan_out_id"], (job["kind"], int(job.get("parts", 1))))
                self.fan_out_pages[job["kind"]] += 1
            return handler(event)

        return paging

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
class CatalogueRun:
    """What the shop's catalogue did in one run: its uploads and what the API answered, the shoppers' events that
    can put them on a waiting list, and the fan-outs (restocks, price drop sweeps) the uploads started."""

    requests: int = 0  # POST /v1/catalog lines of the history
    stored: int = 0  # of them, answered 200 (stored)
    products: Counter[str] = field(default_factory=Counter)  # received, created, updated, unchanged: summed
    changes: Counter[str] = field(default_factory=Counter)  # field -> changes the engine acts on
    asks: Counter[str] = field(default_factory=Counter)  # event -> the traffic's events that may list a waiter
    fan_outs: Counter[str] = field(default_factory=Counter)  # kind -> executions of the fan-out machine
    fan_out_parts: int = 0
    fan_out_pages: Counter[str] = field(default_factory=Counter)  # kind -> pages (a fan-out invocation each)
    fan_out_transitions: int = 0  # state transitions of all its executions (fan_out_transitions)
    told: Counter[str] = field(default_factory=Counter)  # Back In Stock / Price Dropped -> customers told
    told_saved: int = 0  # of those events, the updater's decisions that changed the customer's state


# The shoppers' events that can put them on a product's waiting list (a cart add only while out of stock).
ASKS = ("Back In Stock Requested", "Product Added to Wishlist", "Product Added", "Wishlist Product Added to Cart")
TOLD_EVENTS = ("Back In Stock", "Price Dropped")  # what a fan-out tells each customer, in their FIFO group
FAN_OUT_FUNCTION = "FanOutFunction"
UPLOAD_OUTCOMES = ("created", "updated", "unchanged")  # what POST /v1/catalog answers for each product
CATALOGUE_FUNCTION = "CustomerApiFunction"  # POST /v1/catalog
UPDATER_FUNCTION = "StateUpdaterFunction"
UPDATER_SHARE = "waiting lists in the state updater"  # the catalogue's part in the updater (catalogue_shares)


@dataclass
class PipelineRun:
    """What one metered simulation produced. ``events``, ``requests`` and ``rejected`` are the Segment messages
    and their ingest requests; the catalogue's requests are in ``catalogue``."""

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
    sent_by_journey: Counter[str] = field(default_factory=Counter)
    held_by_journey: Counter[str] = field(default_factory=Counter)  # messages decided but not sent
    catalogue: CatalogueRun = field(default_factory=CatalogueRun)

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
    config: ShopConfig,
    customers: int,
    days: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
    catalogue: bool = True,
) -> PipelineRun:
    """Generate the shop's traffic and replay it, metered, through the real handlers (moto in this process); with
    ``catalogue``, the shop's catalogue feed and nightly syncs too (``shop.history``)."""
    from infra.simulate import Simulation

    bodies = shop.history(customers, days, seed, catalogue=catalogue)
    messages = shop.messages_of(bodies)
    targeted: set[str] = set()
    outcomes: Counter[tuple[str, str]] = Counter()
    sent_by_journey: Counter[str] = Counter()
    held_by_journey: Counter[str] = Counter()
    uploads = CatalogueRun(requests=sum(1 for body in bodies if body.get("type") == shop.CATALOG_LINE))
    uploads.asks.update(m["event"] for m in messages if m.get("event") in ASKS)

    def report(outcome: Outcome) -> None:
        outcomes[(outcome.channel or "-", outcome.status)] += 1
        if outcome.status == "sent":
            targeted.add(outcome.customer)
            sent_by_journey[outcome.journey] += 1
        else:
            held_by_journey[outcome.journey] += 1

    def answered(answer: Answer) -> None:
        if answer.request != shop.CATALOG_LINE:
            return
        uploads.stored += 1
        uploads.products.update({name: int(answer.body[name]) for name in ("received", *UPLOAD_OUTCOMES)})
        uploads.changes.update(str(change["field"]) for change in answer.body["changes"])

    probe = Probe()
    timers, by_journey, by_size = journey_timers()
    simulation = Simulation(
        config,
        history_of(bodies),
        report,
        warn=progress or (lambda line: None),
        instrument=probe,
        emulator="moto",
        answered=answered,
    )
    simulation.timers = timers
    try:
        summary = simulation.run()
    finally:
        probe.close()
    asl = json.loads(TIMER_ASL.read_text(encoding="utf-8"))
    assert summary.start is not None and summary.end is not None
    for kind, parts in probe.fan_out_jobs.values():
        uploads.fan_outs[kind] += 1
        uploads.fan_out_parts += parts
    uploads.fan_out_pages = probe.fan_out_pages
    uploads.fan_out_transitions = fan_out_transitions(
        json.loads(FAN_OUT_ASL.read_text(encoding="utf-8")),
        len(probe.fan_out_jobs),
        uploads.fan_out_parts,
        sum(probe.fan_out_pages.values()),
    )
    uploads.told, uploads.told_saved = probe.told, probe.told_saved
    return PipelineRun(
        customers=customers,
        days=days,
        seed=seed,
        events=summary.events - uploads.requests,  # the history's Segment messages
        requests=summary.requests - uploads.requests,  # ingest's
        rejected=summary.rejected - (uploads.requests - uploads.stored),
        distinct_customers=shop.distinct_customers(messages),
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
        sent_by_journey=sent_by_journey,
        held_by_journey=held_by_journey,
        catalogue=uploads,
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
    catalogue: list[CatalogueShare] = field(default_factory=list)  # what the catalogue adds, part by part
    catalogue_items: Counter[str] = field(default_factory=Counter)  # products, waits written, waits deleted

    @property
    def catalogue_write_requests(self) -> int:
        """The catalogue's own DynamoDB write requests: products, waiting lists written and deleted."""
        return sum(share.write_requests for share in self.catalogue)


@dataclass
class CatalogueShare:
    """One part of what the catalogue adds to a run: its AWS requests, and its billable quantities (``counts``,
    over the run's ingested events, for the cost per 1M events)."""

    label: str
    write_requests: int
    read_requests: int
    counts: Counts

    @property
    def sqs_requests(self) -> int:
        return self.counts.sqs_requests

    @property
    def lambda_invocations(self) -> int:
        return self.counts.lambda_invocations

    @property
    def transitions(self) -> int:
        return self.counts.fan_out_transitions


_WRITE_KINDS: dict[tuple[str | None, str], str] = {
    ("StateUpdaterFunction", "PutItem"): "customer state (updater PutItem)",
    ("StateUpdaterFunction", "TransactWriteItems"): "customer state + merged record (updater transaction)",
    ("ChannelRouterFunction", "UpdateItem"): "send ledger (router UpdateItem)",
    ("ChannelRouterFunction", "PutItem"): "in-app inbox (router PutItem)",
}
OFFER_CODE_WRITES = "offer code handed out (router PutItem)"  # the item checkout validates the code against
PHONE_INDEX_WRITES = "phone index (router UpdateItem)"  # who is texted at a number: inbound replies name no shop
CHURN_WRITES = "churn counters (updater UpdateItem)"  # a month's buyers, revenue, who came back (the churn report)
REPORT_WRITES = "report counters ({function} UpdateItem)"  # the journey report's daily rows (shared.adapters.reports)
ENGAGEMENT_WRITES = "send ledger engagement and credits (updater UpdateItem)"  # opens, clicks, orders credited
# Items of the catalogue in the customers table, told apart by their partition key (shared/adapters/catalog.py).
_CATALOGUE_WRITE_KINDS = {
    ("product", False): "product (catalogue PutItem)",
    ("waiting", False): "waiting list (updater PutItem)",
    ("waiting", True): "waiting list, deleted (fan-out BatchWriteItem)",
}


def item_kind(pk: str) -> str:
    """What an item of the customers table is, by its partition key: a ``product``, a ``waiting`` list entry, or
    ``customer`` (a customer's state, send ledger, inbox: everything else)."""
    if "#product#" in pk:
        return "product"
    if "#waiting#" in pk:
        return "waiting"
    return "customer"


def write_kind(written: WrittenItem) -> str:
    """The row of the writes-by-kind breakdown an item written belongs to."""
    kind = item_kind(written.pk)
    if kind != "customer":
        scope = (written.scope or "harness").removesuffix("Function")
        verb = "deleted" if written.deleted else "written"
        return _CATALOGUE_WRITE_KINDS.get((kind, written.deleted), f"{kind} {verb} ({scope} {written.operation})")
    if "#offer#" in written.pk and (written.scope, written.operation) == ("ChannelRouterFunction", "PutItem"):
        return OFFER_CODE_WRITES
    if written.pk.startswith("phone#"):  # shared.adapters.phone_index.PHONE_PREFIX (not loaded with the command)
        return PHONE_INDEX_WRITES
    if written.pk.endswith("#churn"):  # shared.adapters.recommendations.churn_key
        return CHURN_WRITES
    if written.pk.endswith("#report"):  # shared.adapters.reports.report_pk
        return REPORT_WRITES.format(function=(written.scope or "harness").removesuffix("Function").lower())
    customer_item = "#u:" in written.pk or "#a:" in written.pk  # <shop>#<customer>: state, ledger, inbox
    if (written.scope, written.operation) == ("StateUpdaterFunction", "UpdateItem") and customer_item:
        return ENGAGEMENT_WRITES  # the only updates the updater makes to a customer's items: the send ledger's
    return _WRITE_KINDS.get((written.scope, written.operation), f"{written.scope} {written.operation}")


def _reads_products(read: ReadRequest) -> bool:
    return any(item_kind(pk) == "product" for pk in read.pks)


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
        kind = write_kind(written)
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
    catalogue = catalogue_shares(run, functions)
    catalogue_written = [w for w in meter.written if w.scope in function_scopes and item_kind(w.pk) != "customer"]
    counts = Counts(
        events=run.ingested,
        api_requests=run.requests + run.catalogue.requests,
        lambda_invocations=invocations,
        lambda_gb_seconds=gb_seconds_total,
        dynamodb_read_units=read_units,
        dynamodb_write_units=write_units,
        sqs_requests=sum(sqs.values()),
        sfn_transitions=run.transitions,
        timer_wake_ups=run.wake_ups,
        fan_out_transitions=run.catalogue.fan_out_transitions,
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
        catalogue=catalogue,
        catalogue_items=Counter(
            {
                "products written": sum(1 for w in catalogue_written if item_kind(w.pk) == "product"),
                "waits written": sum(1 for w in catalogue_written if item_kind(w.pk) == "waiting" and not w.deleted),
                "waits deleted": sum(1 for w in catalogue_written if item_kind(w.pk) == "waiting" and w.deleted),
            }
        ),
    )


def catalogue_shares(run: PipelineRun, functions: Sequence[FunctionFigures]) -> list[CatalogueShare]:
    """What the catalogue adds to the run, in three parts: its uploads (``POST /v1/catalog`` in the customer API),
    the waiting lists in the state updater (a wait written, the product read for a wishlist or cart add) and the
    fan-outs (the fan-out function, its queue's poller, the state machine). The events a fan-out tells customers
    then go through the updater like any event: they are in the run's other figures, counted in ``run.catalogue``.
    """
    meter = run.meter
    if not run.catalogue.requests and not any(item_kind(w.pk) != "customer" for w in meter.written):
        return []
    by_name = {f"{f.name}Function": f for f in functions}

    def lambda_of(logical_id: str) -> tuple[int, float]:
        figures = by_name.get(logical_id)
        return (figures.invocations, figures.gb_seconds) if figures is not None else (0, 0.0)

    def sqs_of(*scopes: str) -> int:
        return sum(billed for (scope, _), billed in meter.scoped_sqs_requests.items() if scope in scopes)

    def share(label: str, scope: str, **counts: Any) -> CatalogueShare:
        invocations, gb_seconds = lambda_of(scope)
        return CatalogueShare(
            label,
            meter.count("dynamodb", WRITE_OPERATIONS, frozenset({scope})),
            meter.count("dynamodb", READ_OPERATIONS, frozenset({scope})),
            Counts(
                events=run.ingested,
                lambda_invocations=invocations,
                lambda_gb_seconds=gb_seconds,
                dynamodb_read_units=meter.scoped_read_units[scope],
                dynamodb_write_units=meter.scoped_write_units[scope],
                **counts,
            ),
        )

    uploads = share("catalogue uploads (customer API)", CATALOGUE_FUNCTION, api_requests=run.catalogue.requests)
    fan_outs = share(
        "fan-outs (fan-out function, its queue, the state machine)",
        FAN_OUT_FUNCTION,
        # the machine's page requests: the first ones sent from the upload that started it (its only SQS call)
        sqs_requests=sqs_of(CATALOGUE_FUNCTION, FAN_OUT_FUNCTION, f"esm:{FAN_OUT_FUNCTION}"),
        fan_out_transitions=run.catalogue.fan_out_transitions,
    )
    # The updater's part rides on invocations the events make anyway: its calls' modelled latency is its duration.
    waits = [w for w in meter.written if w.scope == UPDATER_FUNCTION and item_kind(w.pk) == "waiting"]
    reads = [r for r in meter.reads if r.scope == UPDATER_FUNCTION and _reads_products(r)]
    memory = run.functions[UPDATER_FUNCTION].memory_mb if UPDATER_FUNCTION in run.functions else 0
    latency_ms = (len(waits) + len(reads)) * CALL_LATENCY_MS["dynamodb"]
    updater = CatalogueShare(
        UPDATER_SHARE,
        len(waits),  # a PutItem each
        len(reads),
        Counts(
            events=run.ingested,
            lambda_gb_seconds=latency_ms / 1000 * memory / 1024,
            dynamodb_read_units=sum(r.units for r in reads),
            dynamodb_write_units=sum(w.units for w in waits),
        ),
    )
    return [uploads, updater, fan_outs]


def _sqs_category(scope: str | None, operation: str, function_scopes: frozenset[str]) -> str | None:
    """Which SQS line a call belongs to; None for calls AWS would not bill (harness, emulated SNS delivery)."""
    if scope in (CATALOGUE_FUNCTION, FAN_OUT_FUNCTION) and operation == "SendMessage":
        # simulate's fan-out machine asks for each page from the function that started it or answered a page
        return "state machine → fan-out queue (SendMessage)"
    if scope in function_scopes:
        return f"{scope.removesuffix('Function')} ({operation})"
    if scope is not None and scope.startswith("esm:"):
        return f"Lambda poller for {scope[4:].removesuffix('Function')} ({operation})"
    return None
