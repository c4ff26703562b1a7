"""WhatsApp through AWS End User Messaging Social: text inside the 24 h window, approved templates outside it.

Not in moto, so every AWS answer here is botocore's Stubber, validated against the real service model.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from shared.adapters.channels.whatsapp import WhatsAppProvider, whatsapp_message, whatsapp_request
from shared.models.channels import SendContext, WhatsAppSettings
from shared.models.messages import Address, Content, PermanentDeliveryError, TransientDeliveryError, WhatsAppTemplate

SETTINGS = WhatsAppSettings(phone_number_id="phone-number-id-0123456789abcdef0123456789abcdef")
PHONE = "+4915112345678"
ADDRESS = Address(channel="whatsapp", value=PHONE)
TEMPLATE = WhatsAppTemplate(name="cart_reminder", language="de", parameters=["Ada", "SAVE10"])
OPEN = SendContext(whatsapp_window_open=True)
CLOSED = SendContext(whatsapp_window_open=False)


def content(template: WhatsAppTemplate | None = TEMPLATE) -> Content:
    return Content(
        channel="whatsapp",
        locale="de",
        title="",
        text="Hallo Ada, dein Warenkorb wartet: https://demo-shop.example/cart",
        whatsapp_template=template,
    )


def social_stub():
    client = boto3.client("socialmessaging", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_inside_the_window_the_customer_gets_free_form_text():
    message = whatsapp_message(PHONE, content(), "m-1", window_open=True)

    assert message["messaging_product"] == "whatsapp"
    assert message["to"] == PHONE
    assert message["type"] == "text"
    assert message["text"] == {"preview_url": True, "body": content().text}
    assert message["biz_opaque_callback_data"] == "m-1"


def test_outside_the_window_only_the_approved_template_goes_out_with_its_parameters():
    message = whatsapp_message(PHONE, content(), "m-1", window_open=False)

    assert message["type"] == "template"
    assert "text" not in message
    assert message["template"] == {
        "name": "cart_reminder",
        "language": {"code": "de"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "SAVE10"}]}
        ],
    }


def test_a_template_without_parameters_has_no_components():
    message = whatsapp_message(PHONE, content(WhatsAppTemplate(name="hello", language="en")), "m-1", window_open=False)

    assert message["template"] == {"name": "hello", "language": {"code": "en"}}


def test_outside_the_window_without_a_template_the_router_must_fall_back():
    with pytest.raises(PermanentDeliveryError, match="whatsapp_no_approved_template"):
        whatsapp_message(PHONE, content(template=None), "m-1", window_open=False)


def test_the_window_is_assumed_closed_unless_the_router_says_otherwise():
    client, stub = social_stub()

    with stub, pytest.raises(PermanentDeliveryError, match="whatsapp_no_approved_template"):
        WhatsAppProvider(SETTINGS, client).send(ADDRESS, content(template=None), "m-1")


def test_the_request_sends_the_meta_message_as_json_bytes_from_the_shops_number():
    client, stub = social_stub()
    stub.add_response(
        "send_whatsapp_message",
        {"messageId": "wa-1"},
        whatsapp_request(SETTINGS, PHONE, content(), "m-1", window_open=False),
    )

    with stub:
        receipt = WhatsAppProvider(SETTINGS, client).send(ADDRESS, content(), "m-1", context=CLOSED)

    assert receipt.provider_message_id == "wa-1"
    assert receipt.details == {"kind": "template"}
    stub.assert_no_pending_responses()


def test_the_meta_message_travels_as_utf8_json_bytes_with_the_shops_number_and_api_version():
    request = whatsapp_request(SETTINGS, PHONE, content(), "m-1", window_open=True)

    assert request["originationPhoneNumberId"] == SETTINGS.phone_number_id
    assert request["metaApiVersion"] == "v20.0"
    assert json.loads(request["message"].decode("utf-8"))["text"]["body"] == content().text


def test_a_number_that_is_not_e164_fails_permanently_without_calling_aws():
    client, stub = social_stub()

    with stub, pytest.raises(PermanentDeliveryError, match="invalid_whatsapp_number"):
        WhatsAppProvider(SETTINGS, client).send(
            Address(channel="whatsapp", value="ada"), content(), "m-1", context=OPEN
        )


@pytest.mark.parametrize(
    ("code", "status", "kind", "reason"),
    [
        ("InvalidParametersException", 400, PermanentDeliveryError, "invalid_whatsapp_number"),
        ("ThrottledRequestException", 429, TransientDeliveryError, "whatsapp_throttled"),
        ("InternalServiceException", 500, TransientDeliveryError, "whatsapp_unavailable"),
        ("DependencyException", 502, TransientDeliveryError, "whatsapp_unavailable"),
        ("ValidationException", 400, TransientDeliveryError, "whatsapp_config: ValidationException"),
        ("AccessDeniedException", 403, TransientDeliveryError, "whatsapp_config: AccessDeniedException"),
        ("ResourceNotFoundException", 404, TransientDeliveryError, "whatsapp_config: ResourceNotFoundException"),
    ],
)
def test_only_a_recipient_meta_refuses_moves_whatsapp_to_the_next_channel(code, status, kind, reason):
    client, stub = social_stub()
    stub.add_client_error(
        "send_whatsapp_message", service_error_code=code, http_status_code=status, modeled_fields={"message": "m"}
    )

    with stub, pytest.raises(kind) as raised:
        WhatsAppProvider(SETTINGS, client).send(ADDRESS, content(), "m-1", context=OPEN)

    assert raised.value.reason == reason
