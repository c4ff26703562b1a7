"""Push through SNS: what each platform receives, the 4 KB budget, and which failures move to the next channel."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from pydantic import ValidationError

from shared.adapters.channels.push import (
    PAYLOAD_BUDGET,
    EndpointReader,
    PushProvider,
    endpoint_owner,
    endpoint_user_data,
    publish_request,
    push_error,
    push_message,
)
from shared.models.channels import PushSettings
from shared.models.messages import Address, Content, PermanentDeliveryError, TransientDeliveryError

ENDPOINT = "arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/demo-ios/0b7e4b8e-3a52-3a8e-9d1a-7c0e5f4e2a11"
SETTINGS = PushSettings(
    platform_applications={
        "ios": "arn:aws:sns:eu-west-1:123456789012:app/APNS/demo-ios",
        "android": "arn:aws:sns:eu-west-1:123456789012:app/GCM/demo-android",
    }
)


def content(**changes) -> Content:
    fields = {
        "channel": "push",
        "locale": "en",
        "title": "Your cart misses you",
        "text": "Complete your order today: 10 % off with code SAVE10.",
        "url": "demo://cart/c1",
        "data": {"promo_code": "SAVE10"},
    }
    return Content(**{**fields, **changes})


def platforms(message: str) -> dict[str, dict]:
    """The SNS message's platform payloads, parsed (each is itself a JSON string)."""
    outer = json.loads(message)
    return {key: json.loads(value) for key, value in outer.items() if key != "default"}


