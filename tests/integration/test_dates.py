"""Date journeys (J9, J10) end to end on template.yaml in memory: the daily schedule starts one date sweep per shop
with a date journey (the fan-out state machine played in virtual time); the sweep tells each customer whose birthday
or occasion is to be sent the next day, in their own FIFO group; the journey waits on a timer until the wall time
in the customer's zone, and the message goes out once a year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.models.config import ShopConfig
from tests.factories import T0, consent, identify
from tests.integration.test_journeys import unique
from tests.memory import FAST_CONFIG, MemoryStack

WRITE, SECRET = "fast-write-key", "fast-secret-key"
NOON = T0.replace(hour=12)  # the daily schedule's time: it sweeps the next UTC day
TOMORROW = (NOON + timedelta(days=1)).date()


def shop(journeys: dict[str, Any], country: str | None = None) -> ShopConfig:
    document = ShopConfig.from_yaml_file(FAST_CONFIG).model_dump(mode="json", exclude_unset=True)
    document["journeys"] = journeys
    if country is not None:
        document["shop"]["country"] = country
    return ShopConfig.model_validate(document)


BIRTHDAYS = shop({"birthday": {}})


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    stack: MemoryStack = memory_stack([BIRTHDAYS])
    stack.clock.at = NOON
    return stack


def customer(stack: MemoryStack, traits: dict[str, Any], *, zone: str = "Europe/Berlin", email: bool = True) -> str:
    user = unique("c")
    context = {"timezone": zone}
    batch = [identify({"email": f"{user}@example.com", "firstName": "Jo", **traits}, userId=user, context=context)]
    if email:
        batch.append(consent("email", userId=user))
    assert stack.post("/v1/batch", {"batch": batch}, key=WRITE)[0] == 200
    stack.settle()
    return user


def daily(stack: MemoryStack) -> dict[str, Any]:
    """What EventBridge Scheduler does at 12:00 UTC (template.yaml's DailyDates)."""
    (schedule,) = stack.cloud.schedules
    answer: dict[str, Any] = stack.cloud.functions[schedule.function].invoke(dict(schedule.input))
    return answer


def until_quiet(stack: MemoryStack, until: datetime) -> None:
    """Virtual time runs: the sweep's pages, the updater, the timers, the router, up to ``until``."""
    stack.settle()
    while (moment := stack.cloud.next_visible()) is not None and moment <= until:
        stack.clock.at = max(stack.clock.at, moment)
        stack.settle()
    stack.run_timers(until)


def emails(stack: MemoryStack) -> list[tuple[str, datetime]]:
    """(customer, when it went out) of each e-mail the channel service accepted, the time from the send ledger."""
    users = [sent.to.split("@")[0] for sent in stack.sent("email")]
    found = []
    for user in dict.fromkeys(users):
        entries = stack.cloud.ledger.list("fast", f"u:{user}")
        found += [(user, entry.updated_at) for entry in entries if entry.status == "sent" and entry.updated_at]
    assert len(found) == len(users)
    return sorted(found, key=lambda item: item[1])


def test_a_birthday_greeting_goes_out_at_nine_in_the_customers_zone_on_the_day_and_once(stack):
    berlin = customer(stack, {"birthday": f"1990-{TOMORROW:%m-%d}"})
    tokyo = customer(stack, {"birthday": f"--{TOMORROW:%m-%d}"}, zone="Asia/Tokyo")
    customer(stack, {"birthday": "1990-01-15"})  # another day
    customer(stack, {"birthday": f"1990-{TOMORROW:%m-%d}"}, email=False)  # no channel reaches them: not told

    started = daily(stack)
    assert [job["day"] for job in started["started"]] == [TOMORROW.isoformat()]
    until_quiet(stack, NOON + timedelta(days=2))

    nine_berlin = datetime(TOMORROW.year, TOMORROW.month, TOMORROW.day, 8, tzinfo=UTC)  # 09:00 CET
    nine_tokyo = datetime(TOMORROW.year, TOMORROW.month, TOMORROW.day, 0, tzinfo=UTC)  # 09:00 JST
    assert sorted(emails(stack)) == sorted([(berlin, nine_berlin), (tokyo, nine_tokyo)])
    (greeting,) = stack.emails_to(f"{berlin}@example.com")
    assert "Happy birthday, Jo" in greeting["Subject"]

    stack.clock.at = NOON + timedelta(days=2)
    daily(stack)  # the next day's sweep, and the same day's again, find nobody new
    until_quiet(stack, NOON + timedelta(days=4))
    assert len(emails(stack)) == 2


def test_the_same_birthday_next_year_is_greeted_again(stack):
    user = customer(stack, {"birthday": f"2001-{TOMORROW:%m-%d}"})
    daily(stack)
    until_quiet(stack, NOON + timedelta(days=2))
    next_year = NOON.replace(year=NOON.year + 1)
    stack.clock.at = next_year
    daily(stack)
    until_quiet(stack, next_year + timedelta(days=2))
    assert [sent[0] for sent in emails(stack)] == [user, user]
    assert [sent[1].year for sent in emails(stack)] == [TOMORROW.year, TOMORROW.year + 1]


def test_a_birthday_that_is_not_a_date_is_noted_in_the_journey_log_and_sends_nothing(stack):
    user = customer(stack, {"birthday": "next tuesday"})
    daily(stack)
    until_quiet(stack, NOON + timedelta(days=2))
    assert emails(stack) == []
    code, body = stack.call("GET", f"/v1/customers/{user}/messages", key=SECRET)
    assert code == 200
    reasons = [entry["reason"] for entry in body["journey_log"] if entry["journey"] == "birthday"]
    assert any("'next tuesday' is not a date" in reason for reason in reasons), reasons


def test_29_february_is_celebrated_on_28_february_in_a_year_without_it(memory_stack):
    stack: MemoryStack = memory_stack([BIRTHDAYS])
    stack.clock.at = datetime(2027, 2, 27, 12, tzinfo=UTC)
    user = customer(stack, {"birthday": "2000-02-29"}, zone="Europe/London")
    daily(stack)
    until_quiet(stack, datetime(2027, 3, 2, tzinfo=UTC))
    assert emails(stack) == [(user, datetime(2027, 2, 28, 9, tzinfo=UTC))]


def test_mothers_day_follows_the_customers_country_and_days_before(memory_stack):
    journeys = {"mothers_day": {"preset": "occasion", "trigger": {"occasion": "mothers_day", "days_before": 3}}}
    stack: MemoryStack = memory_stack([shop(journeys, country="DE")])
    # 2027: the 2nd Sunday of May in Germany (9 May), the 4th Sunday of Lent in Britain (7 March).
    stack.clock.at = datetime(2027, 3, 3, 12, tzinfo=UTC)
    british = customer(stack, {"country": "GB"}, zone="Europe/London")
    german = customer(stack, {})  # the shop's country
    daily(stack)
    until_quiet(stack, datetime(2027, 3, 5, tzinfo=UTC))
    assert emails(stack) == [(british, datetime(2027, 3, 4, 9, tzinfo=UTC))]  # 3 days before, 09:00 GMT

    stack.clock.at = datetime(2027, 5, 5, 12, tzinfo=UTC)
    daily(stack)
    until_quiet(stack, datetime(2027, 5, 7, tzinfo=UTC))
    assert emails(stack)[1:] == [(german, datetime(2027, 5, 6, 7, tzinfo=UTC))]  # 09:00 CEST
    (mail,) = stack.emails_to(f"{german}@example.com")
    assert "Mother" in mail["Subject"] or "Mutter" in mail["Subject"]


def test_a_missed_day_is_swept_again_through_the_api_once_and_bad_days_are_refused(stack):
    user = customer(stack, {"birthday": f"1985-{NOON:%m-%d}"})  # today: the schedule that covered it was missed
    code, body = stack.post("/v1/date-sweeps", {"day": NOON.date().isoformat()}, key=SECRET)
    assert code == 202 and body["day"] == NOON.date().isoformat()
    until_quiet(stack, NOON + timedelta(days=1))
    assert [sent[0] for sent in emails(stack)] == [user]  # 09:00 has passed: at once
    assert stack.post("/v1/date-sweeps", {"day": NOON.date().isoformat()}, key=SECRET)[0] == 202
    until_quiet(stack, NOON + timedelta(days=2))
    assert len(emails(stack)) == 1

    for body, field in [
        ({"day": "yesterday"}, "day"),
        ({"day": (NOON - timedelta(days=30)).date().isoformat()}, "day"),
        ({"day": "2026-11-03", "shop": "x"}, "body"),
    ]:
        code, refused = stack.post("/v1/date-sweeps", body, key=SECRET)
        assert code == 400 and refused["errors"][0]["field"] == field, refused
    assert stack.post("/v1/date-sweeps", {}, key=WRITE)[0] in (401, 403)


def test_a_shop_without_date_journeys_starts_no_sweep(memory_stack):
    stack: MemoryStack = memory_stack([shop({})])
    assert daily(stack) == {"started": []}
    code, refused = stack.post("/v1/date-sweeps", {}, key=SECRET)
    assert code == 400 and refused["errors"][0]["field"] == "shop"
