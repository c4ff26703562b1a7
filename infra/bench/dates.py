"""What the daily date sweep and local-time campaigns cost, measured on the emulator and scaled to 1 M and 10 M.

``python -m infra.bench.dates [--customers 400] [--due 40]`` replays, metered, through the real handlers on moto
(``nudge simulate --emulator moto``, as :mod:`infra.bench.campaign` does) the sign-ups of a shop's customers (e-mail
consent, a birthday each), in seven variants whose differences are what a sweep adds:

- without any date journey, and with the ``birthday`` preset (until 11:00 UTC the next day: one ``DailyDates``
  sweep at 12:00 UTC finds nobody due, as on most days for most customers), and with ``--due`` customers whose
  birthday is the next day (their ``Date Due``, the updater's reads and writes, the timer until 09:00 local, the
  outbox, the router, the ledger, SES);
- a campaign to every customer for one moment, the same with ``local_time`` (27 hourly waves: 27 sweeps), the same
  with a quarter of the customers in a zone off the hour (Asia/Kolkata: a deferral timer each), and a campaign of
  two steps (a follow-up two days later: one more sweep and message).

A difference is split by what it grows with: the customers swept or the members told (per customer), the pages of
the fan-out machine (one fan-out Lambda request, its page request on the fan-out queue with the event source
mapping's receive and delete, three Step Functions transitions and the pager's own reads and writes each) and the
sweeps (a sweep of ``size`` customers asks for 4 parts x ceil(size / 4 / 500) pages). A scan's read units are what
DynamoDB bills for it: the items it *evaluated*, before the filter that keeps the shop's customer records (the meter
sees only the items returned), taken from the same scan without the filter. The fan-out function's duration is
modelled as the pipeline's is (its own compute x 1,769 / 512 MB plus an assumed latency per AWS call); the other
functions are priced per request only, as in :mod:`infra.bench.campaign`. DynamoDB reads of the harness (simulate
reading the send ledger for its report, inside the router's poller) are left out.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from infra.bench.campaign import SCALES, T0, email_consent, shop_config
from infra.bench.pipeline import FAN_OUT_FUNCTION, Probe, history_of, journey_timers
from infra.bench.pricing import (
    CALL_LATENCY_MS,
    FAN_OUT_ASL,
    LAMBDA_FULL_CPU_MB,
    PRICES,
    TIMER_ASL,
    fan_out_transitions,
    timer_transitions,
)
from infra.metering import READ_UNIT_BYTES, item_size, read_units, write_units
from shared.models.config import ShopConfig
from shared.service import campaigns
from shared.service.campaigns import LOCAL_WAVES
from shared.service.dates import SWEEP_PAGE, SWEEP_PARTS

# A campaign's sweep pages as the date sweep's do (shared.service.campaigns): one page count for both.
assert (campaigns.SWEEP_PARTS, campaigns.SWEEP_PAGE) == (SWEEP_PARTS, SWEEP_PAGE)

# The sign-ups from 09:00 UTC on 2 November; DailyDates at 12:00 UTC sweeps for 3 November (UTC); the run ends
# after 09:00 Berlin on the 3rd (the greetings), before the next day's sweep.
UNTIL = datetime(2026, 11, 3, 11, tzinfo=UTC)
BIRTHDAY = date(1990, 11, 3)  # the day the sweep covers
SEND_AT = "2026-11-03T09:00:00+00:00"  # the campaigns': 09:00 (with local_time: 09:00 in each member's zone)
OFF_THE_HOUR = "Asia/Kolkata"  # UTC+5:30: told at its wave's start, sent half an hour later from a timer
DAYS_A_MONTH = 30
CAMPAIGN_ITEM = "#campaign#"  # the partition key of a campaign's item: <shop>#campaign#<id>
MARKER_BYTES = 120  # a page's marker item: its keys and its expiry
COUNTER_BYTES = 60  # the item's counters (members, parts_done, sent, suppressed, failed)
FAN_OUT_MB = 512  # template.yaml's FanOutFunction
KEYS = ("dynamodb_write", "dynamodb_read", "sqs_request", "lambda_request", "lambda_gb_second", "sfn_transition")
COLUMNS = {
    "dynamodb_write": "DynamoDB writes",
    "dynamodb_read": "DynamoDB reads",
    "sqs_request": "SQS",
    "lambda_request": "Lambda requests",
    "lambda_gb_second": "fan-out Lambda duration (modelled)",
    "sfn_transition": "Step Functions",
}


# ---------------------------------------------------------------- what one run used


@dataclass(frozen=True)
class Run:
    """Billed units of one metered run, split by what they grow with (harness calls left out)."""

    write_units: float = 0.0  # every function but the fan-out function's
    read_units: float = 0.0  # likewise, scans apart
    sqs_requests: float = 0.0  # all but the fan-out pages' own
    lambda_requests: int = 0  # every function but the fan-out function
    timer_transitions: int = 0  # the timers' Step Functions transitions (journeys' and deferrals')
    timer_executions: int = 0
    emails: int = 0  # messages sent
    jobs: int = 0  # fan-out executions
    parts: int = 0  # their parts
    pages: int = 0  # fan-out pages: a fan-out Lambda request each
    page_sqs: float = 0.0  # the pages' page request, receive and delete
    fan_out_other_invocations: int = 0  # fan-out invocations that are no page (the daily schedule)
    fan_out_reads: float = 0.0  # the fan-out function's reads, scans apart
    fan_out_writes: float = 0.0
    fan_out_compute: float = 0.0  # seconds of its own compute (emulator time in AWS calls and the shadow scan apart)
    fan_out_latency_ms: float = 0.0  # the assumed latency of its AWS calls
    scans: int = 0  # Scan requests (a page each)
    sweeps: int = 0  # full sweeps (each SWEEP_PARTS parts' first scans)
    scan_units: float = 0.0  # read units the scans billed: the items they evaluated
    scan_units_returned: float = 0.0  # what the meter counts: the items they returned
    scanned: Counter[str] = field(default_factory=Counter)  # kind of item -> items evaluated
    scanned_bytes: Counter[str] = field(default_factory=Counter)  # kind of item -> their bytes
    # The campaign's own item (its progress) and its pages' markers, apart from the above.
    campaign_writes: float = 0.0
    campaign_created: int = 0  # its size when created (bytes)
    campaign_grown: int = 0  # how much it grew by the end (bytes)

    def minus(self, other: Run) -> Run:
        """What this run used beyond ``other``."""
        values: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            values[f.name] = mine - theirs if not isinstance(mine, Counter) else Counter(mine) - Counter(theirs)
        return replace(self, **values)


def item_kind(item: dict[str, Any]) -> str:
    """What a scanned item of the customers table is, by its sort key."""
    sk = str(item.get("sk", {}).get("S", ""))
    if sk == "state":
        return "customer state"
    if sk.startswith("msg#"):
        return "send ledger"
    return "other"


@dataclass
class ScanBilling:
    """The customers' scans as DynamoDB bills them: each scan of the functions' client done again by a client of
    the harness without the filter (same segment, limit and start key: the same items evaluated)."""

    scans: int = 0
    first_pages: int = 0
    units: float = 0.0
    returned_units: float = 0.0
    seconds: float = 0.0  # time in the harness's scans (inside the fan-out function's wall time)
    scanned: Counter[str] = field(default_factory=Counter)
    scanned_bytes: Counter[str] = field(default_factory=Counter)

    @contextmanager
    def attached(self, client: Any, plain: Any) -> Iterator[None]:
        original = client.scan

        def scan(**params: Any) -> Any:
            answer = original(**params)
            started = time.perf_counter()
            unfiltered = {
                name: value
                for name, value in params.items()
                if name not in ("FilterExpression", "ExpressionAttributeValues", "ExpressionAttributeNames")
            }
            items = plain.scan(**unfiltered).get("Items", [])
            consistent = bool(params.get("ConsistentRead"))
            self.scans += 1
            self.first_pages += "ExclusiveStartKey" not in params
            self.units += read_units(sum(item_size(item) for item in items), consistent)
            self.returned_units += read_units(sum(item_size(item) for item in answer.get("Items", [])), consistent)
            for item in items:
                self.scanned[item_kind(item)] += 1
                self.scanned_bytes[item_kind(item)] += item_size(item)
            self.seconds += time.perf_counter() - started
            return answer

        client.scan = scan
        try:
            yield
        finally:
            del client.scan  # the class's method again


# ---------------------------------------------------------------- the histories


def signups(customers: int, due: int = 0, off_the_hour: int = 0) -> list[dict[str, Any]]:
    """Each customer signs up with e-mail consent and a birthday: the first ``due`` customers' on the day the sweep
    covers, the others' spread over the year (never that day); the first ``off_the_hour`` live in Asia/Kolkata,
    the others in the shop's zone (Europe/Berlin)."""
    bodies: list[dict[str, Any]] = []
    for n in range(customers):
        user, at = f"c{n}", (T0 + timedelta(seconds=n)).isoformat()
        birthday = BIRTHDAY if n < due else date(1990, 1, 1) + timedelta(days=(n * 37) % 365)
        if n >= due and (birthday.month, birthday.day) == (BIRTHDAY.month, BIRTHDAY.day):
            birthday += timedelta(days=1)
        traits = {"email": f"{user}@example.com", "firstName": "Jo", "birthday": birthday.isoformat()}
        identify = {"type": "identify", "userId": user, "messageId": f"i{n}", "timestamp": at, "traits": traits}
        if n < off_the_hour:
            identify["context"] = {"timezone": OFF_THE_HOUR}
        bodies.append(identify)
        bodies.append(email_consent(user, f"c{n}", at))
    return bodies


