"""The journey report's statistics against a known result: the reference values were computed with SciPy 1.17.1,

    scipy.stats.binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    z = (x1/n1 - x2/n2) / sqrt(p(1-p)(1/n1 + 1/n2)), p = (x1+x2)/(n1+n2);  2 * scipy.stats.norm.sf(abs(z))

(the latter equal, to 1e-15, to scipy.stats.chi2_contingency of the 2x2 table without continuity correction)."""

from __future__ import annotations

from datetime import date

import pytest

from shared.adapters.reports import ReportRow
from shared.core.reports import journey_report, two_proportion_p, uplift, wilson

DAY = date(2026, 11, 2)


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [
        (120, 1000, 0.10129926060130914, 0.14160907584771276),
        (90, 1000, 0.07379614931508309, 0.1093417926430721),
        (7, 40, 0.08745413746035918, 0.3194999033178771),
        (0, 25, 0.0, 0.1331922509390485),
    ],
)
def test_the_95_percent_interval_is_wilsons(x, n, low, high):
    interval = wilson(x, n)

    assert interval is not None
    assert interval["rate"] == pytest.approx(x / n)
    assert interval["low"] == pytest.approx(low, abs=1e-12)
    assert interval["high"] == pytest.approx(high, abs=1e-12)


def test_the_uplift_p_value_is_the_two_proportion_z_test():
    assert two_proportion_p(120, 1000, 90, 1000) == pytest.approx(0.028650240398448473, rel=1e-9)
    found = uplift({"treatment": {"reached": 1000, "converted": 120}, "holdout": {"reached": 1000, "converted": 90}})
    assert found is not None
    assert found["absolute"] == pytest.approx(0.03) and found["relative"] == pytest.approx(1 / 3)
    assert found["p_value"] == pytest.approx(0.028650240398448473, rel=1e-9)


def test_no_uplift_without_a_control_group_and_no_rate_without_sends():
    assert uplift({"treatment": {"reached": 50, "converted": 5}, "holdout": {}}) is None
    assert wilson(0, 0) is None
    assert two_proportion_p(0, 10, 0, 10) == 1.0  # nobody converted anywhere: no difference


def test_rows_of_many_days_sum_per_journey_group_step_variant_and_channel():
    rows = [
        ReportRow(DAY, "cart_abandonment", None, "treatment", None, {"entered": 7, "reached": 6, "converted": 2}),
        ReportRow(DAY, "cart_abandonment", None, "treatment", None, {"revenue": 80.5}),
        ReportRow(DAY, "cart_abandonment", None, "holdout", None, {"entered": 2, "reached": 2}),
        ReportRow(DAY, "cart_abandonment", 0, "a", "email", {"sent": 3, "opened": 2, "suppressed:no_consent": 1}),
        ReportRow(date(2026, 11, 3), "cart_abandonment", 0, "a", "email", {"sent": 1, "converted": 1, "revenue": 40}),
        ReportRow(DAY, "cart_abandonment", 0, "b", "email", {"sent": 2}),
        ReportRow(DAY, "cart_abandonment", 0, "holdout", None, {"held_out": 2}),
    ]

    report = journey_report(rows, DAY, date(2026, 11, 3))

    [journey] = report["journeys"]
    assert journey["groups"]["treatment"]["entered"] == 7 and journey["groups"]["holdout"]["entered"] == 2
    assert journey["groups"]["treatment"]["revenue"] == 80.5
    assert journey["uplift"]["absolute"] == pytest.approx(2 / 6)
    by_variant = {row["variant"]: row for row in journey["steps"]}
    assert by_variant["a"]["sent"] == 4 and by_variant["a"]["converted"] == 1 and by_variant["a"]["revenue"] == 40
    assert by_variant["a"]["suppressed_by_reason"] == {"no_consent": 1}
    assert by_variant["a"]["conversion_rate"]["rate"] == pytest.approx(0.25)
    assert by_variant["holdout"]["held_out"] == 2 and by_variant["holdout"]["conversion_rate"] is None
