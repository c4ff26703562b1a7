"""The ports' contracts (architecture §5): each behaviour the services rely on, asserted once, and run against the
AWS adapter on template.yaml in moto and against the in-memory adapter (``infra.memory``).

Every test takes ``side`` and runs twice (``[moto]`` and ``[memory]``), with the same Given, When and Then: the
memory side is the AWS side's equal in what a caller can observe (what is stored and read back, which write is
refused, what a queue hands out and when). Where moto does not do what AWS does, the test says so and holds the
memory side to AWS (conventions.md); those few run on memory alone.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.adapters.catalog import ProductConflictError, Waiter
from shared.adapters.contacts import ContactConflictError
from shared.adapters.customers import (
    MAX_MERGE_HOPS,
    MergeChainError,
    UnloadableStateError,
    VersionConflictError,
)
from shared.adapters.ledger import LedgerConflictError
from shared.adapters.offers import IssuedOffer, PoolEmptyError
from shared.adapters.queue import FifoEntry
from shared.adapters.shops import ShopDirectoryError, ShopKey
from shared.core.policy import Contact, ContactLog, Hold
from shared.models.catalog import Product
from shared.models.config import ShopConfig, hash_key
from shared.models.events import TimerEvent
from shared.models.messages import Attempt, Content, OutboxMessage
from shared.models.state import Cart, CartItem, CustomerState, Orders
from tests.integration.emulated import emulated_template
from tests.parity.sides import Side, memory_side, moto_side, unique, with_queue_property

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def on_moto() -> Iterator[Side]:
    """template.yaml in moto, once for the module (tests keep apart by their own ids; queues are new per test)."""
    with pytest.MonkeyPatch.context() as monkeypatch, emulated_template(monkeypatch) as deployment:
        yield moto_side(deployment)


@pytest.fixture(params=["moto", "memory"])
def side(request: pytest.FixtureRequest) -> Side:
    if request.param == "moto":
        return request.getfixturevalue("on_moto")
    return memory_side(T0)


def state(user: str, *products: str) -> CustomerState:
    items = [CartItem(product_id=p, price=10.0, quantity=1) for p in products]
    return CustomerState(user_id=user, carts={"c1": Cart(items=items, updated_at=T0)} if items else {})


# ---------------------------------------------------------------- customer records


def test_a_customer_never_written_loads_empty_at_version_zero(side):
    record = side.customers.load("demo", unique("u:new"))

    assert (record.version, record.state, record.merged_into) == (0, None, None)


def test_a_saved_state_loads_again_one_version_higher(side):
    key = unique("u:ada")
    side.customers.save(side.customers.load("demo", key), state("ada", "boots"), T0)

    record = side.customers.load("demo", key)

    assert record.version == 1 and record.state == state("ada", "boots")
    side.customers.save(record, state("ada", "boots", "socks"), T0)
    assert side.customers.load("demo", key).version == 2


def test_a_write_over_a_version_another_writer_changed_is_refused_and_changes_nothing(side):
    # Given two writers that read the same record
    key = unique("u:race")
    side.customers.save(side.customers.load("demo", key), state("race", "a"), T0)
    first, second = side.customers.load("demo", key), side.customers.load("demo", key)

    # When both write
    side.customers.save(first, state("race", "a", "b"), T0)
    with pytest.raises(VersionConflictError):
        side.customers.save(second, state("race", "a", "c"), T0)

    # Then the first write stands
    assert side.customers.load("demo", key).state == state("race", "a", "b")


def test_two_writers_creating_the_same_customer_one_wins(side):
    key = unique("u:twin")
    first, second = side.customers.load("demo", key), side.customers.load("demo", key)

    side.customers.save(first, state("twin", "a"), T0)
    with pytest.raises(VersionConflictError):
        side.customers.save(second, state("twin", "b"), T0)

    assert side.customers.load("demo", key).state == state("twin", "a")


def test_absorbed_records_become_pointers_to_the_live_record_in_the_same_write(side):
    # Given an anonymous visitor with a cart, and the customer they turn out to be
    anonymous, known = unique("a:visitor"), unique("u:known")
    side.customers.save(side.customers.load("demo", anonymous), state("", "boots"), T0)
    visitor, customer = side.customers.load("demo", anonymous), side.customers.load("demo", known)

    # When the customer's state is written with the visitor absorbed
    side.customers.save(customer, state("known", "boots"), T0, absorbed=[visitor])

    # Then the visitor's record points to the customer, and following it leads there
    pointer = side.customers.load("demo", anonymous)
    assert (pointer.merged_into, pointer.state, pointer.version) == (known, None, 2)
    live = side.customers.follow(pointer)
    assert (live.key, live.state) == (known, state("known", "boots"))


def test_a_merge_whose_absorbed_record_changed_meanwhile_writes_nothing_at_all(side):
    # Given a visitor read for a merge, who then gets another event
    anonymous, known = unique("a:busy"), unique("u:merger")
    side.customers.save(side.customers.load("demo", anonymous), state("", "boots"), T0)
    visitor, customer = side.customers.load("demo", anonymous), side.customers.load("demo", known)
    side.customers.save(visitor, state("", "boots", "socks"), T0)

    # When the merge writes
    with pytest.raises(VersionConflictError):
        side.customers.save(customer, state("merger", "boots"), T0, absorbed=[visitor])

    # Then neither record changed: no customer, and the visitor as the other writer left them
    assert side.customers.load("demo", known).version == 0
    after = side.customers.load("demo", anonymous)
    assert (after.merged_into, after.state, after.version) == (None, state("", "boots", "socks"), 2)


def test_merge_pointers_are_followed_up_to_the_hop_limit_and_no_further(side):
    # Given a chain of anonymous records, each absorbed into the next
    keys = [unique(f"a:hop{i}") for i in range(MAX_MERGE_HOPS + 2)]
    for key in keys:
        side.customers.save(side.customers.load("demo", key), state(""), T0)
    for absorbed, live in itertools.pairwise(keys):
        side.customers.save(
            side.customers.load("demo", live), state(""), T0, absorbed=[side.customers.load("demo", absorbed)]
        )

    # Then a record MAX_MERGE_HOPS pointers away is reached, one further is refused
    reachable = side.customers.load("demo", keys[1])
    assert side.customers.follow(reachable).key == keys[-1]
    with pytest.raises(MergeChainError):
        side.customers.follow(side.customers.load("demo", keys[0]))


def test_a_state_that_would_not_load_again_is_refused_and_nothing_is_written(side):
    key = unique("u:inf")
    broken = CustomerState(user_id="inf", orders=Orders(count=1, revenue=float("inf")))

    with pytest.raises(UnloadableStateError, match=r"orders\.revenue"):
        side.customers.save(side.customers.load("demo", key), broken, T0)

    assert side.customers.load("demo", key).version == 0


def test_a_state_larger_than_a_dynamodb_item_is_refused_and_nothing_is_written(side):
    # Given a customer whose 30 traits each hold 30,000 characters no compression shortens (a shop may send that:
    # 64 traits, each within an event's 32 KB), more than DynamoDB's 400 KB per item once compressed
    key = unique("u:big")
    noise = random.Random(7)
    big = CustomerState(user_id="big", traits={f"t{i}": noise.randbytes(15_000).hex() for i in range(30)})

    # When it is saved, Then the write is refused as DynamoDB refuses it, and the record stays as it was
    with pytest.raises(ClientError) as refused:
        side.customers.save(side.customers.load("demo", key), big, T0)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert side.customers.load("demo", key).version == 0


def test_a_state_over_the_item_limit_as_json_but_not_compressed_is_written_and_loads(side):
    # Given a customer whose traits come to about 900 KB of JSON that compresses well (repeated text)
    key = unique("u:wordy")
    wordy = CustomerState(user_id="wordy", traits={f"t{i}": "the same words again " * 1_400 for i in range(30)})
    assert len(wordy.model_dump_json()) > 400 * 1024

    # When it is saved, Then it is written (compressed it fits the item), and it loads as it was saved
    side.customers.save(side.customers.load("demo", key), wordy, T0)
    loaded = side.customers.load("demo", key)
    assert (loaded.version, loaded.state) == (1, wordy)


def test_a_stored_state_that_does_not_load_is_refused_naming_the_record(side):
    # Given a record an older updater wrote with an infinite revenue (stored as null)
    key = unique("u:old")
    document = json.dumps({"user_id": "old", "orders": {"count": 1, "revenue": None}}).encode()
    item = {
        "pk": {"S": f"demo#{key}"},
        "sk": {"S": "state"},
        "version": {"N": "3"},
        "docz": {"B": zlib.compress(document)},
    }
    put_item(side, item)

    # When it is loaded, Then it is refused with the record's name and the field
    with pytest.raises(UnloadableStateError, match=re.escape(f"demo#{key}") + r".*orders\.revenue"):
        side.customers.load("demo", key)


def put_item(side: Side, item: dict[str, Any]) -> None:
    """Write an item as it lies in the customers table (what an older version of nudge left there)."""
    if side.name == "moto":
        from shared import aws

        aws.dynamodb().put_item(TableName=side.raw["table"], Item=item)
    else:
        side.customers.items[item["pk"]["S"]] = item


# ---------------------------------------------------------------- send ledger


def outbox_message(customer: str | None = None, message_id: str | None = None) -> OutboxMessage:
    return OutboxMessage(
        message_id=message_id or unique("msg"),
        shop_id="demo",
        customer=customer or unique("u:led"),
        journey="cart_abandonment",
        step=0,
        template="cart_reminder",
        created_at=T0,
    )


def attempt(channel: str, outcome: str, reason: str | None = None) -> Attempt:
    return Attempt.model_validate({"channel": channel, "outcome": outcome, "reason": reason, "at": T0})


def test_a_new_message_starts_in_flight_on_its_channel(side):
    message = outbox_message()
    assert side.ledger.find(message) is None

    side.ledger.start(message, "email", [], T0)

    entry = side.ledger.find(message)
    assert (entry.status, entry.in_flight, entry.journey, entry.template) == (
        "pending",
        "email",
        "cart_abandonment",
        "cart_reminder",
    )
    assert entry.created_at == T0 and entry.lease_until is not None and entry.lease_until > T0


def test_a_message_in_flight_cannot_be_started_again(side):
    message = outbox_message()
    side.ledger.start(message, "email", [], T0)

    with pytest.raises(LedgerConflictError):
        side.ledger.start(message, "email", [], T0 + timedelta(seconds=1))


@pytest.mark.parametrize("status", ["pending", "deferred"])
def test_a_pending_or_deferred_message_with_nothing_in_flight_starts_again(side, status):
    # Given a message closed as pending (a transient failure) or deferred (quiet hours)
    message = outbox_message()
    side.ledger.start(message, "sms", [], T0)
    side.ledger.close(message, status, T0, reason="quiet_hours", in_flight="sms")
    assert side.ledger.find(message).in_flight is None

    # When the router picks it up again, Then it is in flight again
    side.ledger.start(message, "sms", [], T0 + timedelta(hours=8))
    assert (side.ledger.find(message).status, side.ledger.find(message).in_flight) == ("pending", "sms")


def test_a_fallback_moves_in_flight_from_the_failed_channel_to_the_next(side):
    message = outbox_message()
    side.ledger.start(message, "sms", [], T0)
    tried = [attempt("sms", "permanent_failure", "invalid_phone_number")]

    with pytest.raises(LedgerConflictError):  # only from the channel that is in flight
        side.ledger.start(message, "email", tried, T0, previous="push")
    side.ledger.start(message, "email", tried, T0, previous="sms")

    entry = side.ledger.find(message)
    assert entry.in_flight == "email" and [(a.channel, a.reason) for a in entry.attempts] == [
        ("sms", "invalid_phone_number")
    ]


def test_only_the_router_holding_the_channel_in_flight_closes_it(side):
    message = outbox_message()
    side.ledger.start(message, "email", [], T0)

    with pytest.raises(LedgerConflictError):
        side.ledger.close(message, "sent", T0, channel="sms", in_flight="sms")
    side.ledger.close(message, "sent", T0, channel="email", in_flight="email", attempts=[attempt("email", "sent")])

    entry = side.ledger.find(message)
    assert (entry.status, entry.channel, entry.in_flight, entry.lease_until) == ("sent", "email", None, None)


def test_a_final_message_stays_final(side):
    # Given a message sent
    message = outbox_message()
    side.ledger.start(message, "email", [], T0)
    side.ledger.close(message, "sent", T0, channel="email", in_flight="email")

    # Then it can neither start again nor be closed otherwise
    with pytest.raises(LedgerConflictError):
        side.ledger.start(message, "email", [], T0)
    with pytest.raises(LedgerConflictError):
        side.ledger.close(message, "suppressed", T0, reason="no_consent")
    assert side.ledger.find(message).status == "sent"


def test_engagement_keeps_the_first_times_counts_clicks_and_finds_no_message_it_never_held(side):
    # Given a message sent
    message = outbox_message()
    side.ledger.start(message, "email", [], T0)
    side.ledger.close(message, "sent", T0, channel="email", in_flight="email")
    later = T0 + timedelta(hours=1)

    # When it is delivered, opened twice and clicked twice
    held = [
        side.ledger.engage("demo", message.customer, message.message_id, action, at)
        for action, at in (
            ("delivered", T0),
            ("opened", later),
            ("opened", later + timedelta(hours=1)),
            ("clicked", later + timedelta(hours=2)),
            ("clicked", later + timedelta(hours=3)),
        )
    ]

    # Then the first time of each is kept, clicks are counted, and a message never sent is not found
    entry = side.ledger.find(message)
    assert all(before is not None for before in held)
    assert held[1].opened_at is None and held[2].opened_at == later  # each answer is the entry as it was before
    assert (entry.delivered_at, entry.opened_at, entry.clicked_at) == (T0, later, later + timedelta(hours=2))
    assert entry.clicks == 2 and entry.status == "sent"
    assert side.ledger.engage("demo", message.customer, "never-sent", "opened", later) is None
    assert side.ledger.list("demo", message.customer)[0].message_id == message.message_id  # no item was created


def test_an_order_credited_twice_is_credited_once_and_taken_back_entirely(side):
    # Given a message sent
    message = outbox_message()
    side.ledger.start(message, "sms", [], T0)
    side.ledger.close(message, "sent", T0, channel="sms", in_flight="sms")

    # When two orders are credited to it (the first twice), one lowered by a refund, the other cancelled
    side.ledger.credit("demo", message.customer, message.message_id, "o-1", 99.5)
    side.ledger.credit("demo", message.customer, message.message_id, "o-1", 99.5)
    side.ledger.credit("demo", message.customer, message.message_id, "o-2", 40.0)
    side.ledger.credit("demo", message.customer, message.message_id, "o-1", 79.5)
    side.ledger.credit("demo", message.customer, message.message_id, "o-2", None)

    # Then the message holds the first order at its revenue left, and a message never sent holds no credit
    assert side.ledger.find(message).credits == {"o-1": 79.5}
    assert side.ledger.credit("demo", message.customer, "never-sent", "o-3", 10.0) is None
    assert [entry.message_id for entry in side.ledger.list("demo", message.customer)] == [message.message_id]


def test_a_message_decided_without_a_send_is_closed_directly_and_a_sent_one_drops_its_old_reason(side):
    # Given a message the router suppressed without trying a channel
    suppressed = outbox_message()
    side.ledger.close(suppressed, "suppressed", T0, reason="no_consent")
    assert (side.ledger.find(suppressed).status, side.ledger.find(suppressed).reason) == ("suppressed", "no_consent")

    # And a deferred one that is sent later
    deferred = outbox_message()
    side.ledger.close(deferred, "deferred", T0, reason="quiet_hours", details={"until": "08:00"})
    side.ledger.start(deferred, "sms", [], T0)
    side.ledger.close(deferred, "sent", T0, channel="sms", in_flight="sms")

    # Then the sent message has no reason left, and keeps the details it had
    entry = side.ledger.find(deferred)
    assert (entry.status, entry.reason, entry.details, entry.created_at) == ("sent", None, {"until": "08:00"}, T0)


def test_a_customers_messages_are_listed_newest_first(side):
    # Given thirty messages of one customer, touched in a shuffled order, and one of another customer
    customer = unique("u:many")
    minutes = [(7 * n) % 30 for n in range(30)]
    for minute in minutes:
        side.ledger.close(outbox_message(customer, f"m-{minute:02d}"), "sent", T0 + timedelta(minutes=minute))
    side.ledger.close(outbox_message(unique("u:other")), "sent", T0 + timedelta(hours=1))

    # Then they come newest first, and a limit keeps the newest
    listed = side.ledger.list("demo", customer)
    assert [entry.message_id for entry in listed] == [f"m-{minute:02d}" for minute in range(29, -1, -1)]
    assert [entry.message_id for entry in side.ledger.list("demo", customer, limit=3)] == ["m-29", "m-28", "m-27"]


# ---------------------------------------------------------------- shops


def shop(shop_id: str, write: list[str], secret: list[str], origins: list[str] | None = None) -> ShopConfig:
    return ShopConfig.model_validate(
        {
            "shop": {
                "id": shop_id,
                "name": shop_id.title(),
                "write_keys": write,
                "secret_keys": secret,
                "allowed_origins": origins or [],
            }
        }
    )


def test_a_key_identifies_its_shop_and_its_kind(side):
    shop_id = unique("shop")
    config = shop(shop_id, [f"{shop_id}-write"], [f"{shop_id}-secret"])
    side.shops.apply(config)

    assert side.shops.authenticate(f"{shop_id}-write") == ShopKey(shop_id, "write")
    assert side.shops.authenticate(f"{shop_id}-secret") == ShopKey(shop_id, "secret")
    assert side.shops.authenticate("not-a-key-at-all") is None
    assert side.shops.authenticate(hash_key(f"{shop_id}-write")) is None  # what the table holds is no key
    assert side.shops.config(shop_id) == config
    assert side.shops.config(unique("shop")) is None


def test_keys_dropped_from_the_config_stop_working(side):
    shop_id = unique("shop")
    side.shops.apply(shop(shop_id, [f"{shop_id}-old", f"{shop_id}-write"], [f"{shop_id}-secret"]))
    assert side.shops.authenticate(f"{shop_id}-old") == ShopKey(shop_id, "write")

    side.shops.apply(shop(shop_id, [f"{shop_id}-write"], [f"{shop_id}-secret"]))

    assert side.shops.authenticate(f"{shop_id}-old") is None
    assert side.shops.authenticate(f"{shop_id}-write") == ShopKey(shop_id, "write")


def test_a_key_of_another_shop_is_refused_and_stays_that_shops(side):
    # Given a shop with its keys
    owner, intruder = unique("shop"), unique("shop")
    side.shops.apply(shop(owner, [f"{owner}-write"], [f"{owner}-secret"]))

    # When another shop's config names its own new write key and the first shop's secret key
    with pytest.raises(ShopDirectoryError, match="another shop"):
        side.shops.apply(shop(intruder, [f"{intruder}-write"], [f"{owner}-secret"]))

    # Then the key still belongs to the first shop, and nothing of the refused config was stored: not even the key
    # listed before the refused one, which would otherwise let events in for a shop nudge has no config for
    assert side.shops.authenticate(f"{owner}-secret") == ShopKey(owner, "secret")
    assert side.shops.config(intruder) is None
    assert side.shops.authenticate(f"{intruder}-write") is None


def test_browser_origins_are_kept_per_shop_and_answered_for_any_shop(side):
    first, second = unique("shop"), unique("shop")
    side.shops.apply(shop(first, [f"{first}-write"], [f"{first}-secret"], ["https://first.example"]))
    side.shops.apply(shop(second, [f"{second}-write"], [f"{second}-secret"], ["https://second.example/"]))

    assert side.shops.allowed_origins(first) == {"https://first.example"}
    assert {"https://first.example", "https://second.example"} <= side.shops.origins_of_any_shop()

    side.shops.apply(shop(first, [f"{first}-write"], [f"{first}-secret"], []))  # the shop stops allowing browsers
    assert side.shops.allowed_origins(first) == frozenset()
    assert "https://first.example" not in side.shops.origins_of_any_shop()
    assert side.shops.allowed_origins(unique("shop")) == frozenset()


def test_the_shops_with_a_date_journey_are_listed_while_they_have_one(side):
    dated, plain = unique("shop"), unique("shop")
    birthday = {"birthday": {"steps": [{"wait": "PT0S", "template": "birthday"}]}}

    def with_journeys(shop_id: str, journeys: dict[str, object]) -> ShopConfig:
        document = shop(shop_id, [f"{shop_id}-write"], [f"{shop_id}-secret"]).model_dump(mode="json")
        return ShopConfig.model_validate({**document, "journeys": journeys})

    side.shops.apply(with_journeys(dated, birthday))
    side.shops.apply(with_journeys(plain, {}))
    assert dated in side.shops.dated_shops() and plain not in side.shops.dated_shops()

    side.shops.apply(with_journeys(dated, {}))  # the shop drops its birthday journey
    assert dated not in side.shops.dated_shops()


def test_a_rotated_key_works_until_its_time_then_stops_and_no_apply_changes_that(side):
    # imported here: this contract is the only one that sets the clock port, which both directories read
    from shared import clock
    from shared.adapters.shops import UnknownShopError
    from tests.clocks import SetClock

    shop_id, other = unique("shop"), unique("shop")
    old, new, secret = f"{shop_id}-write", f"{shop_id}-write-new", f"{shop_id}-secret"
    side.shops.apply(shop(shop_id, [old], [secret]))
    side.shops.apply(shop(other, [f"{other}-write"], [f"{other}-secret"]))
    # the moto side's directory reads the clock port; the memory side's runs on its deployment's clock
    now = side.raw["clock"] if side.name == "memory" else SetClock(T0)
    now.at = T0
    with clock.use(now):
        retiring = side.shops.rotate(shop_id, "write", hash_key(new), T0 + timedelta(hours=1))
        with pytest.raises(ShopDirectoryError):  # the file from before: it would drop the new key
            side.shops.apply(shop(shop_id, [old], [secret]))
        side.shops.apply(shop(shop_id, [hash_key(new)], [secret]))  # the file after the rotation: only the new key
        within = [side.shops.authenticate(key) for key in (new, old)]
        listed_within = side.shops.config(shop_id).shop.write_keys
        now.at = T0 + timedelta(hours=1)
        after = [side.shops.authenticate(key) for key in (new, old, secret, f"{other}-write")]
        side.shops.apply(shop(shop_id, [old, hash_key(new)], [secret]))  # an old file lists the retired key again
        revived = side.shops.authenticate(old)
        listed_after = side.shops.config(shop_id).shop.write_keys
        with pytest.raises(UnknownShopError):
            side.shops.rotate(unique("shop"), "write", hash_key(unique("key")), T0)

    assert retiring == {hash_key(old): T0 + timedelta(hours=1)}
    assert within == [ShopKey(shop_id, "write"), ShopKey(shop_id, "write")]
    assert listed_within == [hash_key(new), hash_key(old)]  # the retiring key stays listed until its time
    assert after == [ShopKey(shop_id, "write"), None, ShopKey(shop_id, "secret"), ShopKey(other, "write")]
    assert revived is None and listed_after == [hash_key(new)]


# ---------------------------------------------------------------- the events queue (FIFO)


def entry(group: str, body: str, dedupe: str | None = None) -> FifoEntry:
    return FifoEntry(group, dedupe or f"{group}-{body}", body)


def by_group(messages: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Bodies per message group, in the order received (SQS orders within a group only)."""
    groups: dict[str, list[str]] = {}
    for message in messages:
        groups.setdefault(message["Attributes"]["MessageGroupId"], []).append(message["Body"])
    return groups


