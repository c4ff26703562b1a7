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

from infra.bench.backtest import BacktestFigures
from infra.bench.core import CoreFigures
from infra.bench.imports import MODE_LABELS, MODES, ImportFigures
from infra.bench.pipeline import PipelineFigures
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
    from infra.bench.decide import DecideFigures


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
            "import_ratio": self.imports.worst[2] if self.imports else None,
            "core_events_per_second": self.core.events_per_second if self.core else None,
            "backtest_events_per_second": self.backtest.events_per_second if self.backtest else None,
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
    for size, n in sorted(figures.run.executions_by_wake_ups.items()):
        rows.append(row(f"  carrying {size} wake-up{'s' if size > 1 else ''}", n))
    rows.append(row("Timer wake-ups (Wait, then SendMessage)", run.wake_ups))
    for outcome, n in run.wake_up_outcomes.most_common():
        rows.append(row(f"  {outcome}", n))
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
    if report.batch is not None:
        from infra.bench.batch import render_batch

        out += heading(f"One {report.batch.events:,}-event batch")
        out += render_batch(report.batch)
    if report.decide is not None:
        from infra.bench.decide import render_decide

        out += heading("Real-time offer decision")
        out += render_decide(report.decide)
    if report.backtest is not None:
        out += heading(f"Backtest at {_events_label(report.backtest.events)} events")
        out += backtest_lines(report.backtest, markdown)
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
    "- **API Gateway**: one request per ingest call. The generated traffic posts a browser's message alone, as",
    "  analytics.js does by default (messages at the same instant share a `/v1/batch`), and an app's messages as",
    "  analytics-swift and analytics-kotlin do by default: one `/v1/batch` per flush, when 20 are queued or at the",
    "  SDK's 30 s tick, each message keeping its own timestamp (`infra/bench/shop.py`).",
    "- **Endpoints** (Pinpoint comparison): the distinct customers of the run (user ids, and anonymous ids never",
    "  joined to one), one endpoint-month each per 30 days of traffic.",
    "- The run starts on an empty nudge, so every member's first login starts a welcome journey; the executions per",
    "  journey show how much of the figure that is.",
    "- **Offer decision**: customers of every value segment made through ingest, then `POST /v1/offers/decide`",
    "  asked over HTTP for each in turn, round after round (each round's `Offer Shown` events applied before the",
    "  next), timed client side; the AWS calls counted are those not made by the local stack's pollers (the public",
    "  API's own). `--decide-calls 0` skips it.",
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
