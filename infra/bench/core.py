"""``nudge bench``: the pure decision core's speed, ``decide`` over synthetic traffic in memory."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from infra.bench import shop

if TYPE_CHECKING:  # the emulator and the models load when a measurement runs, not with the `nudge` command
    from shared.models.config import ShopConfig


# ---------------------------------------------------------------- the pure core


@dataclass
class CoreFigures:
    """Throughput of the pure decision core on one core."""

    events: int
    customers: int
    decide_seconds: float  # inside ``decide`` only
    copy_seconds: float  # the same states deep-copied once more, timed alone (what ``decide`` starts with)
    roundtrip_seconds: float  # ``decide`` plus loading and saving the state as JSON
    timers_armed: int  # timer executions started (a sequence's wake-ups are one)

    @property
    def events_per_second(self) -> float:
        return self.events / self.decide_seconds if self.decide_seconds else 0.0

    @property
    def roundtrip_events_per_second(self) -> float:
        return self.events / self.roundtrip_seconds if self.roundtrip_seconds else 0.0

    @property
    def copy_share(self) -> float:
        return self.copy_seconds / self.decide_seconds if self.decide_seconds else 0.0


def core_events(customers: int, days: int, seed: int, shop_id: str) -> list[Any]:
    """The synthetic traffic as the updater gets it: SegmentEvents, validated by ingest's own models."""
    from shared.models.events import SegmentEvent
    from shared.service.ingest import parse_messages, stamp

    messages = shop.generate(customers, days, seed)
    events = []
    for start in range(0, len(messages), 1000):
        chunk = messages[start : start + 1000]
        for index, message in enumerate(parse_messages("batch", {"batch": chunk})):
            received = datetime.fromisoformat(chunk[index]["timestamp"])
            events.append(SegmentEvent(shop_id=shop_id, received_at=received, message=stamp(message, received, index)))
    return events


def core_throughput(config: ShopConfig, events: Sequence[Any]) -> CoreFigures:
    """Time ``decide`` over ``events`` in order, for every customer in one process (no I/O, one core); then the
    same with the state's JSON round trip the updater adds around it (load before, save after)."""
    from shared.core.customer import decide, merge
    from shared.models.effects import StartTimer
    from shared.models.state import CustomerState

    clock = time.perf_counter

    def replay(roundtrip: bool) -> tuple[float, float, int]:
        states: dict[str, Any] = {}
        joined: dict[str, str] = {}
        timers = 0
        busy = copying = 0.0
        for event in events:
            key = joined.get(event.customer, event.customer)
            started = clock()
            state = states.get(key)
            if roundtrip and state is not None:
                state = CustomerState.model_validate_json(state)
            for other in event.merges:  # what the updater does around decide when an identify joins two records
                absorbed = states.pop(other, None)
                if absorbed is not None:
                    absorbed = CustomerState.model_validate_json(absorbed) if roundtrip else absorbed
                    state = merge(state or CustomerState(), absorbed)
                    joined[other] = key
            decision = decide(state, event, event.received_at, config, owned=True)  # as the updater calls it
            new_state = decision.state or state
            if roundtrip and new_state is not None:
                new_state = new_state.model_dump_json(exclude_defaults=True)
            busy += clock() - started
            if not roundtrip and state is not None:
                started = clock()
                CustomerState.model_validate(state.model_dump())  # the copy decide makes of its input
                copying += clock() - started
            # executions started: the wake-ups of one sequence name one execution
            timers += len({e.event.execution_name for e in decision.effects if isinstance(e, StartTimer)})
            if new_state is not None:
                states[key] = new_state
        return busy, copying, timers

    decide_seconds, copy_seconds, timers = replay(roundtrip=False)
    roundtrip_seconds, _, _ = replay(roundtrip=True)
    customers = len({event.customer for event in events})
    return CoreFigures(len(events), customers, decide_seconds, copy_seconds, roundtrip_seconds, timers)
