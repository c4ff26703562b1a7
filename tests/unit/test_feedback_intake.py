"""Feedback intake: whose feedback a notification is, and what lands on which customer's FIFO group (its ports in
memory: the events queue, the phone book and SNS's endpoints, as ``infra.memory`` deploys template.yaml)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.memory import MemoryCloud, ReceivedMessage
from infra.simulate import VirtualTimers
from shared.adapters.channels.push import EndpointReader, endpoint_owner, endpoint_user_data
from shared.adapters.phone_index import PhoneOwner
from shared.adapters.queue import EnqueueError, FifoEntry
from shared.core.tokens import issue_unsubscribe_token
from shared.models.events import FeedbackEvent, deduplication_id
from shared.service.feedback import FeedbackIntake
from tests.memory import TEMPLATE

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "feedback"
SAMPLE_KEY = b"sample-signing-key-0123456789abcdef"  # signs the X-Nudge-Ref of the SES samples
NEW_KEY = b"rotated-signing-key-0123456789abcdef"
NOW = datetime(2026, 11, 2, 12, 30, tzinfo=UTC)
IOS_APP = "arn:aws:sns:eu-west-1:123456789012:app/APNS/demo-ios"
SHOP_NUMBER = "+12065550100"
ADA = "+12065550142"


class World:
    """The feedback function's ports in memory, as template.yaml deploys them (the events FIFO queue, the phone book
    in the customers table, SNS's platform endpoints), and the signing keys the function reads."""

    def __init__(self, keys: list[bytes] | None = None) -> None:
        self.cloud = MemoryCloud(lambda: NOW, VirtualTimers(), template=TEMPLATE)
        self.sns = self.cloud.transports.clients()["push"]
        self.keys = keys or [SAMPLE_KEY]

    def intake(self, queue: Any = None) -> FeedbackIntake:
        endpoints = EndpointReader(self.sns)
        return FeedbackIntake(queue or self.cloud.events, self.cloud.phones, endpoints, lambda: self.keys, lambda: NOW)

    def texts(self, owner: PhoneOwner, phone: str = ADA) -> World:
        """The router texted (or wrote on WhatsApp to) ``phone`` for ``owner``, from the owner's identities."""
        if owner.origination:
            self.cloud.phones.remember(owner.shop_id, owner.customer, phone, owner.origination)
        if owner.whatsapp:
            self.cloud.phones.remember(owner.shop_id, owner.customer, phone, owner.whatsapp, channel="whatsapp")
        return self

    def device(self, token: str, enabled: bool, user_data: str | None = None) -> str:
        """A device endpoint of the shop's iOS app as SNS keeps it; its ARN."""
        request = {"PlatformApplicationArn": IOS_APP, "Token": token}
        arn = self.sns.create_platform_endpoint(**request, **({"CustomUserData": user_data} if user_data else {}))
        self.sns.set_endpoint_attributes(EndpointArn=arn["EndpointArn"], Attributes={"Enabled": str(enabled).lower()})
        return str(arn["EndpointArn"])

    @property
    def entries(self) -> list[ReceivedMessage]:
        """What the events queue holds, in the order sent."""
        return list(self.cloud.events)

    @property
    def events(self) -> list[FeedbackEvent]:
        return [FeedbackEvent.model_validate_json(message.body) for message in self.entries]


class BrokenQueue:
    """An events queue SQS keeps refusing (after the adapter's retries)."""

    def send(self, entries: list[FifoEntry]) -> None:
        raise EnqueueError("1 message(s) not enqueued: ['InternalError']")


def envelope(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())["Records"][0]["Sns"]


def deliver(world: World, name: str, message: dict | None = None, queue: Any = None):
    sns = envelope(name)
    body = json.dumps(message) if message is not None else sns["Message"]
    return world.intake(queue).handle(body, sns["MessageId"], sns["Timestamp"])


def failure_of(endpoint: str) -> dict:
    """SNS's delivery failure notification (the sample) for ``endpoint``."""
    return {**json.loads(envelope("push-delivery-failure")["Message"]), "EndpointArn": endpoint}


def with_ref(name: str, ref: str) -> dict:
    message = json.loads(envelope(name)["Message"])
    message["mail"]["headers"] = [
        {"name": h["name"], "value": ref if h["name"] == "X-Nudge-Ref" else h["value"]}
        for h in message["mail"]["headers"]
        if h["name"] != "List-Unsubscribe"
    ]
    return message


# ---------------------------------------------------------------- email


