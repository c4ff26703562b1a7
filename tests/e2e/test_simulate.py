"""`nudge simulate` as a shop's analyst runs it: a history file in, one JSON line per message out, in virtual time.

The journeys of tests/integration/test_journeys.py (and, with real Step Functions, test_journeys_on_stack.py),
replayed from a hand-written history with the fast shop: simulate reproduces what the local stack does, without
waiting. A run on moto is a subprocess, because moto's ``mock_aws`` resets every emulator backend in the process
when it ends (the test session's local stack included); a run on the in-memory adapters (the default) goes through
the same command line in this process, which saves each run an interpreter's start (it restores the environment, the
clock and the logs it changes when it ends).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import cli
from tests.conftest import DEMO_CONFIG, FAST_CONFIG

PACED_CONFIG = DEMO_CONFIG.with_name("paced-shop.yaml")

ROOT = Path(__file__).resolve().parents[2]
NUDGE = Path(sys.executable).with_name("nudge")
MONTH = ROOT / "events" / "history" / "small-shop-month.jsonl"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FIELDS = {"at", "customer", "journey", "step", "template", "channel", "status", "reason", "title"}

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------- the history, as a shop's client sent it

_ids = iter(range(1, 10_000))


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def message(kind: str, user: str, seconds: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "userId": user, "messageId": f"h{next(_ids)}", "timestamp": at(seconds), **fields}


def track(event: str, user: str, seconds: float, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    return message("track", user, seconds, event=event, properties=properties or {})


def consent(channel: str, user: str, seconds: float, status: str = "granted") -> dict[str, Any]:
    properties = {"channel": channel, "status": status, "source": "signup-form", "notice_version": "v3"}
    return track("Consent Updated", user, seconds, properties)


def shopper(user: str, seconds: float, *channels: str) -> list[dict[str, Any]]:
    identify = message("identify", user, seconds, traits={"firstName": "Jo", "email": f"{user}@example.com"})
    return [identify, *(consent(channel, user, seconds) for channel in channels)]


def boots(cart: str = "c1") -> dict[str, Any]:
    return {"product_id": "boots", "name": "Boots", "price": 99.0, "cart_id": cart}


def journeys_history() -> list[dict[str, Any]]:
    """Six customers, each living one journey of the integration tests, all in one history."""
    added_twice = track("Product Added", "dup", 1, boots())
    return [
        # an abandoned cart
        *shopper("cart", 0, "email"),
        track("Product Added", "cart", 0, boots()),
        # the order came first
        *shopper("bought", 0, "email"),
        track("Product Added", "bought", 0, boots()),
        track("Order Completed", "bought", 0.5, {"order_id": "o-bought", "cart_id": "c1", "products": [boots()]}),
        # consent withdrawn while the reminder waits
        *shopper("withdraw", 0, "email"),
        track("Product Added", "withdraw", 0, boots()),
        consent("email", "withdraw", 1, status="withdrawn"),
        # the same message three times (a client's retries)
        *shopper("dup", 0, "email"),
        added_twice,
        dict(added_twice),
        dict(added_twice),
        # an order: post-purchase and the repeat-purchase window
        *shopper("buyer", 0, "email", "in_app"),
        track(
            "Order Completed",
            "buyer",
            0,
            {"order_id": "o-buyer", "revenue": 99.0, "products": [{**boots(), "category": "shoes"}]},
        ),
        # a buyer active every two seconds for fourteen seconds (the fast shop's reactivation waits six)
        *shopper("active", 0, "email"),
        track(
            "Order Completed",
            "active",
            0,
            {"order_id": "o-active", "revenue": 10.0, "products": [{"product_id": "tea"}]},
        ),
        *(track("Product Viewed", "active", 2 * n, {"product_id": "tea"}) for n in range(1, 8)),
    ]


# ---------------------------------------------------------------- running the command


def write_history(path: Path, messages: list[dict[str, Any]]) -> Path:
    # Written out of order on purpose: simulate replays in timestamp order.
    path.write_text("".join(json.dumps(m) + "\n" for m in reversed(messages)), encoding="utf-8")
    return path


def simulate(config: Path, history: Path, *extra: str, timeout: float = 240) -> tuple[list[dict[str, Any]], str]:
    """Run ``nudge simulate``; the JSON lines of stdout, and stderr."""
    if "moto" not in extra:
        return simulate_here(config, history, *extra)
    done = subprocess.run(
        [str(NUDGE), "simulate", "--config", str(config), "--events", str(history), *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "TZ": "UTC"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def simulate_here(config: Path, history: Path, *extra: str) -> tuple[list[dict[str, Any]], str]:
    """``nudge simulate`` on the in-memory adapters, its command line run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["simulate", "--config", str(config), "--events", str(history), *extra])
    assert code == 0, err.getvalue()
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


@pytest.fixture(scope="module")
def journeys(tmp_path_factory) -> list[dict[str, Any]]:
    history = write_history(tmp_path_factory.mktemp("simulate") / "journeys.jsonl", journeys_history())
    lines, _ = simulate(FAST_CONFIG, history)
    return lines


def of(lines: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["customer"] == f"u:{user}"]


