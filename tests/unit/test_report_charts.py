"""``nudge report``'s tables and charts (infra/report_cli.py) from reports as the API answers them."""

from __future__ import annotations

from datetime import date

from infra.report_cli import churn_tables, journey_tables, write_report
from shared.adapters.reports import ReportRow
from shared.core.reports import journey_report

DAY = date(2026, 11, 2)
ROWS = [
    ReportRow(DAY, "welcome", None, "treatment", None, {"entered": 40, "reached": 40, "converted": 8, "revenue": 400}),
    ReportRow(DAY, "welcome", None, "holdout", None, {"entered": 10, "reached": 10, "converted": 1, "revenue": 50}),
    ReportRow(
        DAY, "welcome", 0, "a", "email", {"sent": 20, "delivered": 19, "opened": 9, "clicked": 3, "converted": 2}
    ),
    ReportRow(DAY, "welcome", 0, "b", "email", {"sent": 20, "suppressed:no_consent": 2, "suppressed": 2}),
    ReportRow(DAY, "welcome", 0, "holdout", None, {"held_out": 10}),
]
CHURN = {
    "from": "2026-12",
    "to": "2027-01",
    "months": [
        {
            "month": "2026-12",
            "buyers": {"first_time": 1, "repeat": 1},
            "churn_rate": {"first_time": 0.5, "repeat": None},
        },
        {
            "month": "2027-01",
            "buyers": {"first_time": 1, "repeat": 1},
            "churn_rate": {"first_time": 0.0, "repeat": 1.0},
        },
    ],
    "at_risk": {"customers": 2},
}


def test_the_tables_show_each_group_the_uplift_and_a_row_per_variant_with_why_messages_were_suppressed():
    text = journey_tables(journey_report(ROWS, DAY, DAY))

    assert "entered 40 (+10 held out), reached 40, converted 8 (20.0% [10.5-34.8])" in text
    assert "uplift +10.00 points" in text
    rows = [line.split() for line in text.splitlines() if line.strip().startswith("0 ")]
    assert [row[1] for row in rows] == ["a", "b", "holdout"]
    assert rows[1][-2:] == ["no_consent", "2"]
    churn = churn_tables(CHURN).splitlines()
    assert churn[1].split() == ["month", "buyers", "churn_rate"]  # a column per field, a row per month
    assert churn[3].split() == ["2026-12", "first_time=1", "repeat=1", "first_time=0.5", "repeat=-"]
    assert churn[-1] == '  at risk now: {"customers": 2}'


def test_the_charts_are_a_funnel_and_the_conversion_per_variant_per_journey_and_the_churn_curves(tmp_path):
    files = write_report(journey_report(ROWS, DAY, DAY), CHURN, tmp_path)

    names = sorted(path.name for path in files)
    assert names == ["churn.png", "conversion-welcome.png", "funnel-welcome.png", "report.json"]
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in files if path.suffix == ".png")
