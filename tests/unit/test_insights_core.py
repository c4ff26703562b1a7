"""The insights core (``shared/core/insights.py``): engagement that does not depend on the order events arrive in,
lifecycle thresholds a shop can set, and refusals that name the field."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from pydantic import ValidationError

from shared.core.insights import add_engagement, engagement_score, thresholds
from shared.models.config import LifecycleSettings, ShopConfig
from shared.models.state import CustomerState
from tests.factories import T0, shop_config

HALF_LIFE = timedelta(days=30)


def test_engagement_is_the_same_whatever_order_the_events_arrive_in():
    earned = [(T0 + timedelta(hours=hours), points) for hours, points in [(0, 1), (5, 3), (49, 5), (400, 2), (1000, 1)]]
    in_order, shuffled = CustomerState(), CustomerState()
    for moment, points in earned:
        add_engagement(in_order, moment, points, HALF_LIFE)
    for moment, points in random.Random(7).sample(earned, len(earned)):
        add_engagement(shuffled, moment, points, HALF_LIFE)

    now = T0 + timedelta(days=60)
    assert engagement_score(shuffled, now, HALF_LIFE) == pytest.approx(engagement_score(in_order, now, HALF_LIFE))
    assert engagement_score(in_order, T0 + timedelta(hours=1000) + HALF_LIFE, HALF_LIFE) == pytest.approx(
        sum(p * 0.5 ** ((T0 + timedelta(hours=1000) - m) / HALF_LIFE) for m, p in earned) / 2
    )


def test_a_configured_lapse_shorter_than_the_default_risk_keeps_at_risk_before_lapsed():
    limits = thresholds(LifecycleSettings(lapsed_after=timedelta(days=60)), None)
    assert (limits.at_risk_after, limits.lapsed_after) == (timedelta(days=30), timedelta(days=60))
    limits = thresholds(LifecycleSettings(at_risk_after=timedelta(days=10)), None)
    assert (limits.at_risk_after, limits.lapsed_after, limits.source) == (
        timedelta(days=10),
        timedelta(days=20),
        "default",
    )


@pytest.mark.parametrize(
    ("insights", "field", "rule"),
    [
        ({"lifecycle": {"at_risk_after": "P60D", "lapsed_after": "P30D"}}, "insights.lifecycle", "must be longer than"),
        ({"lifecycle": {"loyal_orders": 1}}, "insights.lifecycle.loyal_orders", "greater than or equal to 2"),
        ({"engagement": {"half_life": "-P1D"}}, "insights.engagement.half_life", "positive ISO 8601 duration"),
        ({"engagement": {"points": {"Order Completed": 500}}}, "insights.engagement.points.Order Completed", "100"),
        ({"rfm": {}}, "insights.rfm", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_insights_setting_is_refused_naming_the_field_and_the_rule(insights, field, rule):
    document = {**shop_config({}).model_dump(mode="json", exclude_unset=True), "insights": insights}

    with pytest.raises(ValidationError) as refused:
        ShopConfig.model_validate(document)

    [error] = refused.value.errors()
    assert ".".join(str(part) for part in error["loc"]) == field
    assert rule in error["msg"]


def test_merging_an_anonymous_record_keeps_the_engagement_of_both():
    from shared.core.customer import merge

    known, anonymous = CustomerState(user_id="k"), CustomerState()
    add_engagement(known, T0 + HALF_LIFE, 4, HALF_LIFE)
    add_engagement(anonymous, T0, 8, HALF_LIFE)  # worth 4 at the known record's moment

    merged = merge(known, anonymous, HALF_LIFE)

    assert engagement_score(merged, T0 + HALF_LIFE, HALF_LIFE) == pytest.approx(8)
    assert engagement_score(merge(anonymous, known, HALF_LIFE), T0 + HALF_LIFE, HALF_LIFE) == pytest.approx(8)


def test_a_merge_takes_the_absorbed_buyers_out_of_the_distribution_and_moves_the_one_who_absorbed_them():
    from shared.core.insights import distribution_changes, merge_moves
    from shared.models.state import Orders

    day = T0.replace(hour=0)
    one = Orders(count=1, revenue=40.0, first_order_at=day, last_order_at=day)
    other = Orders(count=1, revenue=25.0, first_order_at=day + timedelta(days=1), last_order_at=day + timedelta(days=1))
    both = Orders(count=2, revenue=65.0, first_order_at=day, last_order_at=day + timedelta(days=1))

    changes: dict[str, int] = {}
    for move in merge_moves("demo", one, [other], both):
        for key, delta in distribution_changes(move).items():
            changes[key] = changes.get(key, 0) + delta
    # two buyers of one order leave their places, one buyer of two orders takes one: no repeat gap (no new order)
    assert {k: v for k, v in changes.items() if v and k.startswith(("f:", "g:"))} == {"f:1": -2, "f:2": 1}
    assert sum(v for k, v in changes.items() if k.startswith("r:")) == -1

    # a visitor who never ordered, absorbed by a buyer, changes nothing
    assert merge_moves("demo", one, [Orders()], one) == []
