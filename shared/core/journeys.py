"""Journeys, decided: entry, timers, steps and exits. Pure: no I/O, no clock, no randomness (``now`` is passed in).

``shared.core.customer.decide`` calls :func:`on_event` after a shop's event was applied to the state, and
:func:`on_timer` when a timer came due. Both change the state in place (``decide`` works on a copy) and return the
effects: ``StartTimer`` per wake-up of an execution being started, ``Send`` for a message that is due.

Every journey runs the same way; nothing here branches on a journey's name. What a journey does is its config
(``shared.models.journeys``); what a condition means is the closed vocabulary below.

Timers (architecture §3):
- An instance waits on one wake-up at a time (``timer_id``) of at most one running execution. The execution is
  named deterministically from shop, customer, instance, step and arm count, so ``StartExecution`` is idempotent.
- One execution per sequence: when an execution is started, the wake-ups of the later steps whose times are known
  then ride along (``planned``), so a welcome's two steps or post-purchase's three waits are one execution. Each
  wake-up has its own id (its FIFO deduplication id) and is still decided by the core when it comes. If the instance
  exited, parked or re-armed meanwhile, the later wake-ups find nothing to do: :func:`is_stale` (no state write).
- Lazy re-arm: activity while a timer is pending only moves the instance's reference time. At wake-up the step's
  true due time is recomputed from the state; if it is still ahead, the timer is armed once more for the rest.
- Cancellation is by guard at wake-up: an instance that exited is gone, so its timer finds nothing.
- An execution lives at most a year: a timer is armed for at most 365 days and re-armed at wake-up (chaining).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from shared.core import experiments
from shared.core.insights import ShopDistribution
from shared.core.routing import address_for
from shared.core.segments import Audience, in_segment
from shared.models.config import Channel, ShopConfig
from shared.models.effects import Effect, Send, StartTimer, Tally
from shared.models.events import SegmentEvent, TimerEvent
from shared.models.journeys import DATE_DUE, Condition, EventMatch, Journey, JourneyStep
from shared.models.messages import OFFER_CODE_PLACEHOLDER, OutboxMessage
from shared.models.segment import Identify, TrackCall
from shared.models.state import (
    DEFAULT_CART,
    MAX_ACTIVE_JOURNEYS,
    MAX_ACTIVE_PER_JOURNEY,
    MAX_JOURNEY_HISTORY,
    MAX_JOURNEY_LOG,
    MAX_LOG_REASON,
    Cart,
    CustomerState,
    JourneyInstance,
    JourneyLogEntry,
    JourneyOutcome,
    JourneyOutcomes,
    OrderRef,
)

MAX_TIMER_WAIT = timedelta(days=365)  # a Standard execution lives at most a year; longer waits chain
MAX_CART_ITEMS_IN_MESSAGE = 10
MAX_TIMER_ID = 80  # Step Functions execution names: at most 80 of [A-Za-z0-9-_]
MAX_WAKE_UPS = 10  # wake-ups one execution carries (a journey has at most 10 steps)


@dataclass
class JourneyDecision:
    """What the journeys decided for one event: effects to carry out and notes for the timeline."""

    effects: list[Effect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- entry points


def on_event(
    state: CustomerState,
    event: SegmentEvent,
    now: datetime,
    config: ShopConfig,
    customer: str,
    distribution: ShopDistribution | None = None,
) -> JourneyDecision:
    """Run the journeys for a shop's event that was just applied to ``state`` (changed in place).

    Exits first (an order ends the cart reminder), then triggers: enter a journey, or, for an instance already
    waiting, move its reference time without starting another execution (lazy re-arm).
    """
    facts = _Facts(event)
    run = _Run(state, config, event.shop_id, customer, to_second(now), facts=facts, distribution=distribution)
    _end_unconfigured(run)
    for instance in list(state.journeys):
        reason = _exit_reason(run, config.journeys[instance.journey], instance, facts)
        if reason is not None:
            _end(run, instance, "exited", reason)
    _release_held(run)
    _resume_parked(run)
    at = to_second(event.occurred_at)
    for name, journey in config.journeys.items():
        if journey.enabled:
            _trigger(run, name, journey, facts, at)
    return run.decision


def on_reach(state: CustomerState, now: datetime, config: ShopConfig, shop_id: str, customer: str) -> JourneyDecision:
    """Consent changed outside a shop's event (a confirmed double opt-in, the preference centre): entries held until
    a channel reaches the customer enter now, parked instances arm again."""
    run = _Run(state, config, shop_id, customer, to_second(now))
    _end_unconfigured(run)
    _release_held(run)
    _resume_parked(run)
    return run.decision


def on_timer(
    state: CustomerState, event: TimerEvent, now: datetime, config: ShopConfig, customer: str
) -> JourneyDecision:
    """Wake-up of a timer: re-arm if the step is not due after all, else take the due steps and go on to the next.

    A timer that is not the one its instance waits on (the instance exited, completed or was re-armed) changes
    nothing: that is how a journey is cancelled. ``decide`` sees it first (:func:`is_stale`) and saves nothing; here
    it is only logged, for a caller that asks anyway.
    """
    # The timer fired at its due time by contract; a clock a little behind must not re-arm it for seconds.
    run = _Run(state, config, event.shop_id, customer, to_second(max(now, event.due_at)))
    instance = _waiting_on(state, event)
    if instance is None:
        _log(run, event.journey, _seq_of(event.instance), event.step, "ignored", "stale timer")
        return run.decision
    _end_unconfigured(run)
    if not any(i is instance for i in state.journeys):
        return run.decision  # its journey was removed or disabled
    journey = config.journeys[instance.journey]
    instance.execution = instance.execution or instance.timer_id  # the first wake-up's id names its execution
    instance.timer_id = None
    instance.due_at = None
    due = step_due_at(journey, instance, instance.step)
    if due > run.now:
        # Activity moved the reference time (lazy re-arm), or the wait is longer than one execution may live.
        chained = " (chained: over 365 days)" if due > run.now + MAX_TIMER_WAIT else ""
        _log(run, instance.journey, instance.seq, instance.step, "rearmed", f"due {_iso(due)}{chained}")
        _arm(run, journey, instance, due)
        return run.decision
    _advance(run, journey, instance)
    return run.decision


def is_stale(state: CustomerState, event: TimerEvent) -> bool:
    """Whether no instance waits on this wake-up (it exited, completed, parked or was re-armed since): then it
    changes nothing, and the updater need not save anything for it."""
    return _waiting_on(state, event) is None


def pending_timers(state: CustomerState, shop_id: str, customer: str) -> list[StartTimer]:
    """The ``StartTimer`` of every wake-up instances still wait on (the next one and the later ones of its
    execution): safe to repeat, the execution's name exists already."""
    timers: list[StartTimer] = []
    for instance in state.journeys:
        if instance.timer_id is None or instance.due_at is None:
            continue
        execution = instance.execution or instance.timer_id
        timers.append(StartTimer(event=_timer_event(shop_id, customer, instance, execution)))
        for step, due in instance.planned:
            wake = instance.model_copy(update={"step": step, "due_at": due, "timer_id": wake_up_id(execution, step)})
            timers.append(StartTimer(event=_timer_event(shop_id, customer, wake, execution)))
    return timers


