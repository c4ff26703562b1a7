"""Two state updaters racing on one customer: no update is lost, none is applied twice.

The FIFO queue gives one writer per customer, but not always: a record whose visibility timeout runs out while its
first invocation is still working is handed to a second one, and an identify merges an anonymous visitor's record
while that visitor's own events may still be in flight. The race is made exact here instead of left to threads:
updater A's customer store runs updater B's whole apply (read, decide, conditional write) at the last moment before
A's own write, so A always writes on a version that is no longer current.

The updaters run on template.yaml in memory: the customer records' conditional writes (a put on the version read, a
merge's transaction all or nothing) are DynamoDB's, as ``tests/parity/test_ports.py`` requires of the memory store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.memory import MemoryCloud, MemoryCustomers
from infra.simulate import VirtualTimers
from shared.adapters.customers import StoredCustomer, VersionConflictError
from shared.core.customer import decide, merge, message_digest
from shared.models.state import CustomerState
from shared.service.updater import StateUpdater
from tests.factories import accepted
from tests.memory import TEMPLATE
from tests.reliability import figures
from tests.reliability.histories import DEMO

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RACES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def deployment() -> MemoryCloud:
    """template.yaml in memory with the demo shop; racers share its customers table."""
    cloud = MemoryCloud(lambda: NOW, VirtualTimers(), template=TEMPLATE)
    cloud.shops.apply(DEMO)
    return cloud


class RacingRecords:
    """The deployment's customer records, seen by one updater: just before its next write, whatever ``before_write``
    holds runs (once); a write refused for a version that changed is counted."""

    def __init__(self, records: MemoryCustomers) -> None:
        self.records = records
        self.before_write: Callable[[], Any] | None = None
        self.writes_refused = 0

    def load(self, shop_id: str, key: str) -> StoredCustomer:
        return self.records.load(shop_id, key)

    def follow(self, record: StoredCustomer) -> StoredCustomer:
        return self.records.follow(record)

    def encode(self, state: CustomerState) -> bytes:
        return self.records.encode(state)

    def save(
        self,
        record: StoredCustomer,
        state: CustomerState,
        now: datetime,
        absorbed: Sequence[StoredCustomer] = (),
        document: bytes | None = None,
    ) -> None:
        race, self.before_write = self.before_write, None
        if race is not None:
            race()
        try:
            self.records.save(record, state, now, absorbed, document)
        except VersionConflictError:
            self.writes_refused += 1
            raise


class Racer:
    """A state updater of its own on the deployment's tables and queues."""

    def __init__(self, deployment: MemoryCloud) -> None:
        self.store = RacingRecords(deployment.customers)
        self.updater = StateUpdater(
            self.store,
            deployment.shops,
            deployment.events_dlq,
            lambda: NOW,
            deployment.timers,
            deployment.outbox,
            orders=deployment.orders,
        )

    @property
    def writes_refused(self) -> int:
        return self.store.writes_refused

    def interrupted_before_writing(self, other: Racer, event: Any) -> None:
        """Before this racer's next write, ``other`` applies ``event`` (once)."""
        self.store.before_write = lambda: other.updater.apply(event)


_events = st.sampled_from(["add", "remove", "consent", "withdraw", "order", "identify", "view"])


def segment(kind: str, user: str, number: int, minute: int) -> Any:
    at = NOW - timedelta(minutes=60 - minute)
    product = {"product_id": f"p{number % 3}", "name": "Thing", "price": 12.5, "cart_id": "c1"}
    messages = {
        "add": {"type": "track", "event": "Product Added", "properties": product},
        "remove": {"type": "track", "event": "Product Removed", "properties": product},
        "consent": {
            "type": "track",
            "event": "Consent Updated",
            "properties": {"channel": "email", "status": "granted", "source": "prefs", "notice_version": "v1"},
        },
        "withdraw": {
            "type": "track",
            "event": "Consent Updated",
            "properties": {"channel": "email", "status": "withdrawn", "source": "prefs", "notice_version": "v1"},
        },
        "order": {
            "type": "track",
            "event": "Order Completed",
            "properties": {"order_id": f"o{number}", "revenue": 30.0, "cart_id": "c1"},
        },
        "identify": {"type": "identify", "traits": {"email": f"{user}@example.com", "firstName": f"N{number}"}},
        "view": {"type": "track", "event": "Product Viewed", "properties": {"product_id": f"p{number}"}},
    }
    message = {**messages[kind], "userId": user, "messageId": f"{user}-{number}", "timestamp": at.isoformat()}
    return accepted(message, NOW)


_customers = iter(range(10**6))