def templates(lines: list[dict[str, Any]], user: str, status: str = "sent") -> list[str]:
    return [line["template"] for line in of(lines, user) if line["status"] == status]


# ---------------------------------------------------------------- the journeys, as on the local stack


def test_every_line_says_when_who_what_and_how_it_went(journeys):
    assert journeys and all(set(line) == FIELDS for line in journeys)
    moments = [line["at"] for line in journeys]
    assert moments == sorted(moments)  # reported as they happen, in virtual time


def test_a_cart_reminder_arrives_two_seconds_after_the_cart_was_left_then_the_offer(journeys):
    lines = {line["template"]: line for line in of(journeys, "cart")}
    reminder, offer = lines["cart_reminder"], lines["cart_offer"]
    assert (reminder["status"], reminder["channel"], reminder["at"]) == ("sent", "email", at(2))
    assert "Jo" in reminder["title"]
    assert (offer["status"], offer["at"]) == ("sent", at(4))


def test_a_purchase_before_the_reminder_means_no_reminder(journeys):
    assert [line for line in of(journeys, "bought") if line["template"].startswith("cart_")] == []


def test_consent_withdrawn_during_the_wait_is_suppressed_as_no_consent(journeys):
    reminder = next(line for line in of(journeys, "withdraw") if line["template"] == "cart_reminder")
    assert (reminder["status"], reminder["reason"], reminder["channel"]) == ("suppressed", "no_consent", None)


def test_a_duplicated_event_starts_one_journey_instance(journeys):
    assert templates(journeys, "dup").count("cart_reminder") == 1
    assert templates(journeys, "dup").count("cart_offer") == 1


def test_an_order_runs_the_post_purchase_sequence_and_the_repeat_purchase_offer(journeys):
    sent = templates(journeys, "buyer")
    for template in ("order_thank_you", "review_request", "cross_sell", "repeat_offer"):
        assert template in sent, sent
    assert "repeat_thank_you" not in sent  # no second order inside the window


def test_a_customer_active_all_the_time_never_gets_a_reactivation_until_they_go_quiet(journeys):
    reactivation = [line for line in of(journeys, "active") if line["journey"] == "reactivation"]
    first = next(line for line in reactivation if line["template"] == "reactivation")
    # last activity at 14 s, six seconds of quiet: not a second earlier
    assert (first["status"], first["at"]) == ("sent", at(20))


# ---------------------------------------------------------------- time rules, from the real code


def test_a_text_message_due_at_night_goes_out_when_the_recipients_morning_begins(tmp_path):
    # Given an SMS-only customer in Berlin who leaves a cart at 21:30 (the reminder is due an hour later)
    evening = datetime(2026, 11, 2, 20, 30, tzinfo=UTC)  # 21:30 in Berlin (CET)
    stamp = evening.isoformat().replace("+00:00", "Z")
    history = [
        {"type": "identify", "userId": "night", "traits": {"phone": "+4915112345678"}, "timestamp": stamp},
        {
            "type": "track",
            "event": "Consent Updated",
            "userId": "night",
            "properties": {"channel": "sms", "status": "granted", "source": "checkout", "notice_version": "v3"},
            "timestamp": stamp,
        },
        {"type": "track", "event": "Product Added", "userId": "night", "properties": boots(), "timestamp": stamp},
    ]

    # When the demo shop's history is simulated
    lines, _ = simulate(DEMO_CONFIG, write_history(tmp_path / "night.jsonl", history))

    # Then the reminder is held back by quiet hours and sent at 08:00 Berlin time the next morning
    reminder = next(line for line in lines if line["template"] == "cart_reminder")
    assert (reminder["channel"], reminder["status"], reminder["at"]) == ("sms", "sent", "2026-11-03T07:00:00Z")


@pytest.mark.parametrize("emulator", ["memory", "moto"])
def test_a_shop_that_allows_one_message_a_day_sends_the_second_journeys_message_the_next_day(tmp_path, emulator):
    # Given the paced shop (one marketing message a day) and a customer who signs up and leaves a cart at once
    history = [*shopper("fay", 0, "email"), track("Product Added", "fay", 1, boots())]

    # When the history is simulated
    lines, _ = simulate(PACED_CONFIG, write_history(tmp_path / "paced.jsonl", history), "--emulator", emulator)

    # Then the welcome (due after 1 s) took the day's slot and the cart reminder (due after 2 s) went a day later
    sent = {
        line["template"]: datetime.fromisoformat(line["at"]) for line in of(lines, "fay") if line["status"] == "sent"
    }
    assert set(sent) == {"welcome", "cart_reminder"}
    assert sent["cart_reminder"] - sent["welcome"] == timedelta(days=1)


