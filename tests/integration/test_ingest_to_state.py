"""Ingest to customer state through the real handlers on the local stack (moto, provisioned from template.yaml); what
the state updater does with an event it is handed runs on template.yaml in memory (``memory_stack``)."""

from __future__ import annotations

import contextlib
import threading
import uuid

import pytest

from shared.adapters.customers import CustomerStore
from shared.adapters.queue import FifoQueue
from shared.adapters.shops import ShopDirectory
from shared.aws import sqs
from shared.service.updater import StateUpdater
from tests.factories import T0, accepted, consent, identify, product, track
from tests.integration.http import SECRET_KEY, WRITE_KEY, customer, post
from tests.memory import ArmedTimers


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def queue_depth(url: str) -> int:
    attributes = sqs().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_track_identify_and_batch_reach_the_customer_state(local_stack):
    user = unique("ada")
    assert post(local_stack.base_url, "/v1/identify", identify({"firstName": "Ada"}, userId=user)) == (
        200,
        {"success": True},
    )
    batch = {
        "batch": [
            track("Product Viewed", product("p1", image_url="https://img/p1.jpg"), userId=user),
            track("Product Added", product("p1", cart_id="c1", quantity=2), userId=user),
            consent("email", userId=user),
        ],
        "context": {"locale": "de-DE", "timezone": "Europe/Berlin"},
    }
    assert post(local_stack.base_url, "/v1/batch", batch)[0] == 200
    local_stack.wait_idle()

    status, body = customer(local_stack.base_url, user)

    assert status == 200
    assert body["traits"]["first_name"] == "Ada"
    assert (body["locale"], body["timezone"]) == ("de-DE", "Europe/Berlin")
    assert body["carts"]["c1"]["items"][0] == {
        "product_id": "p1",
        "name": "Product p1",
        "price": 10.0,
        "quantity": 2,
        "image_url": None,
        "url": None,
    }
    assert body["viewed"][0]["image_url"] == "https://img/p1.jpg"
    assert body["consent"]["email"]["status"] == "granted"
    assert body["consent_history"][0]["notice_version"] == "v3"


def test_a_rejected_batch_changes_nothing(local_stack):
    local_stack.wait_idle()
    user = unique("rejected")
    bad = {"batch": [track("Product Viewed", product(), userId=user), {"type": "track", "userId": user}]}

    status, body = post(local_stack.base_url, "/v1/batch", bad)

    assert status == 400
    assert body["errors"] == [{"index": 1, "field": "event", "rule": "Field required"}]
    assert queue_depth(local_stack.resources["EventsQueue"]) == 0
    local_stack.wait_idle()
    assert customer(local_stack.base_url, user)[0] == 404


def test_wrong_or_missing_keys_are_refused(local_stack):
    message = track("Product Viewed", product(), userId=unique("u"))
    assert post(local_stack.base_url, "/v1/track", message, key="not-a-key")[0] == 401
    assert post(local_stack.base_url, "/v1/track", message, key=None)[0] == 401
    # the write key writes, it does not read; the secret key reads, and writes too (from the shop's own servers)
    assert customer(local_stack.base_url, "anyone", key=WRITE_KEY)[0] == 401
    assert post(local_stack.base_url, "/v1/track", message, key=SECRET_KEY)[0] == 200
    # writeKey in the body is the other way Segment clients authenticate
    assert post(local_stack.base_url, "/v1/track", {**message, "writeKey": WRITE_KEY}, key=None)[0] == 200


def test_a_client_retry_with_the_same_message_id_is_applied_once(local_stack):
    user = unique("retry")
    added = track("Product Added", product("p1"), userId=user)
    for _ in range(3):
        assert post(local_stack.base_url, "/v1/track", added)[0] == 200
    local_stack.wait_idle()

    body = customer(local_stack.base_url, user)[1]

    assert body["carts"]["default"]["items"][0]["quantity"] == 1
    assert body["events_applied"] == 1


def test_the_same_event_delivered_twice_to_the_updater_writes_once(memory_stack):
    # SQS FIFO only dedupes for 5 minutes; a redelivery after that reaches the updater again.
    stack = memory_stack()
    user = unique("redelivered")
    event = accepted(track("Product Added", product("p1"), userId=user))
    updater = stack.cloud.state_updater_wiring().updater

    first = updater.apply(event)
    second = updater.apply(event)

    assert not first.decision.duplicate and second.decision.duplicate
    record = stack.cloud.customers.load("demo", f"u:{user}")
    assert record.version == 1
    assert record.state.carts["default"].items[0].quantity == 1