def step_due_at(journey: Journey, instance: JourneyInstance, index: int) -> datetime:
    """When step ``index`` is due: the reference time (+ the inactivity of a state trigger) + the waits so far."""
    base = instance.ref_at + (journey.inactivity or timedelta(0))
    return base + sum((step.wait for step in journey.steps[: index + 1]), timedelta(0))


def step_dues(journey: Journey, instance: JourneyInstance) -> list[datetime]:
    """When each of the instance's steps is due, as things stand."""
    return [step_due_at(journey, instance, index) for index in range(len(journey.steps))]


def timer_id(shop_id: str, customer: str, instance: JourneyInstance) -> str:
    """The execution name for the instance's current step and arm count: readable prefix + 80-bit digest."""
    suffix = digest("timer", shop_id, customer, instance.id, instance.step, instance.arms).lower()
    name = f"{instance.journey[:30]}-{instance.seq}-{instance.step}-{instance.arms}-{suffix}"
    return name[-MAX_TIMER_ID:]


def wake_up_id(execution: str, step: int) -> str:
    """The id of a later wake-up an execution carries (the first one's id is the execution's name): derived from the
    name alone, so it survives an identity merge that renumbers the instance."""
    return f"{execution}-{step}"[-MAX_TIMER_ID:]


def message_id(shop_id: str, customer: str, instance: JourneyInstance, step: int) -> str:
    """The outbox message id of a step: the same instance and step are the same message, however often decided."""
    suffix = digest("message", shop_id, customer, instance.id, step).lower()
    return f"{instance.journey}-{instance.seq}-{step}-{suffix}"


def offer_code(prefix: str, shop_id: str, customer: str, instance: JourneyInstance, step: int) -> str:
    """A discount code: ``prefix`` + 10 base32 characters of a digest of shop, customer, instance and step."""
    return prefix + digest("offer", shop_id, customer, instance.id, step)[:10]


def merge_journeys(known: CustomerState, other: CustomerState) -> dict[str, Any]:
    """Journey fields for one customer made of two records (anonymous browsing joins the known customer).

    The known customer's instances win per (journey, key); the other's are adopted with their numbers moved past
    the known customer's, so no timer or message id of the two records can coincide.
    """
    offset = known.journey_seq
    taken = {(i.journey, i.key) for i in known.journeys}
    adopted = [i.model_copy(update={"seq": i.seq + offset}) for i in other.journeys if (i.journey, i.key) not in taken]
    history: dict[str, list[tuple[str, datetime]]] = {}
    for name in {*known.journey_history, *other.journey_history}:
        entries = set(known.journey_history.get(name, [])) | set(other.journey_history.get(name, []))
        history[name] = sorted(entries, key=lambda entry: entry[1])[-MAX_JOURNEY_HISTORY:]
    moved = [e._replace(seq=e.seq + offset) if e.seq is not None else e for e in other.journey_log]
    outcomes = dict(other.journey_outcomes)
    for name, mine in known.journey_outcomes.items():
        theirs = outcomes.get(name)
        if theirs is None:
            outcomes[name] = mine
            continue
        outcomes[name] = JourneyOutcomes(
            completed_at=_later(mine.completed_at, theirs.completed_at),
            converted_at=_later(mine.converted_at, theirs.converted_at),
            reached_at=_later(mine.reached_at, theirs.reached_at),
            counted_reach=_later(mine.counted_reach, theirs.counted_reach),
        )
    return {
        "journey_outcomes": outcomes,
        "journeys": [*known.journeys, *adopted],
        "journey_history": history,
        "journey_log": sorted([*known.journey_log, *moved], key=lambda e: e.at)[-MAX_JOURNEY_LOG:],
        "journey_seq": known.journey_seq + other.journey_seq,
    }


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    return max(first, second) if first is not None and second is not None else first or second


# ---------------------------------------------------------------- one decision


