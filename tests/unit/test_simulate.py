"""The pieces of `nudge simulate` that need no emulator: the history, virtual time, and the two seams it uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.admin import load_config
from infra.simulate import (
    API_LINES,
    TEMPLATE,
    HistoryError,
    Simulation,
    VirtualClock,
    VirtualTimers,
    history_of,
    open_history,
    parse_until,
    read_history,
    requests_of,
)
from infra.simulate_history import generate
from infra.template import load_template
from shared import clock
from shared.models.events import TimerEvent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def write(path: Path, *documents: Any) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
    return path


def viewed(seconds: float, user: str = "u1", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Product Viewed", "userId": user, "timestamp": stamp(seconds), **extra}


def timer(name: str, due_seconds: float) -> TimerEvent:
    return TimerEvent(
        shop_id="demo",
        customer="u:u1",
        journey="cart_abandonment",
        instance="cart_abandonment:c1:1",
        step=0,
        timer_id=name,
        due_at=T0 + timedelta(seconds=due_seconds),
    )


# ---------------------------------------------------------------- the history


def test_the_history_is_replayed_in_time_order_keeping_the_files_order_at_the_same_instant(tmp_path):
    history = write(tmp_path / "h.jsonl", viewed(5, "late"), viewed(0, "first"), viewed(0, "second"))

    assert [m.message["userId"] for m in read_history(history)] == ["first", "second", "late"]


def test_a_batch_line_is_its_messages_and_comments_and_blank_lines_are_skipped(tmp_path):
    history = tmp_path / "h.jsonl"
    history.write_text(
        "# exported from the shop\n\n" + json.dumps({"batch": [viewed(1, "a"), viewed(2, "b")]}) + "\n",
        encoding="utf-8",
    )

    assert [(m.message["userId"], m.line) for m in read_history(history)] == [("a", 3), ("b", 3)]


def test_the_original_delivery_times_are_dropped_the_replay_delivers_at_the_timestamp(tmp_path):
    history = write(tmp_path / "h.jsonl", viewed(0, sentAt=stamp(60), receivedAt=stamp(61), writeKey="k"))

    (message,) = read_history(history)

    assert message.at == T0
    assert not {"sentAt", "receivedAt", "writeKey"} & set(message.message)


def test_a_batch_line_with_its_own_sent_at_arrives_then_in_one_request_keeping_the_timestamps(tmp_path):
    # Given an app's flush: three calls made over 25 s, posted together 30 s after the app started
    flush = {"batch": [viewed(0, "a"), viewed(10, "a"), viewed(25, "a")], "sentAt": stamp(30)}
    history = read_history(write(tmp_path / "h.jsonl", viewed(12, "b"), flush))

    # When it is replayed
    requests = [[(m.message["userId"], m.at, m.message["timestamp"]) for m in r] for r in requests_of(history)]

    # Then the browser's message goes at its time, the flush's three at 30 s in one request, with their own times
    assert requests == [
        [("b", T0 + timedelta(seconds=12), stamp(12))],
        [("a", T0 + timedelta(seconds=30), stamp(seconds)) for seconds in (0, 10, 25)],
    ]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"type": "track", "event": "x", "userId": "u1"}), "needs a timestamp"),
        (json.dumps(viewed(0) | {"timestamp": "yesterday"}), "not ISO 8601"),
        (json.dumps({"batch": [viewed(0)], "sentAt": "later"}), "sentAt 'later' is not ISO 8601"),
        (json.dumps({"type": "offer_pool", "timestamp": stamp(0), "codes": ["A"]}), "offer_pool line needs pool"),
        (
            json.dumps({"type": "offer_decision", "timestamp": stamp(0), "placement": "cart"}),
            "offer_decision line needs customer_id",
        ),
    ],
)
def test_a_line_that_cannot_be_replayed_is_named_with_the_reason(tmp_path, line, why):
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps(viewed(0)) + "\n" + line + "\n", encoding="utf-8")

    with pytest.raises(HistoryError, match=f"h.jsonl:2: .*{why}"):
        read_history(history)


def test_messages_at_the_same_instant_share_one_request_others_go_alone(tmp_path):
    history = read_history(write(tmp_path / "h.jsonl", viewed(0), viewed(0), viewed(1), viewed(0)))

    assert [[m.at for m in request] for request in requests_of(history)] == [[T0, T0, T0], [T0 + timedelta(seconds=1)]]


def test_a_line_that_calls_the_api_is_a_request_of_its_own_in_its_place(tmp_path):
    pool = {"type": "offer_pool", "timestamp": stamp(0), "pool": "cart-codes", "codes": ["SAVE-1"]}
    decision = {"type": "offer_decision", "timestamp": stamp(1), "customer_id": "u1", "placement": "cart"}
    history = read_history(write(tmp_path / "h.jsonl", viewed(0, "a"), pool, viewed(0, "b"), decision, viewed(1)))

    requests = [[m.message.get("userId") or m.message["type"] for m in request] for request in requests_of(history)]

    assert requests == [["a"], ["offer_pool"], ["b"], ["offer_decision"], ["u1"]]
    (call,) = requests_of(history[1:2])
    assert call[0].api is not None and call[0].api.body(call[0].message) == {"codes": ["SAVE-1"]}
    assert call[0].api.path_parameters(call[0].message) == {"pool": "cart-codes"}


def test_every_api_line_is_a_route_the_template_gives_its_function():
    resources = load_template(TEMPLATE)["Resources"]

    for api in API_LINES.values():
        events = resources[api.route.function]["Properties"]["Events"].values()
        routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events if e["Type"] == "HttpApi"}
        assert (api.route.method, api.route.path) in routes


def test_a_file_in_time_order_is_checked_first_then_streamed_as_it_is_replayed(tmp_path):
    history = open_history(write(tmp_path / "h.jsonl", viewed(0, "a"), {"batch": [viewed(1, "b"), viewed(1, "c")]}))

    assert history.streamed and (len(history), history.first, history.last) == (3, T0, T0 + timedelta(seconds=1))
    assert [m.message["userId"] for m in history] == ["a", "b", "c"]
    assert [m.message["userId"] for m in history] == ["a", "b", "c"]  # read again for each replay


def test_a_file_out_of_time_order_is_held_in_memory_and_sorted(tmp_path):
    path = write(tmp_path / "h.jsonl", viewed(5, "late"), viewed(0, "first"), viewed(0, "second"))

    history = open_history(path)

    assert not history.streamed and (history.first, history.last) == (T0, T0 + timedelta(seconds=5))
    assert list(history) == read_history(path)


def test_a_bad_line_anywhere_in_a_file_is_named_before_anything_is_replayed(tmp_path):
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps(viewed(0)) + "\n" + json.dumps(viewed(1)) + "\n{not json\n", encoding="utf-8")

    with pytest.raises(HistoryError, match=r"h\.jsonl:3: not JSON"):
        open_history(history)
    with pytest.raises(HistoryError, match="no messages"):
        open_history(write(tmp_path / "empty.jsonl"))


def test_a_streamed_history_out_of_time_order_is_refused_where_it_goes_back():
    messages = history_of([viewed(0, "a"), viewed(2, "b"), viewed(1, "c")])

    with pytest.raises(HistoryError, match=r"history message 3 .* comes after one at"):
        list(requests_of(messages))


def test_generated_messages_are_a_history_in_the_order_given():
    (first, second) = history_of([viewed(0, "a", sentAt=stamp(9)), viewed(3, "b")])

    assert (first.at, first.line, second.at, second.line) == (T0, 1, T0 + timedelta(seconds=3), 2)
    assert "sentAt" not in first.message


def test_the_simulation_reads_its_history_one_request_ahead_and_no_further():
    # Given a history that is a generator: it can be read once, as the replay goes
    read: list[int] = []

    def messages() -> Iterator[dict[str, Any]]:
        for n in range(40):
            read.append(n)
            yield viewed(60 * n, user=f"u{n % 4}", properties={"product_id": "tea"})

    ahead: list[int] = []

    def progress(done: int, total: int, now: datetime) -> None:
        ahead.append(len(read) - done)

    # When the memory deployment replays it
    config = load_config(Path(__file__).resolve().parents[2] / "events" / "demo-shop.yaml")
    summary = Simulation(config, history_of(messages()), lambda outcome: None, progress=progress, total=40).run()

    # Then every message was replayed, and at no point was more than the next request read
    assert (summary.events, summary.requests, summary.rejected) == (40, 40, 0)
    assert max(ahead) <= 2


def test_until_is_a_time_or_a_duration_after_the_last_message():
    assert parse_until("2026-11-03T00:00:00Z", T0) == datetime(2026, 11, 3, tzinfo=UTC)
    assert parse_until("P0D", T0) == T0
    assert parse_until("PT90M", T0) == T0 + timedelta(minutes=90)
    with pytest.raises(HistoryError):
        parse_until("next week", T0)


def test_the_sample_month_is_what_its_generator_writes():
    committed = Path(__file__).resolve().parents[2] / "events" / "history" / "small-shop-month.jsonl"
    lines = committed.read_text(encoding="utf-8").splitlines()

    assert [json.loads(line) for line in lines] == generate()


# ---------------------------------------------------------------- virtual time


def test_the_virtual_clock_stands_still_until_advanced_and_never_goes_back():
    virtual = VirtualClock(T0)

    virtual.advance_to(T0 + timedelta(hours=1))
    virtual.advance_to(T0)

    assert virtual() == T0 + timedelta(hours=1)
    assert virtual.unix_time_millis() == (T0 + timedelta(hours=1)).timestamp() * 1000


def test_virtual_timers_start_a_timer_id_once_and_come_due_in_order():
    heap = VirtualTimers()

    heap.start([timer("later", 10), timer("sooner", 2)])
    heap.start([timer("sooner", 2)])  # a retried decision: the execution name exists

    assert heap.started == 2 and heap.next_due == T0 + timedelta(seconds=2)
    assert [t.timer_id for t in heap.pop_due(T0 + timedelta(seconds=5))] == ["sooner"]
    assert [t.timer_id for t in heap.pop_due(T0 + timedelta(seconds=10))] == ["later"]
    assert heap.next_due is None and heap.fired == 2


def test_virtual_timers_run_a_sequence_as_one_execution_whose_wake_ups_come_due_each_at_its_time():
    heap = VirtualTimers()
    sequence = [timer("first", 60).model_copy(update={"execution": "first"})] + [
        timer(f"first-{step}", 60 * step).model_copy(update={"execution": "first", "step": step}) for step in (2, 3)
    ]

    heap.start(sequence)
    heap.start(sequence[:1])  # started again (a retried decision): the execution exists

    assert heap.started == 1
    assert [t.timer_id for t in heap.pop_due(T0 + timedelta(seconds=60))] == ["first"]
    assert heap.next_due == T0 + timedelta(seconds=120)
    assert [t.timer_id for t in heap.pop_due(T0 + timedelta(seconds=180))] == ["first-2", "first-3"]
    assert heap.fired == 3


def test_a_timer_comes_due_when_the_state_machines_wait_ends_in_whole_seconds():
    heap = VirtualTimers()

    heap.start([timer("fractional", 2.75)])

    assert heap.next_due == T0 + timedelta(seconds=2)  # execution input due_at is seconds precision


# ---------------------------------------------------------------- the seams


def test_the_clock_is_the_systems_unless_another_source_is_in_use():
    with clock.use(lambda: T0):
        assert clock.now() == T0
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
