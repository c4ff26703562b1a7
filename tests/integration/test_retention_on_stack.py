"""Retention on the local stack: a shop with ``shop.retention`` (P30D here) has a customer inactive 35 days erased
by the daily schedule's retention sweep, run as on AWS: template.yaml's ``DailyDates`` schedule invokes the fan-out
function with its input, which starts the sweep as a Standard execution of the fan-out machine (moto's
interpreter), whose four parts ask the function for their pages through the fan-out queue (a parallel scan of the
customers table). The customer inactive 10 days is kept; the erased one is gone from the customers API and from
every table, but for the suppression record (digests only).

The stack's clock is the wall clock (the schedule player's and the functions'), so the customers' activity is set
in the past instead: each event carries its own ``timestamp``, and the state keeps the latest as the customer's last
activity. What the sweep decides page by page, in virtual time, is ``test_retention.py``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from shared import aws
from shared.adapters.erasure import CustomerErasure
from shared.adapters.shops import ShopDirectory
from shared.models.config import ShopConfig
from tests.conftest import FAST_CONFIG
from tests.factories import consent, identify, track
from tests.integration.http import call, post
from tests.integration.test_erase_on_stack import everything
from tests.integration.test_journeys_on_stack import unique


def retained_shop(stack) -> tuple[str, str, str]:
    """A shop of its own with a retention of 30 days and no journeys (the sweep alone): its id and keys."""
    shop = unique("retained")
    write, secret = f"{shop}-write", f"{shop}-secret"
    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    document["shop"] = {**document["shop"], "id": shop, "write_keys": [write], "secret_keys": [secret]}
    document["shop"]["retention"] = "P30D"
    document["journeys"] = {}
    ShopDirectory(stack.deployment.physical["ShopsTable"]).apply(ShopConfig.model_validate(document))
    return shop, write, secret


def ago(days: int) -> str:
    """An event's ``timestamp`` ``days`` before now."""
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def customer(user: str, days: int) -> list[dict[str, Any]]:
    """A customer with an e-mail address and e-mail consent who looked at a lamp ``days`` ago, all that long ago."""
    return [
        identify({"firstName": "Jo", "email": f"{user}@example.com"}, userId=user, timestamp=ago(days)),
        consent("email", userId=user, timestamp=ago(days)),
        track("Product Viewed", {"product_id": "lamp"}, userId=user, timestamp=ago(days)),
    ]


def daily_schedule(stack) -> dict[str, Any]:
    """What the schedule player does at the schedule's time: invoke its function with its input."""
    (schedule,) = stack.deployment.schedules
    assert "day" not in schedule.input  # the daily schedule itself, which starts the retention sweeps
    answer: dict[str, Any] = stack.runtimes[schedule.function].invoke(dict(schedule.input))
    return answer


def execution(stack, name: str) -> str:
    """The ARN of the fan-out machine's execution ``name`` (a job's id: one execution per name)."""
    machine = stack.deployment.physical["FanOutStateMachine"]
    return machine.replace(":stateMachine:", ":execution:") + f":{name}"


def started(stack, name: str) -> tuple[str, datetime]:
    """The status and start of the fan-out execution ``name``."""
    found = aws.stepfunctions().describe_execution(executionArn=execution(stack, name))
    return found["status"], found["startDate"]


def pages(stack, name: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait for the fan-out execution ``name`` to succeed; what each of its pages answered (its history's task
    results, as the console shows them)."""
    client = aws.stepfunctions()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = client.describe_execution(executionArn=execution(stack, name))
        if described["status"] != "RUNNING":
            assert described["status"] == "SUCCEEDED", described
            history = client.get_execution_history(executionArn=execution(stack, name), maxResults=1000)["events"]
            return [
                json.loads(event["taskSucceededEventDetails"]["output"])
                for event in history
                if event["type"] == "TaskSucceeded"
            ]
        time.sleep(0.2)
    raise AssertionError(f"the fan-out execution {name} did not end within {timeout} s")


def test_the_daily_schedule_erases_a_customer_inactive_longer_than_the_retention_and_keeps_an_active_one(
    local_stack,
):
    shop, write, secret = retained_shop(local_stack)
    quiet, active = unique("quiet"), unique("active")
    # Given one customer last seen 35 days ago, and one first seen 40 days ago who came back 10 days ago
    batch = [*customer(quiet, 35), *customer(active, 40)]
    batch.append(track("Product Viewed", {"product_id": "lamp"}, userId=active, timestamp=ago(10)))
    assert post(local_stack.base_url, "/v1/batch", {"batch": batch}, key=write)[0] == 200
    local_stack.wait_idle()
    assert call(local_stack.base_url, "GET", f"/v1/customers/{quiet}", key=secret)[0] == 200
    assert f"{quiet}@example.com" in everything(local_stack)

    # When the daily schedule fires and its retention sweep runs to its end
    answer = daily_schedule(local_stack)
    [job] = [job for job in answer["started"] if job.get("kind") == "retention" and job["shop"] == shop]
    answered = pages(local_stack, job["job"])
    local_stack.wait_idle(timeout=60, timers=True)  # the day's date sweeps of the other shops too

    # Then the quiet customer is erased and the other kept, as the pages of the four parts counted them (what the
    # CustomersErased metric adds up)
    assert sum(page["next"] is None for page in answered) == 4  # each part to its end
    assert sum(page["told"] for page in answered) == 1 and sum(page["skipped"] for page in answered) == 1
    assert call(local_stack.base_url, "GET", f"/v1/customers/{quiet}", key=secret)[0] == 404
    assert call(local_stack.base_url, "GET", f"/v1/customers/{quiet}/export", key=secret)[0] == 404
    after = everything(local_stack)
    for trace in (quiet, f"{quiet}@example.com"):
        assert trace not in after, [line[:300] for line in after.splitlines() if trace in line]
    erasure = CustomerErasure(local_stack.deployment.physical["CustomersTable"])
    assert erasure.erased_at(shop, f"u:{quiet}") is not None and erasure.erased_at(shop, f"u:{active}") is None
    status, kept = call(local_stack.base_url, "GET", f"/v1/customers/{active}/export", key=secret)
    assert status == 200 and kept["profile"]["traits"]["email"] == f"{active}@example.com", kept

    # And the suppression record keeps a late event (sent before the sweep) from bringing quiet back
    late = track("Product Viewed", {"product_id": "lamp"}, userId=quiet, timestamp=ago(1))
    assert post(local_stack.base_url, "/v1/batch", {"batch": [late]}, key=write)[0] == 200
    local_stack.wait_idle()
    assert call(local_stack.base_url, "GET", f"/v1/customers/{quiet}", key=secret)[0] == 404

    # And the schedule fired again the same day names the same job, which has run: it does not run again
    ran = started(local_stack, job["job"])
    again = daily_schedule(local_stack)
    assert job in again["started"] and started(local_stack, job["job"]) == ran