@dataclass
class _Run:
    state: CustomerState
    config: ShopConfig
    shop_id: str
    customer: str
    now: datetime
    decision: JourneyDecision = field(default_factory=JourneyDecision)
    facts: _Facts | None = None  # the shop's event being decided (None for a timer)
    distribution: ShopDistribution | None = None  # the shop's, for entry segments with RFM or lifecycle rules
    # (journey, key) of instances this event ended: the event that ended one does not start the next.
    ended: set[tuple[str, str | None]] = field(default_factory=set)


class _Facts:
    """What journeys match on in a shop's event: the call, the track event's name, its properties."""

    def __init__(self, event: SegmentEvent) -> None:
        self._message = event.message
        self.authority = event.authority
        self.call = event.message.type
        self.name = event.message.event if isinstance(event.message, TrackCall) else None

    @cached_property
    def properties(self) -> dict[str, Any]:
        message = self._message
        if isinstance(message, Identify):
            return message.traits.model_dump(exclude_none=True)
        properties = getattr(message, "properties", None)
        if isinstance(properties, BaseModel):
            return properties.model_dump(exclude_none=True)
        return dict(properties) if isinstance(properties, dict) else {}

    @property
    def label(self) -> str:
        return self.name or self.call


def _matches(match: EventMatch, facts: _Facts) -> bool:
    if match.event is not None:
        if facts.call != "track" or facts.name != match.event:
            return False
    elif match.call != facts.call:
        return False
    return all(_same(facts.properties.get(name), value) for name, value in match.where.items())


def _same(actual: Any, expected: Any) -> bool:
    # Properties arrive as JSON: "true" and True, "5" and 5 are the same to a shop writing YAML filters.
    return actual is not None and (actual == expected or str(actual).lower() == str(expected).lower())


def _key_value(journey: Journey, facts: _Facts) -> str | None:
    if journey.key is None:
        return None
    value = facts.properties.get(journey.key)
    # Without the key property the event concerns the customer's one default cart / order (as the state does).
    return DEFAULT_CART if value is None or value == "" else str(value)


def _key_matches(journey: Journey, instance: JourneyInstance, facts: _Facts) -> bool:
    if journey.key is None:
        return True
    value = facts.properties.get(journey.key)
    # An exit event without the key concerns every instance: an order without cart_id closes every open cart.
    return value is None or value == "" or str(value) == instance.key


def _end_unconfigured(run: _Run) -> None:
    for instance in list(run.state.journeys):
        journey = run.config.journeys.get(instance.journey)
        if journey is None or not journey.enabled:
            why = "journey removed from the config" if journey is None else "journey disabled"
            _end(run, instance, "exited", why)


def _exit_reason(run: _Run, journey: Journey, instance: JourneyInstance, facts: _Facts) -> str | None:
    for match in journey.exit.events:
        if _matches(match, facts) and _key_matches(journey, instance, facts):
            return facts.label
    for condition in journey.exit.conditions:
        if _holds(run, journey, instance, condition):
            return _describe(condition, holds=True)
    return None


def _trigger(run: _Run, name: str, journey: Journey, facts: _Facts, at: datetime) -> None:
    if journey.inactivity is not None:
        _watch_inactivity(run, name, journey, at)
        return
    if journey.dated is not None:
        _date_due(run, name, journey, facts, at)
        return
    if not any(_matches(trigger, facts) for trigger in journey.trigger):
        return
    key = _key_value(journey, facts)
    if (name, key) in run.ended:
        return
    active = _active(run.state, name, key)
    if active is None:
        _enter(run, name, journey, key, at=at, ref=at, why=facts.label)
    elif journey.restart_on_trigger and active.step == 0:
        # Lazy re-arm: only the reference time moves; the pending timer re-arms itself at wake-up.
        active.ref_at = max(active.ref_at, at)
    else:
        _log(run, name, active.seq, None, "not_entered", "already active")


def _watch_inactivity(run: _Run, name: str, journey: Journey, at: datetime) -> None:
    """Every activity is the trigger of an inactivity journey: watch from the last activity, lazily."""
    last = to_second(run.state.last_activity_at or at)
    active = _active(run.state, name, None)
    if active is None:
        _enter(run, name, journey, None, at=at, ref=last, why=f"watching {_iso_duration(journey.inactivity)}")
    elif active.step == 0:
        active.ref_at = max(active.ref_at, last)


def _date_due(run: _Run, name: str, journey: Journey, facts: _Facts, at: datetime) -> None:
    """A date journey is entered by the daily sweep's ``Date Due`` for it (nudge's own event: secret authority), once
    per occurrence (its key), its first step's wait running from the moment to send (``send_at``). A ``birthday``
    trait that is not a date is noted in the journey log when it arrives: the sweep passes over it."""
    trigger = journey.dated
    assert trigger is not None
    properties = facts.properties
    if trigger.date == "birthday" and facts.call == "identify" and properties.get("birthday") is not None:
        from shared.core.occasions import birthday_of  # only an identify with a birthday, for a birthday journey

        if birthday_of(properties["birthday"]) is None:
            why = f"birthday {str(properties['birthday'])[:40]!r} is not a date (YYYY-MM-DD or --MM-DD): ignored"
            _log(run, name, None, None, "not_entered", why)
        return
    if facts.name != DATE_DUE or facts.authority != "secret" or properties.get("journey") != name:
        return
    occurrence, send_at = properties.get("occurrence"), properties.get("send_at")
    try:
        ref = to_second(datetime.fromisoformat(str(send_at)))
    except ValueError:
        return  # not the sweep's (it writes an ISO time): nothing to enter
    if not isinstance(occurrence, str) or ref.tzinfo is None:
        return
    if _active(run.state, name, occurrence) is None:
        _enter(run, name, journey, occurrence, at=at, ref=ref, why=f"{_occasion_of(journey)} {occurrence}")


