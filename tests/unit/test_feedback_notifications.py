"""Provider notifications (events/feedback/*.json) read into notices: what each source means for nudge."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.core.notifications import (
    EmailEngagement,
    EmailFeedback,
    Ignored,
    PushEndpointChange,
    SmsOptOut,
    UnreadableNotificationError,
    WhatsAppInbound,
    bare_phone_number_id,
    feedback_ref,
    parse_notification,
)

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "feedback"
SAMPLE_REF = "WyJkZW1vIiwidTphZGEtMSIsImVtYWlsIl0.gag5M4uG-poJPYzm37mbIw"
PUBLISHED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def sample(name: str) -> dict:
    """The provider's notification inside a sample SNS event."""
    return json.loads(json.loads((SAMPLES / f"{name}.json").read_text())["Records"][0]["Sns"]["Message"])


def parse(message: dict | str) -> list:
    text = message if isinstance(message, str) else json.dumps(message)
    return parse_notification(text, "sns-message-1", PUBLISHED)


# ---------------------------------------------------------------- SES


def test_a_permanent_bounce_names_the_recipient_and_the_signed_reference():
    (notice,) = parse(sample("ses-bounce-permanent"))
    assert notice == EmailFeedback(
        reason="hard_bounce",
        recipients=("ada@example.com",),
        ref=SAMPLE_REF,
        feedback_id="0102019a3b5c8a11-7e6d5c4b-3a29-1807-f6e5-d4c3b2a19087-000000",
        occurred_at=datetime(2026, 11, 2, 9, 0, 3, 120000, tzinfo=UTC),
        detail="General",
    )


def test_a_transient_bounce_changes_nothing():
    assert parse(sample("ses-bounce-transient")) == [Ignored("ses", "transient_bounce")]


def test_an_undetermined_bounce_changes_nothing():
    message = sample("ses-bounce-permanent")
    message["bounce"]["bounceType"] = "Undetermined"
    assert parse(message) == [Ignored("ses", "undetermined_bounce")]


def test_a_complaint_is_a_complaint_unless_it_says_not_spam():
    (complaint,) = parse(sample("ses-complaint"))
    assert (complaint.reason, complaint.recipients, complaint.ref, complaint.detail) == (
        "complaint",
        ("ada@example.com",),
        SAMPLE_REF,
        "abuse",
    )
    not_spam = sample("ses-complaint")
    not_spam["complaint"]["complaintFeedbackType"] = "not-spam"
    assert parse(not_spam) == [Ignored("ses", "not_spam_report")]


def test_other_ses_events_are_ignored_by_name():
    message = sample("ses-bounce-permanent")
    message["eventType"] = "DeliveryDelay"
    assert parse(message) == [Ignored("ses", "delivery_delay")]
    assert parse({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}) == [
        Ignored("ses", "amazon_sns_subscription_succeeded")
    ]


def test_the_older_identity_notifications_read_the_same():
    message = sample("ses-bounce-permanent")
    message["notificationType"] = message.pop("eventType")
    assert isinstance(parse(message)[0], EmailFeedback)


def test_without_x_nudge_ref_the_unsubscribe_link_token_is_the_reference():
    message = sample("ses-complaint")
    message["mail"]["headers"] = [h for h in message["mail"]["headers"] if h["name"] != "X-Nudge-Ref"]
    assert feedback_ref(message) == SAMPLE_REF


def test_transactional_mail_without_any_reference_has_none():
    message = sample("ses-complaint")
    message["mail"]["headers"] = [h for h in message["mail"]["headers"] if h["name"] == "From"]
    assert feedback_ref(message) is None


# ---------------------------------------------------------------- SMS


def test_stop_is_an_opt_out_from_the_sender_to_the_shops_number():
    (notice,) = parse(sample("sms-inbound-stop"))
    assert notice == SmsOptOut(
        sender="+12065550142",
        recipient="+12065550100",
        keyword="STOP",
        inbound_message_id="cae173d2-66b9-564c-8309-21f858e9fb84",
        occurred_at=PUBLISHED,
    )


@pytest.mark.parametrize("text", ["UNSUBSCRIBE", " stop all ", "Revoke.", "arret"])
def test_every_opt_out_keyword_counts(text):
    message = {**sample("sms-inbound-stop"), "messageBody": text}
    assert isinstance(parse(message)[0], SmsOptOut)


def test_help_is_answered_by_aws_so_nudge_stores_nothing():
    assert parse(sample("sms-inbound-help")) == [Ignored("sms", "help_keyword")]


def test_a_reply_that_merely_mentions_stop_is_not_an_opt_out():
    message = {**sample("sms-inbound-stop"), "messageBody": "please don't stop the offers"}
    assert parse(message) == [Ignored("sms", "not_a_keyword")]


# ---------------------------------------------------------------- push


def test_a_delivery_failure_to_a_disabled_endpoint_is_a_dead_endpoint():
    (notice,) = parse(sample("push-delivery-failure"))
    assert notice == PushEndpointChange(
        endpoint_arn="arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/demo-ios/5c1e8f2a-7b3d-3c4e-9f5a-6b7c8d9e0f1a",
        event_type="DeliveryFailure",
        disabled=True,
        notification_id="sns-message-1",
        occurred_at=datetime(2026, 11, 2, 11, 0, tzinfo=UTC),
    )