def campaign(customers: int, local_time: bool = False, steps: bool = False) -> dict[str, Any]:
    """A campaign to every subscriber, posted a minute after the sign-ups, for 09:00 UTC the next day (with
    ``local_time``: 09:00 in each member's zone; with ``steps``: a follow-up two days later)."""
    start = T0 + timedelta(seconds=customers + 60)
    line: dict[str, Any] = {
        "type": "campaign",
        "timestamp": start.isoformat(),
        "id": "bench",
        "segment": "subscribers",
        "send_at": SEND_AT,
        "rate_per_second": 1000,
    }
    if steps:
        line["steps"] = [{"template": "welcome"}, {"template": "welcome_loyalty", "wait": "P2D"}]
    else:
        line["template"] = "welcome"
    if local_time:
        line["local_time"] = True
    return line


def with_birthdays(config: ShopConfig) -> ShopConfig:
    """The shop with the ``birthday`` preset (09:00 in the customer's zone, a 15 % gift code)."""
    document = config.model_dump(mode="json", exclude_unset=True)
    document["journeys"] = {"birthday": {}}
    return ShopConfig.model_validate(document)


# ---------------------------------------------------------------- one metered run


def metered(config: ShopConfig, bodies: list[dict[str, Any]], until: datetime | None = None) -> Run:
    import boto3

    from infra.local.provision import REGION
    from infra.simulate import MotoStage, Simulation
    from shared import aws

    sent = 0

    def report(outcome: Any) -> None:
        nonlocal sent
        sent += outcome.status == "sent"

    probe = Probe()
    billing = ScanBilling()
    timers, _, by_size = journey_timers()
    scans = ExitStack()

    def instrument(stage: MotoStage) -> None:
        probe(stage)
        scans.enter_context(billing.attached(aws.client("dynamodb"), boto3.client("dynamodb", region_name=REGION)))

    simulation = Simulation(
        config, history_of(bodies), report, until=until, warn=lambda line: None, instrument=instrument, emulator="moto"
    )
    simulation.timers = timers
    try:
        simulation.run()
    finally:
        scans.close()
        probe.close()
    return reading(probe, billing, by_size, sent)


