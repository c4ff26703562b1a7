"""``nudge bench``: the paths it reads, AWS list prices and assumed latencies, and the cost arithmetic (pure)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
TIMER_ASL = ROOT / "infra" / "statemachines" / "timer.asl.json"
FAN_OUT_ASL = ROOT / "infra" / "statemachines" / "fan_out.asl.json"
DEFAULT_CONFIG = ROOT / "events" / "demo-shop.yaml"
DEFAULT_MARKDOWN = ROOT / "docs" / "PERFORMANCE.md"
PRESERVED_SECTIONS = ("How to reproduce",)
REGION = "us-east-1"  # the emulator's (infra.local.provision)
# ---------------------------------------------------------------- prices and assumptions


@dataclass(frozen=True, slots=True)
class Price:
    """A list price: ``usd`` per ``per`` ``unit``."""

    usd: float
    per: int
    unit: str
    source: str

    @property
    def each(self) -> float:
        return self.usd / self.per


_CONVENTIONS = "conventions.md (us-east-1 list)"
# Every price the cost figures use, in one table. conventions.md lists one SQS price ($0.50 per million FIFO
# requests) and no standard-queue price, so the outbox (a standard queue) is priced at the FIFO rate too.
PRICES: dict[str, Price] = {
    "dynamodb_write": Price(0.625, 1_000_000, "write request unit", _CONVENTIONS),
    "dynamodb_read": Price(0.125, 1_000_000, "read request unit", _CONVENTIONS),
    "sqs_request": Price(0.50, 1_000_000, "request (per 64 KB)", _CONVENTIONS + ": FIFO; applied to the outbox too"),
    "sfn_transition": Price(0.025, 1_000, "state transition", _CONVENTIONS + ": Standard"),
    "lambda_request": Price(0.20, 1_000_000, "request", _CONVENTIONS),
    "lambda_gb_second": Price(0.0000133334, 1, "GB-second", _CONVENTIONS + ": arm64"),
    "apigw_request": Price(1.00, 1_000_000, "request", _CONVENTIONS + ": HTTP API"),
    "scheduler_invocation": Price(
        1.00, 1_000_000, "invocation", _CONVENTIONS + ": EventBridge Scheduler (modelled, not used)"
    ),
    "ses_email": Price(0.10, 1_000, "email", _CONVENTIONS),
    "pinpoint_event": Price(1.00, 1_000_000, "event", "Amazon Pinpoint: events collected"),
    "pinpoint_endpoint_month": Price(
        0.0012, 1, "targeted endpoint-month", "Amazon Pinpoint: monthly targeted audience"
    ),
}

# Lambda gives a function CPU in proportion to its memory: one full vCPU at 1,769 MB (Lambda developer guide).
LAMBDA_FULL_CPU_MB = 1769
# Assumed latency of one AWS call from inside Lambda, in the same region, SDK work included (ms). Not measured here:
# the emulator answers in-process.
CALL_LATENCY_MS: dict[str, float] = {
    "dynamodb": 5.0,
    "sqs": 8.0,
    "stepfunctions": 15.0,
    "sesv2": 40.0,
    "sns": 20.0,
    "pinpoint-sms-voice-v2": 40.0,
    "socialmessaging": 60.0,
    "secretsmanager": 15.0,
}
METERED_SERVICES = tuple(CALL_LATENCY_MS)
# Lambda's own log lines per invocation (START, END, REPORT), about this many bytes.
PLATFORM_LOG_BYTES = 300
# Not in conventions.md: CloudWatch Logs ingestion (Standard class), us-east-1 list. Shown, never added to the total.
CLOUDWATCH_LOGS_PER_GB = 0.50


@dataclass(frozen=True, slots=True)
class Target:
    """A figure the issue asks nudge to reach."""

    key: str
    label: str
    limit: float
    at_most: bool = True

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit


TARGETS = (
    Target("dynamodb_writes_per_event", "DynamoDB writes per event, less the catalogue's own", 1.10),
    Target("dynamodb_writes_with_catalogue", "DynamoDB writes per event, the catalogue's included", 1.15),
    Target("executions_per_event", "Step Functions executions per event (timers and fan-outs)", 0.03),
    Target("cost_per_million", "AWS cost per 1M events ($)", 2.00),
    Target("import_ratio", "handler import vs bare boto3 (worst, .pyc or not, x)", 2.0),
    Target("core_events_per_second", "decision core events/s (one core)", 20_000, at_most=False),
    Target("backtest_events_per_second", "backtest events/s (one core: 1 M events in 10 min)", 1_667, at_most=False),
    Target("inbox_p99_ms", "free-shipping nudge in the in-app inbox, p99 on the local stack (ms)", 2_000),
)


# ---------------------------------------------------------------- cost arithmetic (pure)


@dataclass(frozen=True, slots=True)
class Counts:
    """Billable quantities of one run (or of any volume): what the cost figures are computed from."""

    events: int
    api_requests: int = 0
    lambda_invocations: int = 0
    lambda_gb_seconds: float = 0.0
    dynamodb_read_units: float = 0.0
    dynamodb_write_units: float = 0.0
    sqs_requests: int = 0
    sfn_transitions: int = 0  # the timers'
    timer_wake_ups: int = 0  # what EventBridge Scheduler would invoke instead: one one-time schedule per wake-up
    fan_out_transitions: int = 0  # the fan-out state machine's (restocks, price drop sweeps)
    emails: int = 0
    endpoint_months: float = 0.0


ENGINE_LINES = (
    ("API Gateway HTTP API", "api_requests", "apigw_request"),
    ("Lambda requests", "lambda_invocations", "lambda_request"),
    ("Lambda duration", "lambda_gb_seconds", "lambda_gb_second"),
    ("DynamoDB writes", "dynamodb_write_units", "dynamodb_write"),
    ("DynamoDB reads", "dynamodb_read_units", "dynamodb_read"),
    ("SQS", "sqs_requests", "sqs_request"),
    ("Step Functions: timers", "sfn_transitions", "sfn_transition"),
    ("Step Functions: fan-outs", "fan_out_transitions", "sfn_transition"),
)


def engine_costs(counts: Counts, prices: dict[str, Price] = PRICES) -> dict[str, float]:
    """USD for ``counts`` per service line of the engine (delivery, such as SES, is not part of it)."""
    return {label: getattr(counts, quantity) * prices[price].each for label, quantity, price in ENGINE_LINES}


def per_million(counts: Counts) -> float:
    """The factor that scales ``counts`` to 1 million events."""
    return 1_000_000 / counts.events if counts.events else 0.0


def engine_cost_per_million(counts: Counts, prices: dict[str, Price] = PRICES) -> float:
    """The engine's AWS cost for 1 million events with the same mix."""
    return sum(engine_costs(counts, prices).values()) * per_million(counts)