def test_anonymous_browsing_joins_the_customer_on_identify(local_stack):
    anonymous, user = unique("anon"), unique("bea")
    for message in (
        track("Product Viewed", product("p9"), anonymousId=anonymous),
        track("Product Added", product("p9", cart_id="cart-9"), anonymousId=anonymous),
        identify({"email": "bea@example.com"}, userId=user, anonymousId=anonymous),
    ):
        assert post(local_stack.base_url, f"/v1/{message['type']}", message)[0] == 200
        local_stack.wait_idle()
    # a late anonymous event, sent before the identify by a slow client, still lands on the known customer
    late = track("Product Viewed", product("p10"), anonymousId=anonymous)
    assert post(local_stack.base_url, "/v1/track", late)[0] == 200
    local_stack.wait_idle()

    status, body = customer(local_stack.base_url, user)

    assert status == 200
    assert [item["product_id"] for item in body["carts"]["cart-9"]["items"]] == ["p9"]
    assert [view["product_id"] for view in body["viewed"]] == ["p9", "p10"]
    assert body["anonymous_ids"] == [anonymous]
    # looking the visitor up by the anonymous id leads to the same, known customer
    assert customer(local_stack.base_url, anonymous)[1]["user_id"] == user


class _PausingStore(CustomerStore):
    """A real DynamoDB store that holds every writer after its read until both have read (forces the race)."""

    def __init__(self, table: str, barrier: threading.Barrier) -> None:
        super().__init__(table)
        self._barrier = barrier

    def load(self, shop_id, key):
        record = super().load(shop_id, key)
        with contextlib.suppress(threading.BrokenBarrierError):  # the retry after a conflict reads alone
            self._barrier.wait(timeout=2)
        return record


def test_two_concurrent_writers_on_one_customer_lose_no_update(local_stack):
    user = unique("race")
    barrier = threading.Barrier(2)
    resources = local_stack.resources
    updaters = [
        StateUpdater(
            _PausingStore(resources["CustomersTable"], barrier),
            ShopDirectory(resources["ShopsTable"]),
            FifoQueue(resources["EventsDeadLetterQueue"]),
            lambda: T0,
            timers=ArmedTimers(),  # keeps the cart's reminder instead of starting it on the stack
        )
        for _ in range(2)
    ]
    events = [accepted(track("Product Added", product(p), userId=user)) for p in ("left", "right")]
    outcomes: list = []
    threads = [
        threading.Thread(target=lambda u=u, e=e: outcomes.append(u.apply(e)))
        for u, e in zip(updaters, events, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    record = CustomerStore(resources["CustomersTable"]).load("demo", f"u:{user}")
    assert len(outcomes) == 2
    assert sorted(item.product_id for item in record.state.carts["default"].items) == ["left", "right"]
    assert record.version == 2


def test_an_event_of_an_unknown_shop_is_parked_with_its_reason(memory_stack):
    stack = memory_stack()
    event = accepted(track("Product Viewed", product(), userId=unique("ghost")), shop_id="no-such-shop")
    updater = stack.cloud.state_updater_wiring().updater

    outcome = updater.handle(event.model_dump_json(), "no-such-shop#u:ghost", "msg-ghost")

    assert outcome is None
    parked = [message.as_sqs() for message in stack.cloud.events_dlq]
    assert any(m["MessageAttributes"]["reason"]["StringValue"] == "unknown shop 'no-such-shop'" for m in parked), parked


@pytest.mark.parametrize("path", ["/v1/track", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias"])
def test_every_segment_endpoint_accepts_its_call(local_stack, path):
    user = unique("ep")
    body = {
        "/v1/track": {"event": "Signed Up"},
        "/v1/identify": {"traits": {"name": "E P"}},
        "/v1/page": {"name": "Home"},
        "/v1/screen": {"name": "Home"},
        "/v1/group": {"groupId": "g1"},
        "/v1/alias": {"previousId": unique("old")},
    }[path]
    assert post(local_stack.base_url, path, {**body, "userId": user}) == (200, {"success": True})