def test_each_group_is_received_in_the_order_sent(side):
    queues = side.queues()
    queues.events.send([entry("shop#a", f"a{n}") for n in range(12)] + [entry("shop#b", f"b{n}") for n in range(5)])

    received = queues.drain("EventsQueue")

    assert by_group(received) == {"shop#a": [f"a{n}" for n in range(12)], "shop#b": [f"b{n}" for n in range(5)]}


def test_a_group_waits_while_one_of_its_messages_is_in_flight(side):
    # Given two messages of one customer and one of another
    queues = side.queues()
    queues.events.send([entry("shop#a", "a1"), entry("shop#a", "a2"), entry("shop#b", "b1")])
    (first,) = queues.take("EventsQueue", 1)
    assert first["Body"] == "a1"

    # When the first is in flight, Then only the other customer's message can be received
    assert [m["Body"] for m in queues.take("EventsQueue")] == ["b1"]
    assert queues.take("EventsQueue") == []

    # And once the first is deleted, the customer's next one comes
    queues.delete("EventsQueue", first["ReceiptHandle"])
    assert [m["Body"] for m in queues.take("EventsQueue")] == ["a2"]


def test_a_deduplication_id_sent_again_while_its_message_waits_is_dropped(side):
    # Given a message on the queue, and a client's retry of the same request
    queues = side.queues()
    queues.events.send([entry("shop#a", "first", dedupe="d-1")])
    queues.events.send([entry("shop#a", "retried", dedupe="d-1"), entry("shop#a", "next", dedupe="d-2")])

    # Then the retry was accepted and dropped, and the message after it is kept
    assert [m["Body"] for m in queues.drain("EventsQueue")] == ["first", "next"]