@pytest.mark.parametrize("emulator", ["memory", "moto"])
def test_a_best_time_step_goes_out_in_the_hour_each_customer_is_most_active(tmp_path, emulator):
    # Given the fast shop with a welcome that waits for the best hour within a day
    config = FAST_CONFIG.read_text(encoding="utf-8").replace(
        "      - {wait: PT1S, template: welcome, offer: {percent: 10, valid_for: P14D, prefix: WELCOME}}\n"
        "      - {wait: PT2S, template: welcome_loyalty}\n",
        "      - {wait: PT1S, template: welcome, send_time: best, within: P1D}\n",
    )
    assert "send_time: best" in config
    (tmp_path / "shop.yaml").write_text(config, encoding="utf-8")
    # and a customer who browsed at 20:30 Berlin time on twelve evenings, and one nudge knows nothing of
    berlin = {"timezone": "Europe/Berlin"}
    evenings = [
        {**track("Product Viewed", "eve", -86400 * day + 11 * 3600 - 1800, {"product_id": "tea"}), "context": berlin}
        for day in range(1, 13)
    ]
    signups = [{**m, "context": berlin} for m in (*shopper("eve", 0, "email"), *shopper("new", 0, "email"))]

    # When both sign up at 10:00 Berlin time (the welcome is due a second later)
    history = write_history(tmp_path / "best.jsonl", [*evenings, *signups])
    lines, _ = simulate(tmp_path / "shop.yaml", history, "--emulator", emulator)

    # Then the evening browser gets it at 20:00 her time, the new customer at once (the shop's hour, 10:00)
    sent = {line["customer"]: line["at"] for line in lines if line["template"] == "welcome"}
    assert sent == {"u:eve": "2026-11-02T19:00:00Z", "u:new": "2026-11-02T09:00:01Z"}


@pytest.mark.parametrize("emulator", ["memory", "moto"])
def test_a_simulation_never_calls_the_shops_offer_webhook(tmp_path, emulator):
    # Given the fast shop whose cart offer codes are registered through a webhook nobody could reach
    config = FAST_CONFIG.read_text(encoding="utf-8") + "offers:\n  CART: {webhook: 'https://shop.invalid/codes'}\n"
    (tmp_path / "shop.yaml").write_text(config, encoding="utf-8")
    history = [*shopper("cara", 0, "email"), track("Product Added", "cara", 1, boots())]

    # When a customer's cart offer comes due in a simulation
    lines, _ = simulate(tmp_path / "shop.yaml", write_history(tmp_path / "h.jsonl", history), "--emulator", emulator)

    # Then it is sent as if the shop had acknowledged the code (no request left the machine)
    assert ("cart_offer", "sent") in {(line["template"], line["status"]) for line in of(lines, "cara")}


OFFERS = """
offers:
  CART: {pool: cart-codes}
offer_decisions:
  once_per: P7D
  tiers:
    - {name: first_visit, segments: [new_visitor], offer: {free_shipping: true, static: FREESHIP}}
    - {name: returning, segments: [new_customer, repeat], offer: {percent: 5, prefix: BACK}}
"""


def test_pool_uploads_and_offer_decisions_in_a_history_are_made_at_their_time_on_both_emulators(tmp_path):
    # Given the fast shop, whose cart offer codes come from a pool, and which decides offers for its pages
    (tmp_path / "shop.yaml").write_text(FAST_CONFIG.read_text(encoding="utf-8") + OFFERS, encoding="utf-8")
    # and a history in which the shop uploads one code, two customers leave carts, and one of them, asked about
    # on an exit-intent page before and a week after her first order, buys
    week = 7 * 86400 + 60  # past the once-a-week period of the first decision
    history = [
        {"type": "offer_pool", "timestamp": at(0), "pool": "cart-codes", "codes": ["SAVE-1"]},
        *shopper("ana", 0, "email"),
        *shopper("ben", 0, "email"),
        track("Product Added", "ana", 1, boots()),
        track("Product Added", "ben", 2, boots()),
        {"type": "offer_decision", "timestamp": at(3), "customer_id": "ana", "placement": "exit_intent"},
        track("Order Completed", "ana", 10, {"order_id": "o-ana", "revenue": 99.0, "products": [boots()]}),
        {"type": "offer_decision", "timestamp": at(week), "customer_id": "ana", "placement": "exit_intent"},
    ]
    path = write_history(tmp_path / "offers.jsonl", history)

    # When it is simulated on the in-memory adapters and on moto
    lines, _ = simulate(tmp_path / "shop.yaml", path)
    on_moto, _ = simulate(tmp_path / "shop.yaml", path, "--emulator", "moto")

    # Then the upload's answer is printed at its time, the pool's one code goes to the first cart offer and the
    # second is held back as the pool is empty
    assert lines[0] == {
        "at": at(0),
        "request": "offer_pool",
        "status": 200,
        "answer": {"pool": "cart-codes", "uploaded": 1, "available": 1},
    }
    offers = {line["customer"]: line for line in lines if line.get("template") == "cart_offer"}
    assert offers["u:ana"]["status"] == "sent"
    assert (offers["u:ben"]["status"], offers["u:ben"]["reason"]) == ("suppressed", "offer_pool_empty")
    # and each decision is what the customer's state was then: free shipping as a first visitor, a 5 % code of
    # her own a week after her first order
    decisions = [line for line in lines if line.get("request") == "offer_decision"]
    assert [(d["at"], d["customer"], d["answer"]["tier"]) for d in decisions] == [
        (at(3), "u:ana", "first_visit"),
        (at(week), "u:ana", "returning"),
    ]
    assert decisions[0]["answer"]["offer"]["code"] == "FREESHIP"
    assert decisions[1]["answer"]["offer"]["code"].startswith("BACK") and not decisions[1]["answer"]["repeat"]
    # and moto printed the same lines
    # the same lines on moto (customers told at the same second come in the order the queue hands their groups out)
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)


