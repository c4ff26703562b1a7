"""Feedback intake: whose feedback a notification is, and what lands on which customer's FIFO group (with fakes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.channels.push import endpoint_owner, endpoint_user_data
from shared.adapters.phone_index import PhoneOwner
from shared.adapters.queue import EnqueueError, FifoEntry
from shared.core.tokens import issue_unsubscribe_token
from shared.models.events import FeedbackEvent, deduplication_id
from shared.service.feedback import FeedbackIntake

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "feedback"
SAMPLE_KEY = b"sample-signing-key-0123456789abcdef"  # signs the X-Nudge-Ref of the SES samples
NEW_KEY = b"rotated-signing-key-0123456789abcdef"
NOW = datetime(2026, 11, 2, 12, 30, tzinfo=UTC)
IOS_ENDPOINT = "arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/demo-ios/5c1e8f2a-7b3d-3c4e-9f5a-6b7c8d9e0f1a"
SHOP_NUMBER = "+12065550100"
ADA = "+12065550142"


@dataclass
class FakeQueue:
    entries: list[FifoEntry] = field(default_factory=list)
    broken: bool = False

    def send(self, entries: list[FifoEntry]) -> None:
        if self.broken:
            raise EnqueueError("1 message(s) not enqueued: ['InternalError']")
        self.entries.extend(entries)

    @property
    def events(self) -> list[FeedbackEvent]:
        return [FeedbackEvent.model_validate_json(entry.body) for entry in self.entries]


@dataclass
class FakePhones:
    owners: dict[str, list[PhoneOwner]] = field(default_factory=dict)

    def lookup(self, phone: str) -> list[PhoneOwner]:
        return self.owners.get(phone, [])


@dataclass
class FakeEndpoints:
    endpoints: dict[str, dict[str, str]] = field(default_factory=dict)

    def attributes(self, endpoint_arn: str) -> dict[str, str] | None:
        return self.endpoints.get(endpoint_arn)


@dataclass
class World:
    queue: FakeQueue = field(default_factory=FakeQueue)
    phones: FakePhones = field(default_factory=FakePhones)
    endpoints: FakeEndpoints = field(default_factory=FakeEndpoints)
    keys: list[bytes] = field(default_factory=lambda: [SAMPLE_KEY])

    def intake(self) -> FeedbackIntake:
        return FeedbackIntake(self.queue, self.phones, self.endpoints, lambda: self.keys, lambda: NOW)  # type: ignore[arg-type]


def envelope(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())["Records"][0]["Sns"]


def deliver(world: World, name: str, message: dict | None = None):
    sns = envelope(name)
    body = json.dumps(message) if message is not None else sns["Message"]
    return world.intake().handle(body, sns["MessageId"], sns["Timestamp"])


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

    (event,) = world.queue.events
    assert (event.shop_id, event.customer, event.channel, event.reason) == ("demo", "u:ada-1", "email", "hard_bounce")
    assert (event.address, event.source) == ("ada@example.com", "ses-bounce")
    assert event.received_at == NOW
    (entry,) = world.queue.entries
    assert entry.group_id == "demo#u:ada-1"
    assert entry.deduplication_id == deduplication_id("demo", event.message_id)
    assert (intake.source, intake.dropped) == ("ses", [])


def test_a_complaint_becomes_one_complaint_event():
    world = World()
    deliver(world, "ses-complaint")
    assert [(e.reason, e.source, e.address) for e in world.queue.events] == [
        ("complaint", "ses-complaint", "ada@example.com")
    ]


def test_the_same_notification_twice_has_the_same_dedupe_id():
    world = World()
    deliver(world, "ses-complaint")
    deliver(world, "ses-complaint")
    first, second = world.queue.entries
    assert first.deduplication_id == second.deduplication_id


def test_a_reference_signed_with_a_rotated_out_key_still_counts_while_that_key_is_listed():
    world = World(keys=[NEW_KEY, SAMPLE_KEY])
    deliver(world, "ses-complaint")
    assert len(world.queue.events) == 1


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
    assert world.queue.entries == []
    assert intake.dropped == ["unverifiable_ref"]


def test_a_transient_bounce_enqueues_nothing_and_says_so():
    world = World()
    intake = deliver(world, "ses-bounce-transient")
    assert world.queue.entries == []
    assert (intake.source, intake.ignored, intake.dropped) == ("ses", ["transient_bounce"], [])


# ---------------------------------------------------------------- SMS


def test_stop_opts_out_the_customer_of_the_shop_whose_number_was_texted():
    # Given two shops text Ada; only one from the number she replied to
    world = World(
        phones=FakePhones(
            {ADA: [PhoneOwner("demo", "u:ada-1", SHOP_NUMBER), PhoneOwner("other", "u:ada-x", "+12065550199")]}
        )
    )
    # When she replies STOP
    deliver(world, "sms-inbound-stop")
    # Then only that shop's consent is withdrawn
    (event,) = world.queue.events
    assert (event.shop_id, event.customer, event.channel, event.reason) == ("demo", "u:ada-1", "sms", "sms_opt_out")
    assert (event.address, event.source) == (ADA, "sms-reply-stop")
    assert event.feedback_id == "sms:cae173d2-66b9-564c-8309-21f858e9fb84"


def test_stop_to_a_pool_number_opts_out_every_shop_that_texts_the_customer():
    pool = "pool-0123456789abcdef0123456789abcdef"
    world = World(phones=FakePhones({ADA: [PhoneOwner("demo", "u:ada-1", pool), PhoneOwner("other", "u:ada-x", pool)]}))
    deliver(world, "sms-inbound-stop")
    assert sorted((e.shop_id, e.customer) for e in world.queue.events) == [("demo", "u:ada-1"), ("other", "u:ada-x")]
    assert {entry.group_id for entry in world.queue.entries} == {"demo#u:ada-1", "other#u:ada-x"}


def test_stop_from_a_number_nudge_never_texted_is_dropped():
    world = World()
    intake = deliver(world, "sms-inbound-stop")
    assert world.queue.entries == []
    assert intake.dropped == ["unknown_phone"]


def test_help_needs_nothing_from_nudge():
    world = World(phones=FakePhones({ADA: [PhoneOwner("demo", "u:ada-1", SHOP_NUMBER)]}))
    intake = deliver(world, "sms-inbound-help")
    assert world.queue.entries == []
    assert intake.ignored == ["help_keyword"]


# ---------------------------------------------------------------- push


def test_a_disabled_endpoint_is_traced_to_its_customer_through_its_user_data():
    world = World(
        endpoints=FakeEndpoints(
            {
                IOS_ENDPOINT: {
                    "Enabled": "false",
                    "Token": "abcdef0123",
                    "CustomUserData": endpoint_user_data("demo", "u:ada-1"),
                }
            }
        )
    )
    deliver(world, "push-delivery-failure")
    (event,) = world.queue.events
    assert (event.shop_id, event.customer, event.reason) == ("demo", "u:ada-1", "push_endpoint_disabled")
    assert (event.address, event.endpoint_arn) == ("abcdef0123", IOS_ENDPOINT)


def test_an_endpoint_sns_already_deleted_or_without_nudges_user_data_is_dropped():
    world = World(endpoints=FakeEndpoints({IOS_ENDPOINT: {"Enabled": "false", "Token": "abcdef0123"}}))
    assert deliver(world, "push-delivery-failure").dropped == ["untraceable_endpoint"]
    assert deliver(World(), "push-delivery-failure").dropped == ["endpoint_gone"]


def test_an_update_without_attributes_counts_only_if_the_endpoint_really_is_disabled():
    message = json.loads(envelope("push-endpoint-updated")["Message"])
    del message["Attributes"]
    arn = message["EndpointArn"]
    owner = endpoint_user_data("demo", "u:ada-1")
    enabled = World(endpoints=FakeEndpoints({arn: {"Enabled": "true", "Token": "t", "CustomUserData": owner}}))
    disabled = World(endpoints=FakeEndpoints({arn: {"Enabled": "false", "Token": "t", "CustomUserData": owner}}))

    assert deliver(enabled, "push-endpoint-updated", message).ignored == ["endpoint_enabled"]
    deliver(disabled, "push-endpoint-updated", message)

    assert enabled.queue.entries == []
    assert [e.reason for e in disabled.queue.events] == ["push_endpoint_disabled"]


def test_endpoint_user_data_round_trips_and_rejects_strangers():
    assert endpoint_owner(endpoint_user_data("demo", "u:ada@example")) == ("demo", "u:ada@example")
    assert endpoint_owner("some other app's data") is None
    assert endpoint_owner(None) is None


# ---------------------------------------------------------------- WhatsApp


def test_a_whatsapp_message_opens_the_window_of_the_shop_owning_the_business_number():
    whatsapp = "phone-number-id-976c72a700aac43eaf573ae050example"
    world = World(
        phones=FakePhones(
            {
                ADA: [
                    PhoneOwner("demo", "u:ada-1", SHOP_NUMBER, whatsapp),
                    PhoneOwner("other", "u:ada-x", "+12065550199", "phone-number-id-0000"),
                ]
            }
        )
    )
    deliver(world, "whatsapp-inbound")
    (event,) = world.queue.events
    assert (event.shop_id, event.customer, event.channel, event.reason) == (
        "demo",
        "u:ada-1",
        "whatsapp",
        "whatsapp_inbound",
    )
    assert event.occurred_at == datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert "wamid" not in event.feedback_id  # Meta's message id encodes the sender's number; ids get logged


def test_a_whatsapp_message_to_an_unknown_business_number_reaches_every_shop_with_the_customer():
    world = World(phones=FakePhones({ADA: [PhoneOwner("demo", "u:ada-1", SHOP_NUMBER)]}))
    deliver(world, "whatsapp-inbound")
    assert [(e.shop_id, e.reason) for e in world.queue.events] == [("demo", "whatsapp_inbound")]


# ---------------------------------------------------------------- failures


def test_an_unreadable_notification_is_dropped_never_retried():
    world = World()
    intake = world.intake().handle("{not json", "sns-1", "2026-11-02T12:00:00.000Z")
    assert (intake.dropped, intake.detail) == (["unreadable"], "the message is not JSON")
    assert world.queue.entries == []


def test_when_the_queue_fails_the_notification_fails_so_sns_retries_it():
    world = World(queue=FakeQueue(broken=True))
    with pytest.raises(EnqueueError):
        deliver(world, "ses-complaint")