@RACES
@given(history=st.lists(_events, min_size=0, max_size=4), first=_events, second=_events)
def test_two_updaters_writing_one_customer_at_once_lose_no_update(deployment, history, first, second):
    # Given a customer with some history
    user = f"racer{next(_customers)}"
    a, b = Racer(deployment), Racer(deployment)
    events = [segment(kind, user, n, n) for n, kind in enumerate(history)]
    for event in events:
        a.updater.apply(event)
    mine, theirs = segment(first, user, 100, 40), segment(second, user, 101, 41)

    # When updater A applies one event while updater B writes another to the same customer in between
    a.interrupted_before_writing(b, theirs)
    a.updater.apply(mine)

    # Then A's first write was refused, A decided again, and both events are in the customer's state
    state = a.store.load("demo", f"u:{user}").state
    assert a.writes_refused >= 1
    assert message_digest(mine.message_id) in state.seen and message_digest(theirs.message_id) in state.seen
    # exactly as if B's event had come first and A's after it
    expected = None
    for event in [*events, theirs, mine]:
        expected = decide(expected, event, NOW, DEMO).state or expected
    assert state == expected
    figures.add("concurrency: two events at once", races=1, writes_refused=a.writes_refused)


@RACES
@given(history=st.lists(_events, min_size=0, max_size=4), kind=_events)
def test_the_same_event_handled_by_two_updaters_at_once_counts_once(deployment, history, kind):
    # Given a customer with some history
    user = f"twice{next(_customers)}"
    a, b = Racer(deployment), Racer(deployment)
    events = [segment(k, user, n, n) for n, k in enumerate(history)]
    for event in events:
        a.updater.apply(event)
    before = a.store.load("demo", f"u:{user}")

    # When an event's visibility timeout runs out while updater A works on it, and updater B gets it too
    event = segment(kind, user, 100, 40)
    a.interrupted_before_writing(b, event)
    a.updater.apply(event)

    # Then it is applied once: one more event, one more version
    after = a.store.load("demo", f"u:{user}")
    assert after.state.events_applied == (before.state.events_applied if before.state else 0) + 1
    assert after.version == before.version + 1
    figures.add("concurrency: one event twice at once", races=1, writes_refused=a.writes_refused)


def test_an_order_handled_by_two_updaters_at_once_is_counted_once_in_the_shops_best_sellers(deployment):
    # Given an order of two products whose visibility timeout runs out while updater A works on it: updater B applies
    # it too, and A's write finds the customer changed and decides it again
    user = f"buyer{next(_customers)}"
    a, b = Racer(deployment), Racer(deployment)
    lines = [{"product_id": "mug", "category": "Kitchen", "quantity": 2}, {"product_id": "tea", "quantity": 1}]
    properties = {"order_id": "o1", "revenue": 30.0, "products": lines}
    order = accepted(
        {"type": "track", "event": "Order Completed", "properties": properties, "userId": user, "messageId": "o1"},
        NOW,
    )
    a.interrupted_before_writing(b, order)
    a.updater.apply(order)

    # Then the shop's aggregates count the order once: units sold, and the products bought together
    assert a.writes_refused == 1
    assert deployment.orders.best_sellers("demo", "*", NOW.date()) == {"mug": 2, "tea": 1}
    assert deployment.orders.best_sellers("demo", "Kitchen", NOW.date()) == {"mug": 2}
    assert deployment.orders.bought_with("demo", ["mug"]) == {"tea": 1}


@RACES
@given(
    browsing=st.lists(st.sampled_from(["add", "view"]), min_size=1, max_size=3), late=st.sampled_from(["add", "view"])
)
def test_an_anonymous_visitors_event_racing_their_identify_is_kept_in_the_merged_customer(deployment, browsing, late):
    # Given an anonymous visitor who browsed
    visitor, user = f"anon{next(_customers)}", f"known{next(_customers)}"
    a, b = Racer(deployment), Racer(deployment)

    def anonymous(kind: str, number: int) -> Any:
        event = segment(kind, user, number, number)
        message = event.message.model_copy(
            update={"userId": None, "anonymousId": visitor, "messageId": f"{visitor}-{number}"}
        )
        return event.model_copy(update={"message": message})

    for number, kind in enumerate(browsing):
        a.updater.apply(anonymous(kind, number))
    identify = segment("identify", user, 50, 30)
    identify = identify.model_copy(update={"message": identify.message.model_copy(update={"anonymousId": visitor})})
    straggler = anonymous(late, 60)

    # When they sign in (identify with both ids: the records merge) while their last anonymous event is written
    a.interrupted_before_writing(b, straggler)
    a.updater.apply(identify)

    # Then the known customer holds everything, the straggler included, and the visitor's record points to it
    known = a.store.load("demo", f"u:{user}")
    pointer = a.store.load("demo", f"a:{visitor}")
    assert pointer.merged_into == f"u:{user}" and pointer.state is None
    assert message_digest(straggler.message_id) in known.state.seen
    anonymous_state = None
    for number, kind in enumerate(browsing):
        anonymous_state = decide(anonymous_state, anonymous(kind, number), NOW, DEMO).state or anonymous_state
    anonymous_state = decide(anonymous_state, straggler, NOW, DEMO).state
    # exactly what the updater decides when nothing races: merge the visitor's record, then apply the identify
    expected = decide(merge(CustomerState(), anonymous_state), identify, NOW, DEMO).state
    assert known.state == expected
    figures.add("concurrency: merge racing an anonymous event", races=1, writes_refused=a.writes_refused)