def test_a_history_line_the_api_refuses_is_named_and_the_rest_goes_on(tmp_path):
    (tmp_path / "shop.yaml").write_text(FAST_CONFIG.read_text(encoding="utf-8") + OFFERS, encoding="utf-8")
    history = [
        {"type": "offer_decision", "timestamp": at(0), "customer_id": "ana", "placement": "footer"},
        {"type": "offer_pool", "timestamp": at(1), "pool": "cart-codes", "codes": ["SAVE-1", "SAVE-1"]},
        *shopper("ana", 2, "email"),
    ]

    lines, stderr = simulate(tmp_path / "shop.yaml", write_history(tmp_path / "bad.jsonl", history), "--summary")

    assert "history line 4 (offer_decision) refused (400)" in stderr and "placement" in stderr
    assert "history line 3 (offer_pool) refused (400)" in stderr and "SAVE-1" in stderr
    assert lines[-1]["summary"]["rejected"] == 2
    assert "welcome" in {line.get("template") for line in lines}


def test_until_stops_the_clock_there(tmp_path):
    history = write_history(tmp_path / "cart.jsonl", journeys_history()[:3])  # the abandoned cart only

    lines, _ = simulate(FAST_CONFIG, history, "--until", "PT3S", "--summary")

    *outcomes, last = lines
    assert "cart_reminder" in [line["template"] for line in outcomes]
    assert "cart_offer" not in [line["template"] for line in outcomes]  # due at 4 s
    assert last["summary"]["virtual_end"] == at(3)


def test_a_history_without_timestamps_is_refused_with_its_line(tmp_path):
    history = tmp_path / "bad.jsonl"
    history.write_text('{"type": "track", "event": "Product Viewed", "userId": "u1"}\n', encoding="utf-8")

    done = subprocess.run(
        [str(NUDGE), "simulate", "--config", str(FAST_CONFIG), "--events", str(history)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TZ": "UTC"},
        check=False,
    )

    assert done.returncode == 2
    assert f"{history}:1" in done.stderr and "timestamp" in done.stderr


# ---------------------------------------------------------------- a month of a small shop


@pytest.fixture(scope="module")
def month() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    lines, _ = simulate(DEMO_CONFIG, MONTH, "--summary", timeout=280)
    *outcomes, last = lines
    return outcomes, last["summary"]


def test_a_month_of_a_small_shop_replays_every_event_and_ends_with_totals(month):
    _, summary = month
    events = sum(1 for line in MONTH.read_text(encoding="utf-8").splitlines() if line.strip())
    assert summary["events"] == events and summary["rejected"] == 0 and summary["failed_records"] == 0
    assert summary["virtual_days"] >= 30  # the month, and the waits it armed (reactivation after 60 days)
    assert 0 < summary["executions_per_event"] < 1  # lazy re-arm: far fewer executions than events
    # ran until nothing was pending: every execution woke the customer at least once (a sequence's, once per step)
    assert summary["timers_fired"] >= summary["timer_executions"]
    assert summary["messages"]["sent"] > 100
    assert set(summary["by_journey"]) == {
        "cart_abandonment",
        "welcome",
        "post_purchase",
        "repeat_purchase",
        "reactivation",
    }


def test_the_month_totals_add_up_to_the_lines(month):
    outcomes, summary = month
    counted = Counter((line["journey"], line["channel"] or "-", line["status"]) for line in outcomes)
    totals = {
        (journey, channel, status): count
        for journey, channels in summary["by_journey"].items()
        for channel, statuses in channels.items()
        for status, count in statuses.items()
    }
    assert totals == dict(counted)
    assert {line["status"] for line in outcomes} <= {"sent", "suppressed", "failed"}
    assert len({(line["customer"], line["journey"], line["step"], line["at"]) for line in outcomes}) == len(outcomes)


def test_summary_shape(month):
    _, summary = month
    assert set(summary) == {
        "events",
        "requests",
        "rejected",
        "virtual_start",
        "virtual_end",
        "virtual_days",
        "wall_seconds",
        "setup_seconds",
        "events_per_second",
        "timer_executions",
        "timers_fired",
        "executions_per_event",
        "failed_records",
        "deferrals",
        "messages",
        "by_journey",
    }
    assert summary["virtual_start"] < summary["virtual_end"]
    assert summary["wall_seconds"] > 0 and summary["events_per_second"] > 0


# ---------------------------------------------------------------- the catalogue: a restock and its waiting customers


def restock_shop(tmp_path: Path, rate: int) -> Path:
    """The fast shop with the back-in-stock journey alone, telling ``rate`` customers a second."""
    import yaml

    config = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    config["journeys"] = {"back_in_stock": {}}
    config["catalog"] = {"restock_rate": rate}
    path = tmp_path / "restock-shop.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def restock_history(waiting: int, restock_at: float) -> list[dict[str, Any]]:
    """A product out of stock, ``waiting`` customers asking to hear when it is back, then the shop's restock."""
    product = {
        "id": "lamp",
        "title": "Desk lamp",
        "link": "https://fast.shop.example/p/lamp",
        "price": "49.00 EUR",
        "availability": "out_of_stock",
    }
    lines: list[dict[str, Any]] = [{"type": "catalog", "timestamp": at(0), "products": [product]}]
    grant = {"channel": "email", "status": "granted", "source": "signup-form", "notice_version": "v3"}
    for n in range(waiting):
        user, stamp = f"w{n:05}", at(1 + n * 0.001)
        said = {"userId": user, "timestamp": stamp}
        lines += [
            {**said, "type": "identify", "messageId": f"r-{n}-i", "traits": {"email": f"{user}@example.com"}},
            {**said, "type": "track", "event": "Consent Updated", "messageId": f"r-{n}-c", "properties": grant},
            {**said, "type": "track", "event": "Back In Stock Requested", "messageId": f"r-{n}-w"}
            | {"properties": {"product_id": "lamp"}},
        ]
    restock = {"products": [{"id": "lamp", "availability": "in_stock"}]}
    return [*lines, {"type": "catalog", "timestamp": at(restock_at), **restock}]


def test_a_restock_in_a_history_tells_each_waiting_customer_once_on_both_emulators(tmp_path):
    config = restock_shop(tmp_path, rate=1000)
    path = write_history(tmp_path / "restock.jsonl", restock_history(30, restock_at=60))

    lines, _ = simulate(config, path)
    on_moto, _ = simulate(config, path, "--emulator", "moto")

    answers = [line for line in lines if line.get("request") == "catalog"]
    assert [(a["at"], a["answer"]["created"], a["answer"]["updated"]) for a in answers] == [
        (at(0), 1, 0),
        (at(60), 0, 1),
    ]
    assert {"id": "lamp", "field": "availability", "from": "out_of_stock", "to": "in_stock"} in answers[1]["answer"][
        "changes"
    ]
    told = [line for line in lines if line.get("template") == "back_in_stock"]
    assert sorted(line["customer"] for line in told) == [f"u:w{n:05}" for n in range(30)]
    assert {(line["status"], line["at"]) for line in told} == {("sent", at(60))}
    # the same lines on moto (customers told at the same second come in the order the queue hands their groups out)
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)


