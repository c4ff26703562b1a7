"""Double opt-in and the preference centre in the decision core (``shared.core.preferences``), event by event: what
is in force, what the router may send, and what support reads in the notes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.core.customer import decide, merge
from shared.core.routing import route
from shared.models.config import ShopConfig
from shared.models.events import FeedbackEvent
from shared.models.messages import OutboxMessage
from shared.models.nudge_events import CONFIRM_JOURNEY, PreferenceChange
from shared.models.state import CustomerState
from tests.factories import T0, accepted, identify, track

CONFIG = ShopConfig.model_validate(
    {
        "shop": {"id": "demo", "name": "Demo", "write_keys": ["demo-write-key"], "secret_keys": ["demo-secret-key"]},
        "channels": {
            "preference": ["email", "sms"],
            "email": {"from_address": "hi@demo.example", "double_opt_in": True, "confirm_within": "P3D"},
            "sms": {"origination_identity": "pool-1"},
        },
        "topics": {"offers": {"label": {"en": "Offers"}}},
        "journeys": {"welcome": {"topic": "offers"}},
    }
)


def signed_up(at=T0) -> tuple[CustomerState, list[Any]]:
    """Ada identified and subscribed to the newsletter at ``at``: her state and the effects of the sign-up."""
    first = decide(
        None, accepted(identify({"email": "ada@example.com", "phone": "+4915112345678"}, userId="ada"), at), at, CONFIG
    )
    assert first.state is not None
    signup = track("Newsletter Subscribed", {"source": "footer", "notice_version": "v1"}, userId="ada")
    second = decide(first.state, accepted(signup, at), at, CONFIG)
    assert second.state is not None
    return second.state, second.effects


def customer_event(reason: str, at, **fields: Any) -> FeedbackEvent:
    return FeedbackEvent(
        shop_id="demo",
        customer="u:ada",
        channel=fields.pop("channel", "email"),
        reason=reason,
        source=fields.pop("source", "confirm-link" if reason == "consent_confirmed" else "preference_centre"),
        feedback_id=fields.pop("feedback_id", f"{reason}-{at.timestamp()}"),
        occurred_at=at,
        received_at=at,
        **fields,
    )


def confirmation(effects: list[Any]) -> OutboxMessage:
    (message,) = [e.message for e in effects if getattr(e, "message", None) and e.message.journey == CONFIRM_JOURNEY]
    return message


def test_a_sign_up_is_pending_and_asks_for_exactly_one_transactional_confirmation():
    state, effects = signed_up()
    message = confirmation(effects)
    (pending,) = state.consents

    assert pending.status == "pending" and pending.expires_at == T0 + timedelta(days=3)
    assert not state.has_consent("email") and state.pending("email", T0) == pending
    assert message.transactional and message.channels == ["email"]
    assert message.variables["confirm"]["pending"] == pending.message_id
    # the router lets the confirmation out on the pending grant, and nothing else
    assert [a.channel for a in route(state, message, CONFIG, T0).candidates] == ["email"]
    marketing = message.model_copy(update={"journey": "welcome", "transactional": False, "variables": {}})
    assert route(state, marketing, CONFIG, T0).outcome_if_none == ("suppressed", "no_consent")
    # once lapsed, not even the confirmation
    assert route(state, message, CONFIG, T0 + timedelta(days=3, seconds=1)).candidates == []


def test_the_confirmation_puts_the_grant_in_force_with_how_and_when_and_says_so():
    state, _ = signed_up()
    pending = state.consents[0]
    clicked = T0 + timedelta(hours=5)

    decision = decide(state, customer_event("consent_confirmed", clicked, confirms=pending.message_id), clicked, CONFIG)

    assert decision.state is not None
    record = decision.state.consent("email")
    assert record is not None and record.status == "granted"
    assert (record.at, record.confirms, record.confirmed_via, record.requested_at) == (
        clicked,
        pending.message_id,
        "confirm-link",
        T0,
    )
    assert decision.notes[0] == "consent_confirmed: email consent granted (confirm-link)"
    again = decide(decision.state, customer_event("consent_confirmed", clicked, confirms=pending.message_id,
                                                  feedback_id="another"), clicked, CONFIG)  # fmt: skip
    assert again.notes[0] == "consent_confirmed: email grant already confirmed"


def test_a_late_confirmation_records_nothing():
    state, _ = signed_up()
    late = T0 + timedelta(days=3, minutes=1)

    decision = decide(
        state, customer_event("consent_confirmed", late, confirms=state.consents[0].message_id), late, CONFIG
    )

    assert decision.state is not None and not decision.state.has_consent("email")
    assert decision.notes[0].startswith("consent_confirmed: the email grant lapsed at")


def test_the_preference_centre_switches_channels_topics_and_a_pause():
    state, _ = signed_up()
    state = decide(
        state, customer_event("consent_confirmed", T0, confirms=state.consents[0].message_id), T0, CONFIG
    ).state
    assert state is not None
    later = T0 + timedelta(days=1)
    change = PreferenceChange(channels={"email": False, "sms": True}, topics={"offers": False, "vip": False},
                              pause_until=later + timedelta(days=30))  # fmt: skip

    decision = decide(state, customer_event("preferences_changed", later, preferences=change), later, CONFIG)

    after = decision.state
    assert after is not None
    assert (after.consent("email").status, after.consent("email").source) == ("withdrawn", "preference_centre")
    # sms is not a double opt-in channel: in force at once
    assert after.has_consent("sms") and after.consent("sms").source == "preference_centre"
    assert after.topics_off == ["offers"]  # a topic the shop does not have is ignored
    assert after.paused(later) and not after.paused(later + timedelta(days=31))
    assert "topics off: offers" in decision.notes


def test_switching_email_on_from_an_sms_needs_a_confirmation_but_from_an_email_does_not():
    state, _ = signed_up()
    later = T0 + timedelta(days=2)  # a day after the first mail: a new one may go
    from_sms = customer_event(
        "preferences_changed", later, channel="sms", preferences=PreferenceChange(channels={"email": True})
    )
    from_mail = customer_event(
        "preferences_changed", later, channel="email", preferences=PreferenceChange(channels={"email": True})
    )

    by_sms = decide(state, from_sms, later, CONFIG)
    by_mail = decide(state, from_mail, later, CONFIG)

    assert by_sms.state is not None and not by_sms.state.has_consent("email")
    assert confirmation(by_sms.effects).variables["confirm"]["pending"] == from_sms.message_id
    assert by_mail.state is not None and by_mail.state.has_consent("email")


def test_a_merge_keeps_the_topics_either_record_switched_off_and_the_later_pause():
    known = CustomerState(topics_off=["offers"], paused_until=T0)
    visitor = CustomerState(topics_off=["reminders"], paused_until=T0 + timedelta(days=5))

    merged = merge(known, visitor)

    assert merged.topics_off == ["offers", "reminders"] and merged.paused_until == T0 + timedelta(days=5)
