"""Who may merge whom: an alias with the public write key joins anonymous visitors only; two known customers are
merged only with a shop secret key. The updater is driven directly (its service layer, on template.yaml in memory)
and through the local stack's HTTP API."""

from __future__ import annotations

import uuid

import pytest

from shared.models.events import SegmentEvent
from shared.service.updater import StateUpdater
from tests.factories import accepted, identify, product, track
from tests.integration.http import SECRET_KEY, WRITE_KEY, customer, post
from tests.memory import MemoryStack


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    """The demo shop in memory, the clock at T0 (the time ``accepted()`` receives events at)."""
    return memory_stack()


def updater_of(stack: MemoryStack) -> StateUpdater:
    """The state updater the function's wiring builds on the deployment."""
    return stack.cloud.state_updater_wiring().updater


def alias(user_id: str, previous_id: str) -> dict:
    return {"type": "alias", "userId": user_id, "previousId": previous_id, "messageId": unique("alias")}


def by_secret_key(event: SegmentEvent) -> SegmentEvent:
    return event.model_copy(update={"authority": "secret"})


def known_customer(updater: StateUpdater, user: str) -> None:
    updater.apply(accepted(identify({"email": f"{user}@example.com"}, userId=user)))
    updater.apply(accepted(track("Product Added", product("victim-sku", cart_id="c-victim"), userId=user)))


# ---------------------------------------------------------------- the updater


def test_a_write_key_alias_naming_another_known_customer_merges_nothing_and_says_why(stack):
    # Given a known customer (the victim) and someone else with the shop's public write key
    updater, store = updater_of(stack), stack.cloud.customers
    victim, attacker = unique("victim"), unique("attacker")
    known_customer(updater, victim)
    before = store.load("demo", f"u:{victim}")

    # When the attacker aliases the victim's user id into their own
    outcome = updater.apply(accepted(alias(attacker, victim)))

    # Then the victim's record is exactly as it was, and the attacker got none of it
    after = store.load("demo", f"u:{victim}")
    assert (after.version, after.merged_into, after.state) == (before.version, None, before.state)
    assert outcome.merged == () and outcome.refused == (f"u:{victim}",)
    mine = store.load("demo", f"u:{attacker}")
    assert mine.state.carts == {} and "email" not in mine.state.traits
    # and the refusal is on the attacker's record, with its reason, for support to see
    [refusal] = mine.state.merge_refusals
    assert (refusal.other, refusal.reason) == (f"u:{victim}", "known_customer_needs_secret_key")
    assert refusal.message_id == outcome.event.message_id


def test_a_secret_key_alias_merges_two_known_customers(stack):
    # Given two known customers of one shop
    updater, store = updater_of(stack), stack.cloud.customers
    old, new = unique("old-account"), unique("new-account")
    known_customer(updater, old)
    updater.apply(accepted(identify({"firstName": "Nia"}, userId=new)))

    # When the shop's server (secret key) says the old account is the new one
    outcome = updater.apply(by_secret_key(accepted(alias(new, old))))

    # Then the old account joins the new one and points to it
    assert outcome.merged == (f"u:{old}",) and outcome.refused == ()
    assert store.load("demo", f"u:{old}").merged_into == f"u:{new}"
    merged = store.load("demo", f"u:{new}").state
    assert [item.product_id for item in merged.carts["c-victim"].items] == ["victim-sku"]
    assert merged.traits["first_name"] == "Nia" and merged.merge_refusals == []


def test_identify_with_both_ids_still_merges_the_anonymous_visitor_with_the_write_key(stack):
    updater, store = updater_of(stack), stack.cloud.customers
    anonymous, user = unique("anon"), unique("ida")
    updater.apply(accepted(track("Product Added", product("p1", cart_id="c1"), anonymousId=anonymous)))

    outcome = updater.apply(accepted(identify({}, userId=user, anonymousId=anonymous)))

    assert outcome.merged == (f"a:{anonymous}",) and outcome.refused == ()
    assert store.load("demo", f"a:{anonymous}").merged_into == f"u:{user}"
    assert "c1" in store.load("demo", f"u:{user}").state.carts


def test_a_write_key_alias_of_an_anonymous_id_merged_into_someone_else_takes_nothing(stack):
    # Given a visitor whose anonymous browsing already joined a known customer (a merged_into pointer)
    updater, store = updater_of(stack), stack.cloud.customers
    anonymous, victim, attacker = unique("anon"), unique("victim"), unique("attacker")
    updater.apply(accepted(track("Product Added", product("p1", cart_id="c1"), anonymousId=anonymous)))
    updater.apply(accepted(identify({"email": f"{victim}@example.com"}, userId=victim, anonymousId=anonymous)))
    before = store.load("demo", f"u:{victim}")

    # When someone aliases that anonymous id, with the write key or even the secret key
    for event in (accepted(alias(attacker, anonymous)), by_secret_key(accepted(alias(attacker, anonymous)))):
        outcome = updater.apply(event)
        assert outcome.merged == ()

    # Then the pointer still leads to the victim, whose record is untouched
    assert store.load("demo", f"a:{anonymous}").merged_into == f"u:{victim}"
    assert store.load("demo", f"u:{victim}").state == before.state
    assert store.load("demo", f"u:{attacker}").state.carts == {}


def test_an_event_queued_before_events_named_their_key_counts_as_the_write_keys():
    queued = accepted(alias("new", "old")).model_dump(mode="json", exclude={"authority"})
    assert "authority" not in queued
    assert StateUpdater.parse(SegmentEvent.model_validate(queued).model_dump_json()).authority == "write"


# ---------------------------------------------------------------- through the HTTP API


def test_an_alias_with_the_write_key_cannot_take_over_another_customer(local_stack):
    # Given a known customer with an email address and a cart
    base, victim, attacker = local_stack.base_url, unique("victim"), unique("attacker")
    assert post(base, "/v1/identify", identify({"email": f"{victim}@example.com"}, userId=victim))[0] == 200
    assert post(base, "/v1/track", track("Product Added", product("p1", cart_id="c1"), userId=victim))[0] == 200
    local_stack.wait_idle()
    before = customer(base, victim)[1]
    del before["insights"]  # as of the moment it is read

    # When someone posts an alias from the victim's id to their own with the shop's public write key
    assert post(base, "/v1/alias", alias(attacker, victim), key=WRITE_KEY)[0] == 200
    local_stack.wait_idle()

    # Then support still reads the victim's own, unchanged profile, and the attacker's shows the refusal
    status, after = customer(base, victim)
    del after["insights"]
    assert (status, after) == (200, before)
    status, mine = customer(base, attacker)
    assert status == 200 and mine["carts"] == {} and "email" not in mine["traits"]
    assert [(r["other"], r["reason"]) for r in mine["merge_refusals"]] == [
        (f"u:{victim}", "known_customer_needs_secret_key")
    ]


def test_an_alias_with_the_secret_key_merges_two_known_customers(local_stack):
    base, old, new = local_stack.base_url, unique("old"), unique("new")
    assert post(base, "/v1/track", track("Product Added", product("p1", cart_id="c1"), userId=old))[0] == 200
    assert post(base, "/v1/identify", identify({"firstName": "Nia"}, userId=new))[0] == 200
    local_stack.wait_idle()

    assert post(base, "/v1/alias", alias(new, old), key=SECRET_KEY)[0] == 200
    local_stack.wait_idle()

    status, body = customer(base, old)  # the old id leads to the merged customer
    assert status == 200 and body["record"] == f"u:{new}"
    assert body["traits"]["first_name"] == "Nia" and "c1" in body["carts"]