@pytest.mark.slow(seconds=25)
def test_a_restock_of_a_popular_product_reaches_thousands_at_the_shops_rate(tmp_path):
    waiting, rate = 2000, 100  # pages of 500: one every 5 s of virtual time
    config = restock_shop(tmp_path, rate=rate)
    path = write_history(tmp_path / "restock.jsonl", restock_history(waiting, restock_at=60))

    lines, _ = simulate(config, path, "--summary", timeout=600)

    told = [line for line in lines if line.get("template") == "back_in_stock"]
    customers = Counter(line["customer"] for line in told)
    assert len(customers) == waiting and set(customers.values()) == {1}  # everyone, once
    assert {line["status"] for line in told} == {"sent"}
    per_second = Counter(line["at"] for line in told)
    assert max(per_second.values()) <= 500  # one page at a time
    first, last = min(per_second), max(per_second)
    spread = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    assert spread >= (waiting / 500 - 1) * 500 / rate  # 4 pages, 5 s apart at 100 a second
    assert lines[-1]["summary"]["rejected"] == 0


@pytest.mark.parametrize("starts_after", [0, 3 * 86400], ids=["now", "a sale three days later"])
def test_a_price_drop_in_a_history_sweeps_the_customers_on_both_emulators(tmp_path, starts_after):
    import yaml

    config = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    config["journeys"] = {"price_drop": {}}
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    product = {"id": "lamp", "title": "Reading lamp", "link": "https://fast.shop.example/p/lamp"}
    history: list[dict[str, Any]] = [
        {
            "type": "catalog",
            "timestamp": at(0),
            "products": [{**product, "price": "100.00 EUR", "availability": "in_stock"}],
        }
    ]
    for n in range(12):
        user = f"v{n:02}"
        history += [*shopper(user, 1, "email"), track("Product Viewed", user, 2, {"product_id": "lamp"})]
    history += [
        *shopper("bystander", 1, "email"),
    ]
    if starts_after:  # announced at 60 s, from a moment three days later
        period = f"{at(60 + starts_after)}/{at(60 + starts_after + 86400)}"
        drop = {"id": "lamp", "sale_price": "80.00 EUR", "sale_price_effective_date": period}
    else:
        drop = {"id": "lamp", "price": "80.00 EUR"}
    history.append({"type": "catalog", "timestamp": at(60), "products": [drop]})
    path = write_history(tmp_path / "drop.jsonl", history)

    lines, _ = simulate(tmp_path / "shop.yaml", path)
    on_moto, _ = simulate(tmp_path / "shop.yaml", path, "--emulator", "moto")

    told = [line for line in lines if line.get("template") == "price_drop"]
    assert sorted(line["customer"] for line in told) == [f"u:v{n:02}" for n in range(12)]
    assert {(line["status"], line["at"]) for line in told} == {("sent", at(60 + starts_after))}
    assert "80.00" in told[0]["title"]
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)


