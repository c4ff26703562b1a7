"""Channel adapters against moto: SNS mobile push, SES v2 email and the in-app inbox in the customers table.

(End User Messaging SMS and Social are not in moto; their adapters are tested with Stubber in tests/unit.)
"""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from shared import aws
from shared.adapters.channels import EmailProvider, InAppProvider, InboxStore, PushProvider
from shared.models.channels import EmailSettings, PushSettings, SendContext
from shared.models.messages import Address, Content, PermanentDeliveryError, TransientDeliveryError
from tests.infra.cfn import load_template

REGION = "eu-west-1"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def moto_aws(monkeypatch):
    """Fake credentials and region, clients created inside the mock."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


# ---------------------------------------------------------------- push (SNS)


@pytest.fixture
def push(moto_aws):
    app = aws.sns().create_platform_application(
        Name="demo-ios", Platform="APNS", Attributes={"PlatformCredential": "key", "PlatformPrincipal": "cert"}
    )["PlatformApplicationArn"]
    return PushProvider(PushSettings(platform_applications={"ios": app}))


def push_content() -> Content:
    return Content(
        channel="push",
        locale="en",
        title="Your cart misses you",
        text="10 % off today",
        url="demo://cart/c1",
        data={"promo_code": "SAVE10"},
    )


def delivered_to(endpoint_arn: str) -> list[dict]:
    endpoint = sns_backends[DEFAULT_ACCOUNT_ID][REGION].platform_endpoints[endpoint_arn]
    return [json.loads(message) for message in endpoint.messages.values()]


def test_a_device_token_becomes_one_endpoint_and_receives_the_push(push):
    # Given the app registered its token twice (every launch does)
    first = push.register_device("ios", "apns-token-1")
    again = push.register_device("ios", "apns-token-1")

    # When nudge pushes to the endpoint
    receipt = push.send(Address(channel="push", value=first, platform="ios"), push_content(), "m-1")

    # Then there is one endpoint, and its APNs payload carries the alert and the promo code
    assert again == first
    assert receipt.provider_message_id
    (message,) = delivered_to(first)
    apns = json.loads(message["APNS"])
    assert apns["aps"]["alert"] == {"title": "Your cart misses you", "body": "10 % off today"}
    assert apns["promo_code"] == "SAVE10"


def test_a_disabled_endpoint_is_a_permanent_failure_until_the_app_registers_again(push):
    endpoint = push.register_device("ios", "apns-token-2")
    aws.sns().set_endpoint_attributes(EndpointArn=endpoint, Attributes={"Enabled": "false"})
    address = Address(channel="push", value=endpoint)

    with pytest.raises(PermanentDeliveryError, match="push_endpoint_disabled"):
        push.send(address, push_content(), "m-1")
    assert push.endpoint_enabled(endpoint) is False

    # When the app reports the same token again, the same endpoint is enabled and delivers again
    assert push.register_device("ios", "apns-token-2") == endpoint
    assert push.endpoint_enabled(endpoint) is True
    push.send(address, push_content(), "m-2")
    assert len(delivered_to(endpoint)) == 1


def test_a_deleted_endpoint_is_a_permanent_failure(push):
    endpoint = push.register_device("ios", "apns-token-3")
    aws.sns().delete_endpoint(EndpointArn=endpoint)

    with pytest.raises(PermanentDeliveryError):
        push.send(Address(channel="push", value=endpoint), push_content(), "m-1")
    assert push.endpoint_enabled(endpoint) is False


# ---------------------------------------------------------------- email (SES v2)

EMAIL = EmailSettings(from_address="hello@demo-shop.example", from_name="Demo Shop")
UNSUBSCRIBE = "https://nudge.example/u/eyJkZW1vIl0.c2lnbmF0dXJl"


def email_content() -> Content:
    return Content(
        channel="email",
        locale="de",
        title="Dein Warenkorb wartet: 10 % Rabatt für dich",
        text="Hallo Ada, dein Warenkorb wartet.",
        html="<p>Hallo <b>Ada</b>, dein Warenkorb wartet.</p>",
    )


def test_a_marketing_email_arrives_with_both_parts_and_one_click_unsubscribe(moto_aws):
    # Given the shop's sending domain is a verified identity
    aws.sesv2().create_email_identity(EmailIdentity="demo-shop.example")

    # When nudge sends a marketing email with this message's unsubscribe URL
    receipt = EmailProvider(EMAIL).send(
        Address(channel="email", value="ada@example.com"),
        email_content(),
        "demo#u:ada#cart_abandonment#1",
        context=SendContext(unsubscribe_url=UNSUBSCRIBE),
    )

    # Then SES took one raw message with text and HTML, the UTF-8 subject and both RFC 8058 headers
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages[-1]
    assert sent.id == receipt.provider_message_id
    message = email.message_from_string(sent.raw_data, policy=policy.default)
    assert message["Subject"] == "Dein Warenkorb wartet: 10 % Rabatt für dich"
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert "<b>Ada</b>" in message.get_body(preferencelist=("html",)).get_content()
    assert "Hallo Ada" in message.get_body(preferencelist=("plain",)).get_content()


def test_sending_from_an_unverified_identity_is_retried_not_a_fallback(moto_aws):
    with pytest.raises(TransientDeliveryError, match="email_rejected: MessageRejected"):
        EmailProvider(EMAIL).send(
            Address(channel="email", value="ada@example.com"),
            email_content(),
            "m-1",
            context=SendContext(transactional=True),
        )


# ---------------------------------------------------------------- in-app inbox (DynamoDB, customers table)


@pytest.fixture
def inbox(moto_aws):
    """An inbox in a table built from template.yaml's own CustomersTable key schema."""
    properties = load_template(TEMPLATE)["Resources"]["CustomersTable"]["Properties"]
    aws.dynamodb().create_table(
        TableName="customers",
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode="PAY_PER_REQUEST",
    )
    return InboxStore("customers")


