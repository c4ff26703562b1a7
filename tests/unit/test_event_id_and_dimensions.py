"""What ops read off a running nudge: the id of the event behind each line and trace, and metrics split by a few
bounded dimensions (docs/OPERATIONS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.models.messages import OutboxMessage
from shared.models.nudge_events import TimerEvent
from shared.observability import (
    MESSAGE_DIMENSIONS,
    SERVICE_ONLY,
    LazyTracer,
    correlate,
    count,
    logger,
    milliseconds,
    reason_code,
)
from shared.service.updater import cause_of
from tests.factories import T0, accepted, boots, track
from tests.logs import log_lines

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_id_left_behind() -> Iterator[None]:
    """The service logger is one per process: no test leaves its event's id on the next test's lines."""
    yield
    correlate(None)


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def emf_blobs(out: str) -> list[dict[str, Any]]:
    return [blob for blob in map(json.loads, filter(None, out.splitlines())) if "_aws" in blob]


def dimension_sets(blob: dict[str, Any]) -> list[list[str]]:
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    return list(directive["Dimensions"])


def timer(**fields: Any) -> TimerEvent:
    return TimerEvent.model_validate(
        {
            "shop_id": "demo",
            "customer": "u:ann",
            "journey": "cart_abandonment",
            "instance": "cart_abandonment:c1:1",
            "step": 0,
            "timer_id": "cart_abandonment-1-0-1-abc",
            "due_at": T0,
            **fields,
        }
    )


def message(**fields: Any) -> OutboxMessage:
    return OutboxMessage.model_validate(
        {
            "message_id": "cart_abandonment-1-0-xyz",
            "shop_id": "demo",
            "customer": "u:ann",
            "journey": "cart_abandonment",
            "step": 0,
            "template": "cart_reminder",
            "created_at": T0,
            **fields,
        }
    )


# ---------------------------------------------------------------- metrics: small sets of bounded dimensions


def test_a_sent_message_is_counted_under_each_set_it_has_every_value_for(
    metrics_on: None, capsys: pytest.CaptureFixture[str]
):
    # Given a message sent by e-mail (a sent message has no reason)
    count(
        "Messages",
        sets=MESSAGE_DIMENSIONS,
        shop="demo",
        journey="cart_abandonment",
        step="0",
        channel="email",
        outcome="sent",
        reason=None,
    )

    (blob,) = emf_blobs(capsys.readouterr().out)
    # Then it counts by channel, by shop and by journey step, and not under "why not sent"
    assert dimension_sets(blob) == [
        ["service", "channel", "outcome"],
        ["service", "shop", "outcome"],
        ["service", "journey", "step", "outcome"],
    ]
    assert "reason" not in blob


def test_a_message_held_back_is_counted_by_its_reason_too(metrics_on: None, capsys: pytest.CaptureFixture[str]):
    count(
        "Messages",
        sets=MESSAGE_DIMENSIONS,
        shop="demo",
        journey="winback",
        step="1",
        channel="none",
        outcome="suppressed",
        reason=reason_code("no_consent"),
    )

    (blob,) = emf_blobs(capsys.readouterr().out)
    assert ["service", "outcome", "reason"] in dimension_sets(blob)
    assert (blob["outcome"], blob["reason"], blob["Messages"]) == ("suppressed", "no_consent", [1.0])


def test_values_outside_every_set_go_along_in_the_line_as_properties(
    metrics_on: None, capsys: pytest.CaptureFixture[str]
):
    milliseconds("TimerLag", 1500, sets=SERVICE_ONLY, shop="demo", journey="cart_abandonment")

    (blob,) = emf_blobs(capsys.readouterr().out)
    assert dimension_sets(blob) == [["service"]]
    assert blob["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "TimerLag", "Unit": "Milliseconds"}]
    assert (blob["TimerLag"], blob["shop"], blob["journey"]) == ([1500.0], "demo", "cart_abandonment")


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("no_consent", "no_consent"),
        ("template_error: 'cart' is undefined", "template_error"),  # the detail would be a new value each time
        ("offer_refused_by_shop: HTTP 422", "offer_refused_by_shop"),
        ("Some provider said NO", "other"),
        (None, None),
    ],
)
def test_a_reason_is_a_dimension_by_its_code(reason: str | None, code: str | None):
    assert reason_code(reason) == code


def test_the_router_counts_a_campaign_message_under_campaign_and_never_under_an_id(
    metrics_on: None, capsys: pytest.CaptureFixture[str]
):
    from functions.channel_router import handler

    # Given a campaign message that failed with a template error
    sent = SimpleNamespace(
        message_id="campaign:spring-26:u:ann:0", shop_id="demo", journey="campaign:spring-26", step=0
    )
    failed = SimpleNamespace(message=sent, channel=None, status="failed", reason="template_error: boom", title=None)
    consumer: Any = SimpleNamespace(handle=lambda *args: failed)
    record = SQSRecord(
        {"messageId": "r-1", "body": "{}", "receiptHandle": "h", "attributes": {"ApproximateReceiveCount": "1"}}
    )

    # When the router's handler reports it
    handler.record_handler(record, consumer)

    # Then its dimensions are the campaign family, the step, the reason's code: none names the campaign or message
    (blob,) = emf_blobs(capsys.readouterr().out)
    values = {name: blob[name] for names in dimension_sets(blob) for name in names}
    assert values == {
        "service": "nudge",
        "shop": "demo",
        "journey": "campaign",
        "step": "0",
        "channel": "none",
        "outcome": "failed",
        "reason": "template_error",
    }


# ---------------------------------------------------------------- the event's id


def test_a_timer_carries_the_cause_it_was_armed_with_and_a_deferred_message_its_own():
    assert cause_of(timer(cause="m-42")) == "m-42"
    assert cause_of(timer(message=message(cause="m-7"))) == "m-7"  # the router's deferral timer names no cause
    assert cause_of(timer()) == "timer:cart_abandonment-1-0-1-abc"  # armed before causes were kept: its own id
    assert cause_of(accepted(track("Product Added", boots(), userId="ann", messageId="m-1"))) == "m-1"


def test_the_cause_changes_none_of_the_ids_that_make_a_timer_or_a_message_one():
    from shared.adapters.ledger import ledger_key
    from shared.adapters.timers import start_request, wake_up

    # Given the same wake-up and the same message, with and without a cause
    bare, caused = timer(), timer(cause="m-42")
    # Then the execution, its name and the wake-up's FIFO deduplication id are the same
    assert (
        start_request("arn", bare.execution_name, [bare])["name"]
        == start_request("arn", caused.execution_name, [caused])["name"]
    )
    assert wake_up(bare)["dedup_id"] == wake_up(caused)["dedup_id"]
    assert bare.message_id == caused.message_id
    # And the message is the same one to the send ledger
    plain, with_cause = message(), message(cause="m-42")
    key = ledger_key(plain.shop_id, plain.customer, plain.message_id)
    assert key == ledger_key(with_cause.shop_id, with_cause.customer, with_cause.message_id)


def test_after_correlate_every_line_carries_the_id_until_it_is_cleared():
    with log_lines() as lines:
        correlate("m-42")
        logger.info("applied")
        correlate(None)
        logger.info("next record, body unreadable")

    first, second = lines.parsed()
    assert (first["correlation_id"], first["event_id"]) == ("m-42", "m-42")
    assert second.get("correlation_id") is None and "event_id" not in second


def test_with_tracing_on_the_id_annotates_the_current_subsegment(monkeypatch: pytest.MonkeyPatch):
    annotations: list[tuple[str, str]] = []
    recorder = SimpleNamespace(put_annotation=lambda key, value: annotations.append((key, value)))
    monkeypatch.setattr(LazyTracer, "tracer", property(lambda self: recorder))  # stands in for Powertools' Tracer

    correlate("m-42")
    correlate(None)

    assert annotations == [("event_id", "m-42")]


def test_with_tracing_off_correlating_imports_no_xray_sdk():
    code = (
        "import sys; from shared.observability import correlate; correlate('m-1'); print('aws_xray_sdk' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_an_event_parked_or_failed_is_logged_under_its_id(metrics_on: None, capsys: pytest.CaptureFixture[str]):
    from functions.state_updater import handler

    # Given a readable event the updater could not apply: once parked, once failed for a retry
    body = accepted(track("Product Added", boots(), userId="ann", messageId="m-9")).model_dump_json()

    def record(sqs_id: str) -> SQSRecord:
        attributes = {"ApproximateReceiveCount": "1", "MessageGroupId": "demo#u:ann"}
        return SQSRecord({"messageId": sqs_id, "body": body, "receiptHandle": "h", "attributes": attributes})

    with log_lines() as lines:
        handler.record_handler(record("r-1"), None)
        with pytest.raises(RuntimeError, match="throttled"):
            handler.record_handler(record("r-2"), RuntimeError("throttled"))

    # Then each line names the event, and the events are counted as parked and failed
    parked, failed = lines.parsed()
    assert (parked["event_id"], parked["sqs_message_id"], parked["level"]) == ("m-9", "r-1", "WARNING")
    assert (failed["event_id"], failed["reason"]) == ("m-9", "RuntimeError: throttled")
    outcomes = [blob["outcome"] for blob in emf_blobs(capsys.readouterr().out)]
    assert outcomes == ["parked", "failed"]


def test_a_timer_s_lag_is_measured_at_its_wake_up(metrics_on: None, capsys: pytest.CaptureFixture[str]):
    from functions.state_updater import handler
    from shared.core.customer import Decision
    from shared.models.state import CustomerState
    from shared.service.updater import Outcome

    # Given a wake-up due at T0 that the updater decided 2.5 s later
    wake = timer(cause="m-42")
    outcome = Outcome(wake, "u:ann", Decision(state=CustomerState()), T0 + timedelta(seconds=2.5))
    record = SQSRecord({"messageId": "r-1", "body": wake.model_dump_json(), "receiptHandle": "h", "attributes": {}})

    with log_lines() as lines:
        handler.record_handler(record, outcome)

    lag = next(blob for blob in emf_blobs(capsys.readouterr().out) if "TimerLag" in blob)
    assert lag["TimerLag"] == [2500.0]
    assert lines.parsed()[0]["event_id"] == "m-42"