def test_a_permanent_bounce_reaches_the_customer_the_signed_reference_names():
    world = World()
    intake = deliver(world, "ses-bounce-permanent")

    (event,) = world.events
    assert (event.shop_id, event.customer, event.channel, event.reason) == ("demo", "u:ada-1", "email", "hard_bounce")
    assert (event.address, event.source) == ("ada@example.com", "ses-bounce")
    assert event.received_at == NOW
    (entry,) = world.entries
    assert entry.group_id == "demo#u:ada-1"
    assert entry.deduplication_id == deduplication_id("demo", event.message_id)
    assert (intake.source, intake.dropped) == ("ses", [])


def test_a_complaint_becomes_one_complaint_event():
    world = World()
    deliver(world, "ses-complaint")
    assert [(e.reason, e.source, e.address) for e in world.events] == [
        ("complaint", "ses-complaint", "ada@example.com")
    ]


def test_the_same_notification_twice_is_one_event_on_the_customers_group():
    # SNS delivers at least once: the second copy carries the same deduplication id, so the queue keeps one
    world = World()
    deliver(world, "ses-complaint")
    deliver(world, "ses-complaint")
    (entry,) = world.entries
    assert entry.deduplication_id == deduplication_id("demo", world.events[0].message_id)


def test_a_reference_signed_with_a_rotated_out_key_still_counts_while_that_key_is_listed():
    world = World(keys=[NEW_KEY, SAMPLE_KEY])
    deliver(world, "ses-complaint")
    assert len(world.events) == 1


@pytest.mark.parametrize(
    "ref",
    [
        issue_unsubscribe_token(b"an-attackers-own-key-0123456789", "demo", "u:victim", "email"),
        "WyJkZW1vIiwidTp2aWN0aW0iLCJlbWFpbCJd.gag5M4uG-poJPYzm37mbIw",  # another customer, the sample's MAC
        issue_unsubscribe_token(SAMPLE_KEY, "demo", "u:ada-1", "sms"),  # a token for another purpose
        "",
    ],
)
def test_a_forged_or_foreign_reference_unsubscribes_nobody(ref):
    world = World()
    intake = deliver(world, "ses-complaint", with_ref("ses-complaint", ref))
    assert world.entries == []
    assert intake.dropped == ["unverifiable_ref"]


def test_a_transient_bounce_enqueues_nothing_and_says_so():
    world = World()
    intake = deliver(world, "ses-bounce-transient")
    assert world.entries == []
    assert (intake.source, intake.ignored, intake.dropped) == ("ses", ["transient_bounce"], [])


# ---------------------------------------------------------------- SMS


def test_stop_opts_out_the_customer_of_the_shop_whose_number_was_texted():
    # Given two shops text Ada; only one from the number she replied to
    world = World().texts(PhoneOwner("demo", "u:ada-1", SHOP_NUMBER))
    world.texts(PhoneOwner("other", "u:ada-x", "+12065550199"))
    # When she replies STOP
    deliver(world, "sms-inbound-stop")
    # Then only that shop's consent is withdrawn
    (event,) = world.events
    assert (event.shop_id, event.customer, event.channel, event.reason) == ("demo", "u:ada-1", "sms", "sms_opt_out")
    assert (event.address, event.source) == (ADA, "sms-reply-stop")
    assert event.feedback_id == "sms:cae173d2-66b9-564c-8309-21f858e9fb84"


def test_stop_to_a_pool_number_opts_out_every_shop_that_texts_the_customer():
    pool = "pool-0123456789abcdef0123456789abcdef"
    world = World().texts(PhoneOwner("demo", "u:ada-1", pool)).texts(PhoneOwner("other", "u:ada-x", pool))
    deliver(world, "sms-inbound-stop")
    assert sorted((e.shop_id, e.customer) for e in world.events) == [("demo", "u:ada-1"), ("other", "u:ada-x")]
    assert {entry.group_id for entry in world.entries} == {"demo#u:ada-1", "other#u:ada-x"}


def test_stop_from_a_number_two_customers_of_one_shop_share_opts_both_out():
    # Given a family's number the shop texts for two of its customers, from its one number
    world = World().texts(PhoneOwner("demo", "u:ada-1", SHOP_NUMBER)).texts(PhoneOwner("demo", "u:ben-1", SHOP_NUMBER))

    # When STOP comes from it
    deliver(world, "sms-inbound-stop")

    # Then each customer's group gets the opt-out (one notification, one deduplication id: the events queue
    # deduplicates within a group, template.yaml's DeduplicationScope)
    assert sorted((e.customer, e.reason) for e in world.events) == [
        ("u:ada-1", "sms_opt_out"),
        ("u:ben-1", "sms_opt_out"),
    ]
    assert len({entry.deduplication_id for entry in world.entries}) == 1


