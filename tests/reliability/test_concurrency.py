"""Two state updaters racing on one customer: no update is lost, none is applied twice.

The FIFO queue gives one writer per customer, but not always: a record whose visibility timeout runs out while its
first invocation is still working is handed to a second one, and an identify merges an anonymous visitor's record
while that visitor's own events may still be in flight. The race is made exact here instead of left to threads:
updater A's DynamoDB client runs updater B's whole apply (read, decide, conditional write) at the last moment before
A's own write, so A always writes on a version that is no longer current.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.customers import CustomerStore
from shared.adapters.queue import FifoQueue, StandardQueue
from shared.adapters.shops import ShopDirectory
from shared.adapters.timers import StepFunctionsTimers
from shared.core.customer import decide, merge, message_digest
from shared.models.state import CustomerState
from shared.service.updater import StateUpdater
from tests.factories import accepted
from tests.reliability import figures
from tests.reliability.histories import DEMO
from tests.reliability.pipeline import REGION, Deployment, deployed

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RACES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def deployment(monkeypatch):
    with deployed(monkeypatch, [DEMO]) as deployed_:
        yield deployed_


class Racer:
    """A state updater with its own AWS clients, so a hook on one racer's calls never touches the other's."""

    def __init__(self, deployment: Deployment) -> None:
        resources = deployment.resources
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        self.store = CustomerStore(resources["CustomersTable"], client=self.dynamodb)
        self.updater = StateUpdater(
            self.store,
            ShopDirectory(resources["ShopsTable"], client=self.dynamodb),
            FifoQueue(resources["EventsDeadLetterQueue"], client=sqs),
            lambda: NOW,
            StepFunctionsTimers(
                resources["TimerStateMachine"], client=boto3.client("stepfunctions", region_name=REGION)
            ),
            StandardQueue(resources["OutboxQueue"], client=sqs),
        )
        self.writes_refused = 0

    def interrupted_before_writing(self, other: Racer, event: Any) -> None:
        """Before this racer's next write, ``other`` applies ``event`` (once)."""
        pending = [event]

        def race(**_: Any) -> None:
            if pending:
                other.updater.apply(pending.pop())

        def refused(http_response: Any, **_: Any) -> None:
            if http_response is not None and http_response.status_code == 400:
                self.writes_refused += 1

        for operation in ("PutItem", "TransactWriteItems"):
            self.dynamodb.meta.events.register(f"before-call.dynamodb.{operation}", race)
            self.dynamodb.meta.events.register(f"after-call.dynamodb.{operation}", refused)


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
