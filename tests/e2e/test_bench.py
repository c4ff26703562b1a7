"""`nudge bench` as the lead runs it, on a tiny shop: the tables print and the counts agree with each other.

A subprocess, because moto's ``mock_aws`` resets every emulator backend in the process when it ends (the test
session's local stack included). Nothing here asserts on timing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUDGE = Path(sys.executable).with_name("nudge")

pytestmark = pytest.mark.slow(seconds=85)  # the module's bench run


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("bench")
    markdown, figures = folder / "PERFORMANCE.md", folder / "figures.json"
    # two functions' imports (every one's is the default, tests/unit/test_bench.py): each from source takes seconds
    command = [str(NUDGE), "bench", "--customers", "10", "--days", "3", "--import-runs", "1", "--core-customers", "10"]
    command += ["--import-functions", "Ingest,FanOut"]
    command += ["--backtest-events", "2000", "--backtest-shoppers", "50", "--decide-calls", "40", "--inbox-carts", "5"]
    command += ["--click-requests", "10", "--audience-customers", "20"]
    done = subprocess.run(
        [*command, "--markdown", str(markdown), "--json", str(figures)],
        cwd=ROOT,
        env={**os.environ, "TZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return {"out": done.stdout, "markdown": markdown.read_text(), "figures": json.loads(figures.read_text())}


def per_event(out: str, label: str) -> tuple[float, int]:
    """The per-event and per-1M figures of a row of the printed table."""
    match = re.search(rf"^{re.escape(label)}\s+([\d.,]+)\s+([\d,]+)$", out, flags=re.MULTILINE)
    assert match, f"no row {label!r}"
    return float(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))


def test_the_tables_print_with_every_section(bench):
    out = bench["out"]
    for heading in (
        "Per ingested event",
        "Item sizes behind DynamoDB write units",
        "Lambda invocations and duration",
        "AWS list price per 1M events",
        "Timers: Step Functions or EventBridge Scheduler",
        "What the catalogue adds",
        "Pure decision core",
        "Cold import of each handler",
        "Backtest at 2,000 events",
        "Real-time offer decision",
        "Click redirect",
        "Targets",
    ):
        assert f"\n{heading}\n" in out
    assert "Amazon Pinpoint for the same volume" in out
    assert re.search(r"^Engine total\s+\$[\d.]+$", out, flags=re.MULTILINE)


def test_an_offer_decision_reads_the_customer_once_and_records_only_new_offers(bench):
    decide = bench["figures"]["decide"]
    assert decide["calls"] == 40 and decide["reads_per_call"] == 1.0  # the customer's state, nothing else
    assert 0 < decide["recorded"] < decide["calls"]  # the first of a period records; asking again repeats it
    assert round(decide["sends_per_call"] * decide["calls"]) == decide["recorded"]  # one Offer Shown event each
    assert 0 < decide["p50_ms"] <= decide["p99_ms"] <= decide["max_ms"]


def test_per_event_figures_are_the_totals_divided_by_the_events(bench):
    figures, out = bench["figures"], bench["out"]
    events = figures["events"]
    assert events > 0

    for label, total in (
        ("DynamoDB write requests", figures["dynamodb_write_requests"]),
        ("DynamoDB read requests", figures["dynamodb_read_requests"]),
        ("Step Functions executions started: timers", figures["executions"]),
        ("SQS requests (billed, all)", figures["counts"]["sqs_requests"]),
        ("API Gateway requests (ingest)", figures["requests"]),
    ):
        each, million = per_event(out, label)
        assert each == pytest.approx(total / events, abs=0.0005)
        assert million == pytest.approx(total * 1_000_000 / events, abs=1)


def test_the_counts_agree_with_each_other(bench):
    figures = bench["figures"]
    counts = figures["counts"]

    assert figures["dynamodb_write_requests"] > 0 and figures["dynamodb_read_requests"] > 0
    assert counts["dynamodb_write_units"] >= figures["dynamodb_write_requests"]  # at least one unit per write
    # an execution bills its Map, a Wait and a Task per wake-up, its start and end; each wake-up one SendMessage
    by_size = {int(size): n for size, n in figures["executions_by_wake_ups"].items()}
    assert counts["sfn_transitions"] == sum(n * (3 + 2 * size) for size, n in by_size.items())
    assert figures["wake_ups"] == counts["timer_wake_ups"] == sum(n * size for size, n in by_size.items())
    assert figures["wake_ups_fired"] == figures["wake_ups"] == figures["sqs"]["state machine → events (SendMessage)"]
    assert sum(figures["wake_up_outcomes"].values()) == figures["wake_ups_fired"]  # each decided once (no faults)
    assert sum(figures["executions_by_journey"].values()) == sum(by_size.values()) == figures["executions"]
    # every event goes once through ingest and the updater; timers come back through the updater too
    assert figures["lambda"]["Ingest"]["invocations"] == figures["requests"]
    assert counts["api_requests"] == figures["requests"] + figures["catalogue"]["requests"]  # + POST /v1/catalog
    assert figures["lambda"]["StateUpdater"]["invocations"] >= figures["requests"]
    # each e-mail the ledger calls sent is one SES call; the router sees each outbox message at least once
    assert figures["sends"].get("email", 0) == figures["provider_calls"]["email"]
    assert figures["lambda"].get("ChannelRouter", {}).get("invocations", 0) >= sum(figures["sends"].values())
    assert figures["engine_cost_per_million"] > 0


def test_the_shop_s_catalogue_goes_through_the_api_and_its_writes_show_apart_from_the_customers(bench):
    figures, out = bench["figures"], bench["out"]
    catalogue, events = figures["catalogue"], figures["events"]

    # the whole catalogue once, then a sync each of the 3 nights: every upload stored
    assert catalogue["requests"] == catalogue["stored"] == 4
    assert catalogue["products"]["created"] == 48
    assert per_event(out, "API Gateway requests (catalogue uploads)")[0] == pytest.approx(4 / events, abs=0.0005)
    # each product created or changed is one write of its own kind, not a customer's
    written = catalogue["products"]["created"] + catalogue["products"]["updated"]
    assert figures["writes_by_kind"]["product (catalogue PutItem)"] == catalogue["items"]["products written"] == written
    # the budget without the catalogue and the one with it differ by the catalogue's own writes
    targets = figures["targets"]
    assert targets["dynamodb_writes_with_catalogue"] == pytest.approx(figures["dynamodb_write_requests"] / events)
    own = targets["dynamodb_writes_with_catalogue"] - targets["dynamodb_writes_per_event"]
    assert own == pytest.approx(catalogue["write_requests"] / events)
    assert catalogue["write_requests"] >= written
    # each page of a restock or a price drop sweep is one invocation of the fan-out function
    assert sum(catalogue["fan_out_pages"].values()) == figures["lambda"].get("FanOut", {}).get("invocations", 0)
    assert "## What the catalogue adds" in bench["markdown"]
    assert "| DynamoDB writes per event, the catalogue's included | ≤ 1.15 |" in bench["markdown"]


def test_the_report_is_written_with_the_command_that_made_it(bench):
    markdown = bench["markdown"]

    command = (
        "TZ=UTC .venv/bin/nudge bench --customers 10 --days 3 --import-runs 1 --core-customers 10 "
        "--decide-calls 40 --inbox-carts 5 --click-requests 10 --audience-customers 20 --backtest-events 2000 "
        "--backtest-shoppers 50 "
        "--import-functions Ingest,FanOut"
    )
    assert f"`{command}`" in markdown
    assert "## How to reproduce" in markdown and "## What is counted" in markdown
    assert "| DynamoDB write requests |" in markdown


def test_each_handler_import_asked_for_is_measured_with_bytecode_and_from_source(bench):
    imports = bench["figures"]["imports"]

    assert set(imports) == {"bytecode", "source"}
    for column in imports.values():
        assert set(column["handlers_ms"]) == {"Ingest", "FanOut"}
    # compiling every module costs more than loading its bytecode
    assert imports["source"]["boto3_ms"] > imports["bytecode"]["boto3_ms"]
    assert "| module | ms, .pyc | x boto3, .pyc | ms, no .pyc | x boto3, no .pyc |" in bench["markdown"]


def test_the_backtest_streams_a_long_history_and_reports_its_speed_and_memory(bench):
    backtest, markdown = bench["figures"]["backtest"], bench["markdown"]

    # 2,000 events of 50 shoppers: more than a month of their traffic, streamed through simulate's engine
    assert backtest["events"] == 2000 and backtest["shoppers"] == 50
    assert backtest["virtual_days"] > 30 and backtest["requests"] > 0 and sum(backtest["outcomes"].values()) > 0
    # the resident set size as each quarter of the history went by, and its high-water mark
    assert [events for events, _ in backtest["rss_mb"]] == [500, 1000, 1500, 2000]
    assert all(mb > 0 for _, mb in backtest["rss_mb"]) and backtest["peak_rss_mb"] > 0
    assert backtest["events_per_second"] > 0 and backtest["replay_seconds"] > 0
    assert "## Backtest at 2,000 events" in markdown and "| peak (high-water mark) |" in markdown


def test_the_free_shipping_nudge_is_timed_from_the_event_to_the_inbox(bench):
    inbox = bench["figures"]["inbox"]

    assert inbox["carts"] == 5 and inbox["missing"] == 0
    assert 0 < inbox["p50_ms"] <= inbox["p99_ms"] <= inbox["max_ms"]
    assert "## Free-shipping nudge to the inbox" in bench["markdown"]
    assert "| free-shipping nudge in the in-app inbox, p99 on the local stack (ms) | ≤ 2,000 |" in bench["markdown"]


def test_each_tracked_link_redirects_to_its_target_with_one_sqs_send_and_no_table_read(bench):
    clicks = bench["figures"]["clicks"]

    assert clicks["requests"] == 10 and clicks["failures"] == 0
    # docs/MEASUREMENT.md: "The redirect reads no table: one HMAC and one SQS send"; each click one event queued
    assert clicks["reads_per_click"] == 0 and clicks["sends_per_click"] == 1 and clicks["other_calls_per_click"] == 0
    assert clicks["queued"] == 10
    assert 0 < clicks["p50_ms"] <= clicks["p99_ms"] <= clicks["max_ms"]
    assert 0 < clicks["compute_p50_ms"] <= clicks["compute_p99_ms"]
    assert "## Click redirect" in bench["markdown"]


def test_the_campaign_estimate_reaches_every_member_and_prices_both_scales():
    # A subprocess: it replays on moto in-process (mock_aws resets every backend when it ends)
    done = subprocess.run(
        [sys.executable, "-m", "infra.bench.campaign", "--customers", "20", "--rate", "100"],
        cwd=ROOT,
        env={**os.environ, "TZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # it checks that the campaign reached all 20
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 1")]
    assert [row.split(" | ")[0] for row in rows] == ["| 1,000,000", "| 10,000,000"]
    engine = [float(re.search(r"\*\*\$([\d,.]+)\*\*", row).group(1).replace(",", "")) for row in rows]
    assert engine[0] > 0 and engine[1] == pytest.approx(10 * engine[0], rel=0.01)  # linear in the members
    assert rows[0].endswith("| 2.8 |")  # 1 M members at 100 a second


def test_the_audiences_table_prints_what_a_date_sweep_and_a_campaign_cost(bench):
    out = bench["out"]
    assert "Date sweeps and campaigns, per customer and per member" in out
    assert "A day's sweep of a shop with a birthday journey" in out
    assert re.search(r"^\| 1,000,000 \| one moment \|", out, flags=re.MULTILINE), "no campaign row per 1 M members"