def test_stop_from_a_number_nudge_never_texted_is_dropped():
    world = World()
    intake = deliver(world, "sms-inbound-stop")
    assert world.entries == []
    assert intake.dropped == ["unknown_phone"]


def test_help_needs_nothing_from_nudge():
    world = World().texts(PhoneOwner("demo", "u:ada-1", SHOP_NUMBER))
    intake = deliver(world, "sms-inbound-help")
    assert world.entries == []
    assert intake.ignored == ["help_keyword"]


# ---------------------------------------------------------------- push


def test_a_disabled_endpoint_is_traced_to_its_customer_through_its_user_data():
    world = World()
    endpoint = world.device("abcdef0123", enabled=False, user_data=endpoint_user_data("demo", "u:ada-1"))
    deliver(world, "push-delivery-failure", failure_of(endpoint))
    (event,) = world.events
    assert (event.shop_id, event.customer, event.reason) == ("demo", "u:ada-1", "push_endpoint_disabled")
    assert (event.address, event.endpoint_arn) == ("abcdef0123", endpoint)


def test_an_endpoint_sns_already_deleted_or_without_nudges_user_data_is_dropped():
    world = World()
    foreign = world.device("abcdef0123", enabled=False)
    assert deliver(world, "push-delivery-failure", failure_of(foreign)).dropped == ["untraceable_endpoint"]
    assert deliver(World(), "push-delivery-failure").dropped == ["endpoint_gone"]


def test_an_update_without_attributes_counts_only_if_the_endpoint_really_is_disabled():
    message = json.loads(envelope("push-endpoint-updated")["Message"])
    del message["Attributes"]
    owner = endpoint_user_data("demo", "u:ada-1")
    enabled, disabled = World(), World()
    enabled_arn = enabled.device("t", enabled=True, user_data=owner)
    disabled_arn = disabled.device("t", enabled=False, user_data=owner)

    assert deliver(enabled, "push-endpoint-updated", {**message, "EndpointArn": enabled_arn}).ignored == [
        "endpoint_enabled"
    ]
    deliver(disabled, "push-endpoint-updated", {**message, "EndpointArn": disabled_arn})

    assert enabled.entries == []
    assert [e.reason for e in disabled.events] == ["push_endpoint_disabled"]


def test_endpoint_user_data_round_trips_and_rejects_strangers():
    assert endpoint_owner(endpoint_user_data("demo", "u:ada@example")) == ("demo", "u:ada@example")
    assert endpoint_owner("some other app's data") is None
    assert endpoint_owner(None) is None


# ---------------------------------------------------------------- WhatsApp


def test_a_whatsapp_message_opens_the_window_of_the_shop_owning_the_business_number():
    whatsapp = "phone-number-id-976c72a700aac43eaf573ae050example"
    world = World().texts(PhoneOwner("demo", "u:ada-1", SHOP_NUMBER, whatsapp))
    world.texts(PhoneOwner("other", "u:ada-x", "+12065550199", "phone-number-id-0000"))
    deliver(world, "whatsapp-inbound")
    (event,) = world.events
    assert (event.shop_id, event.customer, event.channel, event.reason) == (
        "demo",
        "u:ada-1",
        "whatsapp",
        "whatsapp_inbound",
    )
    assert event.occurred_at == datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert "wamid" not in event.feedback_id  # Meta's message id encodes the sender's number; ids get logged


def test_a_whatsapp_message_to_an_unknown_business_number_reaches_every_shop_with_the_customer():
    world = World().texts(PhoneOwner("demo", "u:ada-1", SHOP_NUMBER))
    deliver(world, "whatsapp-inbound")
    assert [(e.shop_id, e.reason) for e in world.events] == [("demo", "whatsapp_inbound")]


# ---------------------------------------------------------------- failures


def test_an_unreadable_notification_is_dropped_never_retried():
    world = World()
    intake = world.intake().handle("{not json", "sns-1", "2026-11-02T12:00:00.000Z")
    assert (intake.dropped, intake.detail) == (["unreadable"], "the message is not JSON")
    assert world.entries == []


def test_when_the_queue_fails_the_notification_fails_so_sns_retries_it():
    with pytest.raises(EnqueueError):
        deliver(World(), "ses-complaint", queue=BrokenQueue())