def test_an_invalid_token_is_a_dead_endpoint_and_other_failures_are_not():
    message = {**sample("push-delivery-failure"), "FailureType": "InvalidPlatformToken"}
    assert parse(message)[0].disabled is True
    message["FailureType"] = "EndpointNotFound"
    assert parse(message) == [Ignored("push", "delivery_failure_endpoint_not_found")]


def test_an_update_that_disables_the_endpoint_is_read_and_one_that_enables_it_is_not():
    (disabled,) = parse(sample("push-endpoint-updated"))
    assert (disabled.event_type, disabled.disabled) == ("EndpointUpdated", True)
    enabled = sample("push-endpoint-updated")
    enabled["Attributes"] = {"Enabled": "true"}
    assert parse(enabled) == [Ignored("push", "endpoint_enabled")]
    unknown = sample("push-endpoint-updated")
    del unknown["Attributes"]
    assert parse(unknown)[0].disabled is None  # the endpoint itself must be read


def test_created_and_deleted_endpoints_are_ignored():
    message = {**sample("push-endpoint-updated"), "EventType": "EndpointCreated"}
    assert parse(message) == [Ignored("push", "endpoint_created")]


# ---------------------------------------------------------------- WhatsApp


def test_an_inbound_whatsapp_message_names_the_sender_and_the_business_number():
    (notice,) = parse(sample("whatsapp-inbound"))
    assert notice == WhatsAppInbound(
        sender="+12065550142",
        phone_number_ids=("976c72a700aac43eaf573ae050example",),
        message_id="wamid.HBgLMTIwNjU1NTAxNDIVAgASGBQzQTBBMjM0NTY3ODlBQkNERUYwMQA=",
        occurred_at=datetime(2026, 11, 2, 12, 0, tzinfo=UTC),
    )


def test_whatsapp_delivery_statuses_change_nothing():
    assert parse(sample("whatsapp-status")) == [Ignored("whatsapp", "status_update")]


@pytest.mark.parametrize(
    "value",
    [
        "phone-number-id-976c72a700aac43eaf573ae050example",
        "arn:aws:social-messaging:eu-west-1:123456789012:phone-number-id/976c72a700aac43eaf573ae050example",
    ],
)
def test_both_ways_of_writing_a_phone_number_id_compare_equal(value):
    assert bare_phone_number_id(value) == "976c72a700aac43eaf573ae050example"


# ---------------------------------------------------------------- anything else


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[1, 2]",
        json.dumps({"hello": "world"}),
        json.dumps({"eventType": "Bounce"}),
        json.dumps({"eventType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": []}}),
        json.dumps({"originationNumber": "+12065550142", "messageBody": "STOP"}),
        json.dumps({"EventType": "DeliveryFailure", "FailureType": "EndpointDisabled"}),
        json.dumps({"whatsAppWebhookEntry": "{not json"}),
        json.dumps({"whatsAppWebhookEntry": json.dumps({"changes": [{"value": {"messages": [{"id": "x"}]}}]})}),
    ],
)
def test_unreadable_notifications_raise_one_error_that_names_no_address(message):
    with pytest.raises(UnreadableNotificationError) as raised:
        parse(message)
    assert "@" not in str(raised.value) and "+1206" not in str(raised.value)


@pytest.mark.parametrize(
    "entry",
    [{"changes": ["not an object"]}, {"changes": [{"value": {"messages": "not a list"}}]}],
)
def test_a_whatsapp_entry_of_the_wrong_shape_is_refused_not_read_as_a_status_update(entry):
    with pytest.raises(UnreadableNotificationError, match="without a readable whatsAppWebhookEntry"):
        parse(json.dumps({"whatsAppWebhookEntry": json.dumps(entry)}))


# ---------------------------------------------------------------- SES engagement


@pytest.mark.parametrize(
    ("name", "action", "at"),
    [
        ("ses-delivery", "delivered", datetime(2026, 11, 2, 9, 0, 2, 410000, tzinfo=UTC)),
        ("ses-open", "opened", datetime(2026, 11, 2, 9, 42, 10, tzinfo=UTC)),
        ("ses-click", "clicked", datetime(2026, 11, 2, 9, 43, tzinfo=UTC)),
    ],
)
def test_a_delivery_an_open_and_a_click_name_the_message_and_the_signed_reference(name, action, at):
    (notice,) = parse(sample(name))

    assert isinstance(notice, EmailEngagement)
    assert (notice.action, notice.ref, notice.message_id, notice.occurred_at) == (
        action,
        SAMPLE_REF,
        "cart_abandonment_c1_3_0",
        at,
    )
    assert notice.url == ("https://demo-shop.example/cart?utm_source=nudge" if action == "clicked" else None)


def test_the_message_id_comes_from_the_tag_when_the_header_is_missing():
    message = sample("ses-open")
    message["mail"]["headers"] = [h for h in message["mail"]["headers"] if h["name"] != "X-Nudge-Message-Id"]
    message["mail"]["tags"]["nudge_message_id"] = ["welcome-1-0-abc"]

    (notice,) = parse(message)

    assert isinstance(notice, EmailEngagement) and notice.message_id == "welcome-1-0-abc"


def test_an_ses_click_on_nudges_own_redirect_is_left_to_the_redirect():
    message = sample("ses-click")
    message["click"]["link"] = "https://abc123.execute-api.eu-west-1.amazonaws.com/c/WyJkZW1vIl0.AAAAAAAAAAAAAAAAAAAAAA"

    assert parse(message) == [Ignored("ses", "click_on_nudge_redirect")]
