"""Contact policy (EX3): frequency caps across journeys, priorities, quiet hours and how long a message may wait.
Pure, no I/O: the router reads the customer's contact log, asks :func:`admit`, and writes the log back on the
condition of the version it read, so routers running at the same time for one customer never both take the last
slot.

- A **cap** (``{per: P1D, max: 1}``) allows at most ``max`` marketing messages in any window of length ``per``: a
  message may go at ``t`` when fewer than ``max`` of the customer's sends (on the cap's channel, if it names one)
  fall in ``(t - per, t]``.
- **Quiet hours** are a span of the customer's local day (``start`` to ``end``); on SMS, the legal 08:00-21:00
  window holds as well. A channel is *open* at ``t`` when neither keeps it closed.
- A message that cannot go now is **deferred** to the first moment a cap leaves room and its channel is open, and
  leaves a *hold* in the log: its priority and that moment. A message that finds a hold of higher priority due
  (its message is on its way to the router for the same slot) leaves the slot to it and is **dropped** as
  ``outranked``; one whose first possible moment is more than ``max_deferral`` after it was due is dropped as
  ``frequency_cap`` (or ``quiet_hours``). Transactional messages are never counted or held back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.models.config import Channel, ContactPolicy, FrequencyCap

SMS_WINDOW = (time(8, 0), time(21, 0))  # recipient-local; marketing SMS outside it are deferred (US TCPA)
STALE_HOLD = timedelta(hours=1)  # a hold whose message has not come back this long after its moment is forgotten


# ---------------------------------------------------------------- quiet hours


def zone_of(timezone: str | None, fallback: str) -> ZoneInfo:
    """The customer's time zone, else the shop's (a zone name nudge cannot read counts as the shop's)."""
    try:
        return ZoneInfo(timezone or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def open_at(policy: ContactPolicy, channel: Channel, zone: ZoneInfo, moment: datetime) -> bool:
    """Whether a marketing message may go out on ``channel`` at ``moment`` (quiet hours and the SMS window)."""
    local = moment.astimezone(zone).time()
    if channel == "sms" and not SMS_WINDOW[0] <= local < SMS_WINDOW[1]:
        return False
    quiet = policy.quiet_hours_for(channel)
    return quiet is None or not quiet.covers(local)


def next_open(policy: ContactPolicy, channel: Channel, zone: ZoneInfo, moment: datetime) -> datetime:
    """The first moment at or after ``moment`` when ``channel`` is open. The open times are a union of spans whose
    beginnings are the ends of quiet hours and the SMS window's opening, so the answer is ``moment`` or one of those,
    on one of the next three local days."""
    if open_at(policy, channel, zone, moment):
        return moment
    openings = [SMS_WINDOW[0]] if channel == "sms" else []
    quiet = policy.quiet_hours_for(channel)
    if quiet is not None:
        openings.append(quiet.end)
    today = moment.astimezone(zone).date()
    candidates = sorted(_at(today + timedelta(days=days), opening, zone) for days in range(3) for opening in openings)
    for candidate in candidates:
        if candidate > moment and open_at(policy, channel, zone, candidate):
            return candidate
    raise ValueError(f"{channel} is never open under this policy")  # the config's validation rules this out


def _at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """``wall`` on ``day`` in ``zone``, in UTC (a wall time a DST change skips maps to the hour after)."""
    local = datetime.combine(day, wall, tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone).astimezone(UTC)


# ---------------------------------------------------------------- the contact log


@dataclass(frozen=True, slots=True)
class Contact:
    """A marketing message that took a slot: its id, when, on which channel, at which priority."""

    message_id: str
    at: datetime
    channel: Channel
    priority: int


@dataclass(frozen=True, slots=True)
class Hold:
    """A deferred message waiting for a slot: it comes back at ``due``; after ``until`` it is dropped anyway."""

    message_id: str
    priority: int
    due: datetime
    until: datetime


@dataclass(frozen=True, slots=True)
class ContactLog:
    """One customer's recent marketing sends and deferred messages, as the router keeps them."""

    sends: tuple[Contact, ...] = ()
    holds: tuple[Hold, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "s": [[c.message_id, _epoch(c.at), c.channel, c.priority] for c in self.sends],
                "h": [[h.message_id, h.priority, _epoch(h.due), _epoch(h.until)] for h in self.holds],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ContactLog:
        document = json.loads(text)
        return cls(
            tuple(Contact(i, _moment(at), ch, pr) for i, at, ch, pr in document.get("s", [])),
            tuple(Hold(i, pr, _moment(due), _moment(until)) for i, pr, due, until in document.get("h", [])),
        )

    def trimmed(self, policy: ContactPolicy, now: datetime) -> ContactLog:
        """Without what no cap or hold can need any more (sends older than the longest cap window; holds past their
        deadline or long past their moment)."""
        horizon = now - policy.longest_cap
        return ContactLog(
            tuple(c for c in self.sends if c.at > horizon),
            tuple(h for h in self.holds if h.until >= now and h.due + STALE_HOLD >= now),
        )

    def without_hold(self, message_id: str) -> ContactLog:
        return replace(self, holds=tuple(h for h in self.holds if h.message_id != message_id))

    def sent(self, message_id: str) -> Contact | None:
        return next((c for c in self.sends if c.message_id == message_id), None)


def _epoch(moment: datetime) -> int:
    # Rounded up: a send kept a fraction of a second later than it was keeps its window a fraction longer, never
    # shorter, so a cap holds for the moments the customer saw.
    return math.ceil(moment.timestamp())


def _moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


# ---------------------------------------------------------------- admission


@dataclass(frozen=True, slots=True)
class Ask:
    """A marketing message asking for a slot: the channels it could go on now, in order, and its deadline."""

    message_id: str
    priority: int
    channels: tuple[Channel, ...]
    due: datetime  # when it was first due (the outbox message's created_at)
    max_deferral: timedelta

    @property
    def deadline(self) -> datetime:
        return self.due + self.max_deferral


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy says: ``send`` on ``channel``; ``defer`` until ``until``; or ``drop`` with ``reason``.
    ``log`` is the contact log to write back (None: nothing changed)."""

    action: Literal["send", "defer", "drop"]
    log: ContactLog | None
    channel: Channel | None = None
    until: datetime | None = None
    reason: str | None = None
    details: dict[str, object] = field(default_factory=dict)


def admit(log: ContactLog, policy: ContactPolicy, ask: Ask, now: datetime, zone: ZoneInfo) -> Verdict:
    """Whether ``ask`` may take a slot now; the log to write back records the send, the hold or the drop."""
    taken = log.sent(ask.message_id)
    if taken is not None:  # a redelivery after this message took its slot: the same slot, not a second one
        return Verdict("send", None, channel=taken.channel)
    log = log.trimmed(policy, now)
    rivals = [
        h
        for h in log.holds
        if h.message_id != ask.message_id and h.priority > ask.priority and h.due <= now and h.until >= now
    ]
    for channel in ask.channels:
        if _room(log, policy.caps_for(channel), channel, now, len(rivals)):
            contact = Contact(ask.message_id, now, channel, ask.priority)
            return Verdict("send", replace(log.without_hold(ask.message_id), sends=(*log.sends, contact)), channel)
    if rivals and any(_room(log, policy.caps_for(channel), channel, now, 0) for channel in ask.channels):
        outranked_by = sorted(h.message_id for h in rivals)
        return Verdict(
            "drop", log.without_hold(ask.message_id), reason="outranked", details={"outranked_by": outranked_by}
        )
    when = min(
        next_open(policy, channel, zone, _next_room(log, policy.caps_for(channel), channel, now, len(rivals)))
        for channel in ask.channels
    )
    return defer(log, policy, ask, when, "frequency_cap", now)


def defer(log: ContactLog, policy: ContactPolicy, ask: Ask, until: datetime, reason: str, now: datetime) -> Verdict:
    """Defer ``ask`` to ``until`` (leaving a hold while caps make slots scarce), or drop it if that is past its
    deadline."""
    log = log.trimmed(policy, now).without_hold(ask.message_id)
    if until > ask.deadline:
        details: dict[str, object] = {"next_possible": until.isoformat(), "max_deferral": str(ask.max_deferral)}
        return Verdict("drop", log, reason=reason, details=details)
    if policy.caps:
        log = replace(log, holds=(*log.holds, Hold(ask.message_id, ask.priority, until, ask.deadline)))
    return Verdict("defer", log, until=until, reason=reason, details={"deferred_until": until.isoformat()})


def _counted(log: ContactLog, cap: FrequencyCap, channel: Channel) -> list[datetime]:
    return [c.at for c in log.sends if cap.channel is None or c.channel == cap.channel]


def _room(log: ContactLog, caps: list[FrequencyCap], channel: Channel, now: datetime, rivals: int) -> bool:
    """Whether every cap on ``channel`` leaves room for one more at ``now`` (rivals count against caps on every
    channel: they take the slot first)."""
    for cap in caps:
        inside = sum(1 for at in _counted(log, cap, channel) if at > now - cap.per)
        if inside + (rivals if cap.channel is None else 0) >= cap.max:
            return False
    return True


def _next_room(log: ContactLog, caps: list[FrequencyCap], channel: Channel, now: datetime, rivals: int) -> datetime:
    """The first moment at or after ``now`` when every cap on ``channel`` leaves room (rivals as if sent now): for a
    full cap, when its ``max``-th newest send leaves the window."""
    when = now
    for cap in caps:
        times = sorted((at for at in _counted(log, cap, channel) if at > now - cap.per), reverse=True)
        if cap.channel is None:
            times = sorted([now] * rivals + times, reverse=True)
        if len(times) >= cap.max:
            when = max(when, times[cap.max - 1] + cap.per)
    return when


# ---------------------------------------------------------------- best send time

MIN_ACTIVITY = 10  # events in the customer's hour histogram before their own hours are trusted


def best_moment(
    activity_by_hour: list[int], zone: ZoneInfo, due: datetime, within: timedelta, now: datetime, fallback_hour: int
) -> datetime:
    """When a ``send_time: best`` message should go (IN5): the start of the local hour, at or after ``now`` and
    before ``due + within``, in which the customer was most often active (their events counted by local hour), the
    earliest of equals; ``now`` itself when the current hour is that hour or the window is over. A customer with fewer
    than ``MIN_ACTIVITY`` events gets the shop's ``fallback_hour``. With the same activity, a message deferred to the
    answer gets ``now`` there; newer activity can only move it later, and never past the window."""
    end = due + within
    if now >= end:
        return now
    scores = list(activity_by_hour)
    if sum(scores) < MIN_ACTIVITY:
        scores = [1 if hour == fallback_hour else 0 for hour in range(24)]
    local_now = now.astimezone(zone)
    best, best_score = now, scores[local_now.hour]
    hour_start = local_now.replace(minute=0, second=0, microsecond=0)
    for step in range(1, int(within / timedelta(hours=1)) + 2):
        candidate = (hour_start + timedelta(hours=step)).astimezone(UTC)
        if candidate >= end:
            break
        score = scores[candidate.astimezone(zone).hour]
        if score > best_score:
            best, best_score = candidate, score
    return best