def _occasion_of(journey: Journey) -> str:
    trigger = journey.dated
    assert trigger is not None
    return str(trigger.date or trigger.occasion)


def _active(state: CustomerState, name: str, key: str | None) -> JourneyInstance | None:
    return next((i for i in state.journeys if i.journey == name and i.key == key), None)


def _enter(run: _Run, name: str, journey: Journey, key: str | None, at: datetime, ref: datetime, why: str) -> None:
    state = run.state
    instance = JourneyInstance(journey=name, seq=state.journey_seq + 1, key=key, entered_at=at, ref_at=ref)
    refusal = _refusal(run, name, journey, instance)
    if refusal is not None:
        _log(run, name, None, None, "not_entered", refusal)
        return
    state.journey_seq += 1
    state.journeys = [*state.journeys, instance]
    if journey.entry.until_reachable and not _reachable(run, journey):
        # No timer for a message nobody could receive, and a once-only entry is not used up: it waits.
        instance.held = True
        _log(run, name, instance.seq, None, "not_entered", "no channel reaches the customer yet; waiting")
        return
    _admit(run, journey, instance, why)


def _admit(run: _Run, journey: Journey, instance: JourneyInstance, why: str) -> None:
    state = run.state
    name = instance.journey
    entries = [*state.journey_history.get(name, []), (instance.key or "", instance.entered_at)]
    state.journey_history = {**state.journey_history, name: entries[-MAX_JOURNEY_HISTORY:]}
    _log(run, name, instance.seq, None, "entered", why)
    group = experiments.group(run.config, name, run.customer)
    run.decision.effects.append(
        Tally(shop_id=run.shop_id, day=run.now.date(), journey=name, variant=group, counts={"entered": 1})
    )
    _advance(run, journey, instance)


def _release_held(run: _Run) -> None:
    """Held entries enter once a channel reaches the customer, and lapse when their trigger grew too old. An entry's
    age does not count the time a double opt-in grant on one of its channels waited for its confirmation: a
    customer who confirms on the sixth day is welcomed as one who confirmed at once. A released entry's first step
    goes out now at the latest, the later ones keeping their waits after it (not all at once)."""
    for instance in list(run.state.journeys):
        if not instance.held:
            continue
        journey = run.config.journeys[instance.journey]
        max_age = journey.entry.max_trigger_age
        age = run.now - instance.entered_at
        if max_age is not None and age > max_age and age - _confirmation_wait(run, journey, instance) > max_age:
            run.state.journeys = [i for i in run.state.journeys if i is not instance]
            why = f"no channel reached the customer within {_iso_duration(max_age)}"
            _log(run, instance.journey, instance.seq, None, "not_entered", why)
            continue
        if journey.entry.until_reachable and not _reachable(run, journey):
            continue  # (a shop that turned the rule off lets it enter now)
        failed = next((c for c in journey.entry.only_if if not _holds(run, journey, instance, c)), None)
        refused = _describe(failed, holds=False) if failed is not None else _outside_segment(run, journey)
        if refused is not None:
            run.state.journeys = [i for i in run.state.journeys if i is not instance]
            _log(run, instance.journey, instance.seq, None, "not_entered", refused)
            continue
        instance.held = False
        first = step_due_at(journey, instance, instance.step)
        if first < run.now:  # the waits count from now on: the steps do not all fall due at once
            instance.ref_at = to_second(instance.ref_at + (run.now - first))
        why = "a channel reaches the customer now" if journey.entry.until_reachable else "no longer waits for reach"
        _admit(run, journey, instance, why)


def _confirmation_wait(run: _Run, journey: Journey, instance: JourneyInstance) -> timedelta:
    """How much of a held entry's life a double opt-in grant on one of the journey's channels spent waiting for its
    confirmation: from its request to the button (the grant in force now confirms it), or to now while it waits."""
    state, longest = run.state, timedelta(0)
    for channel in _channels_of(run, journey.steps):
        record = state.consent(channel)
        if record is not None and record.status == "granted" and record.requested_at is not None:
            start, end = record.requested_at, record.at
        elif (pending := state.pending(channel, run.now)) is not None:
            start, end = pending.at, run.now
        else:
            continue
        longest = max(longest, min(end, run.now) - max(start, instance.entered_at))
    return longest


def _resume_parked(run: _Run) -> None:
    """A parked instance (no timer: no channel reached the customer) arms once one does.

    Its steps that came due meanwhile had nothing to go out on (what the router would have held back): skipped.
    """
    for instance in list(run.state.journeys):
        if instance.held or instance.timer_id is not None:
            continue
        journey = run.config.journeys[instance.journey]
        while instance.step < len(journey.steps) and step_due_at(journey, instance, instance.step) <= run.now:
            _log(run, instance.journey, instance.seq, instance.step, "skipped", "no channel reached the customer")
            instance.step += 1
        if instance.step >= len(journey.steps):
            _end(run, instance, "completed", "")
        elif not journey.entry.until_reachable or _reachable(
            run, _wake_steps(journey, instance, step_due_at(journey, instance, instance.step))
        ):
            _advance(run, journey, instance)


def _wake_steps(
    journey: Journey, instance: JourneyInstance, due: datetime, start: int | None = None
) -> list[JourneyStep]:
    """The steps one wake-up at ``due`` takes: the next one (or ``start``) and those after it due at that moment."""
    steps = []
    for index in range(instance.step if start is None else start, len(journey.steps)):
        if step_due_at(journey, instance, index) != due:
            break
        steps.append(journey.steps[index])
    return steps


