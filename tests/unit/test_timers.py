"""The timer adapter: what Step Functions is asked to start for the wake-ups a decision armed (no emulator)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from shared.adapters.timers import StepFunctionsTimers
from shared.core.customer import decide
from shared.models.config import EmailSettings
from shared.models.effects import StartTimer
from shared.models.events import TimerEvent
from shared.models.state import ConsentRecord, CustomerState
from tests.factories import T0, accepted, shop_config, track

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:timer"


class ExecutionAlreadyExistsError(Exception):
    pass


class StepFunctions:
    """Step Functions as far as the adapter sees it: a name is started once; again is ExecutionAlreadyExists."""

    class exceptions:  # botocore's attribute name
        ExecutionAlreadyExists = ExecutionAlreadyExistsError

    def __init__(self) -> None:
        self.executions: dict[str, dict[str, Any]] = {}

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, str]:
        if name in self.executions:
            raise ExecutionAlreadyExistsError(name)
        self.executions[name] = json.loads(input)
        return {"executionArn": f"{stateMachineArn}:{name}"}


def armed_by_an_order() -> list[TimerEvent]:
    """The wake-ups post-purchase and repeat purchase arm for an order of a customer nudge can reach by email."""
    config = shop_config({"post_purchase": {}, "repeat_purchase": {}})
    email = EmailSettings(from_address="hello@demo-shop.example")
    config = config.model_copy(update={"channels": config.channels.model_copy(update={"email": email})})
    consented = ConsentRecord(
        channel="email", status="granted", source="signup", notice_version="v1", at=T0, recorded_at=T0, message_id="c"
    )
    state = CustomerState(user_id="u1", traits={"email": "u1@example.com"}, consents=[consented])
    ordered = track("Order Completed", {"order_id": "o1", "revenue": 10.0, "products": []})
    decision = decide(state, accepted({"userId": "u1", **ordered}), T0, config)
    return [effect.event for effect in decision.effects if isinstance(effect, StartTimer)]


def test_one_execution_per_sequence_carries_each_wake_up_with_its_own_deduplication_id():
    # Given the wake-ups an order arms: post-purchase's three steps and repeat purchase's one
    events = armed_by_an_order()
    client = StepFunctions()
    timers = StepFunctionsTimers(ARN, client=client)  # type: ignore[arg-type]

    # When the updater starts them
    timers.start(events)

    # Then Step Functions runs two executions: post-purchase's three waits in one, repeat purchase's in another
    assert timers.started == 2
    waits = {name: [w["due_at"] for w in document["wake_ups"]] for name, document in client.executions.items()}
    assert sorted(waits.values(), key=len) == [
        ["2026-12-02T09:00:00Z"],
        ["2026-11-02T09:10:00Z", "2026-11-09T09:10:00Z", "2026-11-16T09:10:00Z"],
    ]
    # each wake-up puts its own event into the customer's group, with its own deduplication id
    wake_ups = [w for document in client.executions.values() for w in document["wake_ups"]]
    assert {w["group_id"] for w in wake_ups} == {"demo#u:u1"}
    assert len({w["dedup_id"] for w in wake_ups}) == len(wake_ups) == 4
    assert [TimerEvent.model_validate_json(w["event"]) for w in wake_ups] == events


def test_starting_the_same_sequence_again_starts_nothing_more():
    events = armed_by_an_order()
    client = StepFunctions()
    timers = StepFunctionsTimers(ARN, client=client)  # type: ignore[arg-type]
    timers.start(events)

    timers.start(events)  # the decision again, after a lost save
    timers.start([e.model_copy(update={"due_at": e.due_at + timedelta(seconds=5)}) for e in events])  # other input

    assert timers.started == 2 and len(client.executions) == 2
