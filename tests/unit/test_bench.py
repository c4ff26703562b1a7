"""`nudge bench` without an emulator: cost arithmetic, the price table, the meter, the synthetic shop, the report."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from infra.bench import shop as bench_shop
from infra.bench.clicks import ClickFigures
from infra.bench.dates import Run, pages_at, progress_item, scaled, sweep_pages
from infra.bench.imports import (
    BYTECODE,
    SOURCE,
    ImportColumn,
    ImportFigures,
    functions_refused,
    handler_modules,
    instructions_executed,
    lambda_environment,
    mode_environment,
    template_environment,
)
from infra.bench.pipeline import CatalogueRun, FunctionUsage, PipelineRun, figures_of, write_kind
from infra.bench.pricing import (
    FAN_OUT_ASL,
    PRICES,
    TIMER_ASL,
    Counts,
    email_cost_per_million,
    endpoint_months,
    engine_cost_per_million,
    engine_costs,
    fan_out_transitions,
    pinpoint_cost_per_million,
    scheduler_engine_cost_per_million,
    timer_cost_per_million,
    timer_transitions,
)
from infra.bench.report import Report, markdown_document, render
from infra.metering import ApiCallMeter, ReadRequest, WrittenItem, read_units, sqs_requests, write_units
from shared.service.ingest import parse_messages

CONVENTIONS = Path(__file__).resolve().parents[3] / "shared" / "docs" / "conventions.md"  # beside the checkout

# ---------------------------------------------------------------- prices and cost arithmetic

MILLION = Counts(
    events=1_000_000,
    api_requests=1_000_000,
    lambda_invocations=2_000_000,
    lambda_gb_seconds=50_000,
    dynamodb_read_units=1_000_000,
    dynamodb_write_units=2_000_000,
    sqs_requests=3_000_000,
    sfn_transitions=80_000,
    emails=10_000,
    endpoint_months=50_000,
)


def test_a_million_events_with_known_counts_cost_what_the_list_prices_say():
    costs = engine_costs(MILLION)

    assert costs == pytest.approx(
        {
            "API Gateway HTTP API": 1.00,
            "Lambda requests": 0.40,
            "Lambda duration": 50_000 * 0.0000133334,
            "DynamoDB writes": 1.25,
            "DynamoDB reads": 0.125,
            "SQS": 1.50,
            "Step Functions: timers": 2.00,
            "Step Functions: fan-outs": 0.0,
        }
    )
    assert engine_cost_per_million(MILLION) == pytest.approx(6.941670)
    assert email_cost_per_million(MILLION) == pytest.approx(1.00)  # delivery: not in the engine total
    assert pinpoint_cost_per_million(MILLION) == pytest.approx(1.00 + 50_000 * 0.0012)


def test_the_same_wake_ups_as_eventbridge_scheduler_one_time_schedules_replace_the_step_functions_line():
    # 20,000 executions carrying 30,000 wake-ups: 80,000 transitions ($2.00) or 30,000 invocations ($0.03); the
    # fan-outs' 4,000 transitions ($0.10) stay on Step Functions either way
    counts = Counts(
        events=1_000_000,
        api_requests=1_000_000,
        sfn_transitions=80_000,
        timer_wake_ups=30_000,
        fan_out_transitions=4_000,
    )

    assert timer_cost_per_million(counts) == pytest.approx(2.00)
    assert timer_cost_per_million(counts, scheduler=True) == pytest.approx(0.03)
    assert engine_cost_per_million(counts) == pytest.approx(3.10)
    assert scheduler_engine_cost_per_million(counts) == pytest.approx(1.13)


def test_a_smaller_run_is_scaled_to_a_million_events():
    run = Counts(events=4_000, api_requests=4_000, dynamodb_write_units=8_000, sfn_transitions=400, endpoint_months=200)

    # x 250: 1M requests ($1.00), 2M write units ($1.25), 100,000 transitions ($2.50)
    assert engine_cost_per_million(run) == pytest.approx(4.75)
    assert pinpoint_cost_per_million(run) == pytest.approx(1.00 + 50_000 * 0.0012)


def test_the_price_table_holds_the_conventions_list_prices():
    expected = {
        "dynamodb_write": 0.625 / 1e6,
        "dynamodb_read": 0.125 / 1e6,
        "sqs_request": 0.50 / 1e6,
        "sfn_transition": 0.025 / 1e3,
        "lambda_request": 0.20 / 1e6,
        "lambda_gb_second": 0.0000133334,
        "apigw_request": 1.00 / 1e6,
        "scheduler_invocation": 1.00 / 1e6,
        "ses_email": 0.10 / 1e3,
        "pinpoint_event": 1.00 / 1e6,
        "pinpoint_endpoint_month": 0.0012,
    }
    assert {name: price.each for name, price in PRICES.items()} == pytest.approx(expected)


@pytest.mark.skipif(not CONVENTIONS.exists(), reason="the shared conventions are not on this machine")
def test_every_price_in_the_conventions_is_in_the_table():
    text = CONVENTIONS.read_text(encoding="utf-8").split("## AWS prices", 1)[1]
    listed = {float(number.replace(",", "")) for number in re.findall(r"\$([\d.,]*\d)", text)}

    assert listed <= {price.usd for price in PRICES.values()}


def test_the_timer_bills_its_map_then_a_wait_and_a_task_per_wake_up_plus_start_and_end():
    asl = json.loads(TIMER_ASL.read_text())
    assert [timer_transitions(asl, n) for n in (1, 2, 3)] == [5, 7, 9]

    chain = {
        "StartAt": "A",
        "States": {"A": {"Type": "Wait", "Next": "B"}, "B": {"Type": "Pass", "Next": "C"}, "C": {"Type": "Succeed"}},
    }
    assert timer_transitions(chain) == 5


def test_a_fan_out_bills_its_start_end_and_map_then_three_transitions_per_page():
    asl = json.loads(FAN_OUT_ASL.read_text())

    # a restock of one page: start, Map, Page, More, Done, end
    assert fan_out_transitions(asl, executions=1, parts=1, pages=1) == 6
    # a restock of three pages: a Wait (Throttle) before the second and third
    assert fan_out_transitions(asl, executions=1, parts=1, pages=3) == 12
    # a price drop sweep: four parallel-scan segments of one page each
    assert fan_out_transitions(asl, executions=1, parts=4, pages=4) == 15


def test_an_endpoint_counts_once_per_month_of_traffic():
    assert endpoint_months(200, 30) == 200
    assert endpoint_months(200, 3) == 200
    assert endpoint_months(200, 45) == 400


# ---------------------------------------------------------------- the meter


def test_units_follow_the_started_kilobyte_the_4_kb_read_and_the_64_kb_request():
    assert [write_units(s) for s in (0, 1, 1024, 1025, 4096)] == [1, 1, 1, 2, 4]
    assert write_units(1500, transactional=True) == 4
    assert read_units(100, consistent=True) == 1 and read_units(100, consistent=False) == 0.5
    assert read_units(4097, consistent=True) == 2
    assert [sqs_requests(n) for n in (0, 65_536, 65_537)] == [1, 1, 2]


def _client(service: str):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_a_write_is_billed_on_the_larger_of_the_item_before_and_after_it_by_whoever_made_it():
    sizes = iter([900, 2100])  # the ledger item before and after an UpdateItem
    meter = ApiCallMeter(stored_size=lambda table, key: next(sizes))
    dynamodb = _client("dynamodb")
    meter.attach(dynamodb)
    key = {"pk": {"S": "demo#u:anna"}, "sk": {"S": "msg#1"}}

    with Stubber(dynamodb) as stub, meter.scope("ChannelRouterFunction"):
        stub.add_response("update_item", {}, {"TableName": "t", "Key": key, "UpdateExpression": "SET a = :a"})
        dynamodb.update_item(TableName="t", Key=key, UpdateExpression="SET a = :a")

    assert meter.scoped_write_units["ChannelRouterFunction"] == 3
    assert [(w.operation, w.size, w.units) for w in meter.written] == [("UpdateItem", 2100, 3)]
    assert meter.count("dynamodb", scopes=frozenset({"ChannelRouterFunction"})) == 1
    assert meter.count("dynamodb", scopes=frozenset({None})) == 0


def test_reads_are_sized_from_the_answer_and_queue_requests_from_their_payload():
    meter = ApiCallMeter()
    dynamodb, sqs = _client("dynamodb"), _client("sqs")
    meter.attach(dynamodb)
    meter.attach(sqs)
    item = {"pk": {"S": "p"}, "doc": {"S": "x" * 5000}}
    url = "https://sqs.us-east-1.amazonaws.com/1/q"

    with Stubber(dynamodb) as db, Stubber(sqs) as queue, meter.scope("StateUpdaterFunction"):
        db.add_response("get_item", {"Item": item})
        dynamodb.get_item(TableName="t", Key={"pk": {"S": "p"}}, ConsistentRead=True)
        queue.add_response("send_message_batch", {"Successful": [], "Failed": []})
        entries = [{"Id": str(i), "MessageBody": "y" * 20_000} for i in range(5)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)

    assert meter.scoped_read_units["StateUpdaterFunction"] == 2.0  # 5 KB, strongly consistent
    assert meter.scoped_sqs_requests[("StateUpdaterFunction", "SendMessageBatch")] == 2  # 100 KB in one call


def test_each_item_written_or_read_is_kept_with_its_partition_key_and_a_delete_is_told_from_a_put():
    meter = ApiCallMeter(stored_size=lambda table, key: 90)
    dynamodb = _client("dynamodb")
    meter.attach(dynamodb)
    waiting = "demo#waiting#p-101"
    deletes = [{"DeleteRequest": {"Key": {"pk": {"S": waiting}, "sk": {"S": f"u:{name}"}}}} for name in ("a", "b")]
    query = {
        "TableName": "t",
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": waiting}},
    }

    with Stubber(dynamodb) as stub, meter.scope("FanOutFunction"):
        stub.add_response("query", {"Items": []}, query)
        dynamodb.query(**query)
        stub.add_response("batch_write_item", {}, {"RequestItems": {"t": deletes}})
        dynamodb.batch_write_item(RequestItems={"t": deletes})

    assert [(w.pk, w.deleted, w.units) for w in meter.written] == [(waiting, True, 1), (waiting, True, 1)]
    assert [(r.operation, r.pks) for r in meter.reads] == [("Query", (waiting,))]
    assert meter.count("dynamodb", scopes=frozenset({"FanOutFunction"})) == 2  # one read, one batch of deletes


# ---------------------------------------------------------------- the synthetic shop


def test_the_same_arguments_give_the_same_shop_and_others_another():
    assert bench_shop.generate(20, 10, seed=1) == bench_shop.generate(20, 10, seed=1)
    assert bench_shop.generate(20, 10, seed=1) != bench_shop.generate(20, 10, seed=2)


def test_the_shop_has_its_customers_and_days_and_ingest_accepts_every_message():
    messages = bench_shop.generate(40, 7, seed=3)
    start, end = bench_shop.START, bench_shop.START + timedelta(days=8)

    assert bench_shop.distinct_customers(messages) == 40
    assert all(start <= datetime.fromisoformat(m["timestamp"]) < end for m in messages)
    assert len(parse_messages("batch", {"batch": messages})) == len(messages)


def test_a_month_looks_like_a_shop_most_sessions_browse_few_order():
    messages = bench_shop.generate(300, 30, seed=4)
    events = Counter(m.get("event") or m["type"] for m in messages)

    views = events["page"] + events["screen"]
    assert views > 0.4 * len(messages)  # page or screen views: the bulk of the traffic
    assert 0 < events["Order Completed"] < events["Checkout Started"] < events["Product Added"] < views / 20
    assert events["Consent Updated"] > 0 and events["identify"] > 0 and events["Application Installed"] > 0


def test_an_apps_calls_go_in_one_batch_per_flush_of_its_sdk_when_20_are_queued_or_at_the_30_s_tick():
    # Given an app session's calls at these seconds after the app started
    def call(seconds: float) -> dict:
        at = bench_shop.START + timedelta(seconds=seconds)
        return {"messageId": f"m{seconds}", "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z")}

    session = [call(s) for s in (0, 12, 29.5, 30, 95)] + [call(100 + s / 10) for s in range(25)]

    # When its SDK flushes them
    sent = [((at - bench_shop.START).total_seconds(), len(batch)) for at, batch in bench_shop.flushes(session)]

    # Then three go at the first tick, one at the second, and the 20th queued call after 95 s goes at once
    assert sent == [(30, 3), (60, 1), (101.8, 20), (120, 6)]


def test_the_history_posts_browser_calls_alone_and_app_calls_in_batches_of_the_same_messages():
    bodies = bench_shop.history(60, 10, seed=5)
    batches = [body for body in bodies if "batch" in body]

    assert sorted(bench_shop.messages_of(bodies), key=lambda m: m["timestamp"]) == bench_shop.generate(60, 10, seed=5)
    assert batches and any(len(body["batch"]) > 1 for body in batches)
    assert all(m["context"]["library"]["name"].startswith("analytics-") for b in batches for m in b["batch"])
    assert all(m["timestamp"] <= b["sentAt"] for b in batches for m in b["batch"])
    assert [bench_shop.arrival(body) for body in bodies] == sorted(bench_shop.arrival(body) for body in bodies)
    assert bench_shop.history(60, 10, seed=5) == bodies
    # the shop's catalogue feed is among them, as simulate's catalog lines
    assert [body for body in bodies if body.get("type") == "catalog"] == bench_shop.inventory(10, seed=5).lines


def test_the_catalogue_feed_posts_every_product_before_the_first_visit_then_what_changed_each_night():
    feed = bench_shop.inventory(30, seed=6)
    first, *nights = feed.lines
    products = first["products"]

    # the whole catalogue, in Merchant Center attributes and the shop's currency, a few products out of stock
    assert first["type"] == "catalog" and len(products) == len(bench_shop.CATALOGUE) == 48
    assert set(products[0]) >= {"id", "title", "link", "image_link", "price", "availability", "quantity"}
    assert products[0]["id"] == "p-101" and products[0]["price"] == "12.50 EUR"
    assert sum(p["availability"] == "out_of_stock" for p in products) == bench_shop.OUT_OF_STOCK_AT_START
    assert first["timestamp"] < min(m["timestamp"] for m in bench_shop.generate(30, 30, seed=6))
    # then one sync a night of what changed: units sold, products sold out and back in stock, sales and their end
    assert len(nights) == 30 and all(
        set(p) <= {"id", "availability", "quantity", "sale_price"} for p in nights[0]["products"]
    )
    updates = [product for line in nights for product in line["products"]]
    assert {"out_of_stock", "in_stock"} <= {p.get("availability") for p in updates}
    base = {p["product_id"]: p["price"] for p in bench_shop.CATALOGUE}
    sales = [(p["id"], float(p["sale_price"].removesuffix(" EUR"))) for p in updates if p.get("sale_price")]
    assert sales and all(0.15 <= 1 - price / base[product] < 0.201 for product, price in sales)
    assert any("sale_price" in p and p["sale_price"] is None for p in updates)
    assert bench_shop.inventory(30, seed=6) == feed


def test_shoppers_who_view_a_product_while_it_is_out_of_stock_ask_to_be_told_or_wishlist_it():
    feed = bench_shop.inventory(30, seed=7)
    messages = bench_shop.generate(200, 30, seed=7)
    asks = [m for m in messages if m.get("event") in ("Back In Stock Requested", "Product Added to Wishlist")]

    def who(message: dict) -> str:
        return message.get("userId") or message["anonymousId"]

    views: dict[tuple[str, str], list[datetime]] = {}
    for m in messages:
        if m.get("event") == "Product Viewed":
            views.setdefault((who(m), m["properties"]["product_id"]), []).append(datetime.fromisoformat(m["timestamp"]))
    assert asks
    for ask in asks:  # each a few seconds after the shopper viewed the product, while it was out of stock
        at = datetime.fromisoformat(ask["timestamp"])
        (viewed,) = [
            v for v in views[(who(ask), ask["properties"]["product_id"])] if 2 <= (at - v).total_seconds() <= 4
        ]
        assert feed.sold_out(ask["properties"]["product_id"], viewed)
    # only a known customer asks to be told ("notify me"); a visitor may keep a guest wishlist
    assert all("userId" in m for m in asks if m["event"] == "Back In Stock Requested")
    # and without the catalogue the month is the same, less those
    assert [m for m in messages if m not in asks] == bench_shop.generate(200, 30, seed=7, catalogue=False)


# ---------------------------------------------------------------- the report


def _run(meter: ApiCallMeter, catalogue: CatalogueRun | None = None) -> PipelineRun:
    functions = {
        "IngestFunction": FunctionUsage("IngestFunction", 1024, invocations=90, wall_seconds=0.18),
        "StateUpdaterFunction": FunctionUsage("StateUpdaterFunction", 512, invocations=110, wall_seconds=0.44),
    }
    if catalogue is not None:
        functions["CustomerApiFunction"] = FunctionUsage("CustomerApiFunction", 512, invocations=2, wall_seconds=0.1)
        functions["FanOutFunction"] = FunctionUsage("FanOutFunction", 512, invocations=1, wall_seconds=0.02)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    return PipelineRun(
        customers=10,
        days=30,
        seed=1,
        events=100,
        requests=90,
        rejected=0,
        distinct_customers=10,
        targeted_customers=4,
        virtual_start=start,
        virtual_end=start + timedelta(days=40),
        wall_seconds=3.0,
        meter=meter,
        functions=functions,
        executions=10,
        executions_by_journey=Counter({"cart_abandonment": 6, "welcome": 4}),
        executions_by_wake_ups=Counter({1: 6, 2: 4}),
        wake_ups_fired=14,
        wake_up_outcomes=Counter({"took a step (a message decided)": 12, "found nothing to do (nothing saved)": 2}),
        transitions=6 * 5 + 4 * 7,
        outcomes=Counter({("email", "sent"): 5, ("-", "suppressed"): 2}),
        log_bytes=50_000,
        catalogue=catalogue or CatalogueRun(),
    )


def _meter() -> ApiCallMeter:
    meter = ApiCallMeter()
    meter.scoped_calls.update(
        {
            ("StateUpdaterFunction", "dynamodb", "GetItem"): 110,
            ("StateUpdaterFunction", "dynamodb", "PutItem"): 110,
            ("IngestFunction", "sqs", "SendMessageBatch"): 90,
            ("esm:StateUpdaterFunction", "sqs", "ReceiveMessage"): 110,
            (None, "dynamodb", "GetItem"): 500,  # the harness reading the ledger: not billed
        }
    )
    meter.scoped_write_units["StateUpdaterFunction"] = 330
    meter.scoped_read_units["StateUpdaterFunction"] = 110.0
    meter.scoped_sqs_requests.update(
        {("IngestFunction", "SendMessageBatch"): 90, ("esm:StateUpdaterFunction", "ReceiveMessage"): 110}
    )
    return meter


def test_figures_are_the_functions_calls_and_the_timer_model_per_ingested_event():
    figures = figures_of(_run(_meter()))

    assert figures.dynamodb_read_requests == 110  # the harness's 500 reads are not nudge's
    assert figures.dynamodb_write_requests == 110
    assert figures.counts.dynamodb_write_units == 330
    assert figures.counts.sqs_requests == 90 + 110 + 14  # + the state machine's SendMessage per wake-up
    assert figures.counts.sfn_transitions == 58 and figures.counts.timer_wake_ups == 14
    assert figures.counts.lambda_invocations == 200
    assert figures.sends == {"email": 5}

    text = "\n".join(render(Report("nudge bench", "shop.yaml", figures, None, None), markdown=False))
    assert re.search(r"DynamoDB write requests\s+1\.100\s+1,100,000", text)
    assert re.search(r"Step Functions executions started: timers\s+0\.100\s+100,000", text)
    assert re.search(r"carrying 2 wake-ups\s+0\.040\s+40,000", text)
    # the timers priced both ways: 580,000 transitions per 1M events ($14.50), or 140,000 invocations ($0.14)
    assert re.search(
        r"Step Functions Standard: 10 executions carrying 14 wake-ups.*580,000 transitions.*\$14\.50", text
    )
    assert re.search(r"EventBridge Scheduler: a one-time schedule per wake-up\s+140,000 invocations.*\$0\.140", text)


def _catalogue_meter() -> ApiCallMeter:
    """The meter of a run whose shop posted 5 products in 2 uploads; the updater listed 2 waiting customers (and
    read the product 3 times), a restock told them and deleted them in one batch."""
    meter = _meter()
    meter.scoped_calls.update(
        {
            ("CustomerApiFunction", "dynamodb", "PutItem"): 5,
            ("CustomerApiFunction", "dynamodb", "BatchGetItem"): 2,
            ("StateUpdaterFunction", "dynamodb", "BatchGetItem"): 3,
            ("FanOutFunction", "dynamodb", "Query"): 1,
            ("FanOutFunction", "dynamodb", "BatchWriteItem"): 1,
        }
    )
    meter.scoped_write_units.update({"CustomerApiFunction": 5, "FanOutFunction": 2, "StateUpdaterFunction": 2})
    product, waiting = "demo#product#p-101", "demo#waiting#p-101"
    meter.written += [WrittenItem("CustomerApiFunction", "PutItem", "t", 400, 1, product) for _ in range(5)]
    meter.written += [WrittenItem("StateUpdaterFunction", "PutItem", "t", 90, 1, waiting) for _ in range(2)]
    meter.written += [WrittenItem("FanOutFunction", "BatchWriteItem", "t", 90, 1, waiting, True) for _ in range(2)]
    meter.reads += [ReadRequest("StateUpdaterFunction", "BatchGetItem", "t", (product,), 1.0) for _ in range(3)]
    return meter


def test_the_catalogue_s_writes_are_told_apart_and_its_own_budget_counts_them_where_the_other_does_not():
    catalogue = CatalogueRun(
        requests=2,
        stored=2,
        products=Counter({"received": 5, "created": 3, "updated": 2, "unchanged": 0}),
        fan_outs=Counter({"restock": 1}),
        fan_out_parts=1,
        fan_out_pages=Counter({"restock": 1}),
        fan_out_transitions=6,
        told=Counter({"Back In Stock": 2}),
        told_saved=2,
    )
    figures = figures_of(_run(_catalogue_meter(), catalogue))
    report = Report("nudge bench", "shop.yaml", figures, None, None)

    # Then products, waiting customers and the restock's deletes each have their row; the customers' writes stay
    assert {kind: writes for kind, (writes, *_) in figures.writes_by_kind.items()} == {
        "product (catalogue PutItem)": 5,
        "waiting list (updater PutItem)": 2,
        "waiting list, deleted (fan-out BatchWriteItem)": 2,
    }  # (the state updater's own writes in _meter are counted, not itemised)
    assert figures.dynamodb_write_requests == 110 + 5 + 1 and figures.catalogue_write_requests == 5 + 2 + 1
    # the 1.10 budget is the customers' traffic alone, the 1.15 one everything
    values = report.target_values()
    assert values["dynamodb_writes_per_event"] == pytest.approx(1.08)
    assert values["dynamodb_writes_with_catalogue"] == pytest.approx(1.16)
    assert values["executions_per_event"] == pytest.approx(0.11)  # 10 timers and 1 restock
    assert figures.counts.api_requests == 92 and figures.counts.fan_out_transitions == 6

    text = "\n".join(render(report, markdown=False))
    assert "\nWhat the catalogue adds\n" in text
    assert "2 `POST /v1/catalog` requests (0 refused) carrying 5 products, 3 created, 2 updated" in text
    assert (
        "the updater read the catalogue 3 times (is a wishlisted or carted product out of stock?) and wrote 2" in text
    )
    assert re.search(r"catalogue uploads \(customer API\)\s+0\.050\s+0\.020\s+0\s+0\.020\s+0\s", text)
    assert re.search(r"waiting lists in the state updater\s+0\.020\s+0\.030\s+0\s+0\s+0\s", text)
    assert re.search(r"DynamoDB writes per event, the catalogue's included\s+≤ 1\.15\s+1\.160\s+missed", text)
    assert re.search(r"DynamoDB writes per event, less the catalogue's own\s+≤ 1\.10\s+1\.080\s+met", text)


def test_a_rerun_keeps_the_sections_a_person_wrote_and_replaces_the_figures():
    report = Report("TZ=UTC .venv/bin/nudge bench", "shop.yaml", figures_of(_run(_meter())), None, None)
    previous = (
        "# Performance and cost\n\nold figures\n\n## How to reproduce\n\nrun it like this\n\n"
        "## Where targets are missed, and what it would take\n\nbecause of this\n"
    )

    document = markdown_document(report, previous)

    assert "old figures" not in document
    assert "`TZ=UTC .venv/bin/nudge bench`" in document
    assert "## How to reproduce\n\nrun it like this" in document
    assert "## Where targets are missed, and what it would take\n\nbecause of this" in document
    assert "| DynamoDB write requests | 1.100 | 1,100,000 |" in document
    assert "| ↳ write request units | 3.300 | 3,300,000 |" in document


def test_a_rerun_that_skips_a_measurement_keeps_its_section_and_target_as_the_page_had_them():
    previous = (
        "# Performance and cost\n\nProduced by `TZ=UTC .venv/bin/nudge bench` on 2026-12-02 (x86_64).\n\n"
        "## Per ingested event\n\nold figures\n\n## Pure decision core\n\n`decide`: **18,734 events/s**\n\n"
        "## Targets\n\n| target | goal | measured | verdict |\n| --- | --- | --- | --- |\n"
        "| decision core events/s (one core) | ≥ 20,000 | 18,734 | missed |\n"
    )
    command = "TZ=UTC .venv/bin/nudge bench --core-customers 0"

    # When a run that skipped the decision core rewrites the page
    first = Report(command, "shop.yaml", figures_of(_run(_meter())), None, None, generated="2026-12-04")
    document = markdown_document(first, previous)

    # Then its section and its target are kept, saying which run measured them; the run's own figures replace
    assert "old figures" not in document
    assert "## Pure decision core\n\n`decide`: **18,734 events/s**\n\n*Kept from an earlier run (" in document
    assert (
        "*Kept from an earlier run (`TZ=UTC .venv/bin/nudge bench` on 2026-12-02, unless the text above says "
        "otherwise): the run of 2026-12-04 skipped it.*"
    ) in document
    assert f"Produced by `{command}` on 2026-12-04" in document
    assert "| decision core events/s (one core) | ≥ 20,000 | 18,734 (kept) | missed |" in document
    assert "except in the sections it skipped, kept from an earlier run as each says (Pure decision core)" in document
    # and a second such run still names the run that measured it
    again = markdown_document(
        Report(command, "shop.yaml", figures_of(_run(_meter())), None, None, generated="2026-12-05"), document
    )
    assert again.count("*Kept from an earlier run") == 1
    assert "(`TZ=UTC .venv/bin/nudge bench` on 2026-12-02, unless" in again and "run of 2026-12-05 skipped" in again
    assert "| decision core events/s (one core) | ≥ 20,000 | 18,734 (kept) | missed |" in again


def _clicks(**changes: float) -> ClickFigures:
    figures = {
        "requests": 200,
        "p50_ms": 3.41,
        "p99_ms": 5.14,
        "max_ms": 5.42,
        "failures": 0,
        "queued": 200,
        "reads_per_click": 0.0,
        "sends_per_click": 1.0,
        "other_calls_per_click": 0.0,
        "link_chars": 340,
        "aws_call_p50_ms": 1.23,
        "compute_p50_ms": 0.16,
        "compute_p99_ms": 0.22,
        "memory_mb": 512,
    }
    return ClickFigures(**{**figures, **changes})


def test_the_click_redirect_has_its_section_with_its_latency_its_calls_and_its_compute_modelled_for_lambda():
    # Given a run that followed 200 tracked links: one SQS send each, no table read, 0.16 ms of compute
    report = Report("nudge bench", "shop.yaml", figures_of(_run(_meter())), None, None, clicks=_clicks())

    markdown = "\n".join(render(report, markdown=True))
    text = "\n".join(render(report, markdown=False))

    # Then the page has its section, the figures as measured, and Lambda's model (0.16 x 1769 / 512 + 8 ms = 8.55)
    assert "\n## Click redirect\n\n`GET /c/{token}` over HTTP on the local stack: 200 tracked links made" in markdown
    assert "(each in its own cart reminder e-mail, up to 340 characters)" in markdown
    assert "**p50 3.4 ms, p99 5.1 ms** (max 5.4 ms)" in markdown and "each a 302 to the link's target" in markdown
    assert "0.00 DynamoDB reads, 1.00 SQS sends and 0.00 other AWS calls" in markdown
    assert "the events queue took 200 click events" in markdown
    assert "**p50 0.16 ms, p99 0.22 ms** per click" in markdown
    assert "compute x 1769 / 512 + 1 x 8 ms (an assumed SQS send, as in the cost model) ≈ **8.6 ms**" in markdown
    assert "\nClick redirect\n==============\n" in text
    # and no Targets row: nobody has named a goal for it
    assert "click" not in markdown.split("## Targets")[1].lower()
    assert report.clicks is not None and report.clicks.modelled_ms == pytest.approx(0.16 * 1769 / 512 + 8.0)


def test_a_wrong_answer_of_the_click_redirect_is_said_in_bold_beside_its_figures():
    report = Report("nudge bench", "shop.yaml", figures_of(_run(_meter())), None, None, clicks=_clicks(failures=3))

    markdown = "\n".join(render(report, markdown=True))

    assert "**3 of the answers were not a 302 to the link's target**" in markdown
    assert "each a 302 to the link's target" not in markdown


def test_a_run_that_skips_the_click_redirect_keeps_its_section_as_the_page_had_it():
    figures = figures_of(_run(_meter()))
    measured = Report("nudge bench", "shop.yaml", figures, None, None, clicks=_clicks(), generated="2026-12-04")
    previous = markdown_document(measured, None)

    # When a run with --click-requests 0 rewrites the page
    skipped = Report("nudge bench --click-requests 0", "shop.yaml", figures, None, None, generated="2026-12-05")
    document = markdown_document(skipped, previous)

    # Then the section is there as it was, marked as kept from the run that measured it
    assert "## Click redirect\n\n`GET /c/{token}`" in document and "**p50 3.4 ms, p99 5.1 ms**" in document
    assert "*Kept from an earlier run (`nudge bench` on 2026-12-04, unless the text above says otherwise)" in document
    assert "kept from an earlier run as each says (Click redirect)" in document


def test_the_click_figures_come_back_from_their_subprocess_as_they_went():
    figures = _clicks()

    assert ClickFigures(**json.loads(json.dumps(figures.as_json()))) == figures


def test_the_click_redirect_stage_is_on_by_default_and_its_count_is_in_the_command_when_changed():
    from infra.bench.cli import add_arguments, command_line

    parser = argparse.ArgumentParser()
    add_arguments(parser)

    assert parser.parse_args([]).click_requests == 200
    assert "--click-requests" not in command_line(parser.parse_args([]))
    assert command_line(parser.parse_args(["--click-requests", "0"])).endswith("nudge bench --click-requests 0")


# ---------------------------------------------------------------- cold imports


def test_the_import_table_shows_both_modes_and_the_target_takes_the_worst_of_them():
    imports = ImportFigures(
        runs=7,
        columns={
            BYTECODE: ImportColumn(150.0, {"Ingest": 270.0, "ChannelRouter": 285.0}),  # 1.80, 1.90
            SOURCE: ImportColumn(800.0, {"Ingest": 1640.0, "ChannelRouter": 1500.0}),  # 2.05, 1.88
        },
        slowest="ChannelRouter",
        heaviest=[("shared", 40.0)],
    )
    report = Report("nudge bench", "shop.yaml", figures_of(_run(_meter())), None, imports)

    text = "\n".join(render(report, markdown=False))
    assert re.search(r"^Ingest\s+270\s+1\.80\s+1,640\s+2\.05$", text, flags=re.MULTILINE)
    assert re.search(r"^boto3 \(bare\)\s+150\s+1\.00\s+800\s+1\.00$", text, flags=re.MULTILINE)
    assert imports.worst == ("Ingest", SOURCE, pytest.approx(2.05))
    assert report.target_values()["import_ratio"] == pytest.approx(2.05)
    assert re.search(r"handler import vs bare boto3 .*\s2\.050\s+missed$", text, flags=re.MULTILINE)
    markdown = "\n".join(render(report, markdown=True))
    assert "| module | ms, .pyc | x boto3, .pyc | ms, no .pyc | x boto3, no .pyc |" in markdown


@pytest.mark.parametrize(("mode", "compiled"), [(BYTECODE, True), (SOURCE, False)])
def test_an_import_from_source_finds_no_bytecode_and_writes_none(tmp_path, mode, compiled):
    """The stdlib's own __pycache__ holds json's bytecode: the source mode must not find it, nor write any."""
    env = mode_environment(lambda_environment(), mode, str(tmp_path))
    probe = "import importlib.util, json, os; print(os.path.exists(importlib.util.cache_from_source(json.__file__)))"
    for _ in range(2):  # the first run writes the cache when bytecode is allowed
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(compiled)
    assert bool(list(tmp_path.rglob("*.pyc"))) is compiled


def test_imports_are_timed_in_the_environment_the_template_gives_every_function(monkeypatch):
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "")  # the developer's own setting does not leak in
    env = lambda_environment()

    assert env["POWERTOOLS_SERVICE_NAME"] == "nudge"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"  # the LogLevel parameter's default
    assert env["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    assert "CUSTOMERS_TABLE" not in template_environment()  # a resource's name: nothing reads it at import


def test_another_checkout_is_measured_by_its_own_template(tmp_path):
    (tmp_path / "template.yaml").write_text(
        "Globals:\n"
        "  Function:\n"
        "    Environment:\n"
        "      Variables: {POWERTOOLS_SERVICE_NAME: older}\n"
        "Resources:\n"
        "  IngestFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: functions.ingest.handler.lambda_handler}\n"
    )

    assert handler_modules(tmp_path) == {"Ingest": "functions.ingest.handler"}
    env = lambda_environment(tmp_path)
    assert env["POWERTOOLS_SERVICE_NAME"] == "older"
    assert "PYDANTIC_DISABLE_PLUGINS" not in env  # that checkout's template did not set it


def test_by_default_the_imports_of_every_function_in_the_template_are_measured():
    assert set(handler_modules()) == {
        "Ingest",
        "StateUpdater",
        "ChannelRouter",
        "CustomerApi",
        "Feedback",
        "PublicApi",
        "FanOut",
    }
    assert functions_refused(None) is None and functions_refused(["Ingest", "FanOut"]) is None


def test_a_function_the_template_does_not_have_is_refused_by_name_before_anything_runs(capsys):
    from infra.bench.cli import add_arguments, run_cli

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--import-functions", "Ingest,Ingset", "--no-markdown"])

    assert run_cli(args) == 2
    said = capsys.readouterr().err
    assert "--import-functions Ingset: choose among ChannelRouter, CustomerApi, FanOut" in said
    assert "pipeline" not in said  # refused before the first measurement
    assert functions_refused([]) is not None


def test_the_instruction_count_is_read_from_cachegrinds_summary():
    report = "==1== Cachegrind, a high-precision tracing profiler\n==1== \n==1== I   refs:      1,416,239,015\n"

    assert instructions_executed(report) == 1_416_239_015
    with pytest.raises(ValueError, match="I refs"):
        instructions_executed("==1== valgrind: failed to start tool\n")


def test_the_backtest_s_peak_memory_is_its_own_not_what_exec_carried_over(tmp_path):
    from infra.bench.backtest import peak_rss_mb

    # Given a process whose own high-water mark is 150 MB (Linux's VmHWM) while ru_maxrss remembers its parent's 454 MB
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  146484 kB\nVmRSS:\t  140000 kB\n")
    # Then the peak reported is the process's own
    assert round(peak_rss_mb(status)) == 150
    # And with nothing to read it falls back to getrusage, a positive figure
    assert peak_rss_mb(tmp_path / "missing") > 0


def test_the_routers_puts_are_told_apart_as_offer_codes_handed_out_and_in_app_inbox_messages():
    # Given the two items the router puts: a code handed out with a message, and a message in the in-app inbox
    def router_put(pk: str) -> WrittenItem:
        return WrittenItem("ChannelRouterFunction", "PutItem", "customers", 200, 1, pk)

    # Then each is counted in its own row of the writes breakdown
    assert write_kind(router_put("demo-shop#offer#CART-7Q2X")) == "offer code handed out (router PutItem)"
    assert write_kind(router_put("demo-shop#u:ada")) == "in-app inbox (router PutItem)"
    assert write_kind(
        WrittenItem("ChannelRouterFunction", "UpdateItem", "customers", 90, 1, "phone#+4915112345678")
    ) == ("phone index (router UpdateItem)")
    assert write_kind(WrittenItem("ChannelRouterFunction", "UpdateItem", "customers", 300, 1, "demo-shop#u:ada")) == (
        "send ledger (router UpdateItem)"
    )


def test_the_churn_counters_an_order_moves_have_their_own_row_of_the_writes_breakdown():
    def updater_update(pk: str) -> WrittenItem:
        return WrittenItem("StateUpdaterFunction", "UpdateItem", "customers", 180, 1, pk)

    assert write_kind(updater_update("demo-shop#churn")) == "churn counters (updater UpdateItem)"
    assert write_kind(updater_update("demo-shop#customers")) == "StateUpdaterFunction UpdateItem"  # the distribution


# ---------------------------------------------------------------- date sweeps and local-time campaigns


def test_a_sweep_asks_each_of_its_4_parts_for_pages_of_500_customers():
    assert sweep_pages(400) == 4  # a page each part
    assert sweep_pages(2_001) == 8  # a part of 501 takes two
    assert sweep_pages(1_000_000) == 2_000
    assert sweep_pages(10_000_000) == 20_000


def test_a_sweep_measured_on_400_customers_scales_its_reads_per_customer_and_the_rest_per_page():
    # Given what a daily sweep of 400 customers added: a scheduled start, 4 pages (a scan each), 20 read units
    # the scans billed, 1 unit the pager read besides, 3 SQS requests a page, 20 ms of assumed latency a call
    # and 20 ms of the pager's own compute
    asl = json.loads(FAN_OUT_ASL.read_text())
    no_sweep = Run(write_units=800, read_units=800, sqs_requests=2_400, lambda_requests=1_600)
    swept = Run(
        write_units=800,
        read_units=800,
        sqs_requests=2_400,
        lambda_requests=1_600,
        jobs=1,
        parts=4,
        pages=4,
        scans=4,
        sweeps=1,
        page_sqs=12,
        fan_out_other_invocations=1,
        fan_out_reads=1.0,
        fan_out_compute=0.02,
        fan_out_latency_ms=100.0,
        scan_units=20.0,
    )
    sweep = swept.minus(no_sweep)

    # When it is scaled to a million customers
    units = scaled(sweep, 400, 1_000_000, asl)

    # Then the reads grow with the customers, the pages are 4 parts of 500 (not 100 as measured), each a Lambda
    # request, 3 SQS requests and 3 transitions, and the scheduled start is one request whatever the size
    assert pages_at(sweep, 1_000_000) == 2_000
    assert units == pytest.approx(
        {
            "dynamodb_write": 0.0,
            "dynamodb_read": 20.0 * 2_500 + 1.0 / 4 * 2_000,
            "sqs_request": 6_000.0,
            "lambda_request": 2_001.0,
            "lambda_gb_second": (0.02 * 2_500 * 1769 / 512 + (20.0 + 0.5) / 1000 * 2_001) * 512 / 1024,
            "sfn_transition": 6_003.0,  # start, end and the Map once, 3 a page
            "ses_email": 0.0,
        }
    )


def test_the_pages_a_wave_asks_before_its_start_do_not_grow_with_the_members():
    # Given a local-time campaign measured on 400 members: 27 jobs of 4 parts, each part asking once before its
    # wave starts and once to sweep, every member sent one message
    asl = json.loads(FAN_OUT_ASL.read_text())
    local = Run(jobs=27, parts=108, pages=216, scans=108, sweeps=27, page_sqs=648, emails=400)

    # Then at a million members the 108 waiting pages stay 108 and each of the 27 sweeps takes 2,000
    assert pages_at(local, 1_000_000) == 108 + 27 * 2_000
    units = scaled(local, 400, 1_000_000, asl)
    assert units["sfn_transition"] == 27 * 3 + 54_108 * 3
    assert units["sqs_request"] == 54_108 * 3
    assert units["ses_email"] == 1_000_000


def test_the_campaign_item_keeps_its_size_and_each_page_and_message_is_billed_on_it():
    # Given an item of 1,000 B (1,060 B with its counters), 3 pages and 30 messages counted
    progress = progress_item(3, 30, 1_000)

    # Then each page reads it (1 unit) and writes it once plus once in a transaction with its marker (2 + 2 units),
    # each message writes it once: one unit a KB started, whatever the number of pages
    assert (progress.pages, progress.messages, progress.final_bytes) == (3, 30, 1_060)
    assert (progress.page_writes, progress.outcome_writes, progress.reads) == (3 * (2 + 2 + 4), 30 * 2, 3)