def test_browse_abandonment_and_the_free_shipping_gap_in_a_history_on_both_emulators(tmp_path):
    catalogue = [
        {"id": "lamp", "title": "Reading lamp", "link": "https://fast.shop.example/p/lamp", "price": "49.00 EUR"}
        | {"availability": "in_stock", "quantity": 2},
        {"id": "mug", "title": "Enamel mug", "link": "https://fast.shop.example/p/mug", "price": "39.90 EUR"}
        | {"availability": "in_stock", "related": ["lamp"]},
    ]
    cart = {"cart_id": "c1", "products": [{"product_id": "mug", "name": "Enamel mug", "price": 39.9}]}
    history = [
        {"type": "catalog", "timestamp": at(0), "products": catalogue},
        *shopper("looker", 1, "email"),
        track("Product Viewed", "looker", 2, {"product_id": "lamp", "name": "Reading lamp", "price": 49.0}),
        *shopper("app", 1, "in_app"),
        track("Application Installed", "app", 1, {"version": "4.2"}),
        track("Cart Viewed", "app", 10, cart),
    ]
    path = write_history(tmp_path / "catalogue.jsonl", history)

    lines, _ = simulate(FAST_CONFIG, path)
    on_moto, _ = simulate(FAST_CONFIG, path, "--emulator", "moto")

    [reminder] = [line for line in lines if line.get("template") == "browse_reminder"]
    assert (reminder["customer"], reminder["status"], reminder["at"]) == ("u:looker", "sent", at(5))  # 3 s after
    [gap] = [line for line in lines if line.get("template") == "free_shipping_nudge"]
    assert (gap["customer"], gap["channel"], gap["at"]) == ("u:app", "in_app", at(10))
    assert "€10.10" in gap["title"]
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)


def test_the_cross_sell_in_a_history_recommends_what_others_bought_with_the_order_on_both_emulators(tmp_path):
    import yaml

    config = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    config["journeys"] = {"post_purchase": config["journeys"]["post_purchase"]}
    # The shop's own subject line names what the message shows, so the outcome lines do too.
    title = "{{ products | map(attribute='name') | join(', ') or 'nothing' }} to go with your order"
    config["templates"] = {"overrides": {"cross_sell": {"en": {"email": {"title": title}}}}}
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    catalogue = [
        {"id": pid, "title": name, "link": f"https://fast.shop.example/p/{pid}", "price": "9.00 EUR"}
        | {"availability": availability}
        for pid, name, availability in (
            ("mug", "Enamel mug", "in_stock"),
            ("tea", "Green tea", "in_stock"),
            ("kettle", "Camp kettle", "out_of_stock"),
        )
    ]
    bought_together = [{"product_id": pid} for pid in ("mug", "tea", "kettle")]
    history = [{"type": "catalog", "timestamp": at(0), "products": catalogue}]
    for n in range(2):  # earlier customers bought the three together
        history.append(track("Order Completed", f"earlier{n}", 1, {"order_id": f"e{n}", "products": bought_together}))
    order = {"order_id": "o1", "revenue": 9.0, "products": [{"product_id": "mug", "name": "Enamel mug"}]}
    history += [*shopper("new", 2, "email"), track("Order Completed", "new", 3, order)]
    path = write_history(tmp_path / "orders.jsonl", history)

    lines, _ = simulate(tmp_path / "shop.yaml", path)
    on_moto, _ = simulate(tmp_path / "shop.yaml", path, "--emulator", "moto")

    # A customer with no browsing history gets what others bought with the mug: not the mug they own, not the
    # kettle that is out of stock
    [cross_sell] = [line for line in lines if line.get("template") == "cross_sell"]
    assert (cross_sell["customer"], cross_sell["status"]) == ("u:new", "sent")
    assert cross_sell["title"] == "Green tea to go with your order"
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)


def test_a_campaign_in_a_history_reaches_its_segment_at_send_at_on_both_emulators():
    # Given the fast shop (its segment `gold`: the trait tier is gold) and a history in which three customers
    # sign up, two of them gold, and the shop posts a campaign to the gold ones for an hour later
    history = [
        *shopper("ana", 0, "email"),
        *shopper("ben", 0, "email"),
        *shopper("cem", 0, "email"),
        message("identify", "ana", 1, traits={"tier": "gold"}),
        message("identify", "ben", 1, traits={"tier": "gold"}),
        {
            "type": "campaign",
            "timestamp": at(60),
            "id": "gold-day",
            "segment": "gold",
            "template": "birthday",
            "send_at": at(3600),
        },
    ]
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = write_history(Path(folder) / "campaign.jsonl", history)
        # When it is simulated on the in-memory adapters and on moto
        lines, _ = simulate(FAST_CONFIG, path)
        on_moto, _ = simulate(FAST_CONFIG, path, "--emulator", "moto")

    # Then the post is answered at its time, and each gold customer gets the campaign's message once, at send_at
    [posted] = [line for line in lines if line.get("request") == "campaign"]
    assert (posted["status"], posted["at"], posted["answer"]["status"]) == (201, at(60), "scheduled")
    sent = [(line["customer"], line["at"]) for line in lines if line.get("template") == "birthday"]
    assert sorted(sent) == [("u:ana", at(3600)), ("u:ben", at(3600))]
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)