def test_a_message_whose_visibility_timeout_passes_is_received_again_with_its_count_one_higher(side):
    # Given the events queue with a two-second visibility timeout, and a message received once
    queues = side.queues(with_queue_property("VisibilityTimeout", "EventsQueue", 2))
    queues.events.send([entry("shop#a", "a1"), entry("shop#a", "a2")])
    (first,) = queues.take("EventsQueue", 1)
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"

    # While the timeout runs, nothing of the group is received
    assert queues.take("EventsQueue") == []

    # When it passes, the same message comes again, before the group's next one
    side.wait(2.2)
    again, *_ = queues.take("EventsQueue")
    assert (again["Body"], again["Attributes"]["ApproximateReceiveCount"]) == ("a1", "2")
    assert again["MessageId"] == first["MessageId"]


def test_a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue(side):
    # Given an event that fails every time it is handled (the template's maxReceiveCount is 5)
    queues = side.queues()
    queues.events.send([entry("shop#a", "poison"), entry("shop#a", "after")])
    counts = []
    for _ in range(5):
        (message,) = queues.take("EventsQueue", 1)
        assert message["Body"] == "poison"
        counts.append(message["Attributes"]["ApproximateReceiveCount"])
        queues.release("EventsQueue", message["ReceiptHandle"])

    # When it comes round again, Then it is in the dead-letter queue, and the group goes on
    assert counts == ["1", "2", "3", "4", "5"]
    assert [m["Body"] for m in queues.drain("EventsQueue")] == ["after"]
    assert [m["Body"] for m in queues.drain("EventsDeadLetterQueue")] == ["poison"]


