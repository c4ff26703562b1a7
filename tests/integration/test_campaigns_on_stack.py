"""A campaign on the local stack: what only the stack shows is its fan-out as a Standard execution of the fan-out
state machine (moto's interpreter), the sweep's parallel-scan segments side by side in its Map, each asking the
fan-out function for pages over SQS with a task token. Who gets what and why, retries and cancelling:
test_campaigns.py, in memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from infra.cli import main
from tests.factories import identify, shopper
from tests.integration.http import call, post
from tests.integration.test_catalogue_on_stack import fan_outs_about, told
from tests.integration.test_journeys_on_stack import SECRET, WRITE, unique


def test_a_campaign_reaches_each_member_of_its_segment_once_through_the_fan_out_machine(local_stack, tmp_path, capsys):
    gold, silver = [unique("gold") for _ in range(3)], unique("silver")
    batch: list[dict[str, Any]] = []
    for user, tier in [*((user, "gold") for user in gold), (silver, "silver")]:
        batch += [*shopper(user, "email"), identify({"tier": tier}, userId=user)]
    assert post(local_stack.base_url, "/v1/batch", {"batch": batch}, key=WRITE)[0] == 200
    local_stack.wait_idle()

    campaign_id = unique("gold-week")
    body = {"id": campaign_id, "segment": "gold", "template": "birthday", "send_at": datetime.now(UTC).isoformat()}
    (tmp_path / "gold.json").write_text(json.dumps(body))
    api = ["--api", local_stack.base_url, "--key", SECRET]
    assert main(["campaign", "create", str(tmp_path / "gold.json"), *api]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "scheduled"
    local_stack.wait_idle(timeout=90, timers=True)

    for user in gold:
        assert told(local_stack, user, "birthday") == [("sent", "email")]
    assert told(local_stack, silver, "birthday") == []
    assert fan_outs_about(local_stack, campaign_id) == ["SUCCEEDED"]
    assert main(["campaign", "show", campaign_id, *api]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "done"
    assert {k: report["progress"][k] for k in ("members", "sent", "parts_done")} == {
        "members": 3,
        "sent": 3,
        "parts_done": 4,
    }
    assert main(["campaign", "cancel", campaign_id, *api]) == 1  # done: too late
    assert "409" in capsys.readouterr().err
    assert call(local_stack.base_url, "GET", f"/v1/campaigns/{campaign_id}", key=SECRET)[1]["status"] == "done"


def test_a_day_swept_again_greets_the_birthday_customers_through_the_fan_out_machine(local_stack, capsys):
    today = datetime.now(UTC).date()
    child, other = unique("bday"), unique("other")
    batch: list[dict[str, Any]] = []
    for user, birthday in [(child, f"2019-{today:%m-%d}"), (other, "2019-01-01" if today.month != 1 else "2019-06-01")]:
        batch += [*shopper(user, "email"), identify({"birthday": birthday}, userId=user, context={"timezone": "UTC"})]
    assert post(local_stack.base_url, "/v1/batch", {"batch": batch}, key=WRITE)[0] == 200
    local_stack.wait_idle()

    api = ["--api", local_stack.base_url, "--key", SECRET]
    assert main(["dates", "run", "--day", today.isoformat(), *api]) == 0
    job = json.loads(capsys.readouterr().out)["job"]
    local_stack.wait_idle(timeout=90, timers=True)

    assert told(local_stack, child, "birthday") == [("sent", "email")]  # 00:00 today has passed: at once
    assert told(local_stack, other, "birthday") == []
    assert fan_outs_about(local_stack, job) == ["SUCCEEDED"]
    assert main(["dates", "run", "--day", "last week", *api]) == 1
    assert "400" in capsys.readouterr().err