def test_birthdays_and_an_occasion_in_a_history_are_sent_by_the_daily_sweep_on_both_emulators(tmp_path):
    # Given the fast shop with the birthday preset and Christmas two days ahead, and a history in which ana's
    # birthday is the day after the first message, ben's after Christmas, and cem (British) has no birthday at all
    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    document["journeys"] = {
        "birthday": {},
        "christmas": {"preset": "occasion", "trigger": {"occasion": "christmas", "days_before": 2, "at": "08:00"}},
    }
    config = tmp_path / "dates-shop.yaml"
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    tomorrow = (T0 + timedelta(days=1)).date()
    history = [
        *shopper("ana", 0, "email"),
        message("identify", "ana", 1, traits={"birthday": f"1990-{tomorrow:%m-%d}"}),
        *shopper("ben", 0, "email"),
        message("identify", "ben", 1, traits={"birthday": "1990-12-30"}),
        *shopper("cem", 0, "email"),
        message("identify", "cem", 1, traits={"country": "GB"}, context={"timezone": "Europe/London"}),
    ]
    path = write_history(tmp_path / "dates.jsonl", history)
    until = "2026-12-24T00:00:00Z"  # the history ends at once: the daily schedule plays until then

    # When it is simulated on the in-memory adapters and on moto
    lines, _ = simulate(config, path, "--until", until)
    on_moto, _ = simulate(config, path, "--until", until, "--emulator", "moto")

    # Then ana is greeted at 09:00 Berlin on her birthday, once; and everyone two days before Christmas at 08:00
    # in their zone; ben's birthday is after the end
    sent = sorted((line["customer"], line["template"], line["at"]) for line in lines if line.get("status") == "sent")
    assert sent == [
        ("u:ana", "birthday", f"{tomorrow}T08:00:00Z"),
        ("u:ana", "occasion", "2026-12-23T07:00:00Z"),
        ("u:ben", "occasion", "2026-12-23T07:00:00Z"),
        ("u:cem", "occasion", "2026-12-23T08:00:00Z"),
    ]
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)


def test_a_local_time_campaign_with_a_follow_up_in_a_history_on_both_emulators(tmp_path):
    # Given gold customers in Berlin and New York, and a two-step campaign at 09:00 in each one's own zone the next
    # day, the follow-up two days later to those who have not ordered (ana orders in between)
    history = [
        *shopper("ana", 0, "email"),
        *shopper("ben", 0, "email"),
        message("identify", "ana", 1, traits={"tier": "gold"}, context={"timezone": "Europe/Berlin"}),
        message("identify", "ben", 1, traits={"tier": "gold"}, context={"timezone": "America/New_York"}),
        {
            "type": "campaign",
            "timestamp": at(60),
            "id": "gold-morning",
            "segment": "gold",
            "steps": [{"template": "birthday"}, {"template": "welcome_loyalty", "wait": "P2D"}],
            "send_at": "2026-11-03T09:00:00Z",
            "local_time": True,
        },
        track("Order Completed", "ana", 86400 * 2, {"order_id": "o-ana", "revenue": 20.0}),
    ]
    path = write_history(tmp_path / "local.jsonl", history)

    # When it is simulated on the in-memory adapters and on moto
    lines, _ = simulate(FAST_CONFIG, path)
    on_moto, _ = simulate(FAST_CONFIG, path, "--emulator", "moto")

    # Then each gets the first message at 09:00 in their zone, and only ben the follow-up
    campaign = sorted(
        (line["customer"], line["template"], line["at"])
        for line in lines
        if line.get("journey") == "campaign:gold-morning" and line.get("status") == "sent"
    )
    assert campaign == [
        ("u:ana", "birthday", "2026-11-03T08:00:00Z"),
        ("u:ben", "birthday", "2026-11-03T14:00:00Z"),
        ("u:ben", "welcome_loyalty", "2026-11-05T14:00:00Z"),
    ]
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)


def test_lead_nurturing_in_a_history_teaches_a_subscriber_until_the_first_order_on_both_emulators(tmp_path):
    # Given the fast shop with the lead_nurturing preset, and two subscribers, one of whom orders after a week
    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    document["journeys"] = {"lead_nurturing": {}}
    config = tmp_path / "nurturing-shop.yaml"
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    signup = {"source": "newsletter", "notice_version": "nl-2026"}
    history = [
        message("identify", "ana", 0, traits={"firstName": "Ana", "email": "ana@example.com"}),
        track("Newsletter Subscribed", "ana", 0, signup),
        message("identify", "ben", 0, traits={"firstName": "Ben", "email": "ben@example.com"}),
        track("Newsletter Subscribed", "ben", 0, signup),
        track("Order Completed", "ben", 7 * 86400, {"order_id": "o-ben", "revenue": 30.0}),
    ]
    path = write_history(tmp_path / "nurturing.jsonl", history)

    # When it is simulated on the in-memory adapters and on moto
    lines, _ = simulate(config, path)
    on_moto, _ = simulate(config, path, "--emulator", "moto")

    # Then ana gets the three lessons after 2, 6 and 11 days; ben the two before his order
    sent = sorted((line["customer"], line["at"], line["template"]) for line in lines if line.get("status") == "sent")
    assert sent == [
        ("u:ana", at(2 * 86400), "nurture_guide"),
        ("u:ana", at(6 * 86400), "nurture_story"),
        ("u:ana", at(11 * 86400), "nurture_first_order"),
        ("u:ben", at(2 * 86400), "nurture_guide"),
        ("u:ben", at(6 * 86400), "nurture_story"),
    ]
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)