def size(payload: dict) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def sns_stub():
    client = boto3.client("sns", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


# ---------------------------------------------------------------- payloads


def test_a_promo_code_and_the_deep_link_ride_as_custom_data_on_both_apns_and_fcm():
    payloads = platforms(push_message(content(), "m-1"))

    apns, fcm = payloads["APNS"], payloads["GCM"]["fcmV1Message"]["message"]
    assert apns["promo_code"] == fcm["data"]["promo_code"] == "SAVE10"
    assert apns["deep_link"] == fcm["data"]["deep_link"] == "demo://cart/c1"
    assert apns["nudge_message_id"] == fcm["data"]["nudge_message_id"] == "m-1"
    assert payloads["APNS_SANDBOX"] == apns


def test_apns_and_fcm_show_the_title_and_body():
    payloads = platforms(push_message(content(), "m-1"))

    assert payloads["APNS"]["aps"]["alert"] == {
        "title": "Your cart misses you",
        "body": "Complete your order today: 10 % off with code SAVE10.",
    }
    assert payloads["GCM"]["fcmV1Message"]["message"]["notification"] == {
        "title": "Your cart misses you",
        "body": "Complete your order today: 10 % off with code SAVE10.",
    }
    assert json.loads(push_message(content(), "m-1"))["default"] == content().text


def test_an_image_asks_ios_for_mutable_content_and_android_for_a_big_picture():
    payloads = platforms(push_message(content(image_url="https://cdn.example/p1.jpg"), "m-1"))

    assert payloads["APNS"]["aps"]["mutable-content"] == 1
    assert payloads["APNS"]["image_url"] == "https://cdn.example/p1.jpg"
    assert payloads["GCM"]["fcmV1Message"]["message"]["notification"]["image"] == "https://cdn.example/p1.jpg"


def test_without_an_image_ios_gets_no_mutable_content():
    assert "mutable-content" not in platforms(push_message(content(), "m-1"))["APNS"]["aps"]


def test_custom_data_cannot_overwrite_the_aps_dictionary_or_fcm_reserved_keys():
    payloads = platforms(push_message(content(data={"aps": "x", "from": "x", "google.x": "y", "ok": "1"}), "m-1"))

    assert payloads["APNS"]["aps"]["alert"]["title"] == "Your cart misses you"
    fcm_data = payloads["GCM"]["fcmV1Message"]["message"]["data"]
    assert "from" not in fcm_data and "google.x" not in fcm_data
    assert fcm_data["ok"] == "1"


def test_a_10_kb_body_is_shortened_to_fit_4000_bytes_and_still_parses_as_json():
    long_body = "Don't miss out on these deals. " * 330  # ~10 KB

    message = push_message(content(text=long_body), "m-1")
    payloads = platforms(message)  # parses

    for payload in payloads.values():
        assert size(payload) <= PAYLOAD_BUDGET
    body = payloads["APNS"]["aps"]["alert"]["body"]
    assert body.endswith("…")
    assert long_body.startswith(body[:-1])
    assert len(body) > 3000  # shortened, not emptied
    assert payloads["APNS"]["aps"]["alert"]["title"] == "Your cart misses you"
    assert payloads["APNS"]["promo_code"] == "SAVE10"
    assert len(json.loads(message)["default"].encode()) <= PAYLOAD_BUDGET


def test_the_budget_counts_bytes_not_characters():
    # 2,000 euro signs are 2,000 characters but 6,000 UTF-8 bytes
    payloads = platforms(push_message(content(text="€" * 2000), "m-1"))

    assert all(size(payload) <= PAYLOAD_BUDGET for payload in payloads.values())
    assert payloads["GCM"]["fcmV1Message"]["message"]["notification"]["body"].endswith("…")


def test_a_huge_title_is_shortened_after_the_body():
    payloads = platforms(push_message(content(title="Sale! " * 1000, text="Body " * 1000), "m-1"))

    alert = payloads["APNS"]["aps"]["alert"]
    assert size(payloads["APNS"]) <= PAYLOAD_BUDGET
    assert alert["title"].startswith("Sale! Sale!") and alert["title"].endswith("…")


def test_even_oversized_custom_data_never_breaks_the_budget_and_keeps_the_message_id():
    payloads = platforms(push_message(content(data={"blob": "x" * 5000, "promo_code": "SAVE10"}), "m-1"))

    for payload in payloads.values():
        assert size(payload) <= PAYLOAD_BUDGET
    assert payloads["APNS"]["nudge_message_id"] == "m-1"
    assert payloads["APNS"]["promo_code"] == "SAVE10"
    assert "blob" not in payloads["APNS"]
    assert payloads["APNS"]["aps"]["alert"]["title"] == "Your cart misses you"  # the customer still reads it


def test_the_publish_request_targets_the_endpoint_with_a_json_structure():
    request = publish_request(ENDPOINT, content(), "m-1")

    assert request["TargetArn"] == ENDPOINT
    assert request["MessageStructure"] == "json"
    assert set(json.loads(request["Message"])) == {"default", "APNS", "APNS_SANDBOX", "GCM"}


# ---------------------------------------------------------------- settings


def test_settings_refuse_an_android_app_that_is_not_fcm():
    with pytest.raises(ValidationError, match="android needs a platform application of type GCM"):
        PushSettings(platform_applications={"android": "arn:aws:sns:eu-west-1:123456789012:app/APNS/demo"})


# ---------------------------------------------------------------- send and errors (exact SNS answers)


def test_send_publishes_and_returns_the_sns_message_id():
    client, stub = sns_stub()
    stub.add_response("publish", {"MessageId": "sns-1"}, publish_request(ENDPOINT, content(), "m-1"))

    with stub:
        receipt = PushProvider(SETTINGS, client).send(Address(channel="push", value=ENDPOINT), content(), "m-1")

    assert receipt.provider_message_id == "sns-1"
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "kind", "reason"),
    [
        ("EndpointDisabled", 400, PermanentDeliveryError, "push_endpoint_disabled"),
        ("NotFound", 404, PermanentDeliveryError, "push_endpoint_disabled"),
        ("InvalidParameter", 400, PermanentDeliveryError, "push_endpoint_invalid"),
        ("InternalError", 500, TransientDeliveryError, "push_unavailable"),
        ("Throttled", 429, TransientDeliveryError, "push_throttled"),
        ("KMSThrottling", 400, TransientDeliveryError, "push_throttled"),
        ("PlatformApplicationDisabled", 400, TransientDeliveryError, "push_config: PlatformApplicationDisabled"),
        ("AuthorizationError", 403, TransientDeliveryError, "push_config: AuthorizationError"),
    ],
)
def test_sns_failures_are_permanent_only_when_the_device_is_gone(code, status, kind, reason):
    client, stub = sns_stub()
    stub.add_client_error("publish", service_error_code=code, http_status_code=status)

    with stub, pytest.raises(kind) as raised:
        PushProvider(SETTINGS, client).send(Address(channel="push", value=ENDPOINT), content(), "m-1")

    assert raised.value.reason == reason


def test_an_address_that_is_not_an_endpoint_arn_fails_permanently_without_calling_sns():
    client, stub = sns_stub()  # no responses queued: any call would fail the test

    with stub, pytest.raises(PermanentDeliveryError, match="push_endpoint_invalid"):
        PushProvider(SETTINGS, client).send(Address(channel="push", value="device-token-abc"), content(), "m-1")