def _reachable(run: _Run, journey: Journey | list[JourneyStep]) -> bool:
    """Whether some step's channel could carry a message now (consent, usable address, configured channel).

    The SMS window is not looked at: outside it a message is deferred, not lost.
    """
    settings, state = run.config.channels, run.state
    return any(
        state.has_consent(channel)
        and settings.configured(channel)
        and address_for(state, channel, run.config, "") is not None
        for channel in _channels_of(run, journey.steps if isinstance(journey, Journey) else journey)
    )


def _channels_of(run: _Run, steps: list[JourneyStep]) -> list[Channel]:
    """The channels the steps may go out on: each step's own, else the shop's preference."""
    channels: dict[Channel, None] = {}
    for step in steps:
        channels.update(dict.fromkeys(step.channels if step.channels is not None else run.config.channels.preference))
    return list(channels)


def reachable_by(state: CustomerState, config: ShopConfig, event: str, now: datetime) -> bool:
    """Whether a journey ``event`` triggers could reach the customer now on one of its channels (a fan-out tells
    only those: an event for a customer no channel reaches would cost a write and send nothing)."""
    run = _Run(state, config, config.shop.id, "", now)
    return any(_reachable(run, config.journeys[name]) for name in config.journeys_triggered_by(event))


def reachable_for(state: CustomerState, config: ShopConfig, journey: str, now: datetime) -> bool:
    """Whether the journey's messages could reach the customer now on one of its channels (the date sweep tells
    only those)."""
    return _reachable(_Run(state, config, config.shop.id, "", now), config.journeys[journey])


def _refusal(run: _Run, name: str, journey: Journey, instance: JourneyInstance) -> str | None:
    state = run.state
    max_age = journey.entry.max_trigger_age
    if max_age is not None and run.now - instance.entered_at > max_age:
        # Imported history must not fire every overdue step of a journey at once.
        return f"trigger older than {_iso_duration(max_age)}"
    running = sum(1 for i in state.journeys if i.journey == name)
    if running >= MAX_ACTIVE_PER_JOURNEY:
        return f"{running} instances already active"
    if len(state.journeys) >= MAX_ACTIVE_JOURNEYS:
        return f"{len(state.journeys)} journeys already active"
    previous = [at for key, at in state.journey_history.get(name, []) if key == (instance.key or "")]
    if previous:
        last = max(previous)
        reentry = journey.entry.reentry_after
        if reentry is None:
            return f"entered before ({_iso(last)}); once only"
        if instance.entered_at - last < reentry:
            return f"reentry_after {_iso_duration(reentry)} not elapsed"
    for condition in journey.entry.only_if:
        if not _holds(run, journey, instance, condition):
            return _describe(condition, holds=False)
    return _outside_segment(run, journey)


def _outside_segment(run: _Run, journey: Journey) -> str | None:
    """Why the customer may not enter for the journey's entry segment, or None (no segment, or in it)."""
    name = journey.entry.segment
    if name is None:
        return None
    audience = Audience(run.config, run.distribution or ShopDistribution(), run.now)
    return None if in_segment(run.state, name, audience) else f"not in segment {name}"


def _advance(run: _Run, journey: Journey, instance: JourneyInstance) -> None:
    """Take every step that is due by now, then wait on the next one's wake-up (the running execution's if it
    carries it, else a new execution's) or complete the instance."""
    while instance.step < len(journey.steps):
        due = step_due_at(journey, instance, instance.step)
        if due > run.now:
            if journey.entry.until_reachable and not _reachable(run, _wake_steps(journey, instance, due)):
                # Nothing could carry it unless an event changes that first, and every event re-checks (resume).
                # A later wake-up of the running execution, if any, will find nothing to do.
                _drop_plan(instance)
                _log(run, instance.journey, instance.seq, instance.step, "parked", "no channel reaches the customer")
                return
            if not _next_planned(instance, due):
                _arm(run, journey, instance, due)
            return
        if not _take_step(run, journey, instance, due):
            return
        instance.step += 1
    _end(run, instance, "completed", "")


def _take_step(run: _Run, journey: Journey, instance: JourneyInstance, due: datetime) -> bool:
    """Exit conditions and guards end the instance (False); a step whose condition fails is skipped."""
    for condition in journey.exit.conditions:
        if _holds(run, journey, instance, condition):
            _end(run, instance, "exited", _describe(condition, holds=True))
            return False
    for condition in journey.guard:
        if not _holds(run, journey, instance, condition):
            _end(run, instance, "exited", f"guard: {_describe(condition, holds=False)}")
            return False
    step = journey.steps[instance.step]
    failed = next((c for c in step.condition if not _holds(run, journey, instance, c)), None)
    if failed is not None:
        _log(run, instance.journey, instance.seq, instance.step, "skipped", _describe(failed, holds=False))
        return True
    group = experiments.group(run.config, instance.journey, run.customer)
    _reach(run, instance, group)
    if not step.transactional and group == experiments.HOLDOUT:
        # The control group: it would have been sent now. Recorded so that the uplift is measured, not guessed.
        run.decision.effects.append(
            Tally(
                shop_id=run.shop_id,
                day=run.now.date(),
                journey=instance.journey,
                step=instance.step,
                variant=experiments.HOLDOUT,
                counts={"held_out": 1},
            )
        )
        _log(run, instance.journey, instance.seq, instance.step, "held_out", step.template)
        return True
    run.decision.effects.append(Send(message=_message(run, journey, instance, step, due)))
    _log(run, instance.journey, instance.seq, instance.step, "step_due", step.template)
    return True


