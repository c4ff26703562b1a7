"""`nudge simulate`: a time-skipping backtest of a shop's journeys on a history of Segment messages.

The history goes through the real handlers and adapters, exactly as on the local stack (architecture §7): the
ingest handler behind an API Gateway HTTP API event, the state updater and the channel router invoked with
SQS-shaped batches (partial batch failures honoured), DynamoDB, SQS, SES, SNS and Secrets Manager in moto, and the
local SMS and WhatsApp endpoints. Two things differ (architecture §5):

- The clock is virtual (:mod:`shared.clock`). It jumps from one thing that happens to the next: the next history
  message (at its ``timestamp``), the earliest due timer, or the next SQS message that becomes visible (a quiet-hours
  deferral, a retry's backoff). The emulator's SQS follows the same clock, so delays and visibility timeouts pass in
  virtual time too.
- Timers are virtual (:func:`shared.adapters.timers.install`): a heap of ``(due_at, TimerEvent)``, deduplicated by
  execution name like Step Functions. A due timer puts its event into the events FIFO queue the way the timer state
  machine does (same body, group and deduplication id).

Moto runs in-process (``mock_aws``), so nothing goes over HTTP but SMS and WhatsApp. After every history message
(or run of messages at the same instant) and every timer wake-up, the queues are drained to empty by invoking the
functions synchronously. Each message the router settles is read back from the send ledger (what support sees) and
reported once: sent, suppressed or failed, with the virtual time it happened.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import heapq
import itertools
import json
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol
from unittest import mock
from urllib.parse import quote

from pydantic import TypeAdapter, ValidationError

from infra.local.gateway import http_api_event
from infra.local.pollers import QueuePoller, TopicPoller
from infra.local.providers import LocalProviders
from infra.local.provision import (
    ACCOUNT,
    REGION,
    Deployment,
    HttpRoute,
    Provisioner,
    ScheduleSource,
    set_up_shop_channels,
)
from infra.local.runtime import FunctionRuntime, SerialRuntime
from infra.memory import MemoryCloud
from infra.memory.fan_out import VirtualFanOuts
from infra.template import load_template
from shared.adapters.ledger import SendLedger
from shared.adapters.queue import FifoEntry
from shared.adapters.timers import wake_up
from shared.models.config import ShopConfig, hash_key
from shared.models.events import TimerEvent
from shared.ports import Ledger, Reports

if TYPE_CHECKING:
    from shared.ports import FanOutTasks
    from shared.service.churn import ChurnDesk
    from shared.service.fan_out import PageDone

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
# Simulate's own write key, added to the shop's keys inside the simulation only: a config may hold its keys hashed.
SIMULATE_WRITE_KEY = "nudge-simulate-write-key"
SIMULATE_SECRET_KEY = "nudge-simulate-secret-key"  # likewise, for the history lines that call the secret-key API
_AUTHORIZATION = "Basic " + base64.b64encode(f"{SIMULATE_WRITE_KEY}:".encode()).decode()
# Replayed timestamps arrive "now": what the history said about the original delivery does not apply.
_DELIVERY_FIELDS = frozenset({"sentAt", "receivedAt", "writeKey"})
_MAX_BATCH_MESSAGES = 100
_MAX_BATCH_BYTES = 400 * 1024  # below ingest's 500 KB limit
_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)


class SimulationError(Exception):
    """The simulation cannot run; the message says why."""


class HistoryError(SimulationError):
    """The history file cannot be replayed; the message says which line and why."""


# ---------------------------------------------------------------- the history


@dataclass(frozen=True, slots=True)
class ApiLine:
    """A kind of history line that is one request to nudge's own API at its ``timestamp``, not a Segment message:
    the line without ``type`` and ``timestamp`` (and without the fields that go into the path) is the body."""

    route: HttpRoute
    path_fields: tuple[str, ...]  # fields of the line that fill the route's {placeholders}
    # "secret": the shop's secret key; "customer": the write key and the line's customer's token
    auth: Literal["secret", "customer"]

    def path_parameters(self, line: dict[str, Any]) -> dict[str, str]:
        return {name: line[name] for name in self.path_fields}

    def body(self, line: dict[str, Any]) -> dict[str, Any]:
        left_out = {"type", "timestamp", *self.path_fields}
        return {name: value for name, value in line.items() if name not in left_out}


# History lines that call the API (docs/SIMULATE.md, "Lines that call nudge's API"), by their ``type``.
API_LINES = {
    "offer_pool": ApiLine(HttpRoute("CustomerApiFunction", "POST", "/v1/offers/pools/{pool}"), ("pool",), "secret"),
    "offer_decision": ApiLine(HttpRoute("PublicApiFunction", "POST", "/v1/offers/decide"), (), "customer"),
    "catalog": ApiLine(HttpRoute("CustomerApiFunction", "POST", "/v1/catalog"), (), "secret"),
    "campaign": ApiLine(HttpRoute("CustomerApiFunction", "POST", "/v1/campaigns"), (), "secret"),
    "timeline": ApiLine(
        HttpRoute("CustomerApiFunction", "GET", "/v1/customers/{customer_id}/timeline"), ("customer_id",), "secret"
    ),
    "journey_report": ApiLine(HttpRoute("CustomerApiFunction", "GET", "/v1/reports/journeys"), (), "secret"),
}


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    """One line of the history (a Segment message, or a request to nudge's API), and when it happens."""

    at: datetime
    line: int
    message: dict[str, Any]
    api: ApiLine | None = None  # the API request this line is, if it is not a Segment message


def parse_history(lines: Iterable[str], source: str) -> Iterator[HistoryMessage]:
    """The messages of a JSONL history in the order written, each checked (``source`` names it in errors).

    Each line is a Segment message with ``timestamp`` (and ``userId`` or ``anonymousId``), or a ``{"batch": [...]}``
    envelope of such messages (:func:`messages_in`). Blank lines and lines starting with ``#`` are skipped.
    """
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise HistoryError(f"{source}:{number}: not JSON: {error.msg}") from error
        yield from messages_in(document, source, number)


def history_of(messages: Iterable[dict[str, Any]], source: str = "history") -> Iterator[HistoryMessage]:
    """Segment messages or batch envelopes (already parsed, e.g. generated) as a history, in the order given; the
    n-th is "line" n."""
    for number, item in enumerate(messages, start=1):
        yield from messages_in(item, source, number)


def messages_in(document: Any, source: str, number: int) -> Iterator[HistoryMessage]:
    """The messages of one history line: a message, which arrives at its ``timestamp``, or a ``{"batch": [...]}``
    envelope of messages. An envelope with a ``sentAt`` of its own is one request its client sent then (a mobile
    SDK's flush of its queue): its messages arrive at that moment, each keeping its timestamp (never before it).
    Without one, each arrives at its timestamp."""
    if isinstance(document, dict) and (api := API_LINES.get(str(document.get("type")))) is not None:
        line = _api_line(api, document, source, number)
        yield HistoryMessage(_timestamp(document, source, number), number, line, api)
        return
    if not (isinstance(document, dict) and "batch" in document):
        yield HistoryMessage(_timestamp(document, source, number), number, _replayable(document))
        return
    items = document["batch"]
    if not isinstance(items, list):
        raise HistoryError(f"{source}:{number}: batch must be a list of messages")
    sent = _moment(document["sentAt"], source, number) if "sentAt" in document else None
    for item in items:
        at = _timestamp(item, source, number)
        yield HistoryMessage(at if sent is None else max(at, sent), number, _replayable(item))


def read_history(path: Path) -> list[HistoryMessage]:
    """The whole history in time order (stable: the file's order at the same instant), in memory.

    For a file too large to hold, :func:`open_history` streams it when it is in time order.
    """
    with _lines(path) as lines:
        messages = list(parse_history(lines, str(path)))
    messages.sort(key=lambda m: m.at)
    return messages


@dataclass(frozen=True)
class History:
    """A history to replay: its messages in time order (iterated once per replay), how many, first and last time."""

    messages: Callable[[], Iterator[HistoryMessage]]
    count: int
    first: datetime
    last: datetime
    streamed: bool  # read from the file while replaying (in time order already), not held in memory

    def __iter__(self) -> Iterator[HistoryMessage]:
        return self.messages()

    def __len__(self) -> int:
        return self.count


def open_history(path: Path) -> History:
    """The history in ``path``, checked line by line before anything is replayed (a bad line is reported before the
    first request). A file in time order is then replayed as it is read, without holding it; one that is not is
    read into memory and sorted (stable)."""
    count, first, last, ordered = 0, None, None, True
    with _lines(path) as lines:
        for message in parse_history(lines, str(path)):
            if last is not None and message.at < last:
                ordered = False
            count += 1
            first = message.at if first is None else min(first, message.at)
            last = message.at if last is None else max(last, message.at)
    if first is None or last is None:
        raise HistoryError(f"{path}: the history holds no messages")
    if not ordered:
        held = read_history(path)
        return History(lambda: iter(held), count, first, last, streamed=False)

    def stream() -> Iterator[HistoryMessage]:
        with _lines(path) as lines:
            yield from parse_history(lines, str(path))

    return History(stream, count, first, last, streamed=True)


@contextmanager
def _lines(path: Path) -> Iterator[IO[str]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise HistoryError(f"{path}: cannot read: {error.strerror}") from error
    with handle:
        yield handle


def _timestamp(item: Any, source: str, number: int) -> datetime:
    if not isinstance(item, dict) or not isinstance(item.get("timestamp"), str):
        raise HistoryError(f"{source}:{number}: every message needs a timestamp (ISO 8601)")
    return _moment(item["timestamp"], source, number, "timestamp")


def _moment(text: Any, source: str, number: int, field: str = "sentAt") -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as error:
        raise HistoryError(f"{source}:{number}: {field} {text!r} is not ISO 8601") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _api_line(api: ApiLine, line: dict[str, Any], source: str, number: int) -> dict[str, Any]:
    """The line, checked for what the request cannot be made without (the API checks the body itself)."""
    for name in (*api.path_fields, *(("customer_id",) if api.auth == "customer" else ())):
        if not isinstance(line.get(name), str) or not line[name]:
            raise HistoryError(f"{source}:{number}: a {line['type']} line needs {name} (a non-empty string)")
    return line


def _replayable(item: dict[str, Any]) -> dict[str, Any]:
    if _DELIVERY_FIELDS.isdisjoint(item):
        return item
    return {name: value for name, value in item.items() if name not in _DELIVERY_FIELDS}


def requests_of(messages: Iterable[HistoryMessage]) -> Iterator[list[HistoryMessage]]:
    """The requests that replay ``messages``: one ``/v1/batch`` per run of Segment messages at the same instant
    (within the batch limits), so the clock never has to stand still for a request; an API line alone, in its place.

    ``messages`` must be in time order (a stream cannot be sorted): one earlier than the one before is refused.
    """
    run: list[HistoryMessage] = []
    last: HistoryMessage | None = None
    for message in messages:
        if last is not None and message.at < last.at:
            raise HistoryError(
                f"history message {message.line} ({_iso(message.at)}) comes after one at {_iso(last.at)}: "
                "a streamed history must be in time order"
            )
        last = message
        if run and (message.at != run[0].at or message.api is not None):
            yield from _batches(run)
            run = []
        if message.api is not None:
            yield [message]
        else:
            run.append(message)
    if run:
        yield from _batches(run)


def _batches(run: list[HistoryMessage]) -> Iterator[list[HistoryMessage]]:
    """Messages of one instant in requests within the batch limits."""
    if len(run) == 1:
        yield run
        return
    chunk: list[HistoryMessage] = []
    size = 0
    for message in run:
        message_size = len(json.dumps(message.message))
        if chunk and (len(chunk) == _MAX_BATCH_MESSAGES or size + message_size > _MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(message)
        size += message_size
    if chunk:
        yield chunk


def parse_until(text: str, last: datetime) -> datetime:
    """``--until``: an ISO 8601 time, or an ISO 8601 duration after the history's last message (``P0D``: its end)."""
    try:
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        pass
    try:
        return last + _DURATION.validate_python(text)
    except ValidationError as error:
        raise HistoryError(f"--until {text!r} is neither an ISO 8601 time nor a duration such as P7D") from error


# ---------------------------------------------------------------- virtual time


class VirtualClock:
    """The simulation's clock: stands still until advanced, never goes back. Call it for the time (aware UTC)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> None:
        """Move to ``moment`` (a moment in the past leaves the clock where it is)."""
        self._now = max(self._now, moment)

    def unix_time(self, moment: Any = None) -> float:
        """Seconds since the epoch, as moto's ``unix_time`` (a naive ``moment`` is UTC)."""
        if moment is None:
            return self._now.timestamp()
        return float((moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp())

    def unix_time_millis(self, moment: Any = None) -> float:
        return self.unix_time(moment) * 1000.0


@dataclass
class VirtualTimers:
    """The timers port in virtual time: the wake-ups the timer state machine would wait for, in a heap.

    Like Step Functions with deterministic execution names, an execution name starts once ever, with the wake-ups it
    carries (the events naming it); starting it again changes nothing. ``started`` counts executions, ``fired`` the
    wake-ups that came due (each one ``SendMessage`` of the state machine).
    """

    started: int = 0
    fired: int = 0
    _heap: list[tuple[datetime, int, TimerEvent]] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)
    _sequence: Iterator[int] = field(default_factory=itertools.count)

    def start(self, events: Sequence[TimerEvent]) -> None:
        """Arm the wake-ups: one execution per execution name (idempotent by name), each of its events due in turn."""
        new: set[str] = set()
        for event in events:
            name = event.execution_name
            if name not in new:
                if name in self._names:
                    continue  # a retried decision: the execution exists, with the wake-ups it had
                new.add(name)
                self._names.add(name)
                self.started += 1
            heapq.heappush(self._heap, (_due(event), next(self._sequence), event))

    @property
    def next_due(self) -> datetime | None:
        """When the earliest pending wake-up is due."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime) -> list[TimerEvent]:
        """The wake-ups due at or before ``now``, earliest first (and removed)."""
        due: list[TimerEvent] = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[2])
        self.fired += len(due)
        return due


def _due(event: TimerEvent) -> datetime:
    """The moment the state machine's Wait for this wake-up ends: its ``due_at`` (whole seconds, UTC)."""
    return datetime.fromisoformat(wake_up(event)["due_at"])


# ---------------------------------------------------------------- what it reports


@dataclass(frozen=True, slots=True)
class Outcome:
    """One message nudge sent or held back, as the send ledger recorded it."""

    at: datetime
    customer: str
    journey: str
    step: int
    template: str
    channel: str | None
    status: str
    reason: str | None
    title: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "customer": self.customer,
            "journey": self.journey,
            "step": self.step,
            "template": self.template,
            "channel": self.channel,
            "status": self.status,
            "reason": self.reason,
            "title": self.title,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """What nudge's API answered to a history line that called it (an offer decision, a pool upload)."""

    at: datetime
    request: str  # the line's type
    customer: str | None  # the customer it was about ("u:<id>"), if any
    status: int
    body: Any

    def as_json(self) -> dict[str, Any]:
        about = {"customer": self.customer} if self.customer else {}
        return {"at": _iso(self.at), "request": self.request, **about, "status": self.status, "answer": self.body}


@dataclass(frozen=True, slots=True)
class Erasures:
    """The customers a day's retention sweep erased (``shop.retention``): how many, and when the sweep was done."""

    at: datetime
    retention: timedelta
    erased: int

    def as_json(self) -> dict[str, Any]:
        retention = _DURATION.dump_python(self.retention, mode="json")  # as the config says it: P30D, P3Y
        return {"at": _iso(self.at), "retention": retention, "erased": self.erased}


@dataclass(frozen=True, slots=True)
class EngagementModel:
    """What customers do with the messages of a backtest, which no history can say (the messages did not exist):
    ``open_rate`` of the e-mails, pushes and in-app messages sent are opened (tapped, read) ``open_after`` they went
    out, and ``click_rate`` of those opened are clicked ``click_after`` that (of an SMS or WhatsApp message, which
    has no open, ``click_rate`` of those sent).
    Which ones is read from a digest of the message id, so two runs of one history engage alike, and two configs
    are compared on the same customers. The events are what the click redirect and the feedback function would put
    on the customer's FIFO group."""

    open_rate: float = 0.0
    click_rate: float = 0.0
    open_after: timedelta = timedelta(hours=1)
    click_after: timedelta = timedelta(minutes=10)

    def events(self, shop_id: str, customer: str, message_id: str, channel: str, at: datetime) -> list[Any]:
        from shared.core.experiments import bucket
        from shared.models.nudge_events import EngagementEvent

        opens = channel not in ("sms", "whatsapp")
        opened = opens and bucket(shop_id, "simulate:open", message_id) < self.open_rate
        clicked = bucket(shop_id, "simulate:click", message_id) < self.click_rate and (opened or not opens)
        action = {"push": "tapped", "in_app": "read"}.get(channel, "opened")
        found = []
        for done, name, moment in (
            (opened, action, at + self.open_after),
            (clicked, "clicked", at + self.open_after + self.click_after),
        ):
            if done:
                found.append(
                    EngagementEvent(
                        shop_id=shop_id,
                        customer=customer,
                        message=message_id,
                        channel=channel,
                        action=name,
                        source="simulate",
                        engagement_id=f"simulate:{name}:{message_id}"[:200],
                        occurred_at=moment,
                        received_at=moment,
                    )
                )
        return found


@dataclass
class Summary:
    """Totals of one simulation."""

    events: int = 0
    requests: int = 0
    rejected: int = 0
    start: datetime | None = None
    end: datetime | None = None
    setup_seconds: float = 0.0
    wall_seconds: float = 0.0
    timer_executions: int = 0
    timers_fired: int = 0
    failed_records: int = 0
    deferrals: int = 0
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    erased: int | None = None  # customers the retention sweeps erased (None: the shop has no retention)

    def as_json(self) -> dict[str, Any]:
        span = (self.end - self.start) if self.start and self.end else timedelta(0)
        replay = self.wall_seconds - self.setup_seconds  # events per second of the replay itself
        by_journey: dict[str, dict[str, dict[str, int]]] = {}
        statuses: Counter[str] = Counter()
        for (journey, channel, status), count in sorted(self.outcomes.items()):
            by_journey.setdefault(journey, {}).setdefault(channel, {})[status] = count
            statuses[status] += count
        return {
            "events": self.events,
            "requests": self.requests,
            "rejected": self.rejected,
            "virtual_start": _iso(self.start) if self.start else None,
            "virtual_end": _iso(self.end) if self.end else None,
            "virtual_days": round(span.total_seconds() / 86400, 2),
            "wall_seconds": round(self.wall_seconds, 2),
            "setup_seconds": round(self.setup_seconds, 2),
            "events_per_second": round(self.events / replay, 1) if replay > 0 else None,
            "timer_executions": self.timer_executions,
            "timers_fired": self.timers_fired,
            "executions_per_event": round(self.timer_executions / self.events, 3) if self.events else None,
            "failed_records": self.failed_records,
            "deferrals": self.deferrals,
            "messages": dict(sorted(statuses.items())),
            "by_journey": by_journey,
            **({"erased": self.erased} if self.erased is not None else {}),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- the simulation


class ObservedRuntime(FunctionRuntime):
    """``runtime``, which after each invocation hands the event it was given to ``after`` (whatever happened)."""

    def __init__(self, runtime: FunctionRuntime, after: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(runtime.spec, wiring=runtime.wiring)
        self._runtime = runtime
        self._after = after

    def invoke(self, event: dict[str, Any]) -> Any:
        try:
            return self._runtime.invoke(event)
        finally:
            self._after(event)


@dataclass
class ErasureTally:
    """What the retention sweeps of a simulation erased, read as the fan-out machine's execution history shows it on
    AWS: each page task of a retention job (its request on the fan-out queue) with what the fan-out function answered
    it (``told``: the customers the page erased, which the ``CustomersErased`` metric counts). It stands between the
    fan-out function and the machine's tasks port (``tasks``), to which it passes every answer on."""

    tasks: FanOutTasks
    erased: int = 0
    _answers: dict[str, PageDone] = field(default_factory=dict)  # by task token, in the invocation being observed

    def succeed(self, token: str, done: PageDone) -> None:
        self._answers[token] = done
        self.tasks.succeed(token, done)

    def paged(self, event: dict[str, Any]) -> None:
        """After the fan-out function had a batch of page requests: count what the pages of retention jobs erased."""
        for record in event.get("Records", []):
            try:
                request = json.loads(record["body"])
                token, kind = request["token"], request["job"]["kind"]
            except (KeyError, TypeError, json.JSONDecodeError):
                continue  # not a page request: the function refused it, nothing was answered
            done = self._answers.get(token)
            if done is not None and kind == "retention":
                self.erased += done.told
        self._answers.clear()


Progress = Callable[[int, int, datetime], None]
EMULATORS = ("memory", "moto")
INGEST_ROUTE = HttpRoute("IngestFunction", "POST", "/v1/batch")
FAN_OUT_FUNCTION = "FanOutFunction"  # template.yaml's: the pages of every fan-out job, the daily schedule's sweeps


class Stage(Protocol):
    """Where a simulation runs: template.yaml's functions over in-memory adapters, or over moto."""

    ingest: FunctionRuntime

    def function(self, logical_id: str) -> FunctionRuntime:
        """The template's function ``logical_id`` (an API line's handler)."""
        ...

    @property
    def failed_records(self) -> int:
        """Records the functions failed (left on a queue to be retried or dead-lettered)."""
        ...

    def fire(self, due: list[TimerEvent]) -> None:
        """What the timer state machine's last state does: SendMessage of each event into its customer's group."""
        ...

    def drain(self) -> None:
        """Invoke the functions with what their queues hold until no queue has a message ready."""
        ...

    def next_visible(self) -> datetime | None:
        """The next moment a queued message becomes receivable (a deferral, a retry's backoff)."""
        ...

    @property
    def schedules(self) -> list[ScheduleSource]:
        """The template's daily schedules (EventBridge Scheduler), played in virtual time."""
        ...

    def enqueue(self, entries: list[FifoEntry]) -> None:
        """Put events on the customers' FIFO groups (engagement, as the click redirect and feedback would)."""
        ...

    def reports(self) -> Reports:
        """The report counters the functions kept."""
        ...

    def churn(self) -> ChurnDesk:
        """The churn report over the order counters the functions kept."""
        ...


@dataclass
class MemoryStage:
    """template.yaml deployed in memory (:class:`infra.memory.MemoryCloud`)."""

    cloud: MemoryCloud
    ingest: FunctionRuntime

    def function(self, logical_id: str) -> FunctionRuntime:
        return self.cloud.functions[logical_id]

    @property
    def failed_records(self) -> int:
        return sum(poller.failed_records for poller in self.cloud.pollers)

    def fire(self, due: list[TimerEvent]) -> None:
        self.cloud.fire(due)

    def drain(self) -> None:
        self.cloud.drain()

    def next_visible(self) -> datetime | None:
        moment: datetime | None = self.cloud.next_visible()
        return moment

    @property
    def schedules(self) -> list[ScheduleSource]:
        return self.cloud.schedules

    def enqueue(self, entries: list[FifoEntry]) -> None:
        self.cloud.events.send(entries)

    def reports(self) -> Reports:
        return self.cloud.reports

    def churn(self) -> ChurnDesk:
        from shared.service.churn import ChurnDesk

        return ChurnDesk(self.cloud.orders, self.cloud.shops, self.cloud.clock)


@dataclass
class MotoStage:
    """The emulated AWS a simulation runs on, provisioned from template.yaml, with the functions around it."""

    deployment: Deployment
    ingest: FunctionRuntime
    pollers: list[QueuePoller]
    queues: EmulatedQueues
    sqs: Any
    runtimes: dict[str, FunctionRuntime] = field(default_factory=dict)

    def function(self, logical_id: str) -> FunctionRuntime:
        return self.runtimes[logical_id]

    @property
    def failed_records(self) -> int:
        return sum(poller.failed_records for poller in self.pollers)

    def fire(self, due: list[TimerEvent]) -> None:
        queue_url = self.deployment.physical["EventsQueue"]  # the state machine's EventsQueueUrl substitution
        for event in due:
            document = wake_up(event)  # what the due wake-up's SendMessage sends
            self.sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=document["event"],
                MessageGroupId=document["group_id"],
                MessageDeduplicationId=document["dedup_id"],
            )

    def drain(self) -> None:
        while True:
            received = 0
            for poller in self.pollers:
                while self.queues.ready(poller.source.queue_url) and (count := poller.poll_once(wait_seconds=0)):
                    received += count
            if not received:
                return

    def next_visible(self) -> datetime | None:
        return self.queues.next_visible()

    @property
    def schedules(self) -> list[ScheduleSource]:
        return self.deployment.schedules

    def enqueue(self, entries: list[FifoEntry]) -> None:
        for entry in entries:
            self.sqs.send_message(
                QueueUrl=self.deployment.physical["EventsQueue"],
                MessageBody=entry.body,
                MessageGroupId=entry.group_id,
                MessageDeduplicationId=entry.deduplication_id,
            )

    def reports(self) -> Reports:
        from shared.adapters.reports import ReportCounters

        return ReportCounters(self.deployment.physical["CustomersTable"])

    def churn(self) -> ChurnDesk:
        from shared import clock
        from shared.adapters.recommendations import OrderAggregates
        from shared.adapters.shops import ShopDirectory
        from shared.service.churn import ChurnDesk

        table = self.deployment.physical["CustomersTable"]
        return ChurnDesk(OrderAggregates(table), ShopDirectory(self.deployment.physical["ShopsTable"]), clock.now)


class IngestRequests:
    """The API Gateway HTTP API events of simulate's requests, ``POST /v1/batch`` with simulate's key: what
    :func:`~infra.local.gateway.http_api_event` makes of such a request, its fixed parts made once."""

    def __init__(self) -> None:
        headers = {"authorization": _AUTHORIZATION, "content-type": "application/json", "host": "simulate.local"}
        self._event = http_api_event(INGEST_ROUTE, "POST", INGEST_ROUTE.path, "", headers, b"{}", {}, "127.0.0.1")
        self._ids = itertools.count(1)
        self._second = -1
        self._time = ""

    def __call__(self, body: str) -> dict[str, Any]:
        """The event of one request with JSON ``body`` (ASCII, as ``json.dumps`` writes it)."""
        event, now = self._event, time.time()
        if int(now) != self._second:  # the request time as API Gateway writes it, to the second
            self._second = int(now)
            self._time = datetime.fromtimestamp(self._second, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        context = event["requestContext"]
        return {
            **event,
            "headers": dict(event["headers"]),
            "requestContext": {
                **context,
                "http": dict(context["http"]),
                "requestId": f"00000000-0000-4000-8000-{next(self._ids):012x}",
                "time": self._time,
                "timeEpoch": int(now * 1000),
            },
            "body": body,
        }


class Simulation:
    """Replays one shop's history in virtual time; ``run()`` reports each outcome to ``report`` as it happens.

    ``history`` is any iterable of messages in time order (a list, a :class:`History`, a generator): it is read as
    the replay goes, once, so a long one is never held (a message earlier than the one before is refused).
    ``total`` is how many there are, for ``progress`` (a sized history says so itself).

    ``emulator`` is ``memory`` (the in-memory adapters, the default) or ``moto`` (the AWS adapters against moto in
    this process, which resets its backends when it ends). While it runs, stdout is silenced (the functions' metric
    lines): ``report`` should write to a stream it was handed before. ``instrument``, if given, is called with the
    moto stage before the first message (``nudge bench`` attaches its meter there). ``answered`` is given what the
    API answered to each history line that called it (:data:`API_LINES`). For a shop with a ``retention``,
    ``erased`` is given how many customers each day's retention sweep erased.
    """

    def __init__(
        self,
        config: ShopConfig,
        history: Iterable[HistoryMessage],
        report: Callable[[Outcome], None],
        *,
        until: datetime | None = None,
        progress: Progress | None = None,
        warn: Callable[[str], None] | None = None,
        instrument: Callable[[MotoStage], None] | None = None,
        emulator: str = "memory",
        total: int | None = None,
        answered: Callable[[Answer], None] | None = None,
        engagement: EngagementModel | None = None,
        measure: bool = False,
        erased: Callable[[Erasures], None] | None = None,
    ) -> None:
        if emulator not in EMULATORS:
            raise SimulationError(f"--emulator {emulator!r}: choose one of {', '.join(EMULATORS)}")
        messages = iter(history)
        first = next(messages, None)
        if first is None:
            raise HistoryError("the history holds no messages")
        self.config = config
        self.total = total if total is not None else len(history) if isinstance(history, Sized) else None
        self._messages = itertools.chain((first,), messages)
        self.until = until
        self.emulator = emulator
        self.summary = Summary(start=first.at)
        self.clock = VirtualClock(first.at)
        self.timers = VirtualTimers()
        self._fan_outs: VirtualFanOuts | None = None  # the moto stage's fan-out machine (memory has its own)
        self._fan_out_queue_url = ""
        self._report = report
        self._answered = answered or (lambda answer: None)
        self._erased = erased or (lambda erasures: None)
        self._erasures: ErasureTally | None = None  # a shop with a retention: what its sweeps erased
        self._erased_reported = 0
        self._progress = progress
        self._warn = warn or (lambda line: print(line, file=sys.stderr))
        self._instrument = instrument
        self._reported: set[str] = set()  # message ids reported: one per message nudge sent or held back
        self._engagement = engagement
        self._engaged: list[tuple[datetime, int, Any]] = []  # (when, order, EngagementEvent): due engagement
        self._engaged_order = itertools.count()
        self._measure = measure
        self.report: dict[str, Any] | None = None  # with ``measure``: the journey report of the whole run
        self.churn: dict[str, Any] | None = None  # and the churn report of its months
        self._requests = IngestRequests()
        self.stage: Stage | None = None  # where it runs, once it runs

    # ------------------------------------------------------------ running
    def run(self) -> Summary:
        """Set up the stage, replay the history and the timers it arms, and return the totals."""
        from shared import clock

        started = time.perf_counter()
        with ExitStack() as stack:
            stack.enter_context(_environment({}))
            stack.enter_context(_quiet_logs())  # first: the logger's handler must keep the real stdout
            stack.enter_context(_quiet_metrics())
            stack.enter_context(_batch_gc())
            stack.enter_context(clock.use(self.clock))
            if self.emulator == "memory":
                stage: Stage = self._memory_stage()
            else:
                stage = self._moto_stage(stack)
            self.stage = stage
            self.summary.setup_seconds = time.perf_counter() - started
            self._replay(stage)
            self.summary.failed_records = stage.failed_records
            if self._measure:
                self.report = self._journey_report(stage)
                self.churn = self._churn_report(stage)
        self.summary.wall_seconds = time.perf_counter() - started
        self.summary.end = self.clock()
        self.summary.timer_executions = self.timers.started
        self.summary.timers_fired = self.timers.fired
        self.summary.erased = self._erasures.erased if self._erasures is not None else None
        return self.summary

    def _memory_stage(self) -> MemoryStage:
        """template.yaml in memory, the shop applied."""
        cloud = MemoryCloud(self.clock, self.timers, keep_sent=False, webhook_post=acknowledge_webhook)
        cloud.shops.apply(_with_simulate_key(self.config))
        router = cloud.functions["ChannelRouterFunction"]
        cloud.functions["ChannelRouterFunction"] = observed = ObservedRuntime(
            router, lambda event: self._settled(cloud.ledger, event)
        )
        for poller in cloud.pollers:
            if poller.runtime is router:
                poller.runtime = observed
        if self.config.shop.retention is not None:  # the retention pages' answers, counted on their way
            tally = self._erasures = ErasureTally(cloud.fan_outs)
            paging = cloud.functions[FAN_OUT_FUNCTION]
            counted = SerialRuntime(paging.spec, wiring=lambda: replace(cloud.fan_out_wiring(), tasks=tally))
            cloud.functions[FAN_OUT_FUNCTION] = observed = ObservedRuntime(counted, tally.paged)
            for poller in cloud.pollers:
                if poller.runtime is paging:
                    poller.runtime = observed
        return MemoryStage(cloud, cloud.functions[INGEST_ROUTE.function])

    def _moto_stage(self, stack: ExitStack) -> MotoStage:
        """What the local stack does before it serves, in moto in this process: provision, configure the functions
        (their clock and timers virtual), load the shop."""
        from moto import mock_aws

        from infra.local.emulator import speed_up_emulator, unsigned_in_process
        from shared import aws
        from shared.adapters.shops import ShopDirectory

        speed_up_emulator()
        unsigned_in_process()
        providers = LocalProviders()
        os.environ.update(providers.environment())  # restored with the rest of the environment
        stack.enter_context(mock_aws())
        providers.start()
        stack.callback(providers.stop)
        stack.enter_context(_sqs_follows(self.clock))
        deployment = Provisioner(load_template(TEMPLATE), ROOT, aws.client).provision()
        self._fan_out_queue_url = deployment.physical["FanOutQueue"]
        if self.config.shop.retention is not None:  # the retention pages' answers, counted on their way
            self._erasures = ErasureTally(self._moto_fan_outs())
        # only failures, on stderr: stdout is the report
        os.environ.update({**deployment.environment(), "POWERTOOLS_LOG_LEVEL": "ERROR"})
        ShopDirectory(deployment.physical["ShopsTable"]).apply(_with_simulate_key(self.config))
        set_up_shop_channels(self.config, credential="simulate")
        ledger = SendLedger(deployment.physical["CustomersTable"])
        runtimes = {
            fid: FunctionRuntime(spec, wiring=self._moto_wiring(spec.handler))
            for fid, spec in deployment.functions.items()
        }
        outbox = deployment.physical["OutboxQueue"]
        pollers: list[QueuePoller] = []
        for source in deployment.queue_sources:
            runtime = runtimes[source.function]
            if source.queue_url == outbox:  # the router: the messages it settles are the report
                runtime = ObservedRuntime(runtime, lambda event: self._settled(ledger, event))
            if source.queue_url == self._fan_out_queue_url and self._erasures is not None:
                runtime = ObservedRuntime(runtime, self._erasures.paged)
            pollers.append(QueuePoller(source, runtime, aws.sqs()))
        pollers += [TopicPoller(source, runtimes[source.function], aws.sqs()) for source in deployment.topic_sources]
        queues = EmulatedQueues(self.clock, [poller.source.queue_url for poller in pollers])
        stage = MotoStage(deployment, runtimes[INGEST_ROUTE.function], pollers, queues, aws.sqs(), runtimes)
        if self._instrument is not None:  # e.g. `nudge bench` attaching its meter to the functions' clients
            self._instrument(stage)
        return stage

    def _moto_wiring(self, handler: str) -> Callable[[], Any] | None:
        """The AWS composition root of a function, with the simulation's clock and (for the two functions that arm
        timers) its virtual timers in place of Step Functions."""
        function = handler.split(".")[1]
        if function == "state_updater":
            from functions.state_updater import wiring as updater
            from functions.state_updater.settings import StateUpdaterSettings

            return lambda: updater.on_aws(StateUpdaterSettings.from_environment(), self.clock, self.timers)
        if function == "channel_router":
            from functions.channel_router import wiring as router
            from functions.channel_router.settings import ChannelRouterSettings

            settings = ChannelRouterSettings.from_environment
            return lambda: router.on_aws(settings(), self.clock, self.timers, acknowledge_webhook)
        if function == "ingest":
            from functions.ingest import wiring as ingest
            from functions.ingest.settings import IngestSettings

            return lambda: ingest.on_aws(IngestSettings.from_environment(), self.clock)
        if function == "customer_api":
            from functions.customer_api import wiring as customer_api
            from functions.customer_api.settings import CustomerApiSettings

            return lambda: customer_api.on_aws(CustomerApiSettings.from_environment(), self._moto_fan_outs())
        if function == "fan_out":
            from functions.fan_out import wiring as fan_out
            from functions.fan_out.settings import FanOutSettings

            machine = self._moto_fan_outs
            return lambda: fan_out.on_aws(
                FanOutSettings.from_environment(), self.clock, self._erasures or machine(), machine()
            )
        return None  # the others do not run in a simulation

    def _moto_fan_outs(self) -> VirtualFanOuts:
        """The fan-out state machine in virtual time over moto's fan-out queue (one for the simulation)."""
        if self._fan_outs is None:
            from shared.adapters.queue import StandardQueue

            self._fan_outs = VirtualFanOuts(StandardQueue(self._fan_out_queue_url), self.clock)
        return self._fan_outs

    def _replay(self, stage: Stage) -> None:
        """Advance the clock from one thing to the next (a history request, a due timer, a message becoming
        visible), let it happen, and drain the queues; until nothing is left (or ``until``)."""
        requests = requests_of(self._messages)
        pending = next(requests, None)
        replayed = 0
        timers, clock, progress, until = self.timers, self.clock, self._progress, self.until
        # The daily schedules (the date and retention sweeps) run while anything else is left to happen, or until
        # ``until``; a shop without a date journey or a retention would start nothing with them.
        swept = self.config.dated_journeys() or self.config.shop.retention is not None
        schedules = stage.schedules if swept else []
        fires = [schedule.next_after(clock()) for schedule in schedules]
        while True:
            # The earliest of: the next request, the next due timer, the next message becoming visible.
            moment = pending[0].at if pending is not None else None
            due = timers.next_due
            if due is not None and (moment is None or due < moment):
                moment = due
            visible = stage.next_visible()
            if visible is not None and (moment is None or visible < moment):
                moment = visible
            held = self._fan_outs.next_due if self._fan_outs is not None else None  # moto's (memory's: in the cloud)
            if held is not None and (moment is None or held < moment):
                moment = held
            engaged = self._engaged[0][0] if self._engaged else None
            if engaged is not None and (moment is None or engaged < moment):
                moment = engaged
            scheduled = min(fires, default=None)
            horizon = moment if until is None or (moment is not None and moment < until) else until
            if scheduled is not None and horizon is not None and scheduled <= horizon:
                clock.advance_to(scheduled)
                for index, schedule in enumerate(schedules):
                    if fires[index] <= scheduled:
                        stage.function(schedule.function).invoke(dict(schedule.input))
                        fires[index] = schedule.next_after(scheduled)
                stage.drain()
                self._count_erasures()
                continue
            if moment is None:
                break
            if until is not None and moment > until:
                clock.advance_to(until)
                break
            clock.advance_to(moment)
            if pending is not None and pending[0].at <= moment:
                if pending[0].api is not None:
                    self._call(stage, pending[0], pending[0].api)
                else:
                    self._ingest(stage, pending)
                replayed += len(pending)
                pending = next(requests, None)
            else:
                stage.fire(timers.pop_due(clock()))
            self._engage(stage, clock())
            if self._fan_outs is not None:
                self._fan_outs.release(clock())
            stage.drain()
            self._count_erasures()
            if progress is not None:
                progress(replayed, max(self.total or 0, replayed), clock())
        # After ``until``: the rest is counted, not replayed.
        self.summary.events = replayed + (len(pending) if pending else 0) + sum(len(r) for r in requests)

    # ------------------------------------------------------------ a history request
    def _ingest(self, stage: Stage, messages: list[HistoryMessage]) -> None:
        """POST the messages to the real ingest handler; a refused batch is retried one message at a time."""
        status, answer = self._post(stage, [m.message for m in messages])
        if status == 200:
            return
        if len(messages) > 1:
            for message in messages:
                self._ingest(stage, [message])
            return
        self.summary.rejected += 1
        self._warn(f"simulate: history line {messages[0].line} refused by ingest ({status}): {answer}")

    def _post(self, stage: Stage, messages: list[dict[str, Any]]) -> tuple[int, str]:
        self.summary.requests += 1
        response = stage.ingest.invoke(self._requests(json.dumps({"batch": messages})))
        return int(response.get("statusCode", 200)), str(response.get("body", ""))

    def _call(self, stage: Stage, line: HistoryMessage, api: ApiLine) -> None:
        """Make the API request a history line is, with simulate's keys; report the answer, warn of a refusal."""
        message = line.message
        parameters = api.path_parameters(message)
        path = api.route.path.format(**{name: quote(value, safe="") for name, value in parameters.items()})
        headers = {"content-type": "application/json", "host": "simulate.local"}
        customer: str | None = message.get("customer_id")  # checked when the line was read, if the API needs it
        if api.auth == "secret":
            headers["authorization"] = f"Bearer {SIMULATE_SECRET_KEY}"
        else:
            assert customer is not None
            from shared.core.tokens import inbox_token
            from shared.service.public import customer_token_keys

            (key,) = customer_token_keys([hash_key(SIMULATE_SECRET_KEY)])
            headers["x-nudge-write-key"] = SIMULATE_WRITE_KEY
            headers["x-nudge-customer-token"] = inbox_token(key, self.config.shop.id, customer)
        body = json.dumps(api.body(message)).encode()
        event = http_api_event(api.route, api.route.method, path, "", headers, body, parameters, "127.0.0.1")
        self.summary.requests += 1
        response = stage.function(api.route.function).invoke(event)
        status, text = int(response.get("statusCode", 200)), str(response.get("body", ""))
        if not 200 <= status < 300:
            self.summary.rejected += 1
            self._warn(f"simulate: history line {line.line} ({message['type']}) refused ({status}): {text}")
            return
        about = f"u:{customer}" if customer else None
        self._answered(Answer(self.clock(), message["type"], about, status, json.loads(text)))

    def _count_erasures(self) -> None:
        """Report the customers the retention sweep erased since the last report (a day's sweep is done within the
        drain after the schedule: its pages wait for nothing)."""
        tally, retention = self._erasures, self.config.shop.retention
        if tally is None or retention is None or tally.erased == self._erased_reported:
            return
        self._erased(Erasures(self.clock(), retention, tally.erased - self._erased_reported))
        self._erased_reported = tally.erased

    # ------------------------------------------------------------ engagement and the report
    def _engage(self, stage: Stage, now: datetime) -> None:
        """Put the modelled engagement due by ``now`` on the customers' FIFO groups."""
        from shared.service.engagement import engagement_entry

        due = []
        while self._engaged and self._engaged[0][0] <= now:
            due.append(engagement_entry(heapq.heappop(self._engaged)[2]))
        if due:
            stage.enqueue(due)

    def _journey_report(self, stage: Stage) -> dict[str, Any]:
        """The journey report of every day the run covered (as ``GET /v1/reports/journeys`` sums them)."""
        from shared.core.reports import journey_report

        first, last = (self.summary.start or self.clock()).date(), self.clock().date()
        rows = stage.reports().read(self.config.shop.id, first, last)
        return {"shop": self.config.shop.id, **journey_report(rows, first, last)}

    def _churn_report(self, stage: Stage) -> dict[str, Any]:
        """The churn report of the run's months (the last twelve of a longer run), at the run's end."""
        first, last = (self.summary.start or self.clock()), self.clock()
        months = (last.year - first.year) * 12 + last.month - first.month
        start = first if months < 12 else last.replace(day=1) - timedelta(days=330)
        return stage.churn().report(self.config.shop.id, f"{start:%Y-%m}", f"{last:%Y-%m}")

    # ------------------------------------------------------------ outcomes
    def _settled(self, ledger: Ledger, event: dict[str, Any]) -> None:
        """After the router had a batch: report each of its messages the ledger now holds as final, once."""
        from shared.models.messages import OutboxMessage

        for record in event.get("Records", []):
            try:
                message = OutboxMessage.model_validate_json(record["body"])
            except ValidationError:
                continue  # parked by the router as malformed; nothing was sent
            if message.message_id in self._reported:
                continue
            entry = ledger.find(message)
            if entry is not None and entry.status == "deferred":
                self.summary.deferrals += 1  # waits on a timer until the customer's window opens
            if entry is None or not entry.final:
                continue  # deferred (quiet hours) or waiting for a retry: reported when it settles
            self._reported.add(message.message_id)
            outcome = Outcome(
                at=entry.updated_at or self.clock(),
                customer=message.customer,
                journey=entry.journey,
                step=entry.step,
                template=entry.template,
                channel=entry.channel,
                status=entry.status,
                reason=entry.reason,
                title=entry.title,
            )
            self.summary.outcomes[(outcome.journey, outcome.channel or "-", outcome.status)] += 1
            self._report(outcome)
            if self._engagement is not None and entry.status == "sent" and entry.channel is not None:
                for engagement in self._engagement.events(
                    message.shop_id, message.customer, message.message_id, entry.channel, outcome.at
                ):
                    heapq.heappush(self._engaged, (engagement.occurred_at, next(self._engaged_order), engagement))


class EmulatedQueues:
    """What SQS has no API for, read from the emulator's queue model: is a message ready to be received, and when
    does the next one become visible (a delay or a visibility timeout ends; moto keeps both in ms)."""

    def __init__(self, clock: VirtualClock, queue_urls: Sequence[str]) -> None:
        from moto.sqs.models import sqs_backends

        self._clock = clock
        self._backend = sqs_backends[ACCOUNT][REGION]
        self._names = {url: url.rsplit("/", 1)[-1] for url in queue_urls}

    def _messages(self, url: str) -> list[Any]:
        queue = self._backend.queues.get(self._names.get(url) or url.rsplit("/", 1)[-1])
        return list(queue._messages) if queue is not None else []

    def ready(self, url: str) -> bool:
        """A message of the queue is visible and not delayed (a FIFO group in flight may still hold it back)."""
        return any(message.visible and not message.delayed for message in self._messages(url))

    def next_visible(self) -> datetime | None:
        """The first moment after now at which a message of one of the queues becomes receivable."""
        now_ms = self._clock.unix_time_millis()
        upcoming = [
            ready
            for url in self._names
            for message in self._messages(url)
            if (ready := max(message.visible_at, message.delayed_until)) > now_ms
        ]
        # Visible means strictly after ``visible_at``: one millisecond later.
        return datetime.fromtimestamp((min(upcoming) + 1) / 1000, UTC) if upcoming else None


# ---------------------------------------------------------------- process set-up


@contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    """The process environment the local stack sets (fake credentials, quiet Powertools), restored afterwards."""
    saved = dict(os.environ)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_PORT"):
        os.environ.pop(name, None)  # moto in-process answers only for AWS's own endpoints
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "simulate",
            "AWS_SECRET_ACCESS_KEY": "simulate",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            **extra,
        }
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# The replay allocates and drops many small objects per event (requests, events, decisions) while a few hundred
# MB of customers, ledger and queues stay alive: with the default thresholds (2000, 10, 10) the collector runs so
# often that it is several percent of a long backtest. Young collections some thirty times rarer keep the resident set
# flat all the same (the reference cycles a replay leaves are few); the handlers themselves are not touched.
_GC_THRESHOLDS = (70_000, 10, 10)


@contextmanager
def _batch_gc() -> Iterator[None]:
    """The garbage collector tuned for a long replay, restored afterwards."""
    saved = gc.get_threshold()
    gc.set_threshold(*_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


@contextmanager
def _quiet_metrics() -> Iterator[None]:
    """No metric lines: Powertools prints EMF to stdout (our report) every 100 metrics even when metrics are
    disabled, and warns about invocations without any."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        yield


@contextmanager
def _sqs_follows(clock: VirtualClock) -> Iterator[None]:
    """The emulator's SQS keeps time by ``clock``: delays, visibility timeouts and the deduplication window."""
    import moto.sqs.models as sqs_models

    with (
        mock.patch.object(sqs_models, "unix_time", clock.unix_time),
        mock.patch.object(sqs_models, "unix_time_millis", clock.unix_time_millis),
    ):
        yield


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """The functions' logs at ERROR and on stderr (stdout carries the report), as they were after."""
    import logging

    from shared.observability import logger  # created first: creating it sets its level from the environment

    service = logging.getLogger(logger.service)
    level = service.level
    streams = [(h, h.stream) for h in service.handlers if isinstance(h, logging.StreamHandler)]
    service.setLevel(logging.ERROR)
    for handler, _ in streams:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        service.setLevel(level)
        for handler, stream in streams:
            handler.setStream(stream)


def _with_simulate_key(config: ShopConfig) -> ShopConfig:
    keys = {
        "write_keys": [*config.shop.write_keys, hash_key(SIMULATE_WRITE_KEY)],
        "secret_keys": [*config.shop.secret_keys, hash_key(SIMULATE_SECRET_KEY)],
    }
    return config.model_copy(update={"shop": config.shop.model_copy(update=keys)})


# ---------------------------------------------------------------- the command


class ProgressBar:
    """A one-line progress bar on a terminal (``\\r``, redrawn at most ten times a second)."""

    def __init__(self, stream: IO[str], width: int = 30) -> None:
        self._stream = stream
        self._width = width
        self._drawn = 0.0

    def __call__(self, done: int, total: int, now: datetime) -> None:
        if time.monotonic() - self._drawn < 0.1:
            return
        self._drawn = time.monotonic()
        filled = int(self._width * done / total) if total else self._width
        phase = "replaying" if done < total else "timers"
        bar = "#" * filled + "." * (self._width - filled)
        self._stream.write(f"\r[{bar}] {done}/{total} events, {phase}, virtual {now:%Y-%m-%d %H:%M}  ")
        self._stream.flush()

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\r" + " " * (self._width + 70) + "\r")
            self._stream.flush()


def run_cli(
    config_path: Path,
    history_path: Path,
    *,
    summary: bool = False,
    until: str | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    emulator: str = "memory",
    report_dir: Path | None = None,
    engagement: EngagementModel | None = None,
) -> int:
    """``nudge simulate``: print one JSON line per outcome (and, with ``summary``, a last line of totals); with
    ``report_dir``, write the journey report there (report.json and, with matplotlib, the charts)."""
    from infra.admin import load_config

    out, err = out or sys.stdout, err or sys.stderr

    config = load_config(config_path)
    try:
        history = open_history(history_path)
        end = parse_until(until, history.last) if until else None
        bar = ProgressBar(err) if err.isatty() else None

        def report(outcome: Outcome | Answer | Erasures) -> None:
            out.write(json.dumps(outcome.as_json(), ensure_ascii=False) + "\n")

        simulation = Simulation(
            config,
            history,
            report,
            until=end,
            progress=bar,
            warn=lambda line: print(line, file=err),
            emulator=emulator,
            answered=report,
            engagement=engagement,
            measure=report_dir is not None,
            erased=report,
        )
        try:
            totals = simulation.run()
        finally:
            if bar is not None:
                bar.close()
    except SimulationError as error:
        print(f"simulate: {error}", file=err)
        return 2
    if summary:
        out.write(json.dumps({"summary": totals.as_json()}, ensure_ascii=False) + "\n")
    out.flush()
    if report_dir is not None and simulation.report is not None:
        from infra.report_cli import churn_tables, journey_tables, write_report

        files = write_report(simulation.report, simulation.churn, report_dir)
        print(journey_tables(simulation.report), file=err)
        if simulation.churn is not None:
            print(churn_tables(simulation.churn), file=err)
        print("simulate: wrote " + ", ".join(str(path) for path in files), file=err)
    return 0


def acknowledge_webhook(url: str, body: bytes, headers: dict[str, str]) -> int:
    """A shop's offer webhook in a simulation: acknowledged, never called (a backtest must not reach the shop)."""
    return 200
