"""The feedback function against moto: SNS notifications in (events/feedback/*.json), feedback events out on the
customers' FIFO groups, with the phone index it reads in the customers table built from template.yaml's key schema.
(The phone index's own contract, on DynamoDB and in memory, is ``tests/parity/test_ports.py``.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from functions.feedback import handler
from functions.feedback.wiring import from_environment
from shared import aws
from shared.adapters.channels.push import PushProvider, endpoint_user_data
from shared.adapters.phone_index import PhoneIndex
from shared.models.channels import PushSettings
from shared.models.events import EngagementEvent, FeedbackEvent
from tests.integration.emulated import emulated_template

REGION = "eu-west-1"
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "events" / "feedback"
SAMPLE_KEY = "sample-signing-key-0123456789abcdef"  # signs the X-Nudge-Ref of the SES samples
ADA = "+12065550142"
SHOP_NUMBER = "+12065550100"


@dataclass
class LambdaContext:
    function_name: str = "nudge-FeedbackFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:nudge-FeedbackFunction"
    aws_request_id: str = "00000000-0000-4000-8000-000000000001"


@pytest.fixture
def stack(monkeypatch):
    """The template in moto (customers table, events FIFO queue, signing secret) and the function's environment."""
    with emulated_template(monkeypatch, signing_keys=SAMPLE_KEY) as deployment:
        customers = deployment.physical["CustomersTable"]
        yield {"queue_url": deployment.physical["EventsQueue"], "phones": PhoneIndex(customers)}


def sns_event(name: str, message: dict[str, Any] | None = None) -> dict[str, Any]:
    event = json.loads((SAMPLES / f"{name}.json").read_text())
    if message is not None:
        event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


def sample_message(name: str) -> dict[str, Any]:
    return json.loads(sns_event(name)["Records"][0]["Sns"]["Message"])


def invoke(event: dict[str, Any]) -> None:
    """Invoke the function as a new execution environment would run on the emulated template."""
    handler.lambda_handler(event, LambdaContext(), wiring=from_environment())


def enqueued(queue_url: str) -> list[tuple[str, FeedbackEvent]]:
    """(message group, event) of everything on the events queue."""
    found = []
    while (
        messages := aws.sqs()
        .receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"])
        .get("Messages", [])
    ):
        for message in messages:
            found.append((message["Attributes"]["MessageGroupId"], FeedbackEvent.model_validate_json(message["Body"])))
            aws.sqs().delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


# ---------------------------------------------------------------- the function


def test_a_complaint_notification_becomes_one_complaint_on_the_customers_group(stack):
    invoke(sns_event("ses-complaint"))

    ((group, event),) = enqueued(stack["queue_url"])
    assert group == "demo#u:ada-1"
    assert (event.reason, event.channel, event.source) == ("complaint", "email", "ses-complaint")


@pytest.mark.parametrize(("sample", "action"), [("ses-delivery", "delivered"), ("ses-open", "opened")])
def test_an_ses_delivery_or_open_becomes_engagement_with_the_message_on_the_customers_group(stack, sample, action):
    invoke(sns_event(sample))

    [message] = aws.sqs().receive_message(
        QueueUrl=stack["queue_url"], MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"]
    )["Messages"]
    event = EngagementEvent.model_validate_json(message["Body"])
    assert message["Attributes"]["MessageGroupId"] == "demo#u:ada-1"
    assert (event.message, event.channel, event.action, event.source) == (
        "cart_abandonment_c1_3_0",
        "email",
        action,
        "ses-event",
    )


def test_a_bounce_whose_reference_does_not_verify_is_dropped_without_an_error(stack):
    message = sample_message("ses-bounce-permanent")
    message["mail"]["headers"] = [h for h in message["mail"]["headers"] if h["name"] in ("From", "To")]

    invoke(sns_event("ses-bounce-permanent", message))  # no exception: SNS must not retry it

    assert enqueued(stack["queue_url"]) == []


def test_stop_reaches_the_customer_the_router_texted_from_that_number(stack):
    stack["phones"].remember("demo", "u:ada-1", ADA, SHOP_NUMBER)
    stack["phones"].remember("other", "u:ada-x", ADA, "+12065550199")

    invoke(sns_event("sms-inbound-stop"))

    assert [(group, event.reason) for group, event in enqueued(stack["queue_url"])] == [("demo#u:ada-1", "sms_opt_out")]


def test_a_whatsapp_message_opens_the_window_for_the_customer_at_that_number(stack):
    stack["phones"].remember(
        "demo", "u:ada-1", ADA, "phone-number-id-976c72a700aac43eaf573ae050example", channel="whatsapp"
    )

    invoke(sns_event("whatsapp-inbound"))

    assert [(group, event.reason) for group, event in enqueued(stack["queue_url"])] == [
        ("demo#u:ada-1", "whatsapp_inbound")
    ]


def test_a_dead_push_endpoint_is_traced_back_to_its_customer(stack):
    # Given the router registered Ada's device with her as the endpoint's user data
    sns = aws.sns()
    app = sns.create_platform_application(
        Name="demo-ios", Platform="APNS", Attributes={"PlatformCredential": "key", "PlatformPrincipal": "cert"}
    )["PlatformApplicationArn"]
    owner = endpoint_user_data("demo", "u:ada-1")
    endpoint = PushProvider(PushSettings(platform_applications={"ios": app})).register_device(
        "ios", "apns-token-1", custom_user_data=owner
    )
    # ... and SNS disabled it after APNs said the app is gone (moto keeps CustomUserData out of the attributes it
    # returns, so the test stores it where GetEndpointAttributes reads it on AWS)
    sns.set_endpoint_attributes(EndpointArn=endpoint, Attributes={"Enabled": "false", "CustomUserData": owner})
    failure = {**sample_message("push-delivery-failure"), "EndpointArn": endpoint}

    # When SNS reports the failed delivery
    invoke(sns_event("push-delivery-failure", failure))

    # Then Ada's token is reported dead on her group
    ((group, event),) = enqueued(stack["queue_url"])
    assert group == "demo#u:ada-1"
    assert (event.reason, event.address, event.endpoint_arn) == ("push_endpoint_disabled", "apns-token-1", endpoint)


def test_garbage_on_the_topic_is_dropped_not_retried(stack):
    event = sns_event("sms-inbound-help")
    event["Records"][0]["Sns"]["Message"] = "hello"

    invoke(event)

    assert enqueued(stack["queue_url"]) == []
