"""Channel choice at send time (pure): which channels may carry a message now, in which order, and why not."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.core.routing import reopens_at, route
from shared.models.config import ShopConfig
from shared.models.messages import OutboxMessage
from shared.models.state import AppState, ConsentRecord, CustomerState, PushToken

NOON_BERLIN = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
NIGHT_BERLIN = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)

CONFIG = ShopConfig.model_validate(
    {
        "shop": {
            "id": "demo",
            "name": "Demo",
            "write_keys": ["write-key-1"],
            "secret_keys": ["secret-key-1"],
            "timezone": "Europe/Berlin",
        },
        "channels": {
            "preference": ["push", "whatsapp", "email", "sms", "in_app"],
            "push": {"platform_applications": {"android": "arn:aws:sns:us-east-1:123456789012:app/GCM/demo"}},
            "email": {"from_address": "hello@demo.example"},
            "sms": {"origination_identity": "+4915112345678"},
            "whatsapp": {"phone_number_id": "phone-number-id-0123456789abcdef0123456789abcdef"},
        },
    }
)


def customer(*channels: str, **fields) -> CustomerState:
    consents = [
        ConsentRecord(
            channel=c,
            status="granted",
            source="form",
            notice_version="v1",
            at=NOON_BERLIN,
            recorded_at=NOON_BERLIN,
            message_id=f"m-{c}",
        )
        for c in channels
    ]
    defaults = {
        "user_id": "u1",
        "traits": {"email": "u1@example.com", "phone": "+4917012345678"},
        "push_tokens": [PushToken(token="tok", platform="android", updated_at=NOON_BERLIN)],
        "app": AppState(installed_at=NOON_BERLIN),
        "consents": consents,
    }
    return CustomerState(**{**defaults, **fields})


def message(channels=None, transactional=False) -> OutboxMessage:
    return OutboxMessage(
        message_id="m1",
        shop_id="demo",
        customer="u:u1",
        journey="j",
        step=0,
        template="t",
        channels=channels,
        transactional=transactional,
        created_at=NOON_BERLIN,
    )


def test_candidates_follow_the_shops_preference_among_consented_channels():
    routing = route(customer("email", "push", "sms"), message(), CONFIG, NOON_BERLIN)
    assert [a.channel for a in routing.candidates] == ["push", "email", "sms"]
    assert {s.channel: s.reason for s in routing.skipped} == {"whatsapp": "no_consent", "in_app": "no_consent"}


def test_a_step_narrows_and_orders_the_channels():
    routing = route(customer("email", "push"), message(channels=["email", "push"]), CONFIG, NOON_BERLIN)
    assert [a.channel for a in routing.candidates] == ["email", "push"]


def test_no_consent_anywhere_is_suppressed_as_no_consent():
    routing = route(customer(), message(), CONFIG, NOON_BERLIN)
    assert routing.candidates == [] and routing.outcome_if_none == ("suppressed", "no_consent")


def test_a_withdrawn_consent_is_no_consent():
    withdrawn = ConsentRecord(
        channel="email",
        status="withdrawn",
        source="link",
        notice_version="v1",
        at=NOON_BERLIN.replace(hour=12),
        recorded_at=NOON_BERLIN,
        message_id="m-w",
    )
    state = customer("email")
    state.consents.append(withdrawn)
    assert route(state, message(channels=["email"]), CONFIG, NOON_BERLIN).outcome_if_none == (
        "suppressed",
        "no_consent",
    )


def test_marketing_sms_at_night_in_the_customers_zone_is_deferred_but_transactional_goes():
    state = customer("sms")
    assert route(state, message(), CONFIG, NIGHT_BERLIN).outcome_if_none == ("deferred", "quiet_hours")
    assert [a.channel for a in route(state, message(transactional=True), CONFIG, NIGHT_BERLIN).candidates] == ["sms"]


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        ("America/New_York", datetime(2027, 3, 14, 3, 0), "deferred until 2027-03-14 08:00"),  # at night
        ("America/New_York", datetime(2027, 3, 14, 7, 59), "deferred until 2027-03-14 08:00"),
        ("America/New_York", datetime(2027, 3, 14, 8, 0), "sent"),  # the window opens
        ("America/New_York", datetime(2027, 3, 14, 12, 0), "sent"),  # by day
        ("America/New_York", datetime(2027, 3, 14, 20, 59), "sent"),
        ("America/New_York", datetime(2027, 3, 14, 21, 0), "deferred until 2027-03-15 08:00"),  # it closes
        ("Europe/Berlin", datetime(2026, 1, 1, 3, 0), "deferred until 2026-01-01 08:00"),
        ("Europe/Berlin", datetime(2026, 1, 1, 12, 0), "sent"),
        ("Europe/Berlin", datetime(2026, 6, 30, 23, 59, 30), "deferred until 2026-07-01 08:00"),
        ("Asia/Tokyo", datetime(2026, 6, 30, 3, 0), "deferred until 2026-06-30 08:00"),
    ],
)
def test_marketing_sms_wait_for_08_00_to_21_00_in_the_customers_own_zone(zone, local, expected):
    # Given a customer who allowed SMS and lives in ``zone`` (not the shop's zone, Berlin)
    state = customer("sms", timezone=zone)
    # When a marketing SMS is due at ``local`` o'clock in their zone
    now = local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    routing = route(state, message(channels=["sms"]), CONFIG, now)

    # Then it goes out by day, and at night waits for 08:00 their time
    if routing.candidates:
        outcome = "sent"
    else:
        assert routing.outcome_if_none == ("deferred", "quiet_hours")
        opening = reopens_at(state, CONFIG, routing, now).astimezone(ZoneInfo(zone))
        outcome = f"deferred until {opening:%Y-%m-%d %H:%M}"
    assert outcome == expected


def test_a_bounced_address_or_dead_token_is_not_used_again():
    state = customer("email", "push", undeliverable={"email": ["u1@example.com"], "push": ["tok"]})
    routing = route(state, message(), CONFIG, NOON_BERLIN)
    assert routing.candidates == []
    assert routing.outcome_if_none == ("suppressed", "no_address")


def test_in_app_needs_an_installed_app_and_addresses_the_known_customers_inbox():
    installed = route(customer("in_app"), message(), CONFIG, NOON_BERLIN)
    assert [(a.channel, a.value) for a in installed.candidates] == [("in_app", "u:u1")]
    uninstalled = customer("in_app", app=AppState(installed_at=NOON_BERLIN, uninstalled_at=NIGHT_BERLIN))
    assert route(uninstalled, message(), CONFIG, NOON_BERLIN).candidates == []
