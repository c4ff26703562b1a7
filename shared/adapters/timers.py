"""Timers on Step Functions (architecture §3): one Standard execution per armed step, named by the timer id.

The state machine waits until ``due_at`` and puts the timer event back into the customer's FIFO group. Starting the
same timer twice is harmless: the execution name is deterministic, and ``ExecutionAlreadyExists`` (a closed execution
of that name, or the same name with other input) means the timer exists or already fired.

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

__all__ = ["StepFunctionsTimers", "Timers", "execution_input", "start_request"]

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


def execution_input(event: TimerEvent) -> dict[str, Any]:
    """The timer state machine's input: when to wake up, and the FIFO message to send then."""
    due = event.due_at.astimezone(UTC).replace(tzinfo=None)
    return {
        # Step Functions wants RFC 3339 with a Z (moto's interpreter insists on it)
        "due_at": due.isoformat(timespec="seconds") + "Z",
        "event": event.model_dump_json(),
        "group_id": event.group,
        "dedup_id": deduplication_id(event.shop_id, event.message_id),
    }


def start_request(state_machine_arn: str, event: TimerEvent) -> dict[str, Any]:
    """StartExecution arguments for one timer."""
    return {"stateMachineArn": state_machine_arn, "name": event.timer_id, "input": json.dumps(execution_input(event))}


class StepFunctionsTimers:
    """Arms timers as executions of the timer state machine."""

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
        """Start an execution per timer (idempotent by name)."""
        for event in events:
            try:
                self.client.start_execution(**start_request(self._arn, event))
                self.started += 1
            except self.client.exceptions.ExecutionAlreadyExists:
                pass  # armed before (a retried decision): the existing execution wakes the customer