def _reach(run: _Run, instance: JourneyInstance, group: str) -> None:
    """The instance's first step is due (sent, or held out): from now on the customer's group is treated (or, held
    out, not), so their orders from now on are what the uplift compares. Counted once per entry."""
    name = instance.journey
    marks = run.state.journey_outcomes.get(name) or JourneyOutcomes()
    if marks.reached_at is not None and marks.reached_at >= instance.entered_at:
        return  # this entry's first step was taken already
    now = run.now.replace(microsecond=0)
    run.state.journey_outcomes = {**run.state.journey_outcomes, name: marks.model_copy(update={"reached_at": now})}
    run.decision.effects.append(
        Tally(shop_id=run.shop_id, day=run.now.date(), journey=name, variant=group, counts={"reached": 1})
    )


def _arm(run: _Run, journey: Journey, instance: JourneyInstance, due: datetime) -> None:
    """Start an execution for the next step's wake-up at ``due``, carrying the later steps' wake-ups too."""
    instance.arms += 1
    instance.due_at = to_second(min(due, run.now + MAX_TIMER_WAIT))
    instance.timer_id = timer_id(run.shop_id, run.customer, instance)
    instance.execution = None  # named like its first wake-up, the one waited on now
    instance.planned = _plan(run, journey, instance) if instance.due_at == to_second(due) else []
    execution = instance.timer_id
    run.decision.effects.append(StartTimer(event=_timer_event(run.shop_id, run.customer, instance, execution)))
    for step, at in instance.planned:
        wake = instance.model_copy(update={"step": step, "due_at": at, "timer_id": wake_up_id(execution, step)})
        run.decision.effects.append(StartTimer(event=_timer_event(run.shop_id, run.customer, wake, execution)))


def _plan(run: _Run, journey: Journey, instance: JourneyInstance) -> list[tuple[int, datetime]]:
    """(step, due) of the wake-ups after the next one that one execution can carry: the later steps' times are known
    now (the reference time moves only before the first step is taken, and a wake-up that finds it moved re-arms
    anyway), within the year an execution may live, while a channel could carry them now (else the instance will
    park there, as it would have without the plan)."""
    assert instance.due_at is not None
    planned: list[tuple[int, datetime]] = []
    previous = instance.due_at
    limit = run.now + MAX_TIMER_WAIT
    for index in range(instance.step + 1, len(journey.steps)):
        due = step_due_at(journey, instance, index)
        if due == previous:
            continue  # taken by the same wake-up as the step before it
        if due > limit or len(planned) + 1 >= MAX_WAKE_UPS:
            break
        if journey.entry.until_reachable and not _reachable(run, _wake_steps(journey, instance, due, index)):
            break
        planned.append((index, to_second(due)))
        previous = due
    return planned


def _next_planned(instance: JourneyInstance, due: datetime) -> bool:
    """Wait on the running execution's next wake-up if it is the one for the next step at ``due``; the plan is
    dropped if it no longer fits (a wake-up that comes anyway finds nothing to do)."""
    # Wake-ups of steps already taken (a late wake-up took several) will find nothing to do.
    planned = [(step, at) for step, at in instance.planned if step >= instance.step]
    if planned and planned[0] == (instance.step, to_second(due)) and instance.execution is not None:
        instance.planned = planned[1:]
        instance.timer_id = wake_up_id(instance.execution, instance.step)
        instance.due_at = to_second(due)
        return True
    _drop_plan(instance)
    return False


def _drop_plan(instance: JourneyInstance) -> None:
    instance.execution = None
    instance.planned = []


def _waiting_on(state: CustomerState, event: TimerEvent) -> JourneyInstance | None:
    return next((i for i in state.journeys if i.timer_id == event.timer_id), None)


def _timer_event(shop_id: str, customer: str, instance: JourneyInstance, execution: str) -> TimerEvent:
    assert instance.timer_id is not None and instance.due_at is not None
    return TimerEvent(
        shop_id=shop_id,
        customer=customer,
        journey=instance.journey,
        instance=instance.id,
        step=instance.step,
        timer_id=instance.timer_id,
        due_at=instance.due_at,
        execution=execution,
    )


def _end(run: _Run, instance: JourneyInstance, outcome: JourneyOutcome, reason: str) -> None:
    run.state.journeys = [i for i in run.state.journeys if i is not instance]
    if outcome == "completed":
        marks = run.state.journey_outcomes.get(instance.journey) or JourneyOutcomes()
        run.state.journey_outcomes[instance.journey] = marks.model_copy(update={"completed_at": run.now})
    run.ended.add((instance.journey, instance.key))
    _log(run, instance.journey, instance.seq, instance.step if outcome == "exited" else None, outcome, reason)


def _log(run: _Run, journey: str, seq: int | None, step: int | None, outcome: JourneyOutcome, reason: str) -> None:
    state = run.state
    reason = reason[:MAX_LOG_REASON]
    if outcome == "not_entered":
        # A refusal repeated by every further trigger says nothing new and would push the useful entries out.
        previous = next((e for e in reversed(state.journey_log) if e.journey == journey), None)
        if previous is not None and (previous.outcome, previous.reason) == (outcome, reason):
            return
    entry = JourneyLogEntry(
        at=int(run.now.timestamp()), journey=journey, outcome=outcome, seq=seq, step=step, reason=reason
    )
    state.journey_log = [*state.journey_log, entry][-MAX_JOURNEY_LOG:]
    instance = f"{journey}#{seq}" if seq is not None else journey
    run.decision.notes.append(f"{instance}: {outcome}" + (f" ({reason})" if reason else ""))


