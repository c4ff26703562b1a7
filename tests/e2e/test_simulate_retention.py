"""``nudge simulate`` plays a shop's ``retention``: the daily schedule (``DailyDates``, 12:00 UTC) starts the retention
sweep in virtual time, on both emulators, for a shop with a retention even without a date journey. A backtest shows
the customers each day's sweep erased (a line, and ``erased`` in the summary); a timeline line for an erased
customer is refused as the API refuses it (404), one for a customer still active answered.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import FAST_CONFIG
from tests.e2e.test_simulate import T0, at, shopper, simulate, track, write_history

pytestmark = pytest.mark.slow

DAY = 86400


def retained_shop(tmp_path: Path, retention: str) -> Path:
    """The fast shop with a retention and no journeys: the daily schedule has nothing but the retention sweep."""
    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    document["shop"]["retention"] = retention
    document["journeys"] = {}
    path = tmp_path / "retained-shop.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_a_customer_inactive_longer_than_the_retention_is_erased_by_the_daily_sweep_on_both_emulators(tmp_path):
    # Given a 30-day retention; quiet signs up on day 0 and is never seen again, active signs up then too and comes
    # back on day 25; support looks both up on day 40
    config = retained_shop(tmp_path, "P30D")
    history = [
        *shopper("quiet", 0, "email"),
        *shopper("active", 0, "email"),
        track("Product Viewed", "active", 25 * DAY, {"product_id": "lamp"}),
        {"type": "timeline", "timestamp": at(40 * DAY), "customer_id": "quiet"},
        {"type": "timeline", "timestamp": at(40 * DAY + 1), "customer_id": "active"},
    ]
    path = write_history(tmp_path / "retention.jsonl", history)

    # When the history is simulated on the in-memory adapters and on moto
    *lines, summary = simulate(config, path, "--summary")[0]
    *on_moto, moto_summary = simulate(config, path, "--summary", "--emulator", "moto")[0]

    # Then the first noon more than 30 days after quiet's last event, the sweep erases quiet (and only quiet): on
    # day 40 support finds no quiet, and active as they were
    first_noon_after = (T0 + timedelta(days=30)).replace(hour=12).isoformat().replace("+00:00", "Z")
    erasures = [line for line in lines if "erased" in line]
    assert erasures == [{"at": first_noon_after, "retention": "P30D", "erased": 1}]
    [answer] = [line for line in lines if line.get("request") == "timeline"]
    assert answer["customer"] == "u:active" and answer["status"] == 200
    assert summary["summary"]["erased"] == 1 and summary["summary"]["rejected"] == 1  # quiet's timeline: 404
    assert sorted(on_moto, key=json.dumps) == sorted(lines, key=json.dumps)
    assert moto_summary["summary"]["erased"] == 1 and moto_summary["summary"]["rejected"] == 1


def test_the_schedule_plays_the_days_after_the_history_until_the_end_given(tmp_path):
    # Given the same shop and customers, and nothing after day 25
    config = retained_shop(tmp_path, "P30D")
    history = [
        *shopper("quiet", 0, "email"),
        *shopper("active", 0, "email"),
        track("Product Viewed", "active", 25 * DAY, {"product_id": "lamp"}),
    ]
    path = write_history(tmp_path / "retention.jsonl", history)

    # When it is simulated without an end, and until 40 days after the last message
    ended, _ = simulate(config, path, "--summary")
    played, _ = simulate(config, path, "--summary", "--until", "P40D")

    # Then without an end nothing is left to happen after day 25 and no sweep erases anyone; until day 65, each is
    # erased on the first noon more than 30 days after their last event
    assert ended == [ended[-1]] and ended[-1]["summary"]["erased"] == 0
    noon = [(T0 + timedelta(days=days)).replace(hour=12) for days in (30, 55)]
    assert [line for line in played if "summary" not in line] == [
        {"at": moment.isoformat().replace("+00:00", "Z"), "retention": "P30D", "erased": 1} for moment in noon
    ]
    assert played[-1]["summary"]["erased"] == 2
