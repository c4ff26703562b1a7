"""Delivery feedback on a customer's state: what the router will and will not do afterwards, and what support sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.core.feedback import MAX_UNDELIVERABLE, apply_feedback, push_endpoint_registered
from shared.models.events import FeedbackEvent
from shared.models.state import ConsentRecord, CustomerState, PushToken

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ENDPOINT = "arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/demo-ios/5c1e8f2a-7b3d-3c4e-9f5a-6b7c8d9e0f1a"


def feedback(reason: str, channel: str = "email", at: datetime = T0, **fields) -> FeedbackEvent:
    defaults = {
        "shop_id": "demo",
        "customer": "u:ada",
        "channel": channel,
        "reason": reason,
        "source": "test",
        "feedback_id": f"{reason}-1",
        "occurred_at": at,
        "received_at": at + timedelta(seconds=5),
    }
    return FeedbackEvent.model_validate({**defaults, **fields})


def granted(channel: str, at: datetime = T0 - timedelta(days=30)) -> ConsentRecord:
    return ConsentRecord(
        channel=channel,
        status="granted",
        source="signup-form",
        notice_version="v3",
        at=at,
        recorded_at=at,
        message_id="m-consent",
    )


def customer(**fields) -> CustomerState:
    return CustomerState(traits={"email": "ada@example.com", "phone": "+12065550142"}, **fields)


# ---------------------------------------------------------------- addresses that stop working


def test_a_hard_bounce_makes_the_address_undeliverable_but_keeps_consent():
    # Given a customer who consented to email
    state = customer(consents=[granted("email")])
    # When SES reports a permanent bounce of her address
    notes = apply_feedback(state, feedback("hard_bounce", address="ada@example.com", source="ses-bounce"))
    # Then the router will not try that address again, yet her consent stands (a new address may work)
    assert state.undeliverable == {"email": ["ada@example.com"]}
    assert state.has_consent("email")
    assert notes == ["hard_bounce on email: address marked undeliverable"]


def test_the_same_bounce_twice_lists_the_address_once():
    state = customer()
    event = feedback("hard_bounce", address="ada@example.com")
    apply_feedback(state, event)
    notes = apply_feedback(state, event)
    assert state.undeliverable == {"email": ["ada@example.com"]}
    assert notes == ["hard_bounce on email: address already undeliverable"]


def test_an_invalid_number_is_undeliverable_on_its_own_channel_only():
    state = customer()
    apply_feedback(state, feedback("invalid_address", channel="sms", address="+12065550142"))
    assert state.undeliverable == {"sms": ["+12065550142"]}


def test_the_undeliverable_list_keeps_only_the_newest_addresses():
    state = customer()
    for n in range(MAX_UNDELIVERABLE + 3):
        apply_feedback(state, feedback("hard_bounce", address=f"old{n}@example.com", feedback_id=f"b{n}"))
    assert len(state.undeliverable["email"]) == MAX_UNDELIVERABLE
    assert state.undeliverable["email"][-1] == f"old{MAX_UNDELIVERABLE + 2}@example.com"
    assert "old0@example.com" not in state.undeliverable["email"]


def test_feedback_without_an_address_marks_nothing():
    state = customer()
    assert apply_feedback(state, feedback("hard_bounce")) == ["hard_bounce on email without an address: nothing marked"]
    assert state.undeliverable == {}


def test_an_untouched_state_stores_no_feedback_fields():
    # The state item is billed per started KB: absent feedback costs no bytes.
    assert "undeliverable" not in customer().model_dump_json(exclude_defaults=True)
    assert "whatsapp_inbound_at" not in customer().model_dump_json(exclude_defaults=True)


# ---------------------------------------------------------------- withdrawals


def test_a_complaint_withdraws_email_consent_with_an_honest_record_and_kills_the_address():
    # Given a customer who consented to email
    state = customer(consents=[granted("email")])
    event = feedback(
        "complaint", address="ada@example.com", source="ses-complaint", feedback_id="ses:0102-abc:0", at=T0
    )
    # When she marks a mail as spam
    notes = apply_feedback(state, event)
    # Then email consent is withdrawn, with who/when/how/evidence, and the address is never mailed again
    assert not state.has_consent("email")
    record = state.consents[-1]
    assert record.model_dump(exclude_none=True) == {
        "channel": "email",
        "status": "withdrawn",
        "source": "ses-complaint",
        "notice_version": "n/a",
        "evidence": "ses:0102-abc:0",
        "at": T0,
        "recorded_at": T0 + timedelta(seconds=5),
        "message_id": "feedback:ses:0102-abc:0",
    }
    assert state.undeliverable == {"email": ["ada@example.com"]}
    assert notes == [
        "complaint: email consent withdrawn (ses-complaint)",
        "complaint on email: address marked undeliverable",
    ]


def test_sms_stop_withdraws_sms_consent_only():
    state = customer(consents=[granted("sms"), granted("email")])
    apply_feedback(state, feedback("sms_opt_out", channel="sms", address="+12065550142", source="sms-reply-stop"))
    assert not state.has_consent("sms")
    assert state.has_consent("email")
    assert state.consents[-1].source == "sms-reply-stop"
    assert state.undeliverable == {}  # the number still works for transactional texts the law allows


def test_an_unsubscribe_link_withdraws_the_channel_the_token_names():
    state = customer(consents=[granted("email")])
    notes = apply_feedback(state, feedback("unsubscribe_link", source="unsubscribe-link"))
    assert not state.has_consent("email")
    assert notes == ["unsubscribe_link: email consent withdrawn (unsubscribe-link)"]


def test_a_repeated_withdrawal_is_recorded_once_and_a_later_one_protects_against_late_grants():
    # Given a customer who already unsubscribed
    state = customer(consents=[granted("email")])
    apply_feedback(state, feedback("unsubscribe_link", source="unsubscribe-link"))
    # When the same click is reported again (same moment), it adds nothing
    notes = apply_feedback(state, feedback("unsubscribe_link", feedback_id="u-1b"))
    assert notes == ["unsubscribe_link: email consent already withdrawn, nothing recorded"]
    # When she clicks again the next day, that is recorded: a grant made before it but arriving late must not win
    apply_feedback(state, feedback("unsubscribe_link", at=T0 + timedelta(days=1), feedback_id="u-2"))
    assert [record.status for record in state.consents] == ["granted", "withdrawn", "withdrawn"]


def test_a_late_complaint_about_an_old_mail_does_not_undo_a_newer_consent():
    # Given a customer who consented again after the mail she complained about
    state = customer(consents=[granted("email", at=T0 + timedelta(hours=2))])
    # When the complaint (made at T0) arrives late
    notes = apply_feedback(state, feedback("complaint", address="ada@example.com", at=T0))
    # Then her newer consent stands
    assert state.has_consent("email")
    assert len(state.consents) == 1
    assert notes[0] == "complaint: email consent granted again later, nothing recorded"


def test_stop_from_a_customer_without_any_consent_record_is_still_recorded():
    # Proof of the opt-out matters most when consent was collected elsewhere.
    state = customer()
    apply_feedback(state, feedback("sms_opt_out", channel="sms", source="sms-reply-stop"))
    assert [(r.channel, r.status) for r in state.consents] == [("sms", "withdrawn")]


# ---------------------------------------------------------------- push


def test_a_disabled_endpoint_marks_the_token_exactly_as_the_state_holds_it():
    # Given an iOS token the app reported in upper case (SNS hands it back lower-cased)
    state = customer(push_tokens=[PushToken(token="ABCDEF0123", platform="ios", updated_at=T0)])
    # When SNS reports the endpoint disabled
    apply_feedback(state, feedback("push_endpoint_disabled", channel="push", address="abcdef0123"))
    # Then the router's exact comparison sees the token as dead
    assert state.undeliverable == {"push": ["ABCDEF0123"]}


def test_a_disabled_endpoint_is_found_by_its_arn_first():
    state = customer(
        push_tokens=[
            PushToken(token="old-token", platform="ios", updated_at=T0, endpoint_arn=ENDPOINT),
            PushToken(token="new-token", platform="ios", updated_at=T0),
        ]
    )
    apply_feedback(
        state, feedback("push_endpoint_disabled", channel="push", address="something-else", endpoint_arn=ENDPOINT)
    )
    assert state.undeliverable == {"push": ["old-token"]}


def test_a_registered_endpoint_is_cached_on_its_token_once():
    state = customer(push_tokens=[PushToken(token="tok-1", platform="ios", updated_at=T0)])
    event = push_endpoint_registered("demo", "u:ada", "tok-1", ENDPOINT, T0)

    first = apply_feedback(state, event)
    again = apply_feedback(state, event)

    assert state.push_tokens[0].endpoint_arn == ENDPOINT
    assert (first, again) == (
        ["push_endpoint_registered: endpoint cached"],
        ["push_endpoint_registered: endpoint already cached"],
    )
    assert event.group == "demo#u:ada"


def test_an_endpoint_for_a_token_the_customer_no_longer_has_changes_nothing():
    state = customer(push_tokens=[PushToken(token="tok-1", platform="ios", updated_at=T0)])
    notes = apply_feedback(state, push_endpoint_registered("demo", "u:ada", "gone", ENDPOINT, T0))
    assert state.push_tokens[0].endpoint_arn is None
    assert notes == ["push_endpoint_registered: no such device token, nothing cached"]


# ---------------------------------------------------------------- WhatsApp


def test_a_whatsapp_message_opens_the_window_and_an_older_one_never_closes_it():
    state = customer()
    apply_feedback(state, feedback("whatsapp_inbound", channel="whatsapp", at=T0 + timedelta(hours=1)))
    notes = apply_feedback(state, feedback("whatsapp_inbound", channel="whatsapp", at=T0, feedback_id="wa-old"))
    assert state.whatsapp_inbound_at == T0 + timedelta(hours=1)
    assert notes == ["whatsapp_inbound: an as recent message was already seen"]


def test_timeline_notes_carry_no_address():
    state = customer(consents=[granted("email")])
    notes = apply_feedback(state, feedback("complaint", address="ada@example.com"))
    notes += apply_feedback(state, feedback("sms_opt_out", channel="sms", address="+12065550142"))
    assert not any("@" in note or "+1206" in note for note in notes)