def timer_cost_per_million(counts: Counts, scheduler: bool = False, prices: dict[str, Price] = PRICES) -> float:
    """What the timers cost for 1 million events: Step Functions' transitions as run, or (``scheduler``) one
    EventBridge Scheduler invocation per wake-up."""
    if scheduler:
        return counts.timer_wake_ups * prices["scheduler_invocation"].each * per_million(counts)
    return counts.sfn_transitions * prices["sfn_transition"].each * per_million(counts)


def scheduler_engine_cost_per_million(counts: Counts, prices: dict[str, Price] = PRICES) -> float:
    """The engine's cost for 1 million events if every timer wake-up were an EventBridge Scheduler one-time schedule
    (one invocation each, its SendMessage into the same queue) instead of a Step Functions wake-up."""
    costs = engine_costs(counts, prices)
    del costs["Step Functions: timers"]
    return sum(costs.values()) * per_million(counts) + timer_cost_per_million(counts, True, prices)


def email_cost_per_million(counts: Counts, prices: dict[str, Price] = PRICES) -> float:
    return counts.emails * prices["ses_email"].each * per_million(counts)


def pinpoint_cost_per_million(counts: Counts, prices: dict[str, Price] = PRICES) -> float:
    """Amazon Pinpoint for the same volume: 1M events collected plus the endpoint-months that come with them."""
    scale = per_million(counts)
    return (
        counts.events * scale * prices["pinpoint_event"].each
        + counts.endpoint_months * scale * prices["pinpoint_endpoint_month"].each
    )


