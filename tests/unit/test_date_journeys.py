"""Date journeys (J9, J10) in the shop config and the decision core: what a date trigger may say, when a customer's
birthday or occasion is due, and how the core enters a journey once per occurrence."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.core.customer import decide
from shared.core.dates import customer_country, due
from shared.models.config import ShopConfig
from shared.models.effects import Send, StartTimer
from shared.models.journeys import DATE_DUE, Journey
from shared.models.state import CustomerState
from tests.factories import accepted, consent, identify, shop_config, track

NOON = datetime(2026, 11, 2, 12, tzinfo=UTC)


def birthday_shop() -> ShopConfig:
    """The demo shop with the birthday preset and e-mail to send it on."""
    document = shop_config({"birthday": {}}).model_dump(mode="json", exclude_unset=True)
    document["channels"] = {"preference": ["email"], "email": {"from_address": "hello@demo.example"}}
    return ShopConfig.model_validate(document)


def journey(trigger: Any, **fields: Any) -> Journey:
    return Journey.model_validate({"trigger": trigger, "steps": [{"wait": "PT0S", "template": "birthday"}], **fields})


# ---------------------------------------------------------------- the trigger, as a shop writes it


def test_a_date_trigger_reads_its_days_before_and_wall_time_also_as_yaml_writes_an_unquoted_time():
    trigger = (
        ShopConfig.from_yaml(
            "shop: {id: s1, name: S, write_keys: [write-key-1], secret_keys: [secret-key-1]}\n"
            "journeys:\n  birthday:\n    trigger: {date: birthday, days_before: 3, at: 10:30}\n"
        )
        .journeys["birthday"]
        .trigger[0]
    )
    assert (trigger.date, trigger.days_before, trigger.at) == ("birthday", 3, time(10, 30))
    assert journey({"occasion": "mothers_day"}).dated is not None
    assert journey({"event": "Order Completed"}).dated is None


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ({"trigger": {"date": "anniversary"}}, "Input should be 'birthday'"),
        ({"trigger": {"occasion": "name_day"}}, "Input should be 'mothers_day'"),
        ({"trigger": {"date": "birthday", "occasion": "christmas"}}, "exactly one of event, call, inactive_for, date"),
        ({"trigger": {"date": "birthday", "days_before": 61}}, "less than or equal to 60"),
        ({"trigger": {"date": "birthday", "where": {"tier": "gold"}}}, "takes no where filter"),
        ({"trigger": {"event": "Order Completed", "days_before": 2}}, "belong to a date or occasion trigger"),
        ({"trigger": [{"date": "birthday"}, {"event": "Order Completed"}]}, "stands alone"),
        ({"trigger": {"date": "birthday"}, "key": "order_id"}, "has no key"),
        ({"trigger": {"date": "birthday", "at": "25:00"}}, "time"),
    ],
)
def test_a_date_trigger_that_cannot_work_is_refused_with_the_rule(body: dict[str, Any], rule: str):
    with pytest.raises(ValidationError) as caught:
        Journey.model_validate({"steps": [{"wait": "PT0S", "template": "birthday"}], **body})
    assert rule in str(caught.value)


# ---------------------------------------------------------------- who is due on a day


def state(**traits: Any) -> CustomerState:
    return CustomerState(traits=traits, timezone=traits.pop("zone", None))


DAY = (datetime(2026, 12, 24, tzinfo=UTC), datetime(2026, 12, 25, tzinfo=UTC))


def test_a_birthday_is_due_at_the_wall_time_in_the_customers_zone_and_a_broken_one_never():
    config = shop_config({"birthday": {}})
    trigger = config.journeys["birthday"].trigger[0]
    assert due(trigger, state(birthday="1980-12-24", zone="America/New_York"), config, *DAY) == [
        (date(2026, 12, 24), "Birthday", datetime(2026, 12, 24, 14, tzinfo=UTC))
    ]
    # 09:00 on the 25th in UTC+14 is 19:00 UTC on the 24th: that day's sweep has it
    kiritimati = state(birthday="--12-25", zone="Pacific/Kiritimati")
    assert [found[2] for found in due(trigger, kiritimati, config, *DAY)] == [datetime(2026, 12, 24, 19, tzinfo=UTC)]
    assert due(trigger, state(birthday="24.12.1980"), config, *DAY) == []
    assert due(trigger, state(), config, *DAY) == []


def test_the_country_is_the_customers_trait_or_address_else_the_shops():
    config = shop_config({})
    shop_de = config.model_copy(update={"shop": config.shop.model_copy(update={"country": "DE"})})
    assert customer_country(state(country="at"), shop_de) == "AT"
    assert customer_country(state(address={"country": "FR", "city": "Lyon"}), shop_de) == "FR"
    assert customer_country(state(country="Germany"), shop_de) == "DE"  # not a code: the shop's
    assert customer_country(state(), config) is None


# ---------------------------------------------------------------- the core enters once per occurrence


def date_due(user: str, occurrence: str, send_at: datetime, authority: str = "secret", at: datetime = NOON) -> Any:
    properties = {"journey": "birthday", "occurrence": occurrence, "title": "Birthday", "send_at": send_at.isoformat()}
    event = accepted(track(DATE_DUE, properties, userId=user), at=at)
    return event.model_copy(update={"authority": authority})


def reachable(config: ShopConfig) -> CustomerState:
    current = None
    for message in (identify({"email": "jo@example.com", "firstName": "Jo"}), consent("email")):
        current = decide(current, accepted(message, at=NOON - timedelta(hours=1)), NOON, config).state
    assert current is not None
    return current


def test_the_sweeps_date_due_enters_the_journey_and_waits_for_the_moment_to_send_once_per_occurrence():
    config = birthday_shop()
    current = reachable(config)
    send_at = datetime(2026, 11, 3, 8, tzinfo=UTC)
    decided = decide(current, date_due("u1", "2026-11-03", send_at), NOON, config)
    (timer,) = [effect for effect in decided.effects if isinstance(effect, StartTimer)]
    assert timer.event.due_at == send_at and not any(isinstance(effect, Send) for effect in decided.effects)
    assert decided.state is not None
    (instance,) = decided.state.journeys
    assert instance.key == "2026-11-03"

    # the same occurrence told again (a day swept twice) enters nothing; next year's does
    again = decide(decided.state, date_due("u1", "2026-11-03", send_at), NOON, config)
    assert again.state is None or len(again.state.journeys) == 1
    later = NOON + timedelta(days=365)
    next_year = decide(decided.state, date_due("u1", "2027-11-03", send_at.replace(year=2027), at=later), later, config)
    assert next_year.state is not None and {i.key for i in next_year.state.journeys} == {"2026-11-03", "2027-11-03"}


def test_a_date_due_from_a_shops_own_client_starts_nothing():
    config = birthday_shop()
    decided = decide(reachable(config), date_due("u1", "2026-11-03", NOON, authority="write"), NOON, config)
    assert decided.state is not None and decided.state.journeys == []


def test_a_birthday_that_is_not_a_date_is_noted_once_it_arrives():
    config = birthday_shop()
    decided = decide(reachable(config), accepted(identify({"birthday": "soon"}), at=NOON), NOON, config)
    assert decided.state is not None
    (entry,) = [entry for entry in decided.state.journey_log if entry.journey == "birthday"]
    assert entry.outcome == "not_entered" and "'soon' is not a date" in entry.reason