def reading(probe: Probe, billing: ScanBilling, by_size: Counter[int], sent: int) -> Run:
    """A run's figures from its probe and its scans."""
    meter = probe.meter
    fan_out = FAN_OUT_FUNCTION

    def harness(scope: str | None) -> bool:  # simulate reads the ledger after the router's batch, in its poller
        return str(scope).startswith("esm:")

    reads: defaultdict[str | None, float] = defaultdict(float)
    scan_returned = 0.0
    for request in meter.reads:  # the campaign's item apart: modelled (progress_item)
        if harness(request.scope) or any(CAMPAIGN_ITEM in pk for pk in request.pks):
            continue
        if request.operation == "Scan":
            scan_returned += request.units
        else:
            reads[request.scope] += request.units
    writes: Counter[str | None] = Counter()
    campaign = [w for w in meter.written if CAMPAIGN_ITEM in w.pk]
    for written in meter.written:
        if CAMPAIGN_ITEM not in written.pk and not harness(written.scope):
            writes[written.scope] += written.units
    pages = sum(probe.fan_out_pages.values())
    page_sqs = pages + sum(n for (scope, _), n in meter.scoped_sqs_requests.items() if scope == f"esm:{fan_out}")
    usage = probe.functions.get(fan_out)
    invocations = usage.invocations if usage is not None else 0
    compute = max(0.0, usage.wall_seconds - meter.aws_seconds[fan_out] - billing.seconds) if usage is not None else 0.0
    calls = [(service, n) for (scope, service, _), n in meter.scoped_calls.items() if scope == fan_out]
    latency = sum(n * CALL_LATENCY_MS.get(service, 10.0) for service, n in calls)
    timer_asl = json.loads(TIMER_ASL.read_text(encoding="utf-8"))
    return Run(
        write_units=sum(writes.values()) - writes[fan_out],
        read_units=sum(reads.values()) - reads[fan_out],
        sqs_requests=sum(meter.scoped_sqs_requests.values()) - page_sqs,
        lambda_requests=sum(u.invocations for u in probe.functions.values()) - invocations,
        timer_transitions=sum(n * timer_transitions(timer_asl, size) for size, n in by_size.items()),
        timer_executions=sum(by_size.values()),
        emails=sent,
        jobs=len(probe.fan_out_jobs),
        parts=sum(parts for _, parts in probe.fan_out_jobs.values()),
        pages=pages,
        page_sqs=page_sqs,
        fan_out_other_invocations=invocations - pages,
        fan_out_reads=reads[fan_out],
        fan_out_writes=writes[fan_out],
        fan_out_compute=compute,
        fan_out_latency_ms=latency,
        scans=billing.scans,
        sweeps=billing.first_pages // SWEEP_PARTS,
        scan_units=billing.units,
        scan_units_returned=scan_returned,
        scanned=billing.scanned,
        scanned_bytes=billing.scanned_bytes,
        campaign_writes=sum(w.units for w in campaign),
        campaign_created=campaign[0].size if campaign else 0,
        campaign_grown=max(w.size for w in campaign) - campaign[0].size if campaign else 0,
    )


