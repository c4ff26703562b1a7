"""The contact policy's rules (``shared.core.policy``): caps across journeys, quiet hours in the customer's time zone,
the SMS window on top, priorities, and how long a message may wait. Pure functions on a given moment."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from shared.core.policy import Ask, Contact, ContactLog, Hold, admit, best_moment, defer, next_open, open_at
from shared.models.config import ContactPolicy, QuietHours, ShopConfig

BERLIN = ZoneInfo("Europe/Berlin")
DAY = timedelta(days=1)


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in Berlin in November 2026 (UTC+1), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def policy(**fields) -> ContactPolicy:
    return ContactPolicy.model_validate(fields)


def ask(message_id: str = "m2", priority: int = 50, channels=("email",), due: datetime | None = None, wait=2 * DAY):
    return Ask(message_id, priority, tuple(channels), due or berlin(10, 12), wait)


ONE_A_DAY = policy(caps=[{"per": "P1D", "max": 1}], quiet_hours={"start": "21:00", "end": "08:00"})


# ---------------------------------------------------------------- configuration


def test_a_cap_of_zero_is_a_config_error_naming_the_field():
    with pytest.raises(ValidationError) as refused:
        ShopConfig.model_validate(
            {
                "shop": {"id": "demo", "name": "Demo", "write_keys": ["w" * 8], "secret_keys": ["s" * 8]},
                "contact_policy": {"caps": [{"per": "P1D", "max": 0}]},
            }
        )
    error = refused.value.errors()[0]
    assert error["loc"] == ("contact_policy", "caps", 0, "max")
    assert "a cap of 0 could never be met" in error["msg"]


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"caps": [{"per": "P1D", "max": 1, "chanel": "sms"}]}, ("caps", 0, "chanel")),
        ({"caps": [{"per": "-P1D", "max": 1}]}, ("caps", 0, "per")),
        ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, ("quiet_hours",)),
        ({"max_deferral": "PT0S"}, ("max_deferral",)),
        ({"channel_quiet_hours": {"fax": None}}, ("channel_quiet_hours", "fax", "[key]")),
    ],
)
def test_a_policy_that_cannot_work_is_refused_at_its_field(fields, where):
    with pytest.raises(ValidationError) as refused:
        ContactPolicy.model_validate(fields)
    assert refused.value.errors()[0]["loc"] == where


def test_quiet_hours_that_cross_midnight_cover_the_night_only():
    night = QuietHours(start=time(21, 0), end=time(8, 0))
    assert [night.covers(time(h, 0)) for h in (20, 21, 23, 0, 7, 8, 12)] == [
        False,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    lunch = QuietHours(start=time(12, 0), end=time(14, 0))
    assert [lunch.covers(time(h, 0)) for h in (11, 12, 13, 14)] == [False, True, True, False]


def test_the_shop_default_quiet_hours_cover_device_channels_and_a_channel_may_override_them():
    rules = policy(quiet_hours={"start": "21:00", "end": "08:00"}, channel_quiet_hours={"email": None})
    at_three = berlin(10, 3)
    assert not open_at(rules, "push", BERLIN, at_three)
    assert open_at(rules, "email", BERLIN, at_three)  # the shop let email go at night
    assert open_at(rules, "in_app", BERLIN, at_three)  # the inbox is read when the app is opened


# ---------------------------------------------------------------- when a channel opens


def test_a_message_due_at_night_waits_for_the_end_of_quiet_hours_in_the_customers_zone():
    assert next_open(ONE_A_DAY, "push", BERLIN, berlin(10, 3)) == berlin(10, 8)
    assert next_open(ONE_A_DAY, "push", BERLIN, berlin(10, 22)) == berlin(11, 8)
    assert next_open(ONE_A_DAY, "push", BERLIN, berlin(10, 12)) == berlin(10, 12)  # open: now
    tokyo = ZoneInfo("Asia/Tokyo")
    # 14:00 in Berlin is 22:00 in Tokyo: a customer there gets it at 08:00 their time
    assert next_open(ONE_A_DAY, "push", tokyo, berlin(10, 14)) == datetime(2026, 11, 11, 8, 0, tzinfo=tokyo)


def test_on_sms_the_legal_window_holds_on_top_of_the_shops_quiet_hours():
    late_start = policy(quiet_hours={"start": "22:00", "end": "09:30"})
    # 08:00 would open the legal window, but the shop's quiet hours run to 09:30
    assert next_open(late_start, "sms", BERLIN, berlin(10, 7)) == berlin(10, 9, 30)
    # 21:30 is outside the legal window although the shop's quiet hours start at 22:00
    assert not open_at(late_start, "sms", BERLIN, berlin(10, 21, 30))
    assert next_open(late_start, "sms", BERLIN, berlin(10, 21, 30)) == berlin(11, 9, 30)


def test_quiet_hours_end_at_the_local_hour_across_a_daylight_saving_change():
    # Berlin leaves summer time in the night of 25 October 2026: quiet hours still end at 08:00 local (07:00 UTC)
    before = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert next_open(ONE_A_DAY, "push", BERLIN, before) == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)


# ---------------------------------------------------------------- caps


def test_the_first_message_of_the_day_takes_the_slot_and_the_second_waits_a_day():
    first = admit(ContactLog(), ONE_A_DAY, ask("m1"), berlin(10, 12), BERLIN)
    assert (first.action, first.channel) == ("send", "email")
    assert first.log is not None and [c.message_id for c in first.log.sends] == ["m1"]

    second = admit(first.log, ONE_A_DAY, ask("m2"), berlin(10, 15), BERLIN)

    assert (second.action, second.until, second.reason) == ("defer", berlin(11, 12), "frequency_cap")
    assert second.log is not None and [(h.message_id, h.due) for h in second.log.holds] == [("m2", berlin(11, 12))]


def test_a_freed_slot_that_falls_in_quiet_hours_moves_to_their_end():
    log = ContactLog(sends=(Contact("m1", berlin(10, 23), "in_app", 50),))  # the inbox has no quiet hours
    verdict = admit(log, ONE_A_DAY, ask("m2", channels=("push",), due=berlin(11, 6)), berlin(11, 6), BERLIN)
    # the day's slot frees at 23:00, inside quiet hours: the message goes when they end
    assert (verdict.action, verdict.until) == ("defer", berlin(12, 8))


def test_several_caps_all_hold():
    rules = policy(caps=[{"per": "P1D", "max": 2}, {"per": "P7D", "max": 3}])
    log = ContactLog(sends=tuple(Contact(f"m{i}", berlin(day, 12), "email", 50) for i, day in enumerate((5, 6, 9))))
    verdict = admit(log, rules, ask("m9", due=berlin(9, 13), wait=5 * DAY), berlin(9, 13), BERLIN)
    # the day has room (one of two), the week does not (three of three) until the 5th's send leaves it on the 12th
    assert (verdict.action, verdict.until) == ("defer", berlin(12, 12))


def test_a_channel_cap_moves_the_message_to_the_next_channel_the_caps_admit():
    rules = policy(caps=[{"per": "P1D", "max": 1, "channel": "sms"}])
    log = ContactLog(sends=(Contact("m1", berlin(10, 9), "sms", 50),))
    verdict = admit(log, rules, ask("m2", channels=("sms", "email")), berlin(10, 12), BERLIN)
    assert (verdict.action, verdict.channel) == ("send", "email")


def test_a_redelivered_message_keeps_its_slot_and_takes_no_second_one():
    first = admit(ContactLog(), ONE_A_DAY, ask("m1"), berlin(10, 12), BERLIN)
    assert first.log is not None
    again = admit(first.log, ONE_A_DAY, ask("m1"), berlin(10, 12, 5), BERLIN)
    assert (again.action, again.channel, again.log) == ("send", "email", None)


def test_a_message_that_could_only_go_after_its_maximum_deferral_is_dropped_with_the_reason():
    log = ContactLog(sends=(Contact("m1", berlin(10, 12), "email", 50),))
    short = ask("m2", due=berlin(10, 13), wait=timedelta(hours=6))
    verdict = admit(log, ONE_A_DAY, short, berlin(10, 13), BERLIN)
    assert (verdict.action, verdict.reason) == ("drop", "frequency_cap")
    assert verdict.details["next_possible"] == berlin(11, 12).isoformat()


def test_the_deadline_counts_from_when_the_message_was_first_due():
    log = ContactLog(sends=(Contact("m1", berlin(10, 12), "email", 50),))
    # the slot frees on the 11th at 12:00; with two days to wait, a message first due on the 9th at 14:00 may wait
    # until the 11th at 14:00, one first due at 07:00 only until 07:00
    late = ask("m2", due=berlin(9, 14), wait=2 * DAY)
    assert admit(log, ONE_A_DAY, late, berlin(10, 13), BERLIN).action == "defer"
    later = ask("m2", due=berlin(9, 7), wait=2 * DAY)
    assert admit(log, ONE_A_DAY, later, berlin(10, 13), BERLIN).action == "drop"


# ---------------------------------------------------------------- priority


def test_a_higher_priority_message_waiting_for_the_same_moment_takes_the_slot():
    # Both were deferred to 08:00 by quiet hours; the cart reminder (70) left its hold first or last, no matter
    holds = (Hold("cart", 70, berlin(11, 8), berlin(12, 8)), Hold("welcome", 40, berlin(11, 8), berlin(12, 8)))
    log = ContactLog(holds=holds)

    low = admit(log, ONE_A_DAY, ask("welcome", priority=40), berlin(11, 8), BERLIN)
    assert (low.action, low.reason, low.details) == ("drop", "outranked", {"outranked_by": ["cart"]})
    assert low.log is not None and [h.message_id for h in low.log.holds] == ["cart"]

    high = admit(low.log, ONE_A_DAY, ask("cart", priority=70), berlin(11, 8), BERLIN)
    assert (high.action, high.channel) == ("send", "email")
    assert high.log is not None and high.log.holds == ()


def test_a_lower_priority_hold_or_one_not_yet_due_does_not_take_the_slot():
    holds = (Hold("low", 10, berlin(11, 8), berlin(12, 8)), Hold("later", 90, berlin(11, 18), berlin(12, 18)))
    verdict = admit(ContactLog(holds=holds), ONE_A_DAY, ask("m", priority=50), berlin(11, 9), BERLIN)
    assert verdict.action == "send"


def test_a_deferral_leaves_a_hold_only_when_the_shop_has_caps():
    quiet_only = policy(quiet_hours={"start": "21:00", "end": "08:00"})
    verdict = defer(ContactLog(), quiet_only, ask("m"), berlin(11, 8), "quiet_hours", berlin(10, 22))
    assert (verdict.action, verdict.log) == ("defer", ContactLog())
    capped = defer(ContactLog(), ONE_A_DAY, ask("m"), berlin(11, 8), "quiet_hours", berlin(10, 22))
    assert capped.log is not None and [h.message_id for h in capped.log.holds] == ["m"]


def test_the_log_round_trips_through_its_json_and_forgets_what_no_rule_needs():
    log = ContactLog(
        sends=(Contact("old", berlin(1, 12), "sms", 10), Contact("new", berlin(10, 11), "push", 90)),
        holds=(Hold("gone", 50, berlin(2, 8), berlin(3, 8)), Hold("kept", 50, berlin(11, 8), berlin(12, 8))),
    )
    assert ContactLog.from_json(log.to_json()) == log
    trimmed = log.trimmed(ONE_A_DAY, berlin(10, 12))
    assert ([c.message_id for c in trimmed.sends], [h.message_id for h in trimmed.holds]) == (["new"], ["kept"])


# ---------------------------------------------------------------- best send time


def evenings(count: int = 12) -> list[int]:
    """A customer active mostly at 20:00, a little at 09:00 (their local hours)."""
    hours = [0] * 24
    hours[20], hours[9] = count, 2
    return hours


def test_best_time_waits_for_the_hour_the_customer_is_most_active():
    due = berlin(10, 10)
    assert best_moment(evenings(), BERLIN, due, DAY, due, 10) == berlin(10, 20)


def test_best_time_sends_at_once_inside_the_best_hour_and_at_the_end_of_the_window():
    assert best_moment(evenings(), BERLIN, berlin(10, 10), DAY, berlin(10, 20, 30), 10) == berlin(10, 20, 30)
    # a six-hour window from 10:00 reaches neither 20:00 nor 09:00: no hour in it beats the present one
    assert best_moment(evenings(), BERLIN, berlin(10, 10), timedelta(hours=6), berlin(10, 10), 10) == berlin(10, 10)
    assert best_moment(evenings(), BERLIN, berlin(9, 10), DAY, berlin(10, 11), 10) == berlin(10, 11)  # window over


def test_a_customer_with_little_history_gets_the_shops_hour():
    few = [0] * 24
    few[20] = 3
    assert best_moment(few, BERLIN, berlin(10, 12), DAY, berlin(10, 12), 18) == berlin(10, 18)


def test_best_time_is_the_customers_local_hour():
    tokyo = ZoneInfo("Asia/Tokyo")
    due = datetime(2026, 11, 10, 10, 0, tzinfo=tokyo)
    assert best_moment(evenings(), tokyo, due, DAY, due, 10) == datetime(2026, 11, 10, 20, 0, tzinfo=tokyo)


def test_a_best_time_window_longer_than_the_maximum_deferral_is_a_config_error():
    with pytest.raises(ValidationError) as refused:
        ShopConfig.model_validate(
            {
                "shop": {"id": "demo", "name": "Demo", "write_keys": ["w" * 8], "secret_keys": ["s" * 8]},
                "contact_policy": {"max_deferral": "P1D"},
                "journeys": {
                    "welcome": {
                        "steps": [{"wait": "PT0S", "template": "welcome", "send_time": "best", "within": "P2D"}]
                    }
                },
            }
        )
    assert "journeys.welcome.steps[0].within" in str(refused.value)