def test_a_parked_event_sits_in_the_dead_letter_queue_with_its_reason(side):
    queues = side.queues()

    queues.events_dlq.park(entry("shop#a", '{"bad": true}'), "unknown shop 'shop'")

    (parked,) = queues.drain("EventsDeadLetterQueue")
    assert parked["Body"] == '{"bad": true}' and parked["Attributes"]["MessageGroupId"] == "shop#a"
    assert parked["MessageAttributes"]["reason"] == {"DataType": "String", "StringValue": "unknown shop 'shop'"}


# ---------------------------------------------------------------- the outbox (standard queue)


def test_a_delayed_outbox_message_is_received_only_after_its_delay(side):
    queues = side.queues()

    queues.outbox.send("later", delay_seconds=1)
    queues.outbox.send("now")

    assert [m["Body"] for m in queues.drain("OutboxQueue")] == ["now"]
    side.wait(1.2)
    assert [m["Body"] for m in queues.drain("OutboxQueue")] == ["later"]


def test_a_retry_backs_off_for_the_seconds_asked_then_comes_again(side):
    # Given a received outbox message whose provider was throttled
    queues = side.queues()
    queues.outbox.send("throttled")
    (message,) = queues.take("OutboxQueue")

    # When the router backs off for a second
    queues.outbox.delay_retry(message["ReceiptHandle"], 1)

    # Then it is not received before, and is after, one receive later
    assert queues.take("OutboxQueue") == []
    side.wait(1.2)
    (again,) = queues.take("OutboxQueue")
    assert (again["Body"], again["Attributes"]["ApproximateReceiveCount"]) == ("throttled", "2")


def test_many_outbox_messages_are_all_enqueued(side):
    queues = side.queues()
    bodies = [f"message-{n}" for n in range(23)]

    queues.outbox.send_many(bodies)

    assert sorted(m["Body"] for m in queues.drain("OutboxQueue")) == sorted(bodies)


def test_a_parked_outbox_message_keeps_its_reason_and_a_long_reason_is_cut(side):
    queues = side.queues()

    queues.outbox_dlq.park("message", "x" * 1500)

    (parked,) = queues.drain("OutboxDeadLetterQueue")
    assert parked["Body"] == "message" and parked["MessageAttributes"]["reason"]["StringValue"] == "x" * 1000


# ---------------------------------------------------------------- timers


def timer(customer: str, timer_id: str, due: datetime) -> TimerEvent:
    return TimerEvent.model_validate(
        {
            "shop_id": "demo",
            "customer": customer,
            "journey": "cart_abandonment",
            "instance": f"{timer_id}-instance",
            "step": 0,
            "timer_id": timer_id,
            "due_at": due,
        }
    )


def test_a_timer_started_twice_is_one_execution_due_when_asked(side):
    timers = side.timers()
    name = unique("timer")
    due = T0 + timedelta(hours=1)

    timers.start([timer("u:ada", name, due)])
    timers.start([timer("u:ada", name, due)])  # a retried decision

    mine = [document for document in side.executions(timers) if name in document["event"]]
    assert len(mine) == 1
    assert mine[0]["due_at"] == "2026-11-02T10:00:00Z" and mine[0]["group_id"] == "demo#u:ada"


# ---------------------------------------------------------------- phone book


def test_a_number_remembers_each_shop_and_customer_once(side):
    phone = "+1206555" + unique("")[-4:].translate(str.maketrans("abcdef", "123456"))

    assert side.phones.remember("demo", "u:ada", phone, "+12065550100") is True
    assert side.phones.remember("demo", "u:ada", phone, "+12065550100") is False  # the router's usual case
    assert side.phones.remember("demo", "u:ada", phone, "phone-number-id-abc", channel="whatsapp") is True
    assert side.phones.remember("other", "u:ada-x", phone, "pool-0123") is True
    assert side.phones.remember("demo", "u:ada", phone, "+12065550111") is True  # the shop's number changed

    owners = side.phones.lookup(phone)
    assert [(o.shop_id, o.customer, o.origination, o.whatsapp) for o in owners] == [
        ("demo", "u:ada", "+12065550111", "phone-number-id-abc"),
        ("other", "u:ada-x", "pool-0123", None),
    ]
    assert side.phones.lookup("+12065550199") == []


# ---------------------------------------------------------------- inbox


def content(title: str) -> Content:
    return Content(channel="in_app", locale="en", title=title, text=f"{title}!", url="demo://cart", data={"k": "v"})


def test_a_message_is_put_in_the_inbox_once(side):
    customer = unique("u:ada")

    assert side.inbox.deliver("demo", customer, "m-1", content("Welcome"), T0) is True
    assert side.inbox.deliver("demo", customer, "m-1", content("Changed"), T0 + timedelta(hours=1)) is False

    (item,) = side.inbox.list("demo", customer)
    assert (item.message_id, item.title, item.created_at, item.url, item.data) == (
        "m-1",
        "Welcome",
        T0,
        "demo://cart",
        {"k": "v"},
    )


def test_the_inbox_lists_newest_first_within_the_limit_and_leaves_out_the_expired(side):
    customer = unique("u:ada")
    side.inbox.deliver("demo", customer, "old", content("Old"), T0 - timedelta(days=40))
    for hour in range(3):
        side.inbox.deliver("demo", customer, f"m-{hour}", content(f"Hour {hour}"), T0 + timedelta(hours=hour))
    side.inbox.deliver("demo", unique("u:bob"), "m-9", content("Not Ada's"), T0)

    assert [item.message_id for item in side.inbox.list("demo", customer, now=T0)] == ["m-2", "m-1", "m-0"]
    assert [item.message_id for item in side.inbox.list("demo", customer, limit=2, now=T0)] == ["m-2", "m-1"]
    assert [item.message_id for item in side.inbox.list("demo", customer)][-1] == "old"  # no clock: no filter