# ---------------------------------------------------------------- scaling (pure)


def sweep_pages(size: int, parts: int = SWEEP_PARTS, page: int = SWEEP_PAGE) -> int:
    """Pages one sweep of ``size`` customer records asks for: ``parts`` parts of ``page`` items each page."""
    return parts * math.ceil(size / parts / page)


def pages_at(delta: Run, size: int) -> int:
    """The fan-out pages of ``delta`` at ``size`` customers: its sweeps' pages, plus the pages that scanned nothing
    (a part asked before its start answers "wait"), which do not grow with the customers."""
    return max(0, delta.pages - delta.scans) + delta.sweeps * sweep_pages(size)


def scaled(delta: Run, measured: int, size: int, asl: dict[str, Any]) -> dict[str, float]:
    """The units ``delta`` (measured on ``measured`` customers, members or customers greeted) comes to at ``size``:
    what grows with them linearly, the pages as a sweep of ``size`` asks for them, Step Functions by the machine."""
    ratio = size / measured
    pages = pages_at(delta, size)

    def per_page(total: float) -> float:
        return total / delta.pages if delta.pages else 0.0

    # Without pages of its own (the same sweep, more customers told), what the pager did beyond grows per customer.
    fan_out_rest = 0.0 if delta.pages else 1.0
    cpu_share = max(1.0, LAMBDA_FULL_CPU_MB / FAN_OUT_MB)
    invocations = pages + delta.fan_out_other_invocations
    measured_invocations = delta.pages + delta.fan_out_other_invocations
    latency_ms = delta.fan_out_latency_ms / measured_invocations if measured_invocations else 0.0
    compute = max(0.0, delta.fan_out_compute) * ratio * cpu_share  # a difference of timings: never below nothing
    seconds = compute + (latency_ms + 0.5) / 1000 * invocations
    return {
        "dynamodb_write": (delta.write_units + fan_out_rest * delta.fan_out_writes) * ratio
        + per_page(delta.fan_out_writes) * pages,
        "dynamodb_read": (delta.read_units + fan_out_rest * delta.fan_out_reads + delta.scan_units) * ratio
        + per_page(delta.fan_out_reads) * pages,
        "sqs_request": delta.sqs_requests * ratio + per_page(delta.page_sqs) * pages,
        "lambda_request": delta.lambda_requests * ratio + invocations,
        "lambda_gb_second": seconds * FAN_OUT_MB / 1024,
        "sfn_transition": fan_out_transitions(asl, delta.jobs, delta.parts, pages) + delta.timer_transitions * ratio,
        "ses_email": delta.emails * ratio,
    }