# ---------------------------------------------------------------- the outgoing message


def _message(run: _Run, journey: Journey, instance: JourneyInstance, step: JourneyStep, due: datetime) -> OutboxMessage:
    chosen = experiments.variant(run.shop_id, instance.journey, instance.step, step, run.customer)
    template, step_offer = step.template, step.offer
    if chosen is not None:
        template = chosen.template or template
        step_offer = None if chosen.no_offer else chosen.offer or step_offer
    variables: dict[str, Any] = {"instance": instance.id}
    if journey.key is not None and instance.key is not None:
        variables[journey.key] = instance.key
    variables.update(_cart_variables(run.state, journey, instance))
    variables.update(_order_variables(run.state, journey, instance))
    variables.update(_product_variables(run, journey, instance))
    variables.update(_date_variables(run, journey, instance))
    if journey.key == "cart_id" and run.config.shop.free_shipping_threshold is not None:
        variables["free_shipping_threshold"] = run.config.shop.free_shipping_threshold  # "add €10.10 more"
    code = ""
    if step_offer is not None:
        expires = to_second(due + step_offer.valid_for)
        offer: dict[str, Any] = {"percent": step_offer.percent, "expires_at": _iso(expires)}
        source = run.config.offers.get(step_offer.prefix)
        if source is not None and source.static is not None:
            code = source.static
            offer["source"] = "static"
        elif source is not None and source.pool is not None:
            code = OFFER_CODE_PLACEHOLDER  # the router takes one from the pool when the message goes out
            offer["pool"] = source.pool
        elif source is not None and source.webhook is not None:
            code = offer_code(step_offer.prefix, run.shop_id, run.customer, instance, instance.step)
            offer["source"] = "webhook"  # the router registers it with the shop before the message goes out
            offer["prefix"] = step_offer.prefix
        else:
            code = offer_code(step_offer.prefix, run.shop_id, run.customer, instance, instance.step)
        variables["offer"] = {"code": code, **offer}
    if step.deep_link is not None:
        fields = {
            "offer_code": code,
            "cart_id": variables.get("cart_id", ""),
            "order_id": variables.get("order_id", ""),
            "instance": instance.id,
        }
        variables["deep_link"] = step.deep_link.format_map(fields)
    return OutboxMessage(
        message_id=message_id(run.shop_id, run.customer, instance, instance.step),
        shop_id=run.shop_id,
        customer=run.customer,
        journey=instance.journey,
        step=instance.step,
        template=template,
        channels=list(step.channels) if step.channels is not None else None,
        variables=variables,
        transactional=step.transactional,
        created_at=run.now,
        variant=chosen.name if chosen is not None else None,
        topic=journey.topic,
    )


def _cart_variables(state: CustomerState, journey: Journey, instance: JourneyInstance) -> dict[str, Any]:
    if journey.key != "cart_id" or instance.key is None:
        return {}
    cart = state.carts.get(instance.key)
    if cart is None:
        return {"items": []}
    items = [item.model_dump(exclude_none=True) for item in cart.items[:MAX_CART_ITEMS_IN_MESSAGE]]
    return {"items": items, "cart_value": round(cart.value, 2)}


def _order_variables(state: CustomerState, journey: Journey, instance: JourneyInstance) -> dict[str, Any]:
    if journey.key != "order_id":
        return {}
    order = _order(state, instance)
    if order is None:
        return {"categories": list(state.orders.categories_bought[-5:])}
    return {"categories": list(order.categories), "order_amount": order.amount}


_PRODUCT_FIELDS = ("product_id", "name", "price", "previous_price", "category", "image_url", "url")


def _product_variables(run: _Run, journey: Journey, instance: JourneyInstance) -> dict[str, Any]:
    """For a journey about one product (its product_id key), the product as the event that triggered it tells it
    (a restock carries the catalogue's); a later step finds it in the customer's views and wishlist instead."""
    if journey.key != "product_id" or run.facts is None:
        return {}
    properties = run.facts.properties
    if str(properties.get("product_id")) != instance.key:
        return {}
    return {"product": {name: properties[name] for name in _PRODUCT_FIELDS if properties.get(name) is not None}}


def _date_variables(run: _Run, journey: Journey, instance: JourneyInstance) -> dict[str, Any]:
    """For a date journey: the occasion (``birthday``, ``mothers_day``, ...), its date and its title (a public
    holiday's name, e.g. "Christmas Day")."""
    trigger = journey.dated
    if trigger is None or instance.key is None:
        return {}
    from shared.core.dates import occasion_title  # only for a date journey's message

    name = _occasion_of(journey)
    title = occasion_title(trigger, instance.key, run.state, run.config)
    return {"occasion": {"name": name, "date": instance.key, "title": title}}


def _order(state: CustomerState, instance: JourneyInstance) -> OrderRef | None:
    return next((o for o in state.orders.recent if o.order_id == instance.key), None)


# ---------------------------------------------------------------- conditions (the closed vocabulary)