def test_marking_read_keeps_the_first_time_and_needs_the_message(side):
    customer = unique("u:ada")
    side.inbox.deliver("demo", customer, "m-1", content("Welcome"), T0)

    assert side.inbox.mark_read("demo", customer, "m-1", T0 + timedelta(minutes=1)) is True
    assert side.inbox.mark_read("demo", customer, "m-1", T0 + timedelta(minutes=5)) is True
    assert side.inbox.mark_read("demo", customer, "m-404", T0) is False

    (item,) = side.inbox.list("demo", customer)
    assert item.read_at == T0 + timedelta(minutes=1)
    assert side.inbox.list("demo", customer, now=T0)[0].read_at == T0 + timedelta(minutes=1)


# ---------------------------------------------------------------- channel providers over their services


def channels_shop(from_address: str = "hello@demo.shop.example") -> ShopConfig:
    return ShopConfig.model_validate(
        {
            "shop": {"id": "demo", "name": "Demo", "write_keys": ["demo-write-key"], "secret_keys": ["demo-secret"]},
            "channels": {
                "push": {"platform_applications": {"ios": "arn:aws:sns:us-east-1:123456789012:app/APNS/demo-ios"}},
                "email": {"from_address": from_address, "from_name": "Demo Shop"},
            },
        }
    )


def providers(side: Side, config: ShopConfig) -> dict[str, Any]:
    from shared.adapters.channels import providers_for

    return providers_for(config.shop.id, config.channels, inbox=side.inbox, clock=lambda: T0, clients=side.transports())


def email(title: str = "Your cart") -> Content:
    return Content(channel="email", locale="en", title=title, text="Still yours.", html="<p>Still yours.</p>")


def test_an_email_reaches_ses_as_the_raw_message_with_one_click_unsubscribe(side):
    from shared.adapters.channels import SendContext
    from shared.adapters.channels.email import mime_message
    from shared.models.messages import Address

    # Given a shop whose sender is set up
    config = channels_shop()
    side.set_up_channels(config)
    to, message_id = f"{unique('ada')}@example.com", unique("msg")
    context = SendContext(unsubscribe_url="https://nudge.example/u/token")

    # When its provider sends a marketing email
    receipt = providers(side, config)["email"].send(
        Address(channel="email", value=to), email(), message_id, context=context
    )

    # Then SES accepted it with a message id, and holds exactly the message nudge built
    assert receipt.provider_message_id and receipt.details == {"one_click_unsubscribe": True}
    expected = mime_message(config.channels.email, to, email(), message_id, "https://nudge.example/u/token")
    assert side.received("email", to) == [expected.decode()]


def test_an_email_ses_refuses_is_retried_not_moved_to_another_channel(side):
    from shared.adapters.channels import SendContext
    from shared.models.messages import Address, TransientDeliveryError

    # Given a message SES refuses with MessageRejected (on AWS and moto: the sender was never verified; the memory
    # service is told to refuse the address with that code)
    to = f"{unique('ada')}@example.com"
    config = channels_shop(from_address=f"{unique('unverified')}@demo.shop.example")
    if side.name == "memory":
        side.raw["cloud"].transports.reject(to, "MessageRejected", "Email address not verified")

    # When it is sent, Then the provider says: try again later, on this channel (the dead-letter queue in the end)
    with pytest.raises(TransientDeliveryError) as refused:
        providers(side, config)["email"].send(
            Address(channel="email", value=to), email(), unique("msg"), context=SendContext(transactional=True)
        )
    assert refused.value.reason == "email_rejected: MessageRejected"
    assert side.received("email", to) == []


def test_a_push_goes_to_the_devices_endpoint_and_a_disabled_endpoint_is_a_permanent_failure(side):
    from shared.adapters.channels.push import endpoint_user_data, publish_request
    from shared.models.messages import Address, PermanentDeliveryError

    # Given a customer's device registered with the shop's app
    config = channels_shop()
    side.set_up_channels(config)
    push = providers(side, config)["push"]
    token, owner = unique("apns-token"), endpoint_user_data("demo", "u:ada")
    endpoint = push.register_device("ios", token, custom_user_data=owner)
    assert push.register_device("ios", token, custom_user_data=owner) == endpoint  # one endpoint per token
    note = Content(channel="push", locale="en", title="Your cart", text="Still yours.", data={"promo_code": "C10"})

    # When a push is sent, Then SNS took the message nudge built for that endpoint
    receipt = push.send(Address(channel="push", value=endpoint, platform="ios"), note, "m-1")
    assert receipt.provider_message_id
    assert side.received("push", endpoint) == [publish_request(endpoint, note, "m-1")["Message"]]

    # When APNs says the app is gone and SNS disables the endpoint, Then a push is a permanent failure
    push.client.set_endpoint_attributes(EndpointArn=endpoint, Attributes={"Enabled": "false"})
    assert push.endpoint_enabled(endpoint) is False
    with pytest.raises(PermanentDeliveryError) as refused:
        push.send(Address(channel="push", value=endpoint, platform="ios"), note, "m-2")
    assert refused.value.reason == "push_endpoint_disabled"

    # And when the app reports the token again, the same endpoint is enabled again and delivers
    assert push.register_device("ios", token, custom_user_data=owner) == endpoint
    assert push.endpoint_enabled(endpoint) is True
    push.send(Address(channel="push", value=endpoint, platform="ios"), note, "m-3")
    assert len(side.received("push", endpoint)) == 2


def test_a_push_to_an_endpoint_that_does_not_exist_is_a_permanent_failure(side):
    from shared.models.messages import Address, PermanentDeliveryError

    config = channels_shop()
    side.set_up_channels(config)
    gone = "arn:aws:sns:us-east-1:123456789012:endpoint/APNS/demo-ios/00000000-0000-4000-8000-00000000dead"
    note = Content(channel="push", locale="en", title="Hi", text="Hi")

    with pytest.raises(PermanentDeliveryError):
        providers(side, config)["push"].send(Address(channel="push", value=gone, platform="ios"), note, "m-1")
    assert providers(side, config)["push"].endpoint_enabled(gone) is False


def test_the_in_app_provider_delivers_once_per_message(side):
    from shared.models.messages import Address

    customer = unique("u:ada")
    in_app = providers(side, channels_shop())["in_app"]
    note = Content(channel="in_app", locale="en", title="New in", text="Fresh arrivals")

    first = in_app.send(Address(channel="in_app", value=customer), note, "m-1")
    again = in_app.send(Address(channel="in_app", value=customer), note, "m-1")

    assert (first.details, again.details) == ({"inbox": "delivered"}, {"inbox": "already_delivered"})
    assert [item.message_id for item in side.inbox.list("demo", customer)] == ["m-1"]


# ---------------------------------------------------------------- where moto is not AWS: the memory side alone


@pytest.fixture
def memory() -> Side:
    return memory_side(T0)


def test_a_deduplication_id_is_remembered_five_minutes_even_after_its_message_was_handled(memory):
    # SQS keeps a deduplication id for five minutes from the send, whether or not the message was deleted since;
    # moto forgets it when the message is deleted (so this is held to conventions.md, not compared with moto).
    queues = memory.queues()
    queues.events.send([entry("shop#a", "first", dedupe="d-1")])
    assert [m["Body"] for m in queues.drain("EventsQueue")] == ["first"]

    memory.wait(4 * 60 + 59)
    queues.events.send([entry("shop#a", "retried", dedupe="d-1")])
    assert queues.drain("EventsQueue") == []

    memory.wait(2)
    queues.events.send([entry("shop#a", "a new message", dedupe="d-1")])
    assert [m["Body"] for m in queues.drain("EventsQueue")] == ["a new message"]


