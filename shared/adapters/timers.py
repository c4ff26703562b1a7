"""Timers on Step Functions (architecture §3): one Standard execution per armed sequence, named deterministically.

An execution carries one or more wake-ups (``wake_ups`` in its input, in due order): for each, the state machine
waits until its ``due_at`` and puts its timer event back into the customer's FIFO group, with the wake-up's own
deduplication id. The wake-ups of one execution are the ``TimerEvent``s naming it (``execution``); a wake-up that
names none is an execution of its own. Starting the same execution twice is harmless: the name is deterministic,
and ``ExecutionAlreadyExists`` (a closed execution of that name, or the same name with other input) means the
timer exists or already fired.

The functions' composition roots (``functions/<fn>/wiring.py``) build :class:`StepFunctionsTimers`; ``nudge
simulate`` and the tests inject other adapters of the port (``shared.ports.Timers``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from shared import aws
from shared.models.events import TimerEvent, deduplication_id
from shared.ports import Timers

__all__ = ["StepFunctionsTimers", "Timers", "execution_input", "start_request", "wake_up"]

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


def wake_up(event: TimerEvent) -> dict[str, Any]:
    """One wake-up of an execution: when, and the FIFO message to send then (with its own deduplication id)."""
    due = event.due_at.astimezone(UTC).replace(tzinfo=None)
    return {
        # Step Functions wants RFC 3339 with a Z (moto's interpreter insists on it)
        "due_at": due.isoformat(timespec="seconds") + "Z",
        "event": event.model_dump_json(),
        "group_id": event.group,
        "dedup_id": deduplication_id(event.shop_id, event.message_id),
    }


def execution_input(events: TimerEvent | Sequence[TimerEvent]) -> dict[str, Any]:
    """The timer state machine's input: the wake-ups of one execution, each waited for in turn."""
    wakes = [events] if isinstance(events, TimerEvent) else list(events)
    return {"wake_ups": [wake_up(event) for event in wakes]}


def executions(events: Sequence[TimerEvent]) -> list[tuple[str, list[TimerEvent]]]:
    """The events grouped into executions by name, in order of first appearance, each in the order given."""
    grouped: dict[str, list[TimerEvent]] = {}
    for event in events:
        grouped.setdefault(event.execution_name, []).append(event)
    return list(grouped.items())


def start_request(state_machine_arn: str, name: str, events: Sequence[TimerEvent]) -> dict[str, Any]:
    """StartExecution arguments for one execution carrying ``events``."""
    return {"stateMachineArn": state_machine_arn, "name": name, "input": json.dumps(execution_input(events))}


class StepFunctionsTimers:
    """Arms timers as executions of the timer state machine, one per execution name."""

    def __init__(self, state_machine_arn: str, client: SFNClient | None = None) -> None:
        self._arn = state_machine_arn
        self._client = client
        self.started = 0

    @property
    def client(self) -> SFNClient:
        if self._client is None:
            self._client = aws.stepfunctions()
        return self._client

    def start(self, events: Sequence[TimerEvent]) -> None:
        """Start an execution per execution name (idempotent by name)."""
        for name, wakes in executions(events):
            try:
                self.client.start_execution(**start_request(self._arn, name, wakes))
                self.started += 1
            except self.client.exceptions.ExecutionAlreadyExists:
                pass  # armed before (a retried decision): the existing execution wakes the customer