def test_a_backtest_report_measures_the_holdout_and_the_variants_on_both_emulators(tmp_path):
    # Given the fast shop with a cart reminder A/B test and a 25 % holdout, and a history of 40 carts, half of them
    # bought a day later
    config = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    config["journeys"] = {
        "cart_abandonment": {
            "holdout": 25,
            "steps": [
                {
                    "wait": "PT2S",
                    "template": "cart_reminder",
                    "variants": [
                        {"name": "a"},
                        {
                            "name": "b",
                            "template": "cart_offer",
                            "offer": {"percent": 10, "valid_for": "P2D", "prefix": "AB"},
                        },
                    ],
                }
            ],
        }
    }
    shop = tmp_path / "shop.yaml"
    shop.write_text(yaml.safe_dump(config), encoding="utf-8")
    users = [f"ab-{n:02d}" for n in range(40)]
    history = [m for user in users for m in [*shopper(user, 0, "email"), track("Product Added", user, 1, boots())]]
    history += [
        track("Order Completed", user, 86_400, {"order_id": f"o-{user}", "revenue": 50.0, "cart_id": "c1"})
        for user in users[::2]
    ]
    path = write_history(tmp_path / "carts.jsonl", history)

    # When it is backtested with a report, opens and clicks modelled, on the in-memory adapters and on moto
    rates = ("--open-rate", "0.5", "--click-rate", "0.5")
    lines, err = simulate(shop, path, "--report", str(tmp_path / "memory"), *rates)
    on_moto, _ = simulate(shop, path, "--report", str(tmp_path / "moto"), *rates, "--emulator", "moto")

    # Then the report counts each customer in one group, the variants' sends as the lines show them, and the
    # orders of both groups after the reminder was due; both emulators write the same report
    report = json.loads((tmp_path / "memory" / "report.json").read_text())["journeys"]
    assert report == json.loads((tmp_path / "moto" / "report.json").read_text())["journeys"]
    [journey] = report["journeys"]
    sent = Counter(line["customer"] for line in lines if line.get("journey") == "cart_abandonment")
    treated, held = journey["groups"]["treatment"], journey["groups"]["holdout"]
    assert treated["reached"] == len(sent) and held["reached"] == len(users) - len(sent) > 0
    assert treated["converted"] + held["converted"] == len(users[::2])  # every buyer, in their group
    rows = {row["variant"]: row for row in journey["steps"]}
    assert rows["a"]["sent"] + rows["b"]["sent"] == len(sent) and rows["a"]["sent"] and rows["b"]["sent"]
    assert rows["holdout"]["held_out"] == held["reached"]
    assert rows["a"]["opened"] + rows["b"]["opened"] > 0 and rows["a"]["clicked"] + rows["b"]["clicked"] > 0
    assert journey["uplift"] is not None and 0 <= journey["uplift"]["p_value"] <= 1
    charts = sorted(p.name for p in (tmp_path / "memory").glob("*.png"))
    assert charts == ["conversion-cart_abandonment.png", "funnel-cart_abandonment.png"]
    assert all((tmp_path / "memory" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in charts)
    assert "cart_abandonment" in err and "uplift" in err  # the tables, on stderr (stdout is the lines)
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)


def test_a_timeline_line_shows_the_order_credited_to_the_message_clicked_on_both_emulators(tmp_path):
    # Given a cart left (the reminder after 2 s), every e-mail modelled opened and clicked, an order a day later,
    # and a look at the customer's timeline and at the journey report after it
    history = [
        *shopper("ana", 0, "email"),
        track("Product Added", "ana", 1, boots()),
        track("Order Completed", "ana", 86_400, {"order_id": "o-ana", "revenue": 99.0, "cart_id": "c1"}),
        {"type": "timeline", "timestamp": at(86_401), "customer_id": "ana"},
        {"type": "journey_report", "timestamp": at(86_402)},
    ]
    path = write_history(tmp_path / "timeline.jsonl", history)
    rates = ("--open-rate", "1", "--click-rate", "1")

    lines, _ = simulate(FAST_CONFIG, path, *rates)
    on_moto, _ = simulate(FAST_CONFIG, path, *rates, "--emulator", "moto")

    # Then the timeline shows the order credited to the reminder by the click, and the report counts it
    [timeline] = [line for line in lines if line.get("request") == "timeline"]
    [order] = [item for item in timeline["answer"]["timeline"] if item["kind"] == "order"]
    reminder = next(line for line in lines if line.get("template") == "cart_reminder")
    assert (order["order_id"], order["credited_to"]["rule"]) == ("o-ana", "click")
    assert reminder["status"] == "sent"
    [report] = [line for line in lines if line.get("request") == "journey_report"]
    [cart] = [j for j in report["answer"]["journeys"] if j["journey"] == "cart_abandonment"]
    assert sum(row["clicked"] for row in cart["steps"]) >= 1 and sum(row["revenue"] for row in cart["steps"]) == 99.0
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)