def test_the_events_queue_deduplicates_within_each_customers_group(memory):
    # template.yaml gives the events queue DeduplicationScope: messageGroup, so SQS drops a repeated deduplication id
    # only within its message group: one STOP from a number two customers share opts both out (moto ignores the
    # scope and deduplicates across the queue). The dead-letter queue keeps SQS's default, the whole queue.
    queues = memory.queues()
    queues.events.send([entry("shop#ada", "opt out", dedupe="stop-1"), entry("shop#bob", "opt out", dedupe="stop-1")])
    queues.events.send([entry("shop#ada", "opt out again", dedupe="stop-1")])

    assert by_group(queues.drain("EventsQueue")) == {"shop#ada": ["opt out"], "shop#bob": ["opt out"]}
    queues.events_dlq.park(entry("shop#ada", "parked", dedupe="p-1"), "why")
    queues.events_dlq.park(entry("shop#bob", "parked", dedupe="p-1"), "why")
    assert len(queues.drain("EventsDeadLetterQueue")) == 1


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_the_memory_sms_and_whatsapp_services_take_and_answer_what_the_aws_api_does(memory, channel):
    # moto has no End User Messaging SMS or Social: botocore's own service model checks the memory services instead
    # (a Stubber refuses a request or an answer that does not fit the operation's shapes).
    import boto3
    from botocore.stub import Stubber

    from shared.adapters.channels import SmsProvider, WhatsAppProvider
    from shared.models.channels import SmsSettings, WhatsAppSettings
    from shared.models.messages import Address

    transports = memory.raw["cloud"].transports
    text = Content(channel=channel, locale="en", title="", text="Your cart is waiting.")
    if channel == "sms":
        provider: Any = SmsProvider(SmsSettings(origination_identity="+12065550100"), transports.clients()["sms"])
        service, operation = "pinpoint-sms-voice-v2", "send_text_message"
        context = None
    else:
        settings = WhatsAppSettings(phone_number_id="phone-number-id-0123456789abcdef")
        provider = WhatsAppProvider(settings, transports.clients()["whatsapp"])
        service, operation = "socialmessaging", "send_whatsapp_message"
        from shared.adapters.channels import SendContext

        context = SendContext(whatsapp_window_open=True)

    receipt = provider.send(Address(channel=channel, value="+12065550142"), text, "m-1", context=context)

    (sent,) = transports.sent
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    answer = (
        {"MessageId": receipt.provider_message_id} if channel == "sms" else {"messageId": receipt.provider_message_id}
    )
    with Stubber(client) as stub:
        stub.add_response(operation, answer, expected_params=sent.request)
        getattr(client, operation)(**sent.request)


# ---------------------------------------------------------------- contact log


def test_a_contact_log_is_read_back_as_written_and_versioned(side):
    customer = unique("u:contact")
    assert side.contacts.load("demo", customer).version == 0  # no item yet: an empty log
    log = ContactLog(
        sends=(Contact("m1", T0, "email", 70),),
        holds=(Hold("m2", 40, T0 + timedelta(days=1), T0 + timedelta(days=2)),),
    )

    side.contacts.save(side.contacts.load("demo", customer), log, T0, timedelta(days=9))

    record = side.contacts.load("demo", customer)
    assert (record.version, record.log) == (1, log)


def test_a_contact_log_written_since_it_was_read_refuses_the_older_writer(side):
    customer = unique("u:contact")
    # Given two routers that read the same (empty, then first) version of one customer's log
    first_read = side.contacts.load("demo", customer)
    second_read = side.contacts.load("demo", customer)
    side.contacts.save(first_read, ContactLog(sends=(Contact("m1", T0, "email", 50),)), T0, timedelta(days=1))

    # When the second writes what it decided on its stale read, Then it is refused and the first one's slot stays
    with pytest.raises(ContactConflictError):
        side.contacts.save(second_read, ContactLog(sends=(Contact("m2", T0, "push", 50),)), T0, timedelta(days=1))
    assert [c.message_id for c in side.contacts.load("demo", customer).log.sends] == ["m1"]

    # And a writer that read the current version goes through
    current = side.contacts.load("demo", customer)
    both = ContactLog(sends=(*current.log.sends, Contact("m2", T0, "push", 50)))
    side.contacts.save(current, both, T0, timedelta(days=1))
    assert side.contacts.load("demo", customer).version == 2


# ---------------------------------------------------------------- offer codes


def issued(code: str, message_id: str | None = None, customer: str = "u:ada") -> IssuedOffer:
    return IssuedOffer(
        shop_id="demo",
        code=code,
        customer=customer,
        message_id=message_id or unique("msg"),
        journey="cart_abandonment",
        percent=10,
        expires_at=T0 + timedelta(days=2),
        issued_at=T0,
    )


def test_a_handed_out_code_is_found_and_belongs_to_its_message_only(side):
    offer = issued(unique("CART").upper())
    assert side.offers.find("demo", offer.code) is None

    side.offers.issue(offer)
    side.offers.issue(offer)  # the same message again (a redelivery): harmless

    assert side.offers.find("demo", offer.code) == offer
    with pytest.raises(ValueError, match="another message"):
        side.offers.issue(issued(offer.code))


def test_the_first_order_that_used_a_code_is_the_one_on_record(side):
    offer = issued(unique("CART").upper())
    side.offers.issue(offer)

    assert side.offers.redeem("demo", offer.code, "u:ada", "o-1", T0 + timedelta(hours=1))
    assert not side.offers.redeem("demo", offer.code, "u:bob", "o-2", T0 + timedelta(hours=2))
    assert not side.offers.redeem("demo", unique("SHOPS-OWN"), "u:ada", "o-3", T0)  # not a code nudge handed out

    found = side.offers.find("demo", offer.code)
    assert (found.order_id, found.redeemed_by, found.status(T0)) == ("o-1", "u:ada", "redeemed")


def test_a_pool_hands_each_code_out_once_in_key_order_and_a_message_keeps_its_code(side):
    pool = unique("pool")
    codes = [f"{pool}-C", f"{pool}-A", f"{pool}-B"]
    assert side.offers.upload("demo", pool, codes) == 3
    assert side.offers.available("demo", pool) == 3

    first = side.offers.claim(pool, issued("", "m1"))
    again = side.offers.claim(pool, issued("", "m1"))  # the same message, redelivered
    second = side.offers.claim(pool, issued("", "m2"))

    assert (first.code, again.code, second.code) == (f"{pool}-A", f"{pool}-A", f"{pool}-B")
    assert (first.pool, side.offers.find("demo", first.code).message_id) == (pool, "m1")
    assert side.offers.available("demo", pool) == 1


def test_an_empty_pool_says_so_and_a_code_uploaded_again_is_not_handed_out_twice(side):
    pool = unique("pool")
    side.offers.upload("demo", pool, [f"{pool}-A"])
    side.offers.claim(pool, issued("", "m1"))

    side.offers.upload("demo", pool, [f"{pool}-A"])  # the shop uploads its list again

    with pytest.raises(PoolEmptyError):
        side.offers.claim(pool, issued("", "m2"))
    assert side.offers.available("demo", pool) == 0


# ---------------------------------------------------------------- catalogue


def product(product_id: str, **fields: Any) -> Product:
    values = {"title": "Mug", "link": "https://shop.example/m", "price": "12.50 EUR", "availability": "in_stock"}
    return Product.model_validate({"id": product_id, **values, **fields, "updated_at": T0})


def test_products_are_written_on_the_version_read_and_read_back_as_written(side):
    shop = unique("shop")
    assert side.catalog.get(shop, ["mug"]) == {}

    side.catalog.put(shop, product("mug", quantity=3, related=["cup"]), 0)
    with pytest.raises(ProductConflictError):
        side.catalog.put(shop, product("mug"), 0)  # another upload created it first
    held = side.catalog.get(shop, ["mug", "unknown"])
    assert list(held) == ["mug"]
    assert (held["mug"].version, held["mug"].product.quantity, held["mug"].product.related) == (1, 3, ["cup"])

    side.catalog.put(shop, product("mug", availability="out_of_stock"), 1)
    with pytest.raises(ProductConflictError):
        side.catalog.put(shop, product("mug"), 1)  # written on a stale read
    assert side.catalog.get(shop, ["mug"])["mug"].product.availability == "out_of_stock"
    assert side.catalog.get(unique("other-shop"), ["mug"]) == {}


def test_a_read_of_more_products_than_one_request_takes_finds_them_all(side):
    shop = unique("shop")
    ids = [f"p-{n:03}" for n in range(130)]  # BatchGetItem takes 100 keys
    for product_id in ids[::2]:
        side.catalog.put(shop, product(product_id, sale_price="9.99 EUR"), 0)

    held = side.catalog.get(shop, [*ids, ids[0]])  # an id twice is read once

    assert sorted(held) == ids[::2]
    assert str(held["p-128"].product.effective_price(T0)) == "9.99 EUR"


