"""``nudge bench``: the report, as text tables and as ``docs/PERFORMANCE.md``."""

from __future__ import annotations

import math
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from infra.bench import shop
from infra.bench.backtest import BacktestFigures
from infra.bench.core import CoreFigures
from infra.bench.imports import MODE_LABELS, MODES, ImportFigures
from infra.bench.pipeline import UPDATER_SHARE, PipelineFigures
from infra.bench.pricing import (
    CLOUDWATCH_LOGS_PER_GB,
    ENGINE_LINES,
    PLATFORM_LOG_BYTES,
    PRESERVED_SECTIONS,
    PRICES,
    TARGETS,
    Counts,
    email_cost_per_million,
    engine_cost_per_million,
    engine_costs,
    per_million,
    pinpoint_cost_per_million,
    scheduler_engine_cost_per_million,
    timer_cost_per_million,
)

if TYPE_CHECKING:  # the emulator and the models load when a measurement runs, not with the `nudge` command
    from infra.bench.batch import BatchFigures
    from infra.bench.clicks import ClickFigures
    from infra.bench.decide import DecideFigures
    from infra.bench.inbox import InboxFigures


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
    backtest: BacktestFigures | None = None
    decide: DecideFigures | None = None
    inbox: InboxFigures | None = None
    clicks: ClickFigures | None = None
    machine: str = field(
        default_factory=lambda: f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    generated: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d"))

    def target_values(self) -> dict[str, float | None]:
        figures = self.pipeline
        events = figures.counts.events or 1
        writes = figures.dynamodb_write_requests
        executions = figures.run.executions + sum(figures.run.catalogue.fan_outs.values())
        return {
            "dynamodb_writes_per_event": (writes - figures.catalogue_write_requests) / events,
            "dynamodb_writes_with_catalogue": writes / events,
            "executions_per_event": executions / events,
            "cost_per_million": engine_cost_per_million(figures.counts),
            "import_ratio": self.imports.worst[2] if self.imports else None,
            "core_events_per_second": self.core.events_per_second if self.core else None,
            "backtest_events_per_second": self.backtest.events_per_second if self.backtest else None,
            "inbox_p99_ms": self.inbox.p99_ms if self.inbox else None,
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
    catalogue = run.catalogue
    rows: list[Row] = [row("API Gateway requests (ingest)", run.requests)]
    if catalogue.requests:
        rows.append(row("API Gateway requests (catalogue uploads)", catalogue.requests))
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
    rows.append(row("Step Functions executions started: timers", run.executions))
    for journey, n in figures.run.executions_by_journey.most_common():
        rows.append(row(f"  for {journey}", n))
    for size, n in sorted(figures.run.executions_by_wake_ups.items()):
        rows.append(row(f"  carrying {size} wake-up{'s' if size > 1 else ''}", n))
    rows.append(row("Timer wake-ups (Wait, then SendMessage)", run.wake_ups))
    for outcome, n in run.wake_up_outcomes.most_common():
        rows.append(row(f"  {outcome}", n))
    rows.append(row("Step Functions state transitions: timers", figures.counts.sfn_transitions))
    if catalogue.fan_outs:
        rows.append(row("Step Functions executions started: fan-outs", sum(catalogue.fan_outs.values())))
        for kind, n in catalogue.fan_outs.most_common():
            rows.append(row(f"  {_FAN_OUT_KINDS.get(kind, kind)}", n))
        rows.append(row("Fan-out pages (a FanOut invocation each)", sum(catalogue.fan_out_pages.values())))
        rows.append(row("Step Functions state transitions: fan-outs", figures.counts.fan_out_transitions))
    for event, n in catalogue.told.most_common():
        rows.append(row(f"Customers told by a fan-out: {event}", n))
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


def timer_rows(figures: PipelineFigures) -> list[tuple[str, str, str, str, str]]:
    """The run's timers priced as Step Functions executions (as run) and as EventBridge Scheduler one-time schedules."""
    counts, run = figures.counts, figures.run
    scale = per_million(counts)
    sfn, scheduler = PRICES["sfn_transition"], PRICES["scheduler_invocation"]
    return [
        (
            f"Step Functions Standard: {run.executions:,} executions carrying {run.wake_ups:,} wake-ups (this run)",
            f"{_n(counts.sfn_transitions * scale, 0)} transitions",
            f"${_amount(sfn.usd)} per {sfn.per:,} {sfn.unit}",
            _usd(timer_cost_per_million(counts)),
            _usd(engine_cost_per_million(counts)),
        ),
        (
            "EventBridge Scheduler: a one-time schedule per wake-up",
            f"{_n(counts.timer_wake_ups * scale, 0)} invocations",
            f"${_amount(scheduler.usd)} per {scheduler.per:,} {scheduler.unit}",
            _usd(timer_cost_per_million(counts, scheduler=True)),
            _usd(scheduler_engine_cost_per_million(counts)),
        ),
    ]


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


@dataclass(frozen=True)
class Earlier:
    """What docs/PERFORMANCE.md held before a rerun: its sections by title, the run that wrote it ("`command` on
    date"), and its Targets rows (label -> measured, verdict)."""

    sections: dict[str, str]
    produced_by: str
    targets: dict[str, tuple[str, str]]

    @classmethod
    def of(cls, text: str) -> Earlier:
        sections = _sections(text)
        header = re.search(r"Produced by (`[^`]+` on \d{4}-\d{2}-\d{2})", text)
        targets = {}
        for line in sections.get("Targets", "").splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) == 4 and cells[0] not in ("target", "---"):
                targets[cells[0]] = (cells[2], cells[3])
        return cls(sections, header.group(1) if header else "an earlier run", targets)


# The measured sections a run may skip, by their titles: in docs/PERFORMANCE.md a skipped one keeps what it held.
_SKIPPABLE = {
    "core": r"Pure decision core",
    "imports": r"Cold import of each handler",
    "batch": r"One [\d,]+-event batch",
    "decide": r"Real-time offer decision",
    "inbox": r"Free-shipping nudge to the inbox",
    "clicks": r"Click redirect",
    "backtest": r"Backtest at .+ events",
}
_KEPT_NOTE = re.compile(r"\n*\*Kept from an earlier run \((.+?), unless the text above says otherwise\): .*\*\s*$")


def _kept_section(report: Report, earlier: Earlier | None, measurement: str) -> list[str]:
    """A measured section this run skipped, as the page held it, with a note of where its figures come from."""
    if earlier is None:
        return []
    for title, body in earlier.sections.items():
        if re.fullmatch(_SKIPPABLE[measurement], title):
            note = _KEPT_NOTE.search(body)
            origin = note.group(1) if note else earlier.produced_by
            body = body[: note.start()] if note else body
            return [
                "",
                f"## {title}",
                "",
                body.strip(),
                "",
                f"*Kept from an earlier run ({origin}, unless the text above says otherwise): the run of "
                f"{report.generated} skipped it.*",
            ]
    return []


def kept_measurements(report: Report, earlier: Earlier | None) -> list[str]:
    """The titles of the measured sections ``report`` skipped and the page keeps from ``earlier``."""
    skipped = [name for name in _SKIPPABLE if getattr(report, name) is None]
    return [
        title
        for name in skipped
        for title in (earlier.sections if earlier else {})
        if re.fullmatch(_SKIPPABLE[name], title)
    ]


def render(report: Report, markdown: bool, earlier: Earlier | None = None) -> list[str]:
    """The report's figures as text (stdout) or as the body of docs/PERFORMANCE.md; in the latter a section this
    run did not measure keeps what ``earlier`` (the page before) held, marked as kept."""
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
    out += heading("Timers: Step Functions or EventBridge Scheduler")
    out += _table(
        ("timers as", "quantity per 1M events", "list price", "timers, USD per 1M events", "engine total"),
        timer_rows(figures),
        markdown,
    )
    out += [
        "",
        "The same wake-ups as EventBridge Scheduler one-time schedules: one schedule per wake-up, invoked once, its "
        "target the events FIFO queue (the same `SendMessage`, already under SQS). conventions.md prices only the "
        "invocations. Not in the model: `CreateSchedule` calls in place of `StartExecution`; a FIFO target takes no "
        "deduplication id from the templated SQS target (the queue would need content-based deduplication, or the "
        "universal `sqs:sendMessage` target); schedule names of at most 64 characters (timer ids have up to 80); a "
        "one-time schedule left behind unless created with `ActionAfterCompletion: DELETE`.",
    ]
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
    if figures.catalogue:
        out += heading("What the catalogue adds")
        out += catalogue_lines(figures, markdown)
    if report.core is not None:
        core = report.core
        out += heading("Pure decision core")
        out += [
            f"`decide` over {core.events:,} events of {core.customers:,} customers, in time order, one process, "
            f"no I/O: **{core.events_per_second:,.0f} events/s** ({core.timers_armed:,} timer executions started), "
            f"called as the updater calls it (the state handed over, `owned=True`). A caller that keeps its state "
            f"gets a copy first, which would add {core.copy_share:.0%} to that time (measured apart). With the state's "
            f"JSON round trip the updater adds (load + save): {core.roundtrip_events_per_second:,.0f} events/s."
        ]
    elif markdown:
        out += _kept_section(report, earlier, "core")
    if report.imports is not None:
        imports = report.imports
        out += heading("Cold import of each handler")
        columns = [imports.columns[mode] for mode in MODES]
        rows = [("boto3 (bare)", *(cell for c in columns for cell in (f"{c.boto3_ms:,.0f}", "1.00")))]
        rows += [
            (name, *(cell for c in columns for cell in (f"{c.handlers[name]:,.0f}", f"{c.ratio(name):.2f}")))
            for name in sorted(columns[0].handlers)
        ]
        headers = [cell for mode in MODES for cell in (f"ms, {MODE_LABELS[mode]}", f"x boto3, {MODE_LABELS[mode]}")]
        out += _table(("module", *headers), rows, markdown)
        heavy = ", ".join(f"{name} {ms:.0f} ms" for name, ms in imports.heaviest)
        out += [
            "",
            f"Medians of {imports.runs} rounds; in each, every module imported by a fresh interpreter with the "
            f"bytecode compiled beforehand (.pyc) and from source (no .pyc: nothing cached, nothing written), one "
            f"after the other. Own import time by package in {imports.slowest}, with .pyc (`-X importtime`): "
            f"{heavy}.",
        ]
    elif markdown:
        out += _kept_section(report, earlier, "imports")
    if report.batch is not None:
        from infra.bench.batch import render_batch

        out += heading(f"One {report.batch.events:,}-event batch")
        out += render_batch(report.batch)
    elif markdown:
        out += _kept_section(report, earlier, "batch")
    if report.decide is not None:
        from infra.bench.decide import render_decide

        out += heading("Real-time offer decision")
        out += render_decide(report.decide)
    elif markdown:
        out += _kept_section(report, earlier, "decide")
    if report.inbox is not None:
        from infra.bench.inbox import render_inbox

        out += heading("Free-shipping nudge to the inbox")
        out += render_inbox(report.inbox)
    elif markdown:
        out += _kept_section(report, earlier, "inbox")
    if report.clicks is not None:
        from infra.bench.clicks import render_clicks

        out += heading("Click redirect")
        out += render_clicks(report.clicks)
    elif markdown:
        out += _kept_section(report, earlier, "clicks")
    if report.backtest is not None:
        out += heading(f"Backtest at {_events_label(report.backtest.events)} events")
        out += backtest_lines(report.backtest, markdown)
    elif markdown:
        out += _kept_section(report, earlier, "backtest")
    out += heading("Targets")
    values = report.target_values()
    target_rows = []
    for target in TARGETS:
        value = values[target.key]
        shown = "not measured" if value is None else _n(value, 3 if value < 100 else 0)
        verdict = "—" if value is None else ("met" if target.met(value) else "missed")
        kept = earlier.targets.get(target.label) if earlier is not None and markdown and value is None else None
        if kept is not None and kept[0] != "not measured":  # the earlier run's figure, from its kept section
            shown, verdict = f"{kept[0].removesuffix(' (kept)')} (kept)", kept[1]
        bound = f"{'≤' if target.at_most else '≥'} {_n(target.limit, 2)}"
        target_rows.append((target.label, bound, shown, verdict))
    out += _table(("target", "goal", "measured", "verdict"), target_rows, markdown)
    return out


_FAN_OUT_KINDS = {"restock": "restocks (J7)", "price_drop": "price drop sweeps"}
_CATALOGUE_JOURNEYS = ("back_in_stock", "price_drop")


def _sum_counts(parts: Sequence[Counts], events: int) -> Counts:
    """``parts`` added up, over ``events``."""
    fields = [name for name in Counts.__dataclass_fields__ if name != "events"]
    return Counts(events=events, **{name: sum(getattr(part, name) for part in parts) for name in fields})


def catalogue_lines(figures: PipelineFigures, markdown: bool) -> list[str]:
    """What the shop's catalogue added to the run: its uploads, the waiting lists, the fan-outs, per ingested event
    and in dollars per 1M events, beside the whole run."""
    run, catalogue, items = figures.run, figures.run.catalogue, figures.catalogue_items
    events = figures.counts.events or 1
    products = catalogue.products
    changes = ", ".join(f"{name} {n:,}" for name, n in sorted(catalogue.changes.items())) or "none"
    reads = sum(share.read_requests for share in figures.catalogue if share.label == UPDATER_SHARE)
    told = ", ".join(f"{event} {n:,}" for event, n in catalogue.told.most_common()) or "none"
    fan_outs = " and ".join(f"{n:,} {_FAN_OUT_KINDS.get(k, k)}" for k, n in catalogue.fan_outs.most_common())
    sent = "; ".join(
        f"{journey} {run.sent_by_journey.get(journey, 0):,} sent, {run.held_by_journey.get(journey, 0):,} held back"
        for journey in _CATALOGUE_JOURNEYS
    )
    asks = catalogue.asks
    lines = [
        f"The shop's catalogue feed (`infra/bench/shop.py`): its whole catalogue ({len(shop.CATALOGUE)} products) "
        f"before the first visit, then a sync of stock and prices every night: "
        f"{catalogue.requests:,} `POST /v1/catalog` requests ({catalogue.requests - catalogue.stored:,} refused) "
        f"carrying {products['received']:,} products, {products['created']:,} created, {products['updated']:,} "
        f"updated and {products['unchanged']:,} unchanged (not written): {items['products written']:,} product "
        f"writes; changes the engine acts on: {changes}. Shoppers who saw a product out of stock: "
        f"{asks['Back In Stock Requested']:,} asked to be told when it is back, {asks['Product Added to Wishlist']:,} "
        f"wishlisted it; with {asks['Product Added']:,} cart adds, the updater read the catalogue {reads:,} times "
        f"(is a wishlisted or carted product out of stock?) and wrote {items['waits written']:,} waiting-list items; "
        f"restocks deleted {items['waits deleted']:,}. Fan-outs: {fan_outs or 'none'} "
        f"({catalogue.fan_out_parts:,} parts), {sum(catalogue.fan_out_pages.values()):,} pages, "
        f"{sum(catalogue.told.values()):,} customers told ({told}), {catalogue.told_saved:,} of whose events changed "
        f"the customer's state; messages: {sent}.",
        "",
    ]
    whole = figures.counts
    total = _sum_counts([share.counts for share in figures.catalogue], whole.events)

    def cells(writes: int, reads: int, counts: Counts) -> tuple[str, ...]:
        return (
            _n(writes / events),
            _n(reads / events),
            _n(counts.sqs_requests / events),
            _n(counts.lambda_invocations / events),
            _n((counts.sfn_transitions + counts.fan_out_transitions) / events),
            _usd(engine_cost_per_million(counts)),
        )

    rows = [
        (share.label, *cells(share.write_requests, share.read_requests, share.counts)) for share in figures.catalogue
    ]
    own_writes = figures.catalogue_write_requests
    own_reads = sum(share.read_requests for share in figures.catalogue)
    rows.append(("the catalogue's own, all", *cells(own_writes, own_reads, total)))
    rows.append(
        (
            "the whole run (for comparison)",
            *cells(figures.dynamodb_write_requests, figures.dynamodb_read_requests, whole),
        )
    )
    lines += _table(
        (
            "per ingested event",
            "DynamoDB writes",
            "DynamoDB reads",
            "SQS requests",
            "Lambda invocations",
            "Step Functions transitions",
            "USD per 1M events",
        ),
        rows,
        markdown,
    )
    share_of_writes = own_writes / figures.dynamodb_write_requests if figures.dynamodb_write_requests else 0.0
    engine = engine_cost_per_million(whole)
    lines += [
        "",
        f"DynamoDB writes are requests (a `BatchWriteItem` of deletes is one); the dollars are the list prices above "
        f"applied to these parts' units, invocations, GB-seconds (the updater's part: its calls' modelled latency) and "
        f"requests. The catalogue's own writes are {share_of_writes:.1%} of the run's and it costs "
        f"{_usd(engine_cost_per_million(total))} of the engine's {_usd(engine)} per 1M events. Not in these rows: "
        f"the events a fan-out told customers and the messages they led to go through the updater and the router like "
        f"any event (an invocation, its SQS requests, a state write when it changes something): they are in the run's "
        f"figures above.",
    ]
    return lines


def _events_label(events: int) -> str:
    """``1 M`` for a million, ``2.5 M`` for 2,500,000, ``20,000`` below a million."""
    if events >= 1_000_000 and events % 100_000 == 0:
        return f"{events / 1_000_000:g} M"
    return f"{events:,}"


def backtest_lines(figures: BacktestFigures, markdown: bool) -> list[str]:
    """The backtest at scale: its speed, and its memory as the history went by."""
    outcomes = ", ".join(f"{n:,} {status}" for status, n in figures.outcomes.items()) or "no messages"
    lines = [
        f"`nudge simulate`'s engine (the real handlers on the in-memory adapters, in virtual time) over "
        f"{figures.events:,} events of {figures.shoppers:,} shoppers, month after month (seed {figures.seed}; made as "
        f"the replay reads them, never written), until nothing was pending: virtual time {figures.virtual_start[:10]} "
        f"→ {figures.virtual_end[:10]} ({figures.virtual_days:,.0f} days), {figures.requests:,} ingest requests, "
        f"{figures.timer_executions:,} timer executions, {outcomes}. One process, one core: "
        f"**{figures.events_per_second:,.0f} events/s** replaying ({figures.replay_seconds:,.0f} s; the run took "
        f"{figures.wall_seconds:,.0f} s in all, {figures.generate_seconds:,.0f} s of it making the traffic and "
        f"{figures.setup_seconds:.1f} s setting up). At the end the customers table held {figures.customers:,} records "
        f"and the send ledger {figures.ledger_entries:,} messages.",
        "",
    ]
    rows = [(f"{events:,}", f"{mb:,.0f} MB") for events, mb in figures.rss_mb]
    rows.append(("peak (high-water mark)", f"{figures.peak_rss_mb:,.0f} MB"))
    lines += _table(("events replayed", "resident set size"), rows, markdown)
    lines += [
        "",
        "Resident set size of the backtest's own process, read from the kernel as the history passed each quarter; "
        "the peak is the process's own high-water mark (Linux's `VmHWM`). What stays grows per customer (a record "
        "each), per message sent (its send ledger entry, and the id the report knows it by) and per timer execution "
        "started (its name, which "
        "Step Functions does not take twice), not per event: the history is read as it is replayed, due wake-ups "
        "are dropped, queue deduplication ids expire after five minutes.",
    ]
    return lines


def markdown_document(report: Report, previous: str | None) -> str:
    """docs/PERFORMANCE.md: the figures, how they were made, and the hand-kept sections of ``previous``. A
    measurement this run skipped keeps its section (and its Targets row) as ``previous`` had it, marked as kept."""
    kept = _sections(previous or "")
    earlier = Earlier.of(previous) if previous else None
    skipped = kept_measurements(report, earlier)
    provenance = (
        "Every figure below is from that run"
        if not skipped
        else "Every figure below is from that run, except in the sections it skipped, kept from an earlier run as "
        f"each says ({', '.join(skipped)}), and their Targets rows (marked kept)"
    )
    lines = [
        "# Performance and cost",
        "",
        f"Produced by `{report.command}` on {report.generated} ({report.machine}). {provenance}. Rerunning it "
        "rewrites the figures and keeps the sections written by hand at the end as they are.",
        "",
        *render(report, markdown=True, earlier=earlier),
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
_HAND_KEPT = ("Where targets are missed, and what it would take", "Campaigns at scale")

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
    "- **Step Functions**: the emulation replaces the timer state machine with virtual timers, so each execution",
    "  name started counts as one `StartExecution` (a name is started once, as Step Functions does), carrying its",
    "  wake-ups; each wake-up that comes due adds the SQS `SendMessage` of the state machine's Task. State",
    "  transitions per execution: the happy path of `infra/statemachines/timer.asl.json`, the Map state once, then",
    "  Wait and Task per wake-up, plus the execution's start and end = 3 + 2 per wake-up (5 for one, 7 for two, 9",
    "  for three). If only the states entered are billed, 2 less per execution. What each wake-up did is read from",
    "  the updater's decision of it in the run (one that found nothing to do saved nothing).",
    "- **EventBridge Scheduler** (modelled, not used): one one-time schedule per wake-up the executions carried, at",
    "  conventions.md's price per invocation, in place of the Step Functions line; everything else the same.",
    "- **Lambda**: invocations are the batches each function was invoked with. Duration is modelled: the handler's",
    "  own compute (wall time in the handler minus time in AWS calls, measured here) x 1,769 MB / the function's",
    "  memory (Lambda's CPU share; this machine's core is taken as one vCPU), plus an assumed latency per AWS call",
    "  (DynamoDB 5 ms, SQS 8 ms, Step Functions 15 ms, SES 40 ms, SNS 20 ms, SMS 40 ms, WhatsApp 60 ms, Secrets",
    "  Manager 15 ms), + 0.5 ms rounding per invocation. The emulator's own times are shown for comparison.",
    "- **API Gateway**: one request per ingest call and per catalogue upload. The generated traffic posts a",
    "  browser's message alone, as analytics.js does by default (messages at the same instant share a",
    "  `/v1/batch`), and an app's messages as analytics-swift and analytics-kotlin do by default: one `/v1/batch`",
    "  per flush, when 20 are queued or at the SDK's 30 s tick, each message keeping its own timestamp",
    "  (`infra/bench/shop.py`).",
    "- **The catalogue**: the shop posts its whole catalogue before the first visit and a sync every night at",
    "  02:00 UTC (units sold, a product sold out or back in stock, a sale of 15 to 20 % off and its end;",
    "  `infra/bench/shop.py`, `inventory`) through the real customer API (`POST /v1/catalog`, one API Gateway",
    "  request each, not an ingested event). A shopper who views a product while it is out of stock now and then",
    "  asks to be told when it is back or wishlists it (events of the traffic, from a random stream of their own:",
    "  `--no-catalogue` gives the same traffic without them or the feed). Restocks and price drops run on the real",
    "  fan-out function; its state machine is emulated in virtual time (`infra/memory/fan_out.py`), its page",
    "  requests (`SendMessage` to the fan-out queue) counted where simulate sends them (the upload that starts a",
    "  fan-out, the function answering a page). Transitions per execution: the happy path of",
    "  `infra/statemachines/fan_out.asl.json`: start, end and the Map once, and three per page (Task and Choice,",
    "  a Wait before every page of a part but the first, the part's Succeed). The catalogue's items are told apart",
    "  by their keys (`#product#`, `#waiting#`); \"less the catalogue's own\" writes leaves out those items' writes",
    "  (products written, customers put on or taken off a waiting list), not the state writes of the events a",
    "  fan-out tells customers.",
    "- **Endpoints** (Pinpoint comparison): the distinct customers of the run (user ids, and anonymous ids never",
    "  joined to one), one endpoint-month each per 30 days of traffic.",
    "- The run starts on an empty nudge, so every member's first login starts a welcome journey; the executions per",
    "  journey show how much of the figure that is.",
    "- **Offer decision**: customers of every value segment made through ingest, then `POST /v1/offers/decide`",
    "  asked over HTTP for each in turn, round after round (each round's `Offer Shown` events applied before the",
    "  next), timed client side; the AWS calls counted are those not made by the local stack's pollers (the public",
    "  API's own). `--decide-calls 0` skips it.",
    "- **Free-shipping nudge to the inbox**: app customers made through ingest, then one `Cart Viewed` below the",
    "  threshold at a time over HTTP, timed client side until the nudge is in the customer's in-app inbox (the",
    "  bench shop with `shop.free_shipping_threshold: 50` and the `free_shipping` preset on in-app).",
    "  `--inbox-carts 0` skips it.",
    "- **Click redirect**: tracked links made as the channel router makes them (`Links.tracked`, the stack's signing",
    "  secret, the shop's UTM parameters), one cart reminder e-mail and customer each, then `GET /c/{token}` for each",
    "  over HTTP, one at a time, not following the redirect, timed client side on a local stack without its pollers",
    "  (the click events stay on the events queue); each answer must be a 302 to the link's target. The AWS calls",
    "  are those made through the process's clients meanwhile (the public API's own). Compute: as many clicks",
    "  through the same handler in process on the memory deployment, its SQS send an in-memory append.",
    "  `--click-requests 0` skips it.",
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
            "`--customers`, `--days` and `--seed` shape the synthetic shop (`infra/bench/shop.py`); `--config` picks",
            "the shop configuration (journeys, channels), `--no-catalogue` leaves out the shop's catalogue feed;",
            "`--import-runs 0`, `--core-customers 0`, `--batch-events 0`, `--decide-calls 0`, `--inbox-carts 0`,",
            "`--click-requests 0` and `--backtest-events 0` skip those measurements (the page then keeps their",
            "sections as an earlier run left them, marked as kept); `--import-functions Ingest,FanOut` times only",
            "those functions' imports;",
            "`--markdown PATH` writes the report elsewhere, `--no-markdown` not at all.",
            "The same arguments give the same counts; times vary with the machine.",
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
