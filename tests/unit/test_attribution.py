"""Which message an order is credited to (shared.core.attribution): the coupon's, else the last click within its
channel's click window, else the last open within its open window; nothing outside them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.core.attribution import CouponIssue, credit
from shared.models.config import AttributionSettings
from shared.models.state import Touch

ORDER_AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DEFAULTS = AttributionSettings()


def touch(ago: timedelta, message: str, action: str = "clicked", channel: str = "email") -> Touch:
    return Touch(int((ORDER_AT - ago).timestamp()), message, channel, action, "u:ada")  # type: ignore[arg-type]


def test_the_last_click_within_the_window_wins_over_an_earlier_click_and_a_later_open():
    touches = [
        touch(timedelta(days=3), "m-early"),
        touch(timedelta(days=1), "m-late", channel="sms"),
        touch(timedelta(hours=1), "m-opened", action="opened"),
    ]

    found = credit(touches, ORDER_AT, None, DEFAULTS)

    assert found is not None
    assert (found.message, found.rule, found.channel) == ("m-late", "click", "sms")
    assert found.touched_at == ORDER_AT - timedelta(days=1)


@pytest.mark.parametrize(
    ("ago", "credited"),
    [(timedelta(days=5), True), (timedelta(days=5, seconds=1), False), (-timedelta(seconds=1), False)],
    ids=["at-the-edge", "just-past", "after-the-order"],
)
def test_a_click_counts_up_to_the_end_of_its_window_and_never_after_the_order(ago, credited):
    found = credit([touch(ago, "m")], ORDER_AT, None, DEFAULTS)

    assert (found is not None) is credited


@pytest.mark.parametrize("action", ["opened", "tapped", "read"])
def test_an_open_a_tap_or_a_read_counts_within_a_day_only(action):
    within = credit([touch(timedelta(hours=23), "m", action=action)], ORDER_AT, None, DEFAULTS)
    past = credit([touch(timedelta(hours=25), "m", action=action)], ORDER_AT, None, DEFAULTS)

    assert within is not None and within.rule == "open"
    assert past is None


def test_the_coupon_beats_every_click_and_names_whom_the_message_went_to():
    coupon = CouponIssue("CART7Q2", "m-offer", "u:bob")  # a code Bob passed on to Ada

    found = credit([touch(timedelta(minutes=5), "m-clicked")], ORDER_AT, coupon, DEFAULTS)

    assert found is not None and (found.message, found.rule, found.recipient) == ("m-offer", "coupon", "u:bob")


def test_a_channel_window_replaces_the_default_for_that_channel_only():
    settings = AttributionSettings.model_validate({"channels": {"sms": {"click": "PT12H"}}})
    touches = [touch(timedelta(hours=13), "m-sms", channel="sms")]

    assert credit(touches, ORDER_AT, None, settings) is None
    assert credit([touch(timedelta(hours=13), "m-mail")], ORDER_AT, None, settings) is not None
    assert settings.windows("sms") == (timedelta(hours=12), timedelta(days=1))


def test_a_delivery_or_a_receipt_alone_earns_no_credit():
    touches = [touch(timedelta(minutes=1), "m", action=action) for action in ("delivered", "received")]

    assert credit(touches, ORDER_AT, None, DEFAULTS) is None


def test_the_timeline_keeps_the_latest_ten_events_in_time_order_even_when_one_comes_late():
    from shared.core.customer import decide
    from tests.factories import accepted, shop_config, track

    config, state = shop_config({}), None
    base = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    moments = [base + timedelta(minutes=n) for n in (*range(12), 5)]  # the last one happened earlier
    for index, at in enumerate(moments):
        event = accepted(track(f"Event {index}", {}, userId="ada", timestamp=at.isoformat()), at=at)
        state = decide(state, event, at, config).state or state

    assert state is not None
    marks = [(datetime.fromtimestamp(m.at, UTC), m.label) for m in state.recent_events]
    assert len(marks) == 10 and marks == sorted(marks)
    assert marks[-1] == (base + timedelta(minutes=11), "Event 11")
    assert (base + timedelta(minutes=5), "Event 12") in marks  # the late one, in its place