def timer_transitions(asl: dict[str, Any], wake_ups: int = 1) -> int:
    """State transitions Step Functions bills for one execution of the timer carrying ``wake_ups`` wake-ups, on its
    happy path.

    The states from ``StartAt`` to the end, a Map state counting once plus its item processor's states once per item
    (here: Map, then Wait and the SQS Task per wake-up), plus the execution's start and end, as the Standard price
    counts them (retries would add one each; the happy path has none).
    """
    return _states_entered(asl, wake_ups) + 2


def fan_out_transitions(asl: dict[str, Any], executions: int, parts: int, pages: int) -> int:
    """State transitions Step Functions bills for ``executions`` runs of the fan-out machine, with ``parts`` parts in
    all that asked for ``pages`` pages in all, on their happy path.

    Each execution: its start and end, and its states outside the Map's item processor (the Map once). Each part:
    the processor's states from its start, going round (Choice to Wait to Task) while pages are left: for this
    machine a Task and a Choice per page, a Wait before every page but the first, and the final Succeed, three per
    page. A part's count is linear in its pages, so how the pages were spread over the parts does not matter.
    """
    one, two = _part_transitions(asl, 1), _part_transitions(asl, 2)
    per_page = two - one
    per_part = one - per_page
    outer = sum(1 for _ in _path(asl, _no_choice))
    return executions * (2 + outer) + parts * per_part + pages * per_page


def _part_transitions(machine: dict[str, Any], pages: int) -> int:
    """States one part of the fan-out machine enters when it asks for ``pages`` pages: a Task per page, its Choice
    going on to the first choice's state while pages are left, else to its default."""
    (processor,) = [state["ItemProcessor"] for state in machine["States"].values() if state["Type"] == "Map"]
    left = pages

    def choose(state: dict[str, Any]) -> str | None:
        nonlocal left
        if state["Type"] == "Task":
            left -= 1
        if state["Type"] == "Choice":
            return str(state["Choices"][0]["Next"] if left > 0 else state["Default"])
        return None

    return sum(1 for _ in _path(processor, choose))


def _no_choice(state: dict[str, Any]) -> str | None:
    return None


def _path(machine: dict[str, Any], choose: Callable[[dict[str, Any]], str | None]) -> Iterator[str]:
    """The states a machine enters from ``StartAt`` (a Map's item processor not entered), a Choice going where
    ``choose`` says."""
    states = machine["States"]
    name: str | None = machine["StartAt"]
    while name is not None:
        state = states[name]
        yield name
        chosen = choose(state)
        if chosen is not None:
            name = chosen
        elif state.get("End") or state["Type"] in ("Succeed", "Fail"):
            name = None
        else:
            name = state["Next"]


def _states_entered(machine: dict[str, Any], items: int) -> int:
    states = machine["States"]
    name, visited = machine["StartAt"], 0
    while name is not None:
        visited += 1
        state = states[name]
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if state["Type"] == "Map" and processor is not None:
            visited += items * _states_entered(processor, items)
        name = None if state.get("End") or state["Type"] in ("Succeed", "Fail") else state["Next"]
    return visited


def endpoint_months(endpoints: int, days: int) -> float:
    """Pinpoint bills each endpoint targeted in a month once that month; a run of ``days`` covers this many."""
    return float(endpoints * max(1, math.ceil(days / 30)))
