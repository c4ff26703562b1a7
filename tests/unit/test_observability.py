"""The tracer decorators: no X-Ray SDK and no Tracer until a traced call, and only when tracing is on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared.observability import LazyTracer, count, tracing_enabled

ROOT = Path(__file__).resolve().parents[2]


def test_tracing_is_on_only_in_lambda_unless_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE", "POWERTOOLS_TRACE_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing_enabled()
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    assert tracing_enabled()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert not tracing_enabled()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setenv("AWS_SAM_LOCAL", "true")
    assert not tracing_enabled()


def test_with_tracing_off_the_function_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tracer = LazyTracer("nudge-test")

    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"echo": event}

    @tracer.capture_method
    def record(value: int) -> int:
        if value < 0:
            raise ValueError("negative")
        return value * 2

    assert handler({"a": 1}, None) == {"echo": {"a": 1}}
    assert handler.__name__ == "handler"
    assert record(2) == 4
    with pytest.raises(ValueError, match="negative"):
        record(-1)
    assert tracer.tracer is None


def test_with_tracing_on_the_powertools_tracer_wraps_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)
    tracer = LazyTracer("nudge-test")
    subsegments: list[str] = []

    class Recorder:
        """Stands in for the Powertools Tracer: records the subsegment its decorators would open."""

        def capture_lambda_handler(self, function: Any = None, **options: Any) -> Any:
            if function is None:  # options first, the function after, as Powertools' decorators take them
                return lambda later: self.capture_lambda_handler(later, **options)

            def traced(*args: Any) -> Any:
                subsegments.append(f"## {function.__name__}")
                return function(*args)

            return traced

    monkeypatch.setattr(LazyTracer, "tracer", property(lambda self: Recorder()))

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: object) -> str:
        return "done"

    assert handler({}, None) == "done"
    assert handler({}, None) == "done"
    assert subsegments == ["## handler", "## handler"]


@pytest.mark.parametrize("function", ["ingest", "channel_router"])
def test_importing_a_handler_does_not_import_the_xray_sdk(function: str) -> None:
    code = f"import sys, functions.{function}.handler; print('aws_xray_sdk' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------- metrics: fixed names, dimensions per record


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def emf_blobs(out: str) -> list[dict[str, Any]]:
    return [blob for blob in map(json.loads, filter(None, out.splitlines())) if "_aws" in blob]


def test_a_count_is_one_emf_blob_with_its_own_dimensions_in_the_one_namespace(
    metrics_on: None, capsys: pytest.CaptureFixture[str]
):
    count("Messages", journey="welcome", channel="email", outcome="sent")
    count("Messages", outcome="parked")

    first, second = emf_blobs(capsys.readouterr().out)
    assert first["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "nudge",
            "Dimensions": [["service", "journey", "channel", "outcome"]],
            "Metrics": [{"Name": "Messages", "Unit": "Count"}],
        }
    ]
    assert (first["journey"], first["channel"], first["outcome"], first["Messages"]) == (
        "welcome",
        "email",
        "sent",
        [1.0],
    )
    assert second["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "outcome"]]
    assert (second["outcome"], second["Messages"]) == ("parked", [1.0])


def test_one_router_batch_counts_each_delivery_under_its_journey_channel_and_outcome(
    metrics_on: None, capsys: pytest.CaptureFixture[str]
):
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from functions.channel_router import handler

    def delivery(n: int, journey: str, channel: str | None, status: str) -> SimpleNamespace:
        message = SimpleNamespace(message_id=f"m-{n}", shop_id="shop", journey=journey, step=0)
        return SimpleNamespace(message=message, channel=channel, status=status, reason=None, title=None)

    deliveries = iter(
        [
            delivery(1, "welcome", "email", "sent"),
            delivery(2, "winback", None, "suppressed"),
            None,
        ]
    )
    consumer: Any = SimpleNamespace(handle=lambda *args: next(deliveries))  # the router's outcomes, injected
    for n in range(3):
        handler.record_handler(
            SQSRecord(
                {
                    "messageId": f"r-{n}",
                    "body": "{}",
                    "receiptHandle": "h",
                    "attributes": {"ApproximateReceiveCount": "1"},
                }
            ),
            consumer,
        )

    blobs = emf_blobs(capsys.readouterr().out)
    assert [(b.get("journey"), b.get("channel"), b["outcome"], b["Messages"]) for b in blobs] == [
        ("welcome", "email", "sent", [1.0]),
        ("winback", "none", "suppressed", [1.0]),
        (None, None, "parked", [1.0]),
    ]
    assert all(name != "Messages_sent" for b in blobs for name in b)


def test_with_metrics_disabled_a_count_prints_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    count("Messages", outcome="sent")
    assert capsys.readouterr().out == ""


def test_an_added_count_is_published_at_the_flush_only_while_metrics_are_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from shared.observability import add_count, metrics

    # Given metrics off (simulate, the tests), an added count leaves nothing for the flush to publish
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    add_count("EventsAccepted", 3)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    with pytest.warns(UserWarning, match="No application metrics to publish"):
        metrics.flush_metrics()
    assert emf_blobs(capsys.readouterr().out) == []

    # With metrics on, the counts added in one invocation are published together at its flush
    add_count("EventsAccepted", 3)
    add_count("EventsAccepted", 2)
    metrics.flush_metrics()
    (blob,) = emf_blobs(capsys.readouterr().out)
    assert blob["EventsAccepted"] == [3.0, 2.0]
    assert blob["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "EventsAccepted", "Unit": "Count"}]


def test_an_api_request_s_log_lines_carry_its_request_id_as_correlation_id():
    from shared.observability import correlate_request, logger

    # Given the API Gateway event of a request (requestContext.requestId, as Powertools' API_GATEWAY_HTTP path reads it)
    correlate_request({"requestContext": {"requestId": "req-123"}, "body": "{}"})
    assert logger.get_correlation_id() == "req-123"
    # When an event without a request context follows, Then its lines carry no stale id
    correlate_request({"body": "{}"})
    assert logger.get_correlation_id() is None