def test_a_network_failure_is_transient():
    error = EndpointConnectionError(endpoint_url="https://sns.eu-west-1.amazonaws.com")

    assert isinstance(push_error(error), TransientDeliveryError)


def test_a_disabled_endpoint_is_re_enabled_when_the_app_reports_its_token_again():
    # Given SNS refuses to "create" an endpoint that exists with other attributes (disabled after a failure)
    client, stub = sns_stub()
    app = SETTINGS.platform_applications["ios"]
    stub.add_client_error(
        "create_platform_endpoint",
        service_error_code="InvalidParameter",
        service_message=f"Invalid parameter: Token Reason: Endpoint {ENDPOINT} already exists with the same Token, "
        "but different attributes.",
        http_status_code=400,
        expected_params={"PlatformApplicationArn": app, "Token": "tok-1"},
    )
    stub.add_response(
        "set_endpoint_attributes",
        {},
        {"EndpointArn": ENDPOINT, "Attributes": {"Token": "tok-1", "Enabled": "true"}},
    )

    # When the device registers again
    with stub:
        arn = PushProvider(SETTINGS, client).register_device("ios", "tok-1")

    # Then it gets its existing endpoint back, enabled
    assert arn == ENDPOINT
    stub.assert_no_pending_responses()


def test_a_new_endpoint_carries_its_owner_as_custom_user_data():
    # Given a device the router registers for a customer
    client, stub = sns_stub()
    app = SETTINGS.platform_applications["ios"]
    owner = endpoint_user_data("demo", "u:ada")
    stub.add_response(
        "create_platform_endpoint",
        {"EndpointArn": ENDPOINT},
        {"PlatformApplicationArn": app, "Token": "tok-1", "CustomUserData": owner},
    )

    # When it is registered with the owner's data
    with stub:
        arn = PushProvider(SETTINGS, client).register_device("ios", "tok-1", custom_user_data=owner)

    # Then the endpoint names its shop and customer, so a later "disabled" event can be traced
    assert arn == ENDPOINT
    assert endpoint_owner(owner) == ("demo", "u:ada")
    stub.assert_no_pending_responses()


def test_an_existing_endpoint_gets_its_owner_when_it_is_re_enabled():
    client, stub = sns_stub()
    app = SETTINGS.platform_applications["ios"]
    owner = endpoint_user_data("demo", "u:ada")
    stub.add_client_error(
        "create_platform_endpoint",
        service_error_code="InvalidParameter",
        service_message=f"Invalid parameter: Token Reason: Endpoint {ENDPOINT} already exists with the same Token, "
        "but different attributes.",
        http_status_code=400,
        expected_params={"PlatformApplicationArn": app, "Token": "tok-1", "CustomUserData": owner},
    )
    stub.add_response(
        "set_endpoint_attributes",
        {},
        {"EndpointArn": ENDPOINT, "Attributes": {"Token": "tok-1", "Enabled": "true", "CustomUserData": owner}},
    )

    with stub:
        assert PushProvider(SETTINGS, client).register_device("ios", "tok-1", custom_user_data=owner) == ENDPOINT
    stub.assert_no_pending_responses()


def test_the_endpoint_reader_says_none_for_a_deleted_endpoint_and_raises_when_sns_is_down():
    client, stub = sns_stub()
    stub.add_response(
        "get_endpoint_attributes",
        {"Attributes": {"Enabled": "false", "Token": "tok-1", "CustomUserData": "demo\nu:ada"}},
        {"EndpointArn": ENDPOINT},
    )
    stub.add_client_error("get_endpoint_attributes", service_error_code="NotFound", http_status_code=404)
    stub.add_client_error("get_endpoint_attributes", service_error_code="Throttled", http_status_code=429)

    with stub:
        reader = EndpointReader(client)
        assert reader.attributes(ENDPOINT) == {"Enabled": "false", "Token": "tok-1", "CustomUserData": "demo\nu:ada"}
        assert reader.attributes(ENDPOINT) is None
        with pytest.raises(TransientDeliveryError):
            reader.attributes(ENDPOINT)


def test_a_platform_the_shop_has_no_app_for_registers_nothing():
    settings = PushSettings(platform_applications={"ios": SETTINGS.platform_applications["ios"]})

    assert PushProvider(settings, sns_stub()[0]).register_device("android", "tok") is None
