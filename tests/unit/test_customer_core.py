"""The pure decision core: what a customer's state becomes after each kind of event (no I/O)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from shared.core.customer import decide, merge
from shared.models.state import MAX_VIEWED, CustomerState
from tests.factories import DEMO_CONFIG, T0, accepted, consent, identify, minutes, product, track


def run(*events, state=None):
    """Apply events in order, like the updater; returns the final state."""
    for event in events:
        decision = decide(state, event, event.received_at, DEMO_CONFIG)
        state = decision.state or state
    return state


def test_cart_follows_adds_and_removes_and_empties_away():
    state = run(
        accepted(track("Product Added", product("a", quantity=2, cart_id="c1"))),
        accepted(track("Product Added", product("a", cart_id="c1")), T0 + minutes(1)),
        accepted(track("Product Added", product("b", cart_id="c1")), T0 + minutes(2)),
    )
    assert {item.product_id: item.quantity for item in state.carts["c1"].items} == {"a": 3, "b": 1}
    assert state.carts["c1"].value == 40.0

    state = run(
        accepted(track("Product Removed", product("a", quantity=3, cart_id="c1")), T0 + minutes(3)),
        accepted(track("Product Removed", product("b", cart_id="c1")), T0 + minutes(4)),
        state=state,
    )
    assert state.carts == {}


def test_same_message_id_has_one_effect_even_a_day_later():
    added = track("Product Added", product("a"))
    state = run(accepted(added))

    again = decide(state, accepted(added, T0 + timedelta(hours=23, minutes=59)), T0 + timedelta(hours=24), DEMO_CONFIG)

    assert again.duplicate
    assert state.carts["default"].items[0].quantity == 1
    assert state.events_applied == 1


def test_decide_does_not_change_the_state_it_was_given():
    state = run(accepted(track("Product Added", product("a"))))
    before = state.model_dump()
    decide(state, accepted(track("Product Added", product("b")), T0 + minutes(1)), T0, DEMO_CONFIG)
    assert state.model_dump() == before


def test_order_closes_the_cart_and_counts_once_per_order_id():
    order = {"order_id": "o1", "revenue": 42.5, "products": [product("a", category="shoes")]}
    state = run(
        accepted(track("Product Added", product("a"))),
        accepted(track("Order Completed", order), T0 + minutes(5)),
        # the shop's backend reports the same order again under another messageId
        accepted(track("Order Completed", order), T0 + minutes(6)),
    )
    assert state.carts == {}
    assert (state.orders.count, state.orders.revenue) == (1, 42.5)
    assert state.orders.products_bought == ["a"] and state.orders.categories_bought == ["shoes"]
    assert state.orders.last_order_at == T0 + minutes(5)


def test_refund_and_cancellation_reduce_what_the_customer_is_worth():
    state = run(
        accepted(track("Order Completed", {"order_id": "o1", "revenue": 100})),
        accepted(track("Order Completed", {"order_id": "o2", "revenue": 50}), T0 + minutes(1)),
        accepted(track("Order Refunded", {"order_id": "o1", "total": 30}), T0 + minutes(2)),
        accepted(track("Order Cancelled", {"order_id": "o2"}), T0 + minutes(3)),
    )
    assert (state.orders.count, state.orders.revenue) == (1, 70.0)


def test_consent_in_force_is_the_latest_decision_even_when_it_arrived_first():
    withdrawn = accepted(consent("email", "withdrawn", timestamp=(T0 + minutes(10)).isoformat()), T0 + minutes(11))
    granted = accepted(consent("email", "granted", timestamp=T0.isoformat()), T0 + minutes(12))

    state = run(withdrawn, granted)

    assert not state.has_consent("email")
    assert [(r.status, r.source, r.notice_version) for r in state.consents] == [
        ("granted", "signup-form", "v3"),
        ("withdrawn", "signup-form", "v3"),
    ]


def test_newsletter_signup_is_an_email_consent_with_its_source():
    state = run(accepted(track("Newsletter Subscribed", {"source": "footer-form", "notice_version": "2026-10"})))
    record = state.consent("email")
    assert state.has_consent("email") and record.source == "footer-form" and record.notice_version == "2026-10"
    assert state.newsletter_subscribed_at == T0


def test_profile_locale_timezone_and_push_tokens_come_from_identify_and_context():
    context = {"locale": "de-AT", "timezone": "Europe/Vienna", "device": {"token": "tok-1", "type": "ios"}}
    state = run(
        accepted(identify({"firstName": "Anna", "email": "anna@example.com"}, context=context)),
        accepted(track("Application Opened", context={"device": {"token": "tok-1"}}), T0 + minutes(1)),
    )
    assert state.traits["first_name"] == "Anna" and state.traits["email"] == "anna@example.com"
    assert (state.locale, state.timezone) == ("de-AT", "Europe/Vienna")
    assert [t.token for t in state.push_tokens] == ["tok-1"]
    assert state.app.last_opened_at == T0 + minutes(1)


def test_activity_is_counted_by_hour_in_the_customers_time_zone():
    # 09:00 UTC is 10:00 in Berlin (the shop's zone) and 11:00 in Helsinki (the customer's, once known).
    state = run(accepted(track("Product Viewed", product())))
    assert state.activity_by_hour[10] == 1
    state = run(accepted(track("Cart Viewed", context={"timezone": "Europe/Helsinki"})), state=state)
    assert state.activity_by_hour[11] == 1


def test_recently_viewed_is_bounded_and_most_recent_last():
    views = [accepted(track("Product Viewed", product(f"p{i}")), T0 + minutes(i)) for i in range(MAX_VIEWED + 5)]
    state = run(*views, accepted(track("Product Viewed", product("p7")), T0 + minutes(99)))
    assert len(state.viewed) == MAX_VIEWED
    assert state.viewed[-1].product_id == "p7"
    assert "p0" not in {v.product_id for v in state.viewed}


def test_unknown_events_are_kept_as_activity():
    state = run(accepted(track("Gift Card Redeemed", {"amount": 5})))
    assert state.event_counts == {"Gift Card Redeemed": 1}
    assert state.last_activity_at == T0


def test_merge_keeps_the_anonymous_cart_views_and_consents():
    anonymous = run(
        accepted(track("Product Viewed", product("v1"), anonymousId="anon-1")),
        accepted(track("Product Added", product("c1"), anonymousId="anon-1"), T0 + minutes(1)),
        accepted(consent("push", anonymousId="anon-1"), T0 + minutes(2)),
    )
    known = run(accepted(identify({"firstName": "Anna"}, userId="anna"), T0 - minutes(60)))

    merged = merge(known, anonymous)

    assert [i.product_id for i in merged.carts["default"].items] == ["c1"]
    assert [v.product_id for v in merged.viewed] == ["v1"]
    assert merged.has_consent("push")
    assert merged.traits["first_name"] == "Anna"
    assert merged.anonymous_ids == ["anon-1"]
    assert merged.first_seen_at == T0 - minutes(60)
    assert sum(merged.activity_by_hour) == 4


def test_a_new_customer_starts_empty():
    state = CustomerState()
    assert state.carts == {} and not state.has_consent("email") and state.orders.count == 0


# ---------------------------------------------------------------- page views within a visit


PAGES = itertools.count(1)


def page(**fields):
    """A page call as analytics.js sends it; userId 'u1' unless another id is given."""
    if "userId" not in fields and "anonymousId" not in fields:
        fields["userId"] = "u1"
    return {"type": "page", "name": "Home", "properties": {"path": "/"}, "messageId": f"page-{next(PAGES)}", **fields}


def visitor():
    """A known customer (u1, also seen as anon-1) active at T0, in Berlin, writing German, whose app's token is
    tok-1 (tok-0 was an older install)."""
    context = {"locale": "de-DE", "timezone": "Europe/Berlin", "device": {"token": "tok-0", "type": "ios"}}
    state = run(accepted(identify({"firstName": "Anna"}, userId="u1", anonymousId="anon-1", context=context)))
    opened = track("Application Opened", context={"device": {"token": "tok-1", "type": "ios"}})
    return run(accepted(opened), state=state)


def test_a_page_view_within_the_visit_is_applied_and_leaves_nothing_to_save():
    state = visitor()

    decision = decide(state, accepted(page(anonymousId="anon-1"), T0 + minutes(29)), T0 + minutes(29), DEMO_CONFIG)

    assert decision.quiet and not decision.duplicate and decision.state is None and decision.effects == []
    assert "within the visit" in decision.notes[0]


def test_a_screen_view_from_a_known_device_within_the_visit_leaves_nothing_to_save():
    state = visitor()
    screen = {**page(context={"device": {"token": "tok-1", "type": "ios"}, "locale": "de-DE"}), "type": "screen"}

    assert decide(state, accepted(screen, T0 + minutes(5)), T0 + minutes(5), DEMO_CONFIG).quiet


@pytest.mark.parametrize(
    ("what", "message", "after"),
    [
        ("a new visit", page(), minutes(31)),
        ("another locale", page(context={"locale": "en-GB"}), minutes(1)),
        ("another time zone", page(context={"timezone": "Europe/Vienna"}), minutes(1)),
        ("a new trait", page(context={"traits": {"lastName": "Berg"}}), minutes(1)),
        ("a new device", page(context={"device": {"token": "tok-2", "type": "ios"}}), minutes(1)),
        ("an older device", page(context={"device": {"token": "tok-0", "type": "ios"}}), minutes(1)),
        ("a new anonymous id", page(anonymousId="anon-2"), minutes(1)),
        ("another user", page(userId="u2"), minutes(1)),
    ],
)
def test_a_page_view_that_brings_something_new_is_kept(what, message, after):
    state = visitor()

    decision = decide(state, accepted(message, T0 + after), T0 + after, DEMO_CONFIG)

    assert not decision.quiet and decision.state is not None, what
    assert decision.state.events_applied == state.events_applied + 1


def test_a_new_visit_moves_the_last_activity_and_counts_once_in_its_hour():
    state = visitor()
    counted = sum(state.activity_by_hour)
    for minute in (10, 20):  # the same visit
        state = run(accepted(page(), T0 + minutes(minute)), state=state)
    later = run(accepted(page(), T0 + minutes(40)), state=state)  # 40 min after the last one kept

    assert state.last_activity_at == T0 and sum(state.activity_by_hour) == counted
    assert later.last_activity_at == T0 + minutes(40) and sum(later.activity_by_hour) == counted + 1
