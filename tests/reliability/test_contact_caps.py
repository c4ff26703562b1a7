"""Property: the contact policy holds whatever fires at once, whichever router gets there first, and however often a
message is delivered again (issue: "caps must hold when several journeys fire for one customer at the same moment
and routers run concurrently").

Random messages of journeys of different priorities fall due for one customer, many at the same moments (quiet
hours' end gathers them too), some transactional; each may be delivered again. They go through the real router on
the in-memory adapters (template.yaml in memory). Concurrency is played deterministically: when a router reads the
customer's contact log, the schedule may run another router's whole delivery before this one goes on with what it
read, which is what two Lambda invocations at once can do. A deferred message comes back at the moment the router
gave (what its timer does). Then:

- in no window of any cap did the customer get more marketing messages than the cap allows;
- every message ended sent or dropped with a reason (none left deferred or pending), and none went out twice;
- a message dropped as ``outranked`` lost its slot to a message of higher priority that did go out then.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shared.adapters.contacts import ContactConflictError, ContactRecord
from shared.adapters.ledger import LedgerConflictError
from shared.core.policy import ContactLog
from shared.models.messages import OutboxMessage
from tests.integration.test_channel_router import make_customer, unique
from tests.integration.test_contact_policy import journey_message, shop
from tests.memory import QUIET, MemoryStack

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 9, 0, 0, tzinfo=BERLIN)  # a Monday, midnight in Berlin
PRIORITY = {"cart_abandonment": 70, "post_purchase": 60, "repeat_purchase": 50, "welcome": 40, "reactivation": 30}
CAPS = [{"per": "P1D", "max": 2}, {"per": "P7D", "max": 4}, {"per": "PT4H", "max": 1}]
POLICY = {"caps": CAPS, "quiet_hours": {"start": "21:00", "end": "08:00"}, "max_deferral": "P3D"}


@dataclass
class Interleaving:
    """The contact log port, through which the schedule lets another router run between a read and its write."""

    inner: Any
    cut_in: Iterator[bool]
    other: Any = None  # set once the run exists: runs one waiting delivery to its end

    def load(self, shop_id: str, customer: str) -> ContactRecord:
        record = self.inner.load(shop_id, customer)
        if self.other is not None and next(self.cut_in, False):
            self.other()
        return record

    def save(self, record: ContactRecord, log: ContactLog, now: datetime, keep: timedelta) -> None:
        try:
            self.inner.save(record, log, now, keep)
        except ContactConflictError:
            event("a router's write was refused: another wrote the log since its read")
            raise


@dataclass
class Run:
    """Deliveries in virtual time: (moment, order, message)."""

    stack: MemoryStack
    router: Any
    queue: list[tuple[datetime, int, OutboxMessage]] = field(default_factory=list)
    order: Iterator[int] = field(default_factory=itertools.count)
    nested: int = 0

    def put(self, moment: datetime, message: OutboxMessage) -> None:
        heapq.heappush(self.queue, (moment, next(self.order), message))

    def step(self) -> None:
        moment, _, message = heapq.heappop(self.queue)
        self.stack.clock.at = max(self.stack.clock.at, moment)
        try:
            delivery = self.router.deliver(message)
        except LedgerConflictError:  # another router holds it, or the log kept changing: SQS redelivers later
            self.put(self.stack.clock.at + timedelta(seconds=30), message)
            return
        if delivery.retry_at is not None:
            self.put(delivery.retry_at, message)  # the deferral timer brings it back then

    def cut_in(self) -> None:
        """Another router, right now: the next waiting delivery due by now runs to its end."""
        if self.nested < 3 and self.queue and self.queue[0][0] <= self.stack.clock.at:
            self.nested += 1
            try:
                self.step()
            finally:
                self.nested -= 1


@pytest.fixture(scope="module")
def stack() -> Iterator[MemoryStack]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in QUIET.items():
            monkeypatch.setenv(name, value)
        yield MemoryStack([shop(**POLICY)], at=START)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    plans=st.lists(
        st.tuples(
            st.sampled_from(sorted(PRIORITY)),
            st.integers(min_value=0, max_value=5 * 24) | st.sampled_from([2, 8, 8, 23, 32, 32]),
            st.integers(min_value=0, max_value=9).map(lambda n: n == 0),  # one in ten is transactional
            st.integers(min_value=0, max_value=2),
        ),
        min_size=1,
        max_size=18,
    ),
    cut_ins=st.lists(st.booleans(), max_size=60),
)
def test_caps_priorities_and_deferrals_hold_under_concurrency_and_redelivery(stack, plans, cut_ins):
    # Given a customer in Berlin who allowed email, and the messages of the plan falling due
    stack.clock.at = START
    user = unique("prop")
    make_customer(stack, user, {"email": f"{user}@example.com"}, ["email"], cart=False)
    contacts = Interleaving(stack.cloud.contacts, iter(cut_ins))
    stack.cloud.contacts = contacts
    try:
        run = Run(stack, stack.cloud.channel_router_wiring().router)
    finally:
        stack.cloud.contacts = contacts.inner
    contacts.other = run.cut_in
    messages = {}
    for index, (journey, hour, transactional, copies) in enumerate(plans):
        due = START + timedelta(hours=hour, minutes=index % 3)
        message = journey_message(user, journey, f"{user}-{index}", due, transactional)
        messages[message.message_id] = message
        for copy in range(1 + copies):
            run.put(due + timedelta(seconds=copy), message)

    # When every router has run (a deferral waits at most three days, then everything is final)
    while run.queue:
        run.step()

    # Then
    status, body = stack.call("GET", f"/v1/customers/{user}/messages", key="demo-secret-key")
    assert status == 200
    ledger = {m["message_id"]: m for m in body["messages"]}
    assert set(ledger) == set(messages)
    for entry in ledger.values():
        event(f"{entry['status']} {entry['reason'] or ''}".strip())
        assert entry["status"] in ("sent", "suppressed"), entry
        if entry["status"] == "suppressed":
            assert entry["reason"] in ("frequency_cap", "outranked", "quiet_hours"), entry
    accepted = [s.request for s in stack.sent("email", f"{user}@example.com")]
    assert len(accepted) == sum(1 for e in ledger.values() if e["status"] == "sent")  # none went out twice

    def sent_at(entry: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(entry["at"])

    marketing = sorted(
        sent_at(e) for e in ledger.values() if e["status"] == "sent" and not messages[e["message_id"]].transactional
    )
    for cap in CAPS:
        per = {"P1D": timedelta(days=1), "P7D": timedelta(days=7), "PT4H": timedelta(hours=4)}[cap["per"]]
        for end in marketing:
            inside = [t for t in marketing if end - per < t <= end]
            assert len(inside) <= cap["max"], (cap, inside)
    for entry in ledger.values():
        if entry["reason"] == "outranked":
            mine = PRIORITY[entry["journey"]]
            dropped_at = sent_at(entry)
            assert any(
                e["status"] == "sent"
                and PRIORITY[e["journey"]] > mine
                and dropped_at <= sent_at(e) <= dropped_at + timedelta(hours=1)
                for e in ledger.values()
            ), entry
    for entry in ledger.values():  # quiet hours held for every marketing message
        if entry["status"] == "sent" and not messages[entry["message_id"]].transactional:
            local = sent_at(entry).astimezone(BERLIN).time()
            assert time(8, 0) <= local < time(21, 0), entry