@dataclass(frozen=True)
class Progress:
    """What a campaign's item costs while its pages and messages are counted (``shared/adapters/campaigns.py``)."""

    pages: int
    messages: int  # messages counted (their outcomes)
    final_bytes: int
    page_writes: float  # write units of the pager's writes a page: ``start``, and the count with its page's marker
    outcome_writes: float  # write units of the router's count of each message
    reads: float  # read units of the pager's read a page

    @property
    def writes(self) -> float:
        return self.page_writes + self.outcome_writes

    @property
    def dollars(self) -> float:
        return self.writes * PRICES["dynamodb_write"].each + self.reads * PRICES["dynamodb_read"].each


def progress_item(pages: int, messages: int, created: int) -> Progress:
    """The campaign item through ``pages`` pages and ``messages`` outcomes counted.

    Each page the pager reads the item (consistently) and marks the campaign running (an ``UpdateItem`` billed on
    the item), then counts the page in one transaction with a marker item of its own (two units a KB started, for
    the marker and for the item); each message the router closes adds one to a counter (an ``UpdateItem`` billed on
    the item). The item keeps its size (``created`` bytes and its counters), however many pages there are."""
    size = created + COUNTER_BYTES
    item = write_units(size)
    page_writes = pages * (item + 2 * write_units(MARKER_BYTES) + 2 * item)
    return Progress(pages, messages, size, page_writes, messages * item, pages * read_units(size, consistent=True))


def dollars(units: dict[str, float]) -> dict[str, float]:
    return {name: value * PRICES[name].each for name, value in units.items()}


def engine(units: dict[str, float]) -> float:
    """The engine's dollars (SES, the delivery, apart)."""
    return sum(value for name, value in dollars(units).items() if name != "ses_email")


# ---------------------------------------------------------------- the measurement


