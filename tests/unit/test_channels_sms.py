"""SMS through AWS End User Messaging SMS: the exact request, the cost on the receipt, and each modelled error.

Not in moto, so every AWS answer here is botocore's Stubber, validated against the real service model.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from shared.adapters.channels.sms import SmsProvider, sms_request
from shared.models.channels import SendContext, SmsSettings
from shared.models.messages import Address, Content, PermanentDeliveryError, TransientDeliveryError

SETTINGS = SmsSettings(origination_identity="pool-0123456789abcdef0123456789abcdef", configuration_set="nudge-demo")
PHONE = "+4915112345678"
ADDRESS = Address(channel="sms", value=PHONE)


def content(text: str = "Demo Shop: your cart is waiting. 10% off with SAVE10. Reply STOP to opt out.") -> Content:
    return Content(channel="sms", locale="en", title="", text=text)


def sms_stub():
    client = boto3.client(
        "pinpoint-sms-voice-v2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def test_a_marketing_sms_is_sent_promotional_from_the_shops_identity_with_the_message_id_in_context():
    client, stub = sms_stub()
    stub.add_response(
        "send_text_message",
        {"MessageId": "sms-1"},
        {
            "DestinationPhoneNumber": PHONE,
            "OriginationIdentity": "pool-0123456789abcdef0123456789abcdef",
            "MessageBody": content().text,
            "MessageType": "PROMOTIONAL",
            "ConfigurationSetName": "nudge-demo",
            "Context": {"nudge_message_id": "demo#u:ada#cart#1"},
        },
    )

    with stub:
        receipt = SmsProvider(SETTINGS, client).send(ADDRESS, content(), "demo#u:ada#cart#1")

    assert receipt.provider_message_id == "sms-1"
    stub.assert_no_pending_responses()


def test_a_transactional_sms_is_sent_transactional():
    request = sms_request(SETTINGS, PHONE, content(), "m-1", transactional=True)

    assert request["MessageType"] == "TRANSACTIONAL"


def test_the_receipt_records_what_the_message_costs():
    # Given an SMS with an emoji: 69 letters + 🛒 = 71 UTF-16 units, two UCS-2 segments
    client, stub = sms_stub()
    stub.add_response("send_text_message", {"MessageId": "sms-2"})

    with stub:
        receipt = SmsProvider(SETTINGS, client).send(ADDRESS, content("a" * 69 + "🛒"), "m-1")

    assert receipt.details["segments"] == 2
    assert receipt.details["encoding"] == "UCS-2"


def test_a_number_that_is_not_e164_fails_permanently_without_calling_aws():
    client, stub = sms_stub()

    with stub, pytest.raises(PermanentDeliveryError, match="invalid_phone_number"):
        SmsProvider(SETTINGS, client).send(Address(channel="sms", value="0151 1234 5678"), content(), "m-1")


def test_a_body_over_1600_characters_is_refused_before_sending():
    with pytest.raises(ValueError, match="1600"):
        sms_request(SETTINGS, PHONE, content("x" * 1601), "m-1", transactional=False)


@pytest.mark.parametrize(
    ("code", "status", "fields", "kind", "reason"),
    [
        (
            "ValidationException",
            400,
            {
                "Reason": "FIELD_VALIDATION_FAILED",
                "Fields": [{"Name": "DestinationPhoneNumber", "Message": "Invalid phone number"}],
            },
            PermanentDeliveryError,
            "invalid_phone_number",
        ),
        (
            "ValidationException",
            400,
            {"Reason": "DESTINATION_COUNTRY_BLOCKED"},
            PermanentDeliveryError,
            "sms_destination_unreachable",
        ),
        (
            "ValidationException",
            400,
            {"Reason": "INVALID_ARN", "Fields": [{"Name": "ConfigurationSetName", "Message": "bad"}]},
            TransientDeliveryError,
            "sms_invalid_request: INVALID_ARN",
        ),
        (
            "ConflictException",
            409,
            {"Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT", "ResourceType": "opted-out-number", "ResourceId": PHONE},
            PermanentDeliveryError,
            "sms_opted_out",
        ),
        (
            "ConflictException",
            409,
            {"Reason": "DESTINATION_PHONE_NUMBER_NOT_VERIFIED"},
            TransientDeliveryError,
            "sms_config: ConflictException: DESTINATION_PHONE_NUMBER_NOT_VERIFIED",
        ),
        ("ThrottlingException", 400, {}, TransientDeliveryError, "sms_throttled"),
        ("InternalServerException", 500, {"RequestId": "r-1"}, TransientDeliveryError, "sms_unavailable"),
        (
            "ServiceQuotaExceededException",
            402,
            {"Reason": "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT"},
            TransientDeliveryError,
            "sms_quota_exceeded: MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT",
        ),
        (
            "AccessDeniedException",
            403,
            {"Reason": "ACCOUNT_DISABLED"},
            TransientDeliveryError,
            "sms_config: AccessDeniedException: ACCOUNT_DISABLED",
        ),
        (
            "ResourceNotFoundException",
            404,
            {"ResourceType": "pool", "ResourceId": "pool-x"},
            TransientDeliveryError,
            "sms_config: ResourceNotFoundException",
        ),
    ],
)
def test_only_a_bad_opted_out_or_unreachable_number_moves_sms_to_the_next_channel(code, status, fields, kind, reason):
    client, stub = sms_stub()
    stub.add_client_error(
        "send_text_message", service_error_code=code, http_status_code=status, modeled_fields={"Message": "m", **fields}
    )

    with stub, pytest.raises(kind) as raised:
        SmsProvider(SETTINGS, client).send(ADDRESS, content(), "m-1", context=SendContext())

    assert raised.value.reason == reason