def test_a_waiting_list_pages_in_key_order_to_its_end_and_forgets_whom_it_told(side):
    shop, product_id = unique("shop"), "boots"
    customers = [f"u:{n:02}" for n in range(7)] + ["a:anon"]
    for customer in reversed(customers):
        side.waiting.watch(shop, product_id, Waiter(customer, T0, T0 + timedelta(days=90)))
    side.waiting.watch(shop, product_id, Waiter("u:03", T0 + timedelta(hours=1), T0 + timedelta(days=91)))

    pages, after = [], None
    while True:
        waiters, after = side.waiting.page(shop, product_id, 3, after)
        pages.append([waiter.customer for waiter in waiters])
        if after is None:
            break

    assert [c for page in pages for c in page] == sorted(customers)  # every one once, in key order
    assert all(len(page) <= 3 for page in pages)
    again = side.waiting.page(shop, product_id, 10, None)[0]
    assert [w.until for w in again if w.customer == "u:03"] == [T0 + timedelta(days=91)]  # the later wait
    side.waiting.forget(shop, product_id, ["u:00", "u:03", "u:99"])
    left = [w.customer for w in side.waiting.page(shop, product_id, 10, None)[0]]
    assert left == sorted(set(customers) - {"u:00", "u:03"})
    assert side.waiting.page(shop, "other", 10, None) == ([], None)


def test_a_sweep_reads_every_customer_of_the_shop_once_across_its_segments_and_no_one_else(side):
    shop, other = unique("shop"), unique("shop")
    keys = [f"u:{n:03}" for n in range(40)]
    for key in keys:
        side.customers.save(side.customers.load(shop, key), state(key, "lamp"), T0)
    side.customers.save(side.customers.load(other, "u:000"), state("u:000", "lamp"), T0)

    found: list[str] = []
    for part in range(4):
        after = None
        while True:
            page, after = side.customers.sweep(shop, part, 4, 7, after)
            found += [key for key, swept in page if "lamp" in [i.product_id for i in swept.carts["c1"].items]]
            if after is None:
                break

    assert sorted(found) == keys  # every customer of the shop once; the other shop's never


def test_orders_count_what_was_bought_together_and_the_best_sellers_of_recent_days(side):
    from datetime import date

    from shared.adapters.recommendations import ALL
    from shared.models.effects import OrderLine

    def line(product_id: str, category: str, quantity: int) -> OrderLine:
        return OrderLine(product_id=product_id, category=category, quantity=quantity)

    shop, day = unique("shop"), date(2026, 11, 2)
    side.orders.record(shop, [line("mug", "kitchen", 1), line("tea", "food", 2)], day)
    side.orders.record(shop, [line("mug", "kitchen", 1), line("tea", "food", 1), line("spoon", "kitchen", 3)], day)
    side.orders.record(shop, [line("spoon", "kitchen", 1)], day - timedelta(days=20))

    assert side.orders.bought_with(shop, ["mug"]) == {"tea": 2, "spoon": 1}
    assert side.orders.bought_with(shop, ["mug", "spoon"]) == {"tea": 3, "spoon": 1, "mug": 1}
    assert side.orders.best_sellers(shop, "kitchen", day - timedelta(days=30)) == {"spoon": 4, "mug": 2}
    assert side.orders.best_sellers(shop, "kitchen", day - timedelta(days=10)) == {"spoon": 3, "mug": 2}
    assert side.orders.best_sellers(shop, ALL, day) == {"tea": 3, "spoon": 3, "mug": 2}
    assert side.orders.bought_with(unique("other"), ["mug"]) == {}


def test_the_customers_distribution_adds_each_move_and_shows_no_counter_at_zero(side):
    from datetime import date

    from shared.core.insights import customer_move, distribution_changes
    from shared.models.state import Orders

    def moved(before: Orders, after: Orders) -> dict[str, int]:
        move = customer_move(shop, before, after)
        assert move is not None
        return distribution_changes(move)

    shop, first, second = unique("shop"), datetime(2026, 10, 1, 9, tzinfo=UTC), datetime(2026, 11, 1, 9, tzinfo=UTC)
    one = Orders(count=1, revenue=40.0, first_order_at=first, last_order_at=first)
    two = Orders(count=2, revenue=100.0, first_order_at=first, last_order_at=second)
    side.orders.move(shop, moved(Orders(), one))
    side.orders.move(shop, moved(Orders(), one))  # another customer, the same order
    side.orders.move(shop, moved(one, two))  # the first one orders again a month later

    counters = side.orders.distribution(shop)
    assert counters == {
        f"r:{date(2026, 10, 1)}": 1,
        f"r:{date(2026, 11, 1)}": 1,
        "f:1": 1,
        "f:2": 1,
        "m:38": 1,  # 40.00
        "m:48": 1,  # 100.00
        "g:31": 1,
    }
    assert side.orders.distribution(unique("other")) == {}


def test_churn_counters_add_to_the_cent_per_month_and_a_range_reads_only_its_months(side):
    # Given a shop's orders moving its churn counters over three months (and another shop's)
    shop = unique("shop")
    side.orders.count_churn(shop, "2026-01", {"buyers_first": 1, "revenue_first": 40.1})
    side.orders.count_churn(shop, "2026-01", {"buyers_first": 1, "revenue_first": 0.2})
    side.orders.count_churn(shop, "2026-02", {"buyers_repeat": 1, "revenue_repeat": 25.0, "retained_first": 1})
    side.orders.count_churn(shop, "2026-02", {"buyers_repeat": -1, "revenue_repeat": -25.0, "retained_first": -1})
    side.orders.count_churn(shop, "2026-03", {"buyers_first": 1, "revenue_first": -0.5, "retained_revenue_first": 0})
    side.orders.count_churn(unique("other"), "2026-01", {"buyers_first": 7})

    # Then each month adds up to the cent (0.1 + 0.2 is 0.3), a month back at zero reads as none, and a range holds
    # its own months only
    assert side.orders.churn(shop, "2025-12", "2026-03") == {
        "2026-01": {"buyers_first": 2, "revenue_first": 40.3},
        "2026-03": {"buyers_first": 1, "revenue_first": -0.5},
    }
    assert side.orders.churn(shop, "2026-02", "2026-02") == {}
    assert side.orders.churn(shop, "2026-03", "2027-02") == {"2026-03": {"buyers_first": 1, "revenue_first": -0.5}}


def test_a_campaign_is_created_once_cancelled_only_before_it_starts_and_counted_once_per_page(side):
    from shared.models.campaigns import CampaignRequest

    shop, now = unique("shop"), datetime(2026, 12, 1, 9, tzinfo=UTC)
    request = CampaignRequest(id="spring", segment="german", template="welcome", send_at=now + timedelta(hours=1))
    store = side.campaigns

    created = store.create(shop, request, now)
    assert created is not None and created.status == "scheduled"
    assert store.create(shop, request.model_copy(update={"template": "other"}), now) is None  # the id is taken
    assert store.get(shop, "spring").request == request

    assert store.start(shop, "spring") and store.get(shop, "spring").status == "running"
    store.count_page(shop, "spring", "page-a", 7, None)
    store.count_page(shop, "spring", "page-a", 7, None)  # the same page again
    store.count_page(shop, "spring", "page-b", 3, "0")
    for status, reason in [("sent", None), ("sent", None), ("suppressed", "no_consent"), ("failed", None)]:
        store.count_outcome(shop, "spring", status, reason)
    store.finish(shop, "spring")

    found = store.get(shop, "spring")
    assert (found.status, found.members, found.parts_done) == ("done", 10, 1)
    assert not store.cancel(shop, "spring")  # done: too late

    running = CampaignRequest(id="running", segment="german", template="welcome", send_at=now)
    store.create(shop, running, now)
    store.start(shop, "running")
    assert store.cancel(shop, "running") and not store.start(shop, "running")  # its later pages tell nobody
    store.finish(shop, "running")
    assert store.get(shop, "running").status == "cancelled"
    assert (found.sent, found.failed, found.suppressed) == (2, 1, {"no_consent": 1})

    other = CampaignRequest(id="later", segment="german", template="welcome", send_at=now)
    store.create(shop, other, now)
    assert store.cancel(shop, "later") and store.get(shop, "later").status == "cancelled"
    assert not store.start(shop, "later")  # a cancelled campaign never starts
    assert store.get(unique("other"), "spring") is None and not store.cancel(shop, "nope")


