"""The operations dashboard and alarms of template.yaml (docs/OPERATIONS.md), held to the stack and to the code: a
widget that names a metric nothing emits, a queue or a function the dashboard leaves out, or a dead-letter queue no
alarm watches, fails here rather than on the day someone needs them."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import shared.observability as observability
from shared.models.config import ShopConfig
from tests.factories import T0, boots, consent, identify, track
from tests.infra.cfn import load_template, resources_of_type, target_of
from tests.memory import FAST_CONFIG

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
DASHBOARDS = resources_of_type(TEMPLATE, "AWS::CloudWatch::Dashboard")
ALARMS = resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm")
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
QUEUES = resources_of_type(TEMPLATE, "AWS::SQS::Queue")
PUBLISHERS = {"count", "add_count", "milliseconds"}  # shared.observability's ways of writing a metric

_SUB = re.compile(r"\$\{(!?)([A-Za-z0-9_:]+)(?:\.([A-Za-z0-9_.]+))?\}")
_SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}(?P<terms>[^']*)'")
_TERM = re.compile(r'(\w+)="([^"]*)"')


# ---------------------------------------------------------------- reading the dashboard


def dashboard_text() -> str:
    (dashboard,) = DASHBOARDS.values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str), "the body is one !Sub string"
    return body


def substituted(text: str) -> str:
    """The body as CloudFormation would hand it to CloudWatch: each ``${...}`` replaced (by a stand-in value)."""

    def value(match: re.Match[str]) -> str:
        escaped, name, attribute = match.groups()
        if escaped:
            return "${" + name + (f".{attribute}" if attribute else "") + "}"
        return f"{name}-{attribute or 'ref'}".replace("::", "-")

    return _SUB.sub(value, text)


def dashboard(substitute: bool = False) -> dict[str, Any]:
    """The body as JSON: as written (each ``${...}`` still in its string), or as CloudWatch gets it."""
    text = dashboard_text()
    body: dict[str, Any] = json.loads(substituted(text) if substitute else text)
    return body


def metric_widgets() -> list[dict[str, Any]]:
    return [widget["properties"] for widget in dashboard()["widgets"] if widget["type"] == "metric"]


def explicit_metrics() -> Iterator[tuple[str, str, dict[str, str]]]:
    """(namespace, name, dimensions) of every metric a widget names directly."""
    for properties in metric_widgets():
        for row in properties["metrics"]:
            if isinstance(row[0], str):
                names = [item for item in row if isinstance(item, str)]
                yield names[0], names[1], dict(zip(names[2::2], names[3::2], strict=True))


def searched_metrics() -> Iterator[tuple[str, str, frozenset[str], dict[str, str]]]:
    """(namespace, name, dimension set, pinned values) of every SEARCH expression."""
    for properties in metric_widgets():
        for row in properties["metrics"]:
            if isinstance(row[0], dict) and "expression" in row[0]:
                found = _SEARCH.search(row[0]["expression"])
                assert found, f"not a SEARCH this test reads: {row[0]['expression']}"
                namespace, *dimensions = [part.strip() for part in found["schema"].split(",")]
                terms = dict(_TERM.findall(found["terms"]))
                name = terms.pop("MetricName")
                yield namespace, name, frozenset(dimensions), terms


def nudge_metrics() -> list[tuple[str, frozenset[str], dict[str, str]]]:
    """(name, dimension set, pinned values) of every metric of namespace nudge the dashboard shows."""
    shown = [(name, frozenset(dims), dims) for namespace, name, dims in explicit_metrics() if namespace == "nudge"]
    shown += [(name, dims, pinned) for namespace, name, dims, pinned in searched_metrics() if namespace == "nudge"]
    return shown


def referenced(metric: str, dimension: str) -> set[str]:
    """The logical ids whose ``${Id}`` or ``${Id.Attribute}`` the dashboard gives as ``dimension`` of ``metric``."""
    rows = [row for properties in metric_widgets() for row in properties["metrics"] if isinstance(row[0], str)]
    found = set()
    for row in rows:
        names = [item for item in row if isinstance(item, str)]
        if names[1] == metric:
            for key, value in zip(names[2::2], names[3::2], strict=True):
                if key == dimension and (match := _SUB.fullmatch(value)):
                    found.add(match.group(2))
    return found


# ---------------------------------------------------------------- reading the code


def published() -> dict[str, set[frozenset[str]]]:
    """Per metric name, the dimension sets the code of the functions and the shared package publishes it under,
    read from their calls of ``count``, ``add_count`` and ``milliseconds`` (``shared/observability.py``)."""
    found: dict[str, set[frozenset[str]]] = {}
    for path in sorted([*(ROOT / "functions").rglob("*.py"), *(ROOT / "shared").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "shared.observability"
            for alias in node.names
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            publisher = node.func.id
            if publisher not in PUBLISHERS & imported or not node.args:
                continue
            first = node.args[0]
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"{path.relative_to(ROOT)}:{node.lineno}: a metric's name is a literal, so that it can be found"
            )
            keys = {keyword.arg for keyword in node.keywords if keyword.arg not in (None, "value", "sets")}
            sets = next((keyword.value for keyword in node.keywords if keyword.arg == "sets"), None)
            if publisher == "add_count":
                dimension_sets = [frozenset[str]()]
            elif sets is None:
                dimension_sets = [frozenset(keys)]
            else:
                assert isinstance(sets, ast.Name), f"{path.relative_to(ROOT)}:{node.lineno}: sets= names a constant"
                declared = getattr(observability, sets.id)  # the sets are constants of shared.observability
                dimension_sets = [frozenset(s) for s in declared if set(s) <= keys] or [frozenset()]
            found.setdefault(first.value, set()).update(dims | {"service"} for dims in dimension_sets)
    return found


# ---------------------------------------------------------------- the dashboard


def test_the_dashboard_body_is_json_once_substituted_and_names_only_what_the_stack_has():
    # Given the one dashboard's body as CloudFormation substitutes it
    assert len(DASHBOARDS) == 1
    body = dashboard(substitute=True)
    assert body["widgets"]
    # Then every ${...} in it is a parameter, a pseudo parameter, or a resource with that attribute
    for escaped, name, attribute in _SUB.findall(dashboard_text()):
        if escaped or name.startswith("AWS::"):
            continue
        assert name in RESOURCES or name in TEMPLATE.get("Parameters", {}), name
        kind = RESOURCES[name]["Type"] if name in RESOURCES else None
        expected = {"QueueName": "AWS::SQS::Queue", "Arn": "AWS::CloudWatch::Alarm", "": kind}[attribute]
        assert kind == expected, f"${{{name}.{attribute}}} on a {kind}"


def test_every_nudge_metric_the_dashboard_shows_is_one_the_code_publishes_under_that_dimension_set():
    publishes = published()
    shown = nudge_metrics()
    assert {"Events", "EventsAccepted", "Messages", "TimerLag", "FanOutCustomers"} <= {name for name, _, _ in shown}
    for name, dimensions, _ in shown:
        assert name in publishes, f"the dashboard shows {name}, which no code publishes"
        assert dimensions in publishes[name], (
            f"the dashboard reads {name} by {sorted(dimensions)}; the code publishes it by "
            f"{sorted(sorted(dims) for dims in publishes[name])}"
        )


def test_a_run_of_the_functions_emits_every_nudge_metric_the_dashboard_shows(
    memory_stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # Given the functions with metrics on, as in Lambda
    document = ShopConfig.from_yaml_file(FAST_CONFIG).model_dump(mode="json", exclude_unset=True)
    document["segments"] = {"german": {"trait": {"name": "country", "equals": "DE"}}}
    stack = memory_stack([ShopConfig.model_validate(document)])
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    # When customers sign up (one without consent), one leaves a cart, an unreadable message reaches the outbox,
    # and a campaign goes to them all
    batch: list[dict[str, Any]] = []
    for user, email in (("de-1", True), ("de-2", True), ("de-3", False)):
        batch.append(identify({"country": "DE", "email": f"{user}@example.com", "firstName": "Jo"}, userId=user))
        if email:
            batch.append(consent("email", userId=user))
    batch.append(track("Product Added", boots(), userId="de-1"))
    assert stack.post("/v1/batch", {"batch": batch}, key="fast-write-key")[0] == 200
    stack.settle()
    stack.cloud.outbox.send("not an outbox message")
    campaign = {"id": "spring", "segment": "german", "template": "welcome", "send_at": (T0 + timedelta(minutes=1))}
    assert (
        stack.post("/v1/campaigns", {**campaign, "send_at": campaign["send_at"].isoformat()}, "fast-secret-key")[0]
        == 201
    )
    stack.run_timers(until=stack.clock() + timedelta(minutes=5))
    while (moment := stack.cloud.next_visible()) is not None:
        stack.clock.at = max(stack.clock.at, moment)
        stack.settle()

    # Then each metric the dashboard shows was written, under its dimension set, with the values it pins
    emitted: set[tuple[str, frozenset[str], frozenset[tuple[str, str]]]] = set()
    for line in capsys.readouterr().out.splitlines():
        blob = json.loads(line) if line.startswith('{"_aws"') else None
        if blob is None:
            continue
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]:
            for dimensions in directive["Dimensions"]:
                emitted.add((metric["Name"], frozenset(dimensions), frozenset((d, blob[d]) for d in dimensions)))
    for name, dimensions, pinned in nudge_metrics():
        assert any(
            seen == name and seen_dims == dimensions and set(pinned.items()) <= values
            for seen, seen_dims, values in emitted
        ), f"nothing emitted {name} by {sorted(dimensions)} with {pinned}"


def dead_letter_queues() -> set[str]:
    """Every queue something parks into: redrive targets and functions' dead-letter queues."""
    redriven = {
        target_of(q.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn")) for q in QUEUES.values()
    }
    of_functions = {target_of(f["Properties"].get("DeadLetterQueue", {}).get("TargetArn")) for f in FUNCTIONS.values()}
    return (redriven | of_functions) - {None}  # type: ignore[return-value]


def test_the_dashboard_shows_every_queue_every_function_and_every_alarm():
    assert dead_letter_queues() <= referenced("ApproximateNumberOfMessagesVisible", "QueueName")
    assert set(QUEUES) <= referenced("ApproximateAgeOfOldestMessage", "QueueName")
    assert set(FUNCTIONS) <= referenced("Errors", "FunctionName")
    assert set(FUNCTIONS) <= referenced("Throttles", "FunctionName")
    (alarm_widget,) = [w["properties"] for w in dashboard()["widgets"] if w["type"] == "alarm"]
    shown = {name for name, attribute in re.findall(r"\$\{(\w+)\.(Arn)\}", dashboard_text()) if attribute}
    assert shown == set(ALARMS) and len(alarm_widget["alarms"]) == len(ALARMS)


# ---------------------------------------------------------------- the alarms


def watched(metric_name: str) -> set[str]:
    """The logical ids an alarm watches with ``metric_name`` (plain alarms and metric-math alarms)."""
    found = set()
    for alarm in ALARMS.values():
        properties = alarm["Properties"]
        metrics = [properties] + [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
        for metric in metrics:
            if metric.get("MetricName") == metric_name:
                found |= {target_of(d["Value"]) for d in metric.get("Dimensions", [])} - {None}
    return found  # type: ignore[return-value]


def test_every_dead_letter_queue_and_every_function_has_an_alarm_and_the_busy_queues_one_on_age():
    assert dead_letter_queues() == {
        "EventsDeadLetterQueue",
        "OutboxDeadLetterQueue",
        "FanOutDeadLetterQueue",
        "FeedbackDeadLetterQueue",
    }
    assert dead_letter_queues() <= watched("ApproximateNumberOfMessagesVisible")
    assert set(FUNCTIONS) <= watched("Errors")
    assert {"EventsQueue", "OutboxQueue"} <= watched("ApproximateAgeOfOldestMessage")


def test_every_alarm_tells_the_alarm_topic_when_one_is_given():
    notify = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert {name: alarm["Properties"].get("AlarmActions") for name, alarm in ALARMS.items()} == dict.fromkeys(
        ALARMS, notify
    )


def test_the_stack_outputs_the_dashboard_s_address():
    (name,) = DASHBOARDS
    url = TEMPLATE["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("https://") and "${" + name + "}" in url


# ---------------------------------------------------------------- the docs


def test_every_metric_the_code_publishes_is_documented_and_no_other():
    section = (ROOT / "docs" / "OPERATIONS.md").read_text().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    documented = {name for cell in rows for name in re.findall(r"`(\w+)`", cell)}
    assert documented == set(published())