def inbox_content(title: str) -> Content:
    return Content(
        channel="in_app",
        locale="en",
        title=title,
        text=f"{title}: see what is new",
        image_url="https://cdn.example/p1.jpg",
        url="demo://cart/c1",
        data={"promo_code": "SAVE10"},
    )


def test_the_inbox_lists_newest_first_with_read_flags(inbox):
    inbox.deliver("demo", "u:ada", "m-old", inbox_content("Old"), T0, timedelta(days=30))
    inbox.deliver("demo", "u:ada", "m-new", inbox_content("New"), T0 + timedelta(hours=1), timedelta(days=30))

    assert inbox.mark_read("demo", "u:ada", "m-old", T0 + timedelta(hours=2))

    items = inbox.list("demo", "u:ada")
    assert [(item.message_id, item.read) for item in items] == [("m-new", False), ("m-old", True)]
    assert items[1].read_at == T0 + timedelta(hours=2)
    assert items[0].data == {"promo_code": "SAVE10"}
    assert items[0].url == "demo://cart/c1"
    assert items[0].model_dump()["read"] is False


def test_a_redelivered_message_appears_once_even_hours_later(inbox):
    assert inbox.deliver("demo", "u:ada", "m-1", inbox_content("Hi"), T0, timedelta(days=30))

    assert not inbox.deliver("demo", "u:ada", "m-1", inbox_content("Hi"), T0 + timedelta(hours=3), timedelta(days=30))
    assert [item.message_id for item in inbox.list("demo", "u:ada")] == ["m-1"]
    assert inbox.list("demo", "u:ada")[0].created_at == T0


def test_the_inbox_lives_beside_the_customer_state_and_never_shows_another_customer(inbox):
    aws.dynamodb().put_item(
        TableName="customers", Item={"pk": {"S": "demo#u:ada"}, "sk": {"S": "state"}, "version": {"N": "3"}}
    )
    inbox.deliver("demo", "u:ada", "m-1", inbox_content("Ada's"), T0, timedelta(days=30))
    inbox.deliver("demo", "u:bob", "m-2", inbox_content("Bob's"), T0, timedelta(days=30))
    inbox.deliver("other-shop", "u:ada", "m-3", inbox_content("Other shop's"), T0, timedelta(days=30))

    assert [item.message_id for item in inbox.list("demo", "u:ada")] == ["m-1"]
    state = aws.dynamodb().get_item(TableName="customers", Key={"pk": {"S": "demo#u:ada"}, "sk": {"S": "state"}})
    assert state["Item"]["version"] == {"N": "3"}


def test_the_inbox_keeps_the_first_read_time_and_knows_unknown_messages(inbox):
    inbox.deliver("demo", "u:ada", "m-1", inbox_content("Hi"), T0, timedelta(days=30))

    assert inbox.mark_read("demo", "u:ada", "m-1", T0 + timedelta(minutes=5))
    assert inbox.mark_read("demo", "u:ada", "m-1", T0 + timedelta(minutes=9))
    assert not inbox.mark_read("demo", "u:ada", "no-such-message", T0)
    assert inbox.list("demo", "u:ada")[0].read_at == T0 + timedelta(minutes=5)


def test_expired_messages_are_left_out_and_carry_the_tables_ttl(inbox):
    inbox.deliver("demo", "u:ada", "m-1", inbox_content("Hi"), T0, timedelta(days=1))

    raw = aws.dynamodb().get_item(TableName="customers", Key={"pk": {"S": "demo#u:ada"}, "sk": {"S": "inbox#m-1"}})
    assert int(raw["Item"]["expires_at"]["N"]) == int((T0 + timedelta(days=1)).timestamp())
    assert inbox.list("demo", "u:ada", now=T0 + timedelta(hours=23))
    assert inbox.list("demo", "u:ada", now=T0 + timedelta(days=2)) == []


def test_the_list_is_capped_at_the_limit_keeping_the_newest(inbox):
    for minute in range(5):
        inbox.deliver("demo", "u:ada", f"m-{minute}", inbox_content("Hi"), T0 + timedelta(minutes=minute))

    assert [item.message_id for item in inbox.list("demo", "u:ada", limit=2)] == ["m-4", "m-3"]


def test_the_in_app_provider_delivers_once_per_message(inbox):
    provider = InAppProvider(inbox, "demo", clock=lambda: T0)
    address = Address(channel="in_app", value="u:ada")

    first = provider.send(address, inbox_content("Hi"), "m-1")
    second = provider.send(address, inbox_content("Hi"), "m-1")

    assert (first.details, second.details) == ({"inbox": "delivered"}, {"inbox": "already_delivered"})
    assert len(inbox.list("demo", "u:ada")) == 1