def test_a_campaigns_item_keeps_its_size_however_many_pages_are_counted(on_moto):
    # Each message the router closes writes the campaign's item, billed on its whole size, and an item may not pass
    # 400 KB: the pages counted (thousands for a campaign to millions) must not live in it.
    from shared.adapters.campaigns import campaign_key
    from shared.models.campaigns import CampaignRequest

    shop, now = unique("shop"), datetime(2026, 12, 1, 9, tzinfo=UTC)
    request = CampaignRequest(id="big", segment="german", template="welcome", send_at=now)
    store = on_moto.campaigns
    store.create(shop, request, now)
    store.start(shop, "big")

    def size() -> int:
        item = store.client.get_item(TableName=store._table, Key=campaign_key(shop, "big"))["Item"]
        return len(json.dumps(item))

    store.count_page(shop, "big", "page-0", 500, "0")  # part 0: one page
    before = size()
    for page in range(1, 200):
        store.count_page(shop, "big", f"page-{page}", 500, "1" if page == 199 else None)
    assert size() <= before + 8  # the counters' digits, nothing per page
    assert (store.get(shop, "big").members, store.get(shop, "big").parts_done) == (100_000, 2)


# ---------------------------------------------------------------- report counters


def test_report_counters_add_per_row_and_a_range_reads_its_days_of_its_shop_in_key_order(side):
    from datetime import date

    from shared.models.effects import Tally

    # Given tallies of one shop over three days (one row twice, with cents), and another shop's on the middle day
    shop, other = unique("rep"), unique("rep")
    days = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
    for day in days:
        side.reports.add(
            Tally(
                shop_id=shop,
                day=day,
                journey="welcome",
                step=0,
                variant="a",
                channel="email",
                counts={"sent": 1, "revenue": 10.1},
            )
        )
    side.reports.add(
        Tally(
            shop_id=shop,
            day=days[1],
            journey="welcome",
            step=0,
            variant="a",
            channel="email",
            counts={"sent": 1, "revenue": 0.2, "suppressed:no_consent": 1},
        )
    )
    side.reports.add(Tally(shop_id=shop, day=days[1], journey="welcome", variant="holdout", counts={"entered": 2}))
    side.reports.add(Tally(shop_id=other, day=days[1], journey="welcome", counts={"entered": 5}))
    side.reports.add(Tally(shop_id=shop, day=days[1], journey="welcome", counts={}))  # nothing to add: no write

    # When the middle day and the last are read
    rows = side.reports.read(shop, days[1], days[2])

    # Then each row holds its sums, the first day and the other shop are left out, in key order
    assert [(r.day, r.journey, r.step, r.variant, r.channel) for r in rows] == [
        (days[1], "welcome", None, "holdout", None),
        (days[1], "welcome", 0, "a", "email"),
        (days[2], "welcome", 0, "a", "email"),
    ]
    assert rows[0].counts == {"entered": 2}
    assert rows[1].counts == {"sent": 2, "revenue": pytest.approx(10.3), "suppressed:no_consent": 1}
    assert rows[2].counts == {"sent": 1, "revenue": pytest.approx(10.1)}
    assert side.reports.read(shop, date(2026, 11, 4), date(2026, 12, 1)) == []


def test_a_paused_journey_is_kept_beside_the_config_through_a_new_apply_and_a_resume_clears_it(side):
    # Given a shop
    config = ShopConfig.model_validate(
        {"shop": {"id": unique("pause"), "name": "P", "write_keys": [unique("w")], "secret_keys": [unique("s")]}}
    )
    side.shops.apply(config)

    # When a journey is paused, the config applied again, another paused and the first resumed
    first = side.shops.pause(config.shop.id, "cart_abandonment")
    side.shops.apply(config)
    kept = side.shops.config(config.shop.id).paused
    side.shops.pause(config.shop.id, "welcome")
    after = side.shops.pause(config.shop.id, "cart_abandonment", paused=False)

    # Then each answer and each read says what is paused, and a shop that does not exist cannot be paused
    assert first == kept == frozenset({"cart_abandonment"})
    assert after == side.shops.config(config.shop.id).paused == frozenset({"welcome"})
    assert "paused" not in side.shops.config(config.shop.id).model_dump()  # never part of the stored config
    with pytest.raises(ClientError):
        side.shops.pause(unique("nobody"), "welcome")


# ---------------------------------------------------------------- erasure


def test_an_erasure_deletes_the_customers_items_and_keeps_only_the_digests_and_the_time(side):
    from shared.adapters.erasure import digest, item_keys

    # Given a customer with a state, a sent message, an inbox message, a phone index entry and an offer code
    shop, customer, phone = unique("era"), unique("u:era"), "+4915790002222"
    record = side.customers.load(shop, customer)
    side.customers.save(record, CustomerState(traits={"phone": phone}), T0)
    message = outbox_message(customer=customer).model_copy(update={"shop_id": shop})
    side.ledger.start(message, "email", [], T0)
    side.ledger.close(message, "sent", T0, channel="email", in_flight="email")
    side.inbox.deliver(shop, customer, "in-1", Content(channel="in_app", locale="en", title="t", text="x"), T0)
    side.phones.remember(shop, customer, phone, "+4930000")
    code = unique("CODE").upper().replace("-", "")
    side.offers.issue(
        IssuedOffer(
            shop_id=shop,
            code=code,
            customer=customer,
            message_id=message.message_id,
            journey="j",
            percent=10,
            expires_at=T0 + timedelta(days=2),
            issued_at=T0,
        )
    )

    # When it is erased
    side.erasure.suppress(shop, [customer], [customer, phone], T0)
    deleted = side.erasure.delete(shop, [customer], item_keys(shop, [phone], [code], [], [customer]))

    # Then nothing of it is found, and only the suppression record says when (no identifier in clear)
    assert deleted == 5
    assert side.customers.load(shop, customer).state is None
    assert side.ledger.find(message) is None and side.inbox.list(shop, customer) == []
    assert side.phones.lookup(phone) == [] and side.offers.find(shop, code) is None
    assert side.erasure.erased_at(shop, customer) == T0 and side.erasure.erased_at(shop, "u:other") is None
    assert digest(customer) != customer and len(digest(phone)) == 64


def test_a_sweep_goes_on_past_the_customers_erased_from_its_last_page(side):
    # Given 23 customers of a shop, swept in pages of 4 on one segment, as the retention sweep reads them
    shop = unique("swept")
    keys = [f"u:{n:03}" for n in range(23)]
    for key in keys:
        side.customers.save(side.customers.load(shop, key), state(key, "lamp"), T0)

    # When every customer of a page is erased before the next page is asked for (the page's last key is gone)
    seen: list[str] = []
    after = None
    while True:
        page, after = side.customers.sweep(shop, 0, 1, 4, after)
        found = [key for key, _ in page]
        seen += found
        side.erasure.delete(shop, found, [])
        if after is None:
            break

    # Then the sweep still read each customer once, and none is left
    assert sorted(seen) == keys
    assert all(side.customers.load(shop, key).state is None for key in keys)


def test_a_quota_gives_units_up_to_its_limit_per_window_name_and_shop(side):
    from shared.adapters.quotas import quota_key

    shop, other = unique("quota"), unique("quota")
    hour, keep = T0.replace(minute=0, second=0), timedelta(hours=2)

    # Three units of a limit of three are given, the fourth is refused, and refusing it takes nothing
    given = [side.quotas.take(shop, "confirm-email", hour, 3, keep) for _ in range(4)]
    assert given == [True, True, True, False]
    assert side.quotas.take(shop, "confirm-email", hour, 4, keep)  # a higher limit has one left

    # Another hour, another quota name and another shop each start from nothing
    assert side.quotas.take(shop, "confirm-email", hour + timedelta(hours=1), 1, keep)
    assert side.quotas.take(shop, "confirm-sms", hour, 1, keep)
    assert side.quotas.take(other, "confirm-email", hour, 1, keep)
    assert not side.quotas.take(shop, "confirm-sms", hour, 1, keep)
    assert quota_key(shop, "confirm-email", hour)["pk"]["S"] == f"{shop}#quota"  # beside no customer's partition


def test_the_shops_with_a_retention_are_listed_from_one_index_and_leave_it_without(side):
    # Given a shop applied with a retention of three years, then again without
    document = {
        "shop": {
            "id": unique("keep"),
            "name": "K",
            "write_keys": [unique("w")],
            "secret_keys": [unique("s")],
            "retention": "P3Y",
        }
    }
    side.shops.apply(ShopConfig.model_validate(document))
    listed = side.shops.retained_shops()
    document["shop"].pop("retention")
    side.shops.apply(ShopConfig.model_validate(document))

    # Then it was listed while it had one, and is not now
    assert document["shop"]["id"] in listed
    assert document["shop"]["id"] not in side.shops.retained_shops()
