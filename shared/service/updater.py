"""The state updater: load the customer, decide, save on condition of the version read, retry on conflict.

Identity resolution happens here, around the pure core: an event for an anonymous visitor who has since been
identified is applied to the known customer; an identify (or alias) that names both ids merges the anonymous
record into the known one in the same transaction as the event itself. Two known customers are merged only when a
shop secret key sent the event; with the public write key the merge is refused and recorded on the event's customer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from pydantic import TypeAdapter, ValidationError

from shared.adapters.customers import (
    MergeChainError,
    StoredCustomer,
    UnloadableStateError,
    VersionConflictError,
)
from shared.adapters.queue import FifoEntry
from shared.core.customer import Decision, decide, merge, refuse_merges
from shared.models.config import ShopConfig
from shared.models.effects import Effect, Send, StartTimer
from shared.models.events import FeedbackEvent, QueuedEvent, SegmentEvent, TimerEvent
from shared.models.state import CustomerState
from shared.ports import CustomerRecords, EventQueue, Outbox, Shops, Timers


@cache
def _queued() -> TypeAdapter[SegmentEvent | TimerEvent | FeedbackEvent]:
    """The validator of a queued event, built at first use rather than at import."""
    return TypeAdapter(QueuedEvent)


_ATTEMPTS = 4


class PermanentEventError(Exception):
    """The event can never be applied (malformed, unknown shop); it goes to the dead-letter queue with this reason."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying one queued message did."""

    event: SegmentEvent | TimerEvent | FeedbackEvent
    customer: str
    decision: Decision
    merged: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # known customers it asked to merge without a secret key


class StateUpdater:
    """Applies queued events to customer state."""

    def __init__(
        self,
        store: CustomerRecords,
        shops: Shops,
        dead_letters: EventQueue,
        clock: Callable[[], datetime],
        timers: Timers | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self._store = store
        self._shops = shops
        self._dead_letters = dead_letters
        self._clock = clock
        self._timers = timers
        self._outbox = outbox

    def handle(
        self, body: str, group_id: str, message_id: str, receive_count: int = 1, max_receives: int = 5
    ) -> Outcome | None:
        """Apply one queued message; None when it was parked in the dead-letter queue with its reason: one that can
        never be applied, or one that still fails on its last receive (SQS's redrive would move it without a why).
        Raises otherwise, for SQS to deliver it again."""
        entry = FifoEntry(group_id, message_id, body)
        try:
            event = self.parse(body)
            return self.apply(event)
        except (PermanentEventError, UnloadableStateError) as error:
            # A state that does not load will not load on the next receive either: parked at once, with why.
            self._dead_letters.park(entry, str(error))
            return None
        except Exception as error:
            if receive_count < max_receives:
                raise
            self._dead_letters.park(entry, f"gave up after {receive_count} attempts: {type(error).__name__}: {error}")
            return None

    @staticmethod
    def parse(body: str) -> SegmentEvent | TimerEvent | FeedbackEvent:
        try:
            return _queued().validate_json(body)
        except ValidationError as error:
            raise PermanentEventError(
                f"malformed event: {error.error_count()} error(s): {error.errors()[0]['msg']}"
            ) from error

    def apply(self, event: SegmentEvent | TimerEvent | FeedbackEvent) -> Outcome:
        """Apply ``event`` exactly once; retries when another writer got there first."""
        config = self._shops.config(event.shop_id)
        if config is None:
            raise PermanentEventError(f"unknown shop {event.shop_id!r}")
        for attempt in range(_ATTEMPTS):
            try:
                return self._apply_once(event, config)
            except VersionConflictError:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _apply_once(self, event: SegmentEvent | TimerEvent | FeedbackEvent, config: ShopConfig) -> Outcome:
        try:
            record = self._store.follow(self._store.load(event.shop_id, event.customer))
        except MergeChainError as error:
            raise PermanentEventError(str(error)) from error
        absorbed, refused = self._mergeable(event, record)
        state: CustomerState | None = record.state
        for other in absorbed:
            assert other.state is not None
            state = merge(state or CustomerState(), other.state)
        now = self._clock()
        # The state was just read (or merged) for this decision alone, so decide may work on it directly.
        decision = decide(state, event, now, config, owned=True)
        new_state = decision.state or state
        if refused and decision.state is not None:
            assert isinstance(event, SegmentEvent)
            refuse_merges(decision.state, refused, "known_customer_needs_secret_key", now, event.message_id)
        # Effects go out before the state is saved: if the save loses a race, the event is decided again and the
        # same deterministic timer names and message ids make the repeat harmless (Step Functions refuses a second
        # execution of a name; the send ledger lets a message out once). Saving first could lose them for good.
        # The new state is checked to load again before anything goes out (UnloadableStateError parks the event).
        saves = new_state is not None and (not decision.duplicate or bool(absorbed))
        document = self._store.encode(new_state) if new_state is not None and saves else None
        self._carry_out(decision.effects)
        if new_state is not None and document is not None:
            self._store.save(record, new_state, now, absorbed=absorbed, document=document)
        return Outcome(
            event=event,
            customer=record.key,
            decision=decision,
            merged=tuple(o.key for o in absorbed),
            refused=tuple(refused) if decision.state is not None else (),
        )

    def _mergeable(
        self, event: SegmentEvent | TimerEvent | FeedbackEvent, record: StoredCustomer
    ) -> tuple[list[StoredCustomer], list[str]]:
        """The records ``event`` merges into ``record``, and the keys of known customers it may not merge.

        With the public write key (anyone can read it from a shop's web page) only anonymous visitors join: merging
        another known customer would hand that customer's profile, consents and messages to whoever sent the alias.
        A record that already points elsewhere (``merged_into``) belongs to that customer and is never taken over.
        """
        if not isinstance(event, SegmentEvent):
            return [], []
        absorbed: list[StoredCustomer] = []
        refused: list[str] = []
        for key in event.merges:
            if key == record.key:
                continue
            other = self._store.load(event.shop_id, key)
            if other.state is None or other.merged_into is not None:
                continue
            known = other.key.startswith("u:") or other.state.user_id is not None
            if known and event.authority != "secret":
                refused.append(other.key)
            else:
                absorbed.append(other)
        return absorbed, refused

    def _carry_out(self, effects: list[Effect]) -> None:
        timers = [effect.event for effect in effects if isinstance(effect, StartTimer)]
        sends = [effect.message.model_dump_json() for effect in effects if isinstance(effect, Send)]
        if timers:
            if self._timers is None:
                raise RuntimeError("a decision armed a timer, but this updater has no timer adapter")
            self._timers.start(timers)
        if sends:
            if self._outbox is None:
                raise RuntimeError("a decision sent a message, but this updater has no outbox")
            self._outbox.send_many(sends)
