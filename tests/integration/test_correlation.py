"""One event, found end to end: the id of a shop's event is on every line it causes, from ingest through the state
updater, its timer and the outbox to the channel router, and the README's Logs Insights query finds those lines and
no others. Runs on template.yaml in memory (``tests/memory.py``), the timer state machine in virtual time; the lines
are the service logger's JSON, as CloudWatch Logs receives it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared.models.messages import OutboxMessage
from shared.observability import LazyTracer, correlate
from tests.factories import boots, shopper, track
from tests.integration.test_journeys import unique
from tests.logs import LogLines, log_lines
from tests.memory import FAST_CONFIG, MemoryStack

ROOT = Path(__file__).resolve().parents[2]
WRITE = "fast-write-key"


@pytest.fixture
def stack(memory_stack) -> Iterator[MemoryStack]:
    """The fast shop (a cart reminder two seconds after the cart, then an offer) on its own deployment."""
    yield memory_stack([FAST_CONFIG])
    correlate(None)  # the service logger is one per process: no id is left on the next test's lines


@pytest.fixture
def lines() -> Iterator[LogLines]:
    with log_lines() as captured:
        yield captured


def readme_query() -> str:
    """The Logs Insights query the README's Operations section gives."""
    section = (ROOT / "README.md").read_text().split("\n## Operations\n", 1)[1].split("\n## ", 1)[0]
    (query,) = [block for block in re.findall(r"```\n(.*?)```", section, re.S) if "filter" in block]
    return query


def insights_filter(query: str, event_id: str) -> re.Pattern[str]:
    """The query's ``filter @message like /.../`` for one event id, as a regular expression over a raw line."""
    (pattern,) = re.findall(r"filter @message like /(.*)/", query)
    return re.compile(pattern.replace("EVENT_ID", re.escape(event_id)))


def found(lines: LogLines, event_id: str) -> list[dict[str, Any]]:
    """What the README's query returns for ``event_id`` over these lines."""
    match = insights_filter(readme_query(), event_id)
    return [parsed for line, parsed in zip(lines.lines, lines.parsed(), strict=True) if match.search(line)]


def function(line: dict[str, Any]) -> str:
    return str(line["function_name"]).removeprefix("nudge-local-")


def test_the_readme_query_finds_every_line_one_event_caused_from_ingest_to_delivery_and_no_other(
    stack: MemoryStack, lines: LogLines
):
    # Given a shopper who consented to e-mail
    user = unique("corr")
    assert stack.post("/v1/batch", {"batch": shopper(user, "email")}, key=WRITE)[0] == 200
    stack.settle()
    # When they leave boots in their cart, and the reminder and then the offer go out
    added = track("Product Added", boots(), userId=user)
    assert stack.post("/v1/track", added, key=WRITE)[0] == 200
    stack.run_timers(until=stack.clock() + timedelta(seconds=10))

    # Then the query for that event's id finds, in order: ingest accepting it, the updater applying it, and for
    # each wake-up of its timer the updater's line and the router's delivery of what it sent
    event_id = added["messageId"]
    trail = found(lines, event_id)
    assert [(function(line), line["message"]) for line in trail] == [
        ("IngestFunction", "accepted"),
        ("StateUpdaterFunction", "applied"),
        ("StateUpdaterFunction", "applied"),
        ("ChannelRouterFunction", "delivery"),
        ("StateUpdaterFunction", "applied"),
        ("ChannelRouterFunction", "delivery"),
    ]
    assert event_id in trail[0]["event_ids"]
    assert all(line["correlation_id"] == line["event_id"] == event_id for line in trail[1:])
    deliveries = [(line["journey"], line["step"], line["status"]) for line in trail if line["message"] == "delivery"]
    assert deliveries == [("cart_abandonment", 0, "sent"), ("cart_abandonment", 1, "sent")]
    # the updater's line names the Step Functions execution it started, which the wake-ups then belong to
    assert trail[1]["timers"] and not trail[1]["messages"]
    assert all(line["messages"] for line in (trail[2], trail[4]))
    # And none of the lines the shopper's own events caused (their welcome message among them)
    others = [line for line in lines.parsed() if line not in trail and line.get("event_id")]
    assert others and all(line["event_id"] != event_id for line in others)


def test_the_timer_and_the_outbox_message_carry_the_id_of_the_event_that_armed_them(stack: MemoryStack):
    user = unique("cause")
    assert stack.post("/v1/batch", {"batch": shopper(user, "email")}, key=WRITE)[0] == 200
    stack.settle()
    added = track("Product Added", boots(), userId=user)
    assert stack.post("/v1/track", added, key=WRITE)[0] == 200
    stack.settle()
    event_id = added["messageId"]

    # The timer it armed carries its id, in the Step Functions execution's input too
    armed = [timer for timer in stack.timers.armed if timer.journey == "cart_abandonment"]
    assert armed and all(timer.cause == event_id for timer in armed)
    inputs = [wake for wake in stack.executions() if '"cart_abandonment"' in wake["event"]]
    assert inputs and all(f'"cause":"{event_id}"' in wake["event"] for wake in inputs)

    # When the wake-ups due in the next three seconds come, and the state updater alone runs on them
    updater = next(poller for poller in stack.cloud.pollers if poller.queue is stack.cloud.events)
    until = stack.clock() + timedelta(seconds=3)
    while (due := stack.timers.next_due) is not None and due <= until:
        stack.clock.at = max(stack.clock.at, due)
        stack.cloud.fire(stack.timers.pop_due(stack.clock.at))
        while updater.poll_once(wait_seconds=0):
            pass

    # Then the reminder it put on the outbox carries the id of the event that armed its timer, and the welcome
    # message (armed by the shopper's sign-up) the id of that event
    queued = [OutboxMessage.model_validate_json(body) for body in stack.cloud.outbox.bodies()]
    causes = {message.template: message.cause for message in queued}
    assert causes["cart_reminder"] == event_id
    assert causes["welcome"] not in (None, event_id)


def test_with_x_ray_on_each_function_annotates_its_trace_with_the_event_s_id(
    stack: MemoryStack, monkeypatch: pytest.MonkeyPatch
):
    # Given X-Ray on (a recorder stands in for Powertools' Tracer, which would need the X-Ray daemon)
    annotations: list[tuple[str, str]] = []

    def untraced(function: Any = None, **options: Any) -> Any:
        return function if function is not None else (lambda later: later)

    recorder = SimpleNamespace(
        put_annotation=lambda key, value: annotations.append((key, value)),
        capture_lambda_handler=untraced,
        capture_method=untraced,
    )
    monkeypatch.setattr(LazyTracer, "tracer", property(lambda self: recorder))
    user = unique("trace")
    assert stack.post("/v1/batch", {"batch": shopper(user, "email")}, key=WRITE)[0] == 200
    stack.settle()
    annotations.clear()

    # When one event goes from ingest to its reminder's delivery
    added = track("Product Added", boots(), userId=user)
    assert stack.post("/v1/track", added, key=WRITE)[0] == 200
    stack.run_timers(until=stack.clock() + timedelta(seconds=3))

    # Then ingest's request, the updater's record, its wake-up and the router's message are each annotated with it
    mine = [value for key, value in annotations if key == "event_id" and value == added["messageId"]]
    assert len(mine) >= 4
