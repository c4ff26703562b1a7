"""``nudge bench``: the command: its arguments, the stages it runs, the report it prints and writes."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from infra.bench import shop
from infra.bench.backtest import DEFAULT_EVENTS as DEFAULT_BACKTEST_EVENTS
from infra.bench.backtest import DEFAULT_SHOPPERS as DEFAULT_BACKTEST_SHOPPERS
from infra.bench.core import core_events, core_throughput
from infra.bench.imports import functions_refused, import_times
from infra.bench.pipeline import figures_of, run_pipeline
from infra.bench.pricing import (
    DEFAULT_CONFIG,
    DEFAULT_MARKDOWN,
    ROOT,
    Counts,
    engine_cost_per_million,
    pinpoint_cost_per_million,
    scheduler_engine_cost_per_million,
)
from infra.bench.report import Report, markdown_document, render

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
        "seed": shop.SEED,
        "import_runs": 7,
        "core_customers": 1000,
        "batch_events": 2500,
        "decide_calls": 400,
        "inbox_carts": 60,
        "click_requests": 200,
        "audience_customers": 400,
        "backtest_events": DEFAULT_BACKTEST_EVENTS,
        "backtest_shoppers": DEFAULT_BACKTEST_SHOPPERS,
    }
    for name, default in defaults.items():
        value = getattr(args, name, default)
        if value != default:
            parts.append(f"--{name.replace('_', '-')} {value}")
    if Path(args.config).resolve() != DEFAULT_CONFIG:
        parts.append(f"--config {args.config}")
    if getattr(args, "no_catalogue", False):
        parts.append("--no-catalogue")
    if getattr(args, "import_functions", None):
        parts.append(f"--import-functions {','.join(args.import_functions)}")
    return " ".join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``nudge bench``'s options."""
    parser.add_argument("--customers", type=int, default=200, help="shoppers in the synthetic shop (default 200)")
    parser.add_argument("--days", type=int, default=30, help="days of traffic (default 30)")
    parser.add_argument("--seed", type=int, default=shop.SEED, help="random seed (default fixed)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="shop config YAML (default: the demo shop)")
    parser.add_argument(
        "--no-catalogue",
        action="store_true",
        help="the shop without its catalogue feed (and without the shoppers it turns away): the workload before it",
    )
    parser.add_argument(
        "--import-runs", type=int, default=7, help="rounds of fresh interpreters per handler, .pyc and not (0: skip)"
    )
    parser.add_argument(
        "--import-functions",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help="the functions whose imports are measured, comma-separated (default: every one in template.yaml)",
    )
    parser.add_argument(
        "--core-customers", type=int, default=1000, help="customers in the decision-core measurement (0: skip)"
    )
    parser.add_argument("--batch-events", type=int, default=2500, help="events in the one-batch measurement (0: skip)")
    parser.add_argument(
        "--decide-calls", type=int, default=400, help="offer decisions timed on the local stack (0: skip)"
    )
    parser.add_argument(
        "--inbox-carts",
        type=int,
        default=60,
        help="free-shipping nudges timed from the event to the in-app inbox on the local stack (0: skip)",
    )
    parser.add_argument(
        "--click-requests",
        type=int,
        default=200,
        help="tracked links followed through the click redirect on the local stack, and as many clicks timed in "
        "process (0: skip)",
    )
    parser.add_argument(
        "--backtest-events",
        type=int,
        default=DEFAULT_BACKTEST_EVENTS,
        help=f"events in the backtest at scale, through simulate (default {DEFAULT_BACKTEST_EVENTS:,}; 0: skip)",
    )
    parser.add_argument(
        "--backtest-shoppers",
        type=int,
        default=DEFAULT_BACKTEST_SHOPPERS,
        help=f"shoppers whose months of traffic the backtest replays (default {DEFAULT_BACKTEST_SHOPPERS:,})",
    )
    parser.add_argument(
        "--audience-customers",
        type=int,
        default=400,
        help="customers of the date sweep and campaign measurement, its table printed (python -m infra.bench.dates;"
        " docs/PERFORMANCE.md keeps its section by hand; default 400, 0: skip)",
    )
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
    refused = functions_refused(getattr(args, "import_functions", None))
    if refused is not None:
        print(f"bench: {refused}", file=err)
        return 2
    config = load_config(args.config)
    with _stage(f"pipeline: {args.customers} customers x {args.days} days through the real handlers", err):
        run = run_pipeline(
            config,
            args.customers,
            args.days,
            args.seed,
            progress=lambda line: print(line, file=err),
            catalogue=not getattr(args, "no_catalogue", False),
        )
    pipeline = figures_of(run)
    core = None
    if args.core_customers > 0:
        with _stage(f"decision core: {args.core_customers} customers in memory", err):
            events = core_events(args.core_customers, args.days, args.seed + 1, config.shop.id)
            core = core_throughput(config, events)
    imports = None
    if args.import_runs > 0:
        with _stage(f"cold imports: {args.import_runs} rounds, with .pyc and without", err):
            imports = import_times(args.import_runs, functions=getattr(args, "import_functions", None))
    batch = None
    if getattr(args, "batch_events", 0) > 0:
        from infra.bench.batch import measure_batch

        with _stage(f"one batch: {args.batch_events} events through the ingest handler on the local stack", err):
            batch = measure_batch(config, args.batch_events)
    decide = None
    if getattr(args, "decide_calls", 0) > 0:
        from infra.bench.decide import run_in_subprocess as measure_decide

        with _stage(f"offer decisions: {args.decide_calls} requests over HTTP on the local stack", err):
            decide = measure_decide(Path(args.config), args.decide_calls)
    inbox = None
    if getattr(args, "inbox_carts", 0) > 0:
        from infra.bench.inbox import run_in_subprocess as measure_inbox

        with _stage(f"free-shipping nudges: {args.inbox_carts} carts to the in-app inbox on the local stack", err):
            inbox = measure_inbox(Path(args.config), args.inbox_carts)
    clicks = None
    if getattr(args, "click_requests", 0) > 0:
        from infra.bench.clicks import run_in_subprocess as measure_clicks

        with _stage(f"click redirect: {args.click_requests} tracked links followed on the local stack", err):
            clicks = measure_clicks(Path(args.config), args.click_requests)
    backtest = None
    if getattr(args, "backtest_events", 0) > 0:
        from infra.bench.backtest import run_in_subprocess

        shoppers = getattr(args, "backtest_shoppers", DEFAULT_BACKTEST_SHOPPERS)
        with _stage(
            f"backtest: {args.backtest_events:,} events of {shoppers:,} shoppers streamed through simulate", err
        ):
            backtest = run_in_subprocess(Path(args.config), args.backtest_events, shoppers, args.seed, err=err)
    audiences = None
    customers = getattr(args, "audience_customers", 0)
    if customers > 0:
        from infra.bench.dates import estimate, markdown

        with _stage(f"date sweeps and campaigns: {customers} customers through the real handlers on moto", err):
            due = max(1, customers // 10)
            audiences = markdown(
                estimate(customers, due), f"python -m infra.bench.dates --customers {customers} --due {due}"
            )
    config_name = (
        str(Path(args.config).resolve().relative_to(ROOT))
        if Path(args.config).resolve().is_relative_to(ROOT)
        else str(args.config)
    )
    report = Report(
        command_line(args), config_name, pipeline, core, imports, batch, backtest, decide, inbox, clicks=clicks
    )
    out.write("\n".join(render(report, markdown=False)) + "\n")
    if audiences is not None:
        out.write(
            "\nDate sweeps and campaigns, per customer and per member (docs/PERFORMANCE.md, Campaigns at scale)\n\n"
        )
        out.write(audiences + "\n")
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
        "executions_by_wake_ups": {str(size): n for size, n in sorted(figures.run.executions_by_wake_ups.items())},
        "wake_ups": figures.run.wake_ups,
        "wake_ups_fired": figures.run.wake_ups_fired,
        "wake_up_outcomes": dict(figures.run.wake_up_outcomes),
        "sqs": figures.sqs,
        "sends": figures.sends,
        "held_back": figures.held_back,
        "provider_calls": figures.provider_calls,
        "lambda": {f.name: {"invocations": f.invocations, "modelled_ms": f.modelled_ms} for f in figures.functions},
        "engine_cost_per_million": engine_cost_per_million(counts),
        "scheduler_engine_cost_per_million": scheduler_engine_cost_per_million(counts),
        "pinpoint_cost_per_million": pinpoint_cost_per_million(counts),
        "writes_by_kind": {kind: writes for kind, (writes, _, _, _) in figures.writes_by_kind.items()},
        "catalogue": catalogue_figures(report),
        "targets": report.target_values(),
        "imports": None
        if report.imports is None
        else {
            mode: {"boto3_ms": column.boto3_ms, "handlers_ms": column.handlers}
            for mode, column in report.imports.columns.items()
        },
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
        "backtest": None if report.backtest is None else report.backtest.as_json(),
        "decide": None if report.decide is None else report.decide.as_json(),
        "inbox": None if report.inbox is None else report.inbox.as_json(),
        "clicks": None if report.clicks is None else report.clicks.as_json(),
    }


def catalogue_figures(report: Report) -> dict[str, Any]:
    """What the catalogue did and added to the run (``raw_figures``' ``catalogue``)."""
    figures = report.pipeline
    catalogue = figures.run.catalogue
    return {
        "requests": catalogue.requests,
        "stored": catalogue.stored,
        "products": dict(catalogue.products),
        "changes": dict(catalogue.changes),
        "asks": dict(catalogue.asks),
        "items": dict(figures.catalogue_items),
        "fan_outs": dict(catalogue.fan_outs),
        "fan_out_parts": catalogue.fan_out_parts,
        "fan_out_pages": dict(catalogue.fan_out_pages),
        "fan_out_transitions": catalogue.fan_out_transitions,
        "told": dict(catalogue.told),
        "told_saved": catalogue.told_saved,
        "sent_by_journey": dict(figures.run.sent_by_journey),
        "held_by_journey": dict(figures.run.held_by_journey),
        "write_requests": figures.catalogue_write_requests,
        "shares": {
            share.label: {
                "write_requests": share.write_requests,
                "read_requests": share.read_requests,
                "sqs_requests": share.sqs_requests,
                "lambda_invocations": share.lambda_invocations,
                "fan_out_transitions": share.transitions,
                "cost_per_million": engine_cost_per_million(share.counts),
            }
            for share in figures.catalogue
        },
    }