# What each condition says when it holds, and when it does not (the "why" in the journey log).
_TEXTS: dict[str, tuple[str, str]] = {
    "cart_not_empty": ("cart has items", "cart is empty"),
    "cart_empty": ("cart is empty", "cart has items"),
    "ordered_since_entry": ("ordered since entry", "no order since entry"),
    "no_order_since_entry": ("no order since entry", "ordered since entry"),
    "never_ordered": ("never ordered", "has ordered"),
    "has_ordered": ("has ordered", "never ordered"),
    "order_reversed": ("order refunded or cancelled", "order stands"),
    "active_since_message": ("active again since the last message", "inactive since the last message"),
    "still_inactive": ("no activity since the inactivity began", "active since the inactivity began"),
    "not_ordered_within": ("no order within {}", "ordered within {}"),
    "inactive_for": ("inactive for {}", "active within {}"),
    "waits_for_product": ("waits for the product", "no longer waits for the product"),
    "cart_below_free_shipping": ("cart below free shipping", "cart ships free (or no threshold)"),
    "wants_product": ("wants the product", "no longer wants the product (not viewed lately, nor kept, or bought)"),
}


def _describe(condition: Condition, holds: bool) -> str:
    text = _TEXTS[condition.name][0 if holds else 1]
    return text.format(_iso_duration(condition.within)) if condition.within is not None else text


def _holds(run: _Run, journey: Journey, instance: JourneyInstance, condition: Condition) -> bool:
    state = run.state
    last_activity = to_second(state.last_activity_at) if state.last_activity_at else None
    match condition.name:
        case "cart_not_empty":
            return _has_cart(state, journey, instance)
        case "cart_empty":
            return not _has_cart(state, journey, instance)
        case "ordered_since_entry":
            return _ordered_since_entry(state, instance)
        case "no_order_since_entry":
            return not _ordered_since_entry(state, instance)
        case "never_ordered":
            return state.orders.count == 0
        case "has_ordered":
            return state.orders.count > 0
        case "order_reversed":
            order = _order(state, instance)
            return order is not None and order.status != "completed"
        case "active_since_message":
            if instance.step == 0 or last_activity is None:
                return False
            return last_activity > step_due_at(journey, instance, instance.step - 1)
        case "still_inactive":
            return last_activity is None or last_activity <= instance.ref_at
        case "not_ordered_within":
            assert condition.within is not None
            last_order = state.orders.last_order_at
            return last_order is None or last_order <= run.now - condition.within
        case "inactive_for":
            assert condition.within is not None
            return last_activity is None or last_activity <= run.now - condition.within
        case "waits_for_product":
            return instance.key is not None and waits_for(state, instance.key, run.now - run.config.catalog.wait_expiry)
        case "cart_below_free_shipping":
            threshold = run.config.shop.free_shipping_threshold
            cart = _the_cart(state, journey, instance)
            return threshold is not None and cart is not None and bool(cart.items) and cart.value < threshold
        case "wants_product":
            return instance.key is not None and wants(state, instance.key, run.now - run.config.catalog.viewed_within)


def waits_for(state: CustomerState, product_id: str, since: datetime) -> bool:
    """The customer waits for ``product_id``: asked to be told after ``since``, or wishlisted it after ``since``
    and has not bought it, or has it in a cart that changed after ``since``."""
    if any(wait.product_id == product_id and wait.since > since for wait in state.waits):
        return True
    if product_id in state.orders.products_bought:
        return False
    if any(ref.product_id == product_id and ref.at > since for ref in state.wishlist):
        return True
    return any(
        cart.updated_at > since and any(item.product_id == product_id for item in cart.items)
        for cart in state.carts.values()
    )


def wants(state: CustomerState, product_id: str, viewed_since: datetime) -> bool:
    """The customer wants ``product_id`` and does not own it: viewed it after ``viewed_since``, or has it in the
    wishlist or a cart."""
    if product_id in state.orders.products_bought:
        return False
    return (
        any(ref.product_id == product_id and ref.at > viewed_since for ref in state.viewed)
        or any(ref.product_id == product_id for ref in state.wishlist)
        or any(item.product_id == product_id for cart in state.carts.values() for item in cart.items)
    )


def _the_cart(state: CustomerState, journey: Journey, instance: JourneyInstance) -> Cart | None:
    """The instance's cart (its cart_id key), else the customer's most recently changed cart with items."""
    if journey.key == "cart_id" and instance.key is not None:
        return state.carts.get(instance.key)
    carts = [cart for cart in state.carts.values() if cart.items]
    return max(carts, key=lambda cart: cart.updated_at, default=None)


def _has_cart(state: CustomerState, journey: Journey, instance: JourneyInstance) -> bool:
    if journey.key == "cart_id" and instance.key is not None:
        cart = state.carts.get(instance.key)
        return cart is not None and bool(cart.items)
    return any(cart.items for cart in state.carts.values())


def _ordered_since_entry(state: CustomerState, instance: JourneyInstance) -> bool:
    # The instance's own order (J4/J5 are keyed by order_id) does not count; an order a second late does.
    return any(
        order.status == "completed" and order.order_id != instance.key and to_second(order.at) > instance.entered_at
        for order in state.orders.recent
    )


# ---------------------------------------------------------------- small helpers


def _seq_of(instance_id: str) -> int | None:
    last = instance_id.rsplit(":", 1)[-1]
    return int(last) if last.isdigit() else None


def to_second(moment: datetime) -> datetime:
    """Journey times are whole UTC seconds: what is stored (epoch seconds) is what was decided on."""
    return moment.astimezone(UTC).replace(microsecond=0)


def digest(*parts: object) -> str:
    """16 characters of [A-Z2-7] naming ``parts`` (timer and message ids, offer codes)."""
    raw = hashlib.blake2b("\n".join(map(str, parts)).encode(), digest_size=10).digest()
    return base64.b32encode(raw).decode()  # 16 characters of [A-Z2-7], no padding for 10 bytes


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso_duration(duration: timedelta | None) -> str:
    if duration is None:
        return "PT0S"
    seconds = int(duration.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return text if text != "P" else "PT0S"