def estimate(customers: int, due: int) -> dict[str, Any]:
    assert 0 < due < customers, "some customers due, not all"
    base, dated = shop_config(), with_birthdays(shop_config())
    off = customers // 4
    runs = {
        "none": metered(base, signups(customers), UNTIL),
        "birthday": metered(dated, signups(customers), UNTIL),
        "due": metered(dated, signups(customers, due=due), UNTIL),
        "moment": metered(base, [*signups(customers), campaign(customers)]),
        "local": metered(base, [*signups(customers), campaign(customers, local_time=True)]),
        "off": metered(base, [*signups(customers, off_the_hour=off), campaign(customers, local_time=True)]),
        "steps": metered(base, [*signups(customers), campaign(customers, steps=True)]),
    }
    sweep = runs["birthday"].minus(runs["none"])
    greeted = runs["due"].minus(runs["birthday"])
    assert sweep.sweeps == 1 and sweep.emails == 0, f"the sweep told someone or swept {sweep.sweeps} times"
    assert greeted.emails == due, f"{greeted.emails} greeted of {due}"
    moment, local = runs["moment"].minus(runs["none"]), runs["local"].minus(runs["none"])
    steps = runs["steps"].minus(runs["none"])
    assert moment.emails == local.emails == customers and steps.emails == 2 * customers
    assert local.sweeps == LOCAL_WAVES * moment.sweeps, "a local-time step sweeps once a wave"
    off_hour = runs["off"].minus(runs["local"])
    return {
        "customers": customers,
        "due": due,
        "off_the_hour": off,
        "runs": runs,
        "sweep": sweep,
        "greeted": greeted,
        "moment": moment,
        "local": local,
        "steps": steps,
        "off_hour": off_hour,
    }


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The scaled figures of an estimate."""
    asl = json.loads(FAN_OUT_ASL.read_text(encoding="utf-8"))
    n = result["customers"]
    sweep = result["sweep"]
    greeted = scaled(result["greeted"], result["due"], 1_000, asl)
    # The pager's compute for the few it tells (an event each) is lost in the noise of two timings: left out.
    greeted["lambda_gb_second"] = 0.0
    ledger = result["steps"].scanned_bytes["send ledger"] / max(1, result["steps"].scanned["send ledger"])
    out: dict[str, Any] = {"per_1000_greeted": greeted, "ledger_bytes": ledger, "sweeps": [], "campaigns": []}
    out["other_items"] = other_items(sweep, 1_000_000, ledger, asl)
    for size in SCALES:
        day = scaled(sweep, n, size, asl)
        birthdays = size / 365 * DAYS_A_MONTH
        out["sweeps"].append(
            {
                "customers": size,
                "units": day,
                "day": engine(day),
                "month": engine(day) * DAYS_A_MONTH,
                "birthdays_a_month": birthdays,
                "greeting_a_month": engine(greeted) * birthdays / 1_000,
                "ses_a_month": dollars(greeted)["ses_email"] * birthdays / 1_000,
            }
        )
        moment, local = scaled(result["moment"], n, size, asl), scaled(result["local"], n, size, asl)
        steps = scaled(result["steps"], n, size, asl)
        off = scaled(result["off_hour"], result["off_the_hour"], size, asl)
        out["campaigns"].append(
            {
                "members": size,
                "rows": {
                    "one moment": moment,
                    "local time (27 waves)": local,
                    "local time, beyond one moment": {k: local[k] - moment[k] for k in local},
                    "2 steps": steps,
                    "2 steps, beyond one moment (the follow-up)": {k: steps[k] - moment[k] for k in steps},
                    "members off the hour (UTC+5:30), beyond local time on the hour": off,
                },
                "progress": {
                    label: (
                        job,
                        jobs,
                        progress_item(jobs * sweep_pages(size), sends * size, result["moment"].campaign_created),
                    )
                    for label, job, jobs, sends in (
                        ("one moment", "", 1, 1),
                        ("local time (27 waves)", "wave", LOCAL_WAVES, 1),
                        ("2 steps", "step", 2, 2),
                    )
                },
            }
        )
    return out


def other_items(sweep: Run, items: int, item_bytes: float, asl: dict[str, Any]) -> dict[str, float]:
    """What ``items`` more items in the customers table (any kind, any shop: the scan evaluates them all, the filter
    keeps the shop's customers) of ``item_bytes`` each add to a sweep: their reads and the pages they fill."""
    pages = sweep_pages(items)
    per_page = sweep.page_sqs / sweep.pages if sweep.pages else 0.0
    invocations = sweep.pages + sweep.fan_out_other_invocations
    latency_ms = sweep.fan_out_latency_ms / invocations if invocations else 0.0
    return {
        "dynamodb_read": items * item_bytes / READ_UNIT_BYTES / 2,
        "lambda_request": pages,
        "lambda_gb_second": (latency_ms + 0.5) / 1000 * pages * FAN_OUT_MB / 1024,
        "sqs_request": per_page * pages,
        "sfn_transition": fan_out_transitions(asl, 0, 0, pages),
    }


# ---------------------------------------------------------------- the report


def _money(value: float) -> str:
    if value == 0:
        return "$0"
    if abs(value) >= 10:
        return f"${value:,.2f}"
    if abs(value) >= 0.1:
        return f"${value:.2f}"
    return f"${value:.2g}" if abs(value) >= 0.0001 else f"${value:.1e}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == 0 else f"{value:,.2f}"


def _cell(units: dict[str, float], name: str) -> str:
    unit = " GB-s" if name == "lambda_gb_second" else ""
    return f"{_money(units.get(name, 0.0) * PRICES[name].each)} ({_count(units.get(name, 0.0))}{unit})"


def markdown(result: dict[str, Any], command: str) -> str:
    n, due = result["customers"], result["due"]
    sweep, greeted, local, moment = result["sweep"], result["greeted"], result["local"], result["moment"]
    f = figures(result)
    state_bytes = sweep.scanned_bytes["customer state"] / max(1, sweep.scanned["customer state"])
    per_greeted = {
        "DynamoDB write units": greeted.write_units + greeted.fan_out_writes,
        "read units": greeted.read_units + greeted.fan_out_reads,
        "SQS requests": greeted.sqs_requests,
        "Lambda requests": greeted.lambda_requests,
        "timer executions": greeted.timer_executions,
        "timer transitions": greeted.timer_transitions,
        "e-mails": greeted.emails,
    }
    lines = [
        f"Measured on {n:,} customers (`{command}`). One sweep: {sweep.scans} scans evaluated "
        f"{sum(sweep.scanned.values()):,} items and billed {sweep.scan_units:,.1f} read units "
        f"({sweep.scan_units / n:.4f} a customer; the customer records {state_bytes:,.0f} B on average), "
        f"{sweep.pages} pages (a fan-out Lambda request, {sweep.page_sqs / max(1, sweep.pages):.0f} SQS requests "
        f"and 3 Step Functions transitions each) and {sweep.fan_out_other_invocations} scheduled invocation; the "
        f"pager's own compute {sweep.fan_out_compute / n * 1000:.3f} ms a customer on this machine. Each of the "
        f"{due} customers due added "
        + ", ".join(f"{value / due:.3f} {name}" for name, value in per_greeted.items())
        + ".",
        "",
        "A day's sweep of a shop with a birthday journey, nobody due (the table holding only its customers):",
        "",
        "| customers | DynamoDB reads | Lambda requests | fan-out Lambda duration (modelled) | SQS | Step Functions "
        "| a day | 30 days |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [(f"{row['customers']:,}", row["units"]) for row in f["sweeps"]]
    rows.append((f"each 1,000,000 other items in the table ({f['ledger_bytes']:,.0f} B)", f["other_items"]))
    for label, u in rows:
        day = engine(u)
        lines.append(
            f"| {label} | {_cell(u, 'dynamodb_read')} | {_cell(u, 'lambda_request')} "
            f"| {_cell(u, 'lambda_gb_second')} | {_cell(u, 'sqs_request')} | {_cell(u, 'sfn_transition')} "
            f"| **{_money(day)}** | **{_money(day * DAYS_A_MONTH)}** |"
        )
    g = f["per_1000_greeted"]
    lines += [
        "",
        "Greeting them, per 1,000 birthdays (each: a `Date Due`, a timer until 09:00 local, the message):",
        "",
        "| | DynamoDB writes | DynamoDB reads | SQS | Lambda requests | Step Functions (timers) | engine $ | SES $ |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| 1,000 birthdays | {_cell(g, 'dynamodb_write')} | {_cell(g, 'dynamodb_read')} | {_cell(g, 'sqs_request')} "
        f"| {_cell(g, 'lambda_request')} | {_cell(g, 'sfn_transition')} | **{_money(engine(g))}** "
        f"| {_money(dollars(g)['ses_email'])} |",
        "",
        "A month (30 days) of a shop whose customers all have a birthday and e-mail consent (1 in 365 due a day):",
        "",
        "| customers | sweeping | birthdays | greeting them (engine) | SES | engine in all |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in f["sweeps"]:
        lines.append(
            f"| {row['customers']:,} | {_money(row['month'])} | {row['birthdays_a_month']:,.0f} "
            f"| {_money(row['greeting_a_month'])} | {_money(row['ses_a_month'])} "
            f"| **{_money(row['month'] + row['greeting_a_month'])}** |"
        )
    lines += [
        "",
        f"Campaigns to every customer, on the same {n:,}: for one moment {moment.sweeps} sweep in {moment.pages} "
        f"pages, with local time {local.sweeps} sweeps in {local.pages} pages ({local.pages - local.scans} of "
        f"them a part asking before its wave's start). The local-time sweeps billed {local.scan_units:,.0f} read "
        f"units for the items they evaluated where the meter counts {local.scan_units_returned:,.0f} for those "
        f"they returned: from the wave that sent them on, they also evaluate the campaign's ledger entries. The "
        f"off-the-hour row: {result['off_the_hour']} of them in {OFF_THE_HOUR}, per such member. Without the "
        "campaign's own item (below):",
        "",
        "| members | campaign | " + " | ".join(COLUMNS[k] for k in KEYS) + " | engine $ | SES $ |",
        "| --- | --- | " + " | ".join("---" for _ in KEYS) + " | --- | --- |",
    ]
    for block in f["campaigns"]:
        for label, units in block["rows"].items():
            lines.append(
                f"| {block['members']:,} | {label} | "
                + " | ".join(_cell(units, k) for k in KEYS)
                + f" | **{_money(engine(units))}** | {_money(dollars(units)['ses_email'])} |"
            )
    lines += ["", *progress_lines(result, f)]
    return "\n".join(lines)


def progress_lines(result: dict[str, Any], f: dict[str, Any]) -> list[str]:
    """The campaign's item: measured against the model here, then the model at scale."""
    checks = []
    for label, key in (("one moment", "moment"), ("local time", "local"), ("2 steps", "steps")):
        run = result[key]
        model = progress_item(run.scans, run.emails, run.campaign_created)
        checks.append(
            f"{label}: {run.scans} pages counted, the item grew {run.campaign_grown:,} B, "
            f"{run.campaign_writes:,.0f} write units on it and its markers measured, {model.writes:,.0f} modelled"
        )
    lines = [
        "The campaign's item keeps its size: each page is counted in one transaction with a marker item of its own "
        "(`sk = page#<page>`, put only if new: a page asked again counts nothing), and each message's outcome into a "
        "counter. Every page reads the item, writes it once (`start`) and once in the transaction (two units a KB "
        "in a transaction, for the item and for the marker); every message writes it once. Measured here, and the "
        "model (`progress_item`) of the same pages and messages: " + "; ".join(checks) + ". At scale:",
        "",
        "| members | campaign | pages counted | item at the end | write units: the pages' | the messages' counts "
        "| read units | $ | engine $ with the rest (table above) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for block in f["campaigns"]:
        size = block["members"]
        for label, (_, jobs, model) in block["progress"].items():
            total = f"**{_money(model.dollars + engine(block['rows'][label]))}**"
            lines.append(
                f"| {size:,} | {label} | {model.pages:,} of {jobs * sweep_pages(size):,} "
                f"| {model.final_bytes:,} B | {model.page_writes:,.0f} "
                f"| {model.outcome_writes:,.0f} ({model.outcome_writes / max(1, model.messages):,.1f} a message) "
                f"| {model.reads:,.0f} | {_money(model.dollars)} | {total} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--due", type=int, default=40, help="customers whose birthday the sweep finds")
    args = parser.parse_args(argv)
    command = f"python -m infra.bench.dates --customers {args.customers} --due {args.due}"
    print(markdown(estimate(args.customers, args.due), command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
