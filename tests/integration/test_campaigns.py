"""Campaigns (J12) end to end on template.yaml in memory: ``POST /v1/campaigns`` stores the campaign and starts its
fan-out (the fan-out state machine played in virtual time, ``infra/memory/fan_out.py``); at ``send_at`` its sweep
tells each member of the segment in their own FIFO group, the updater makes the message, the router sends it once
where consent and the contact policy allow and records the rest with their reason; ``GET`` reports the progress.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.core import experiments
from shared.models.config import ShopConfig
from tests.factories import T0, consent, identify
from tests.integration.test_journeys import unique
from tests.memory import FAST_CONFIG, MemoryStack

WRITE, SECRET = "fast-write-key", "fast-secret-key"


def shop() -> ShopConfig:
    document = ShopConfig.from_yaml_file(FAST_CONFIG).model_dump(mode="json", exclude_unset=True)
    document["journeys"] = {}  # the campaign's messages alone
    document["segments"] = {"german": {"trait": {"name": "country", "equals": "DE"}}}
    return ShopConfig.model_validate(document)


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([shop()])


def customers(stack: MemoryStack, country: str, count: int, *, email: bool = True) -> list[str]:
    users = [unique(country.lower()) for _ in range(count)]
    batch: list[dict[str, Any]] = []
    for user in users:
        batch.append(identify({"country": country, "email": f"{user}@example.com", "firstName": "Jo"}, userId=user))
        if email:
            batch.append(consent("email", userId=user))
    for start in range(0, len(batch), 100):
        assert stack.post("/v1/batch", {"batch": batch[start : start + 100]}, key=WRITE)[0] == 200
    stack.settle()
    return users


def campaign(**fields: Any) -> dict[str, Any]:
    return {
        "id": unique("spring"),
        "segment": "german",
        "template": "welcome",
        "send_at": (T0 + timedelta(hours=2)).isoformat(),
        **fields,
    }


def until_quiet(stack: MemoryStack) -> None:
    """Let virtual time run until nothing waits: the fan-out's wait for send_at, its pages, the updater, the router."""
    stack.settle()
    while (moment := stack.cloud.next_visible()) is not None:
        stack.clock.at = max(stack.clock.at, moment)
        stack.settle()


def run_until(stack: MemoryStack, until: datetime) -> None:
    """Virtual time runs to ``until``: the fan-out's waits and pages, the updater, the timers, the router, each
    thing at its moment."""
    stack.settle()
    while True:
        moments = [m for m in (stack.cloud.next_visible(), stack.timers.next_due) if m is not None]
        if not moments or min(moments) > until:
            break
        stack.run_timers(until=max(stack.clock.at, min(moments)))
    stack.run_timers(until=until)


def status(stack: MemoryStack, campaign_id: str) -> dict[str, Any]:
    code, body = stack.call("GET", f"/v1/campaigns/{campaign_id}", key=SECRET)
    assert code == 200, body
    return body


def emailed(stack: MemoryStack) -> list[str]:
    return sorted(sent.to.split("@")[0] for sent in stack.sent("email"))


def test_every_member_gets_the_message_once_at_send_at_and_the_progress_says_so(stack):
    german = customers(stack, "DE", 30)
    customers(stack, "DE", 5, email=False)  # no consent to any channel
    customers(stack, "FR", 20)
    body = campaign(rate_per_second=5)

    code, created = stack.post("/v1/campaigns", body, key=SECRET)
    assert code == 201 and created["status"] == "scheduled"
    stack.settle()
    assert emailed(stack) == []  # nothing before send_at

    until_quiet(stack)

    assert emailed(stack) == sorted(german)  # each once; the French never, the unsubscribed held back
    report = status(stack, body["id"])
    assert report["status"] == "done"
    assert report["progress"] == {
        "members": 35,
        "sent": 30,
        "suppressed": 5,
        "suppressed_by_reason": {"no_consent": 5},
        "failed": 0,
        "waiting": 0,
        "parts_done": 4,
        "parts": 4,
    }


def test_posting_a_campaign_again_changes_nothing_and_another_body_under_its_id_is_refused(stack):
    german = customers(stack, "DE", 3)
    body = campaign()
    assert stack.post("/v1/campaigns", body, key=SECRET)[0] == 201
    code, again = stack.post("/v1/campaigns", body, key=SECRET)
    assert code == 200 and again["status"] == "scheduled"
    code, refused = stack.post("/v1/campaigns", {**body, "template": "welcome_loyalty"}, key=SECRET)
    assert code == 409 and body["id"] in refused["message"]

    until_quiet(stack)
    assert emailed(stack) == sorted(german)  # once each, though posted twice


def test_a_cancelled_campaign_sends_nothing_and_one_that_is_done_cannot_be_cancelled(stack):
    customers(stack, "DE", 3)
    body = campaign()
    stack.post("/v1/campaigns", body, key=SECRET)
    code, cancelled = stack.call("DELETE", f"/v1/campaigns/{body['id']}", key=SECRET)
    assert code == 200 and cancelled["status"] == "cancelled"
    until_quiet(stack)
    assert emailed(stack) == [] and status(stack, body["id"])["progress"]["members"] == 0

    later = campaign()
    stack.post("/v1/campaigns", later, key=SECRET)
    until_quiet(stack)
    code, answer = stack.call("DELETE", f"/v1/campaigns/{later['id']}", key=SECRET)
    assert code == 409 and "done" in answer["message"]
    assert stack.call("DELETE", "/v1/campaigns/nope", key=SECRET)[0] == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"segment": "vips"}, "segment"),
        ({"template": "no_such_kind"}, "template"),
        ({"send_at": "2026-12-24T09:00:00"}, "send_at"),  # no time zone
        ({"rate_per_second": 0}, "rate_per_second"),
        ({"id": "has space"}, "id"),
        ({"steps": [{"template": "welcome"}]}, "body"),  # template and steps: one of them
        (
            {"template": None, "steps": [{"template": "welcome"}, {"template": "nope", "wait": "P1D"}]},
            "steps.1.template",
        ),
        ({"template": None, "steps": [{"template": "welcome", "wait": "P31D"}]}, "body"),  # over 30 days
        ({"channels": ["fax"]}, "channels.0"),
        ({"topic": "vip"}, "topic"),  # not one of the shop's topics
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_campaign_is_refused_naming_the_field_and_nothing_is_stored(stack, change, field):
    body = campaign(**change)
    code, answer = stack.post("/v1/campaigns", body, key=SECRET)
    assert code == 400, answer
    assert field in [error["field"] for error in answer["errors"]]
    if "id" not in change:
        assert stack.call("GET", f"/v1/campaigns/{body['id']}", key=SECRET)[0] == 404


def test_the_write_key_can_neither_post_nor_read_a_campaign(stack):
    body = campaign()
    assert stack.post("/v1/campaigns", body, key=WRITE)[0] == 401
    assert stack.call("GET", f"/v1/campaigns/{body['id']}", key=WRITE)[0] == 401


def test_a_worker_failing_midway_sends_nobody_twice_and_counts_everyone_once(stack):
    german = customers(stack, "DE", 40)
    body = campaign()
    stack.post("/v1/campaigns", body, key=SECRET)
    # The fan-out function dies after telling a page's members, before it answers the state machine: the page's
    # request comes back (SQS) and the page is done again, in each of the sweep's parts.
    count_page, failed = stack.cloud.campaigns.count_page, set()

    def dies_once_per_part(shop_id: str, campaign_id: str, page: str, members: int, part_done: str | None) -> None:
        if page not in failed:
            failed.add(page)
            raise ConnectionError("the worker died")
        count_page(shop_id, campaign_id, page, members, part_done)

    stack.cloud.campaigns.count_page = dies_once_per_part  # type: ignore[method-assign]

    until_quiet(stack)

    assert failed  # it did fail, once per page
    assert emailed(stack) == sorted(german)  # every member once
    progress = status(stack, body["id"])["progress"]
    assert (progress["members"], progress["sent"], progress["parts_done"]) == (40, 40, 4)


def test_segments_of_who_a_campaign_reached_and_who_ordered_within_five_days_after(memory_stack):
    document = shop().model_dump(mode="json", exclude_unset=True)
    document["segments"] |= {
        "reached": {"campaign": {"id": "spring"}},
        "converted": {"campaign": {"id": "spring", "outcome": "converted"}},
        "any_campaign_this_week": {"campaign": {"within": "P7D"}},
    }
    stack = memory_stack([ShopConfig.model_validate(document)])
    buyer, late, idle = customers(stack, "DE", 3)
    [french] = customers(stack, "FR", 1)
    stack.post("/v1/campaigns", campaign(id="spring"), key=SECRET)
    until_quiet(stack)  # the campaign went out at T0 + 2 h

    def order(user: str, days: float) -> None:
        stack.clock.at = T0 + timedelta(hours=2, days=days)
        body = {"type": "track", "event": "Order Completed", "userId": user, "properties": {"order_id": unique("o")}}
        assert stack.post("/v1/track", body, key=WRITE)[0] == 200
        stack.settle()

    order(buyer, 2)  # within the five days
    order(late, 6)  # not

    def listed(segment: str) -> set[str]:
        code, page = stack.call("GET", f"/v1/segments/{segment}/members", key=SECRET)
        assert code == 200, page
        return {member["customer_id"] for member in page["members"]}

    assert listed("reached") == {buyer, late, idle} and french not in listed("reached")
    assert listed("converted") == {buyer}
    assert listed("any_campaign_this_week") == {buyer, late, idle}
    stack.clock.at = T0 + timedelta(days=8)
    assert listed("any_campaign_this_week") == set()


def test_a_local_time_campaign_reaches_each_member_at_the_wall_time_in_their_own_zone(stack):
    # Members in Berlin (UTC+1 in December), New York (UTC-5), Kathmandu (UTC+5:45) and one with no zone (the
    # shop's, Berlin)
    zones = {"berlin": "Europe/Berlin", "new_york": "America/New_York", "kathmandu": "Asia/Kathmandu", "none": None}
    users = {}
    for name, zone in zones.items():
        user = unique(name)
        context = {"timezone": zone} if zone else {}
        batch = [
            identify({"country": "DE", "email": f"{user}@example.com"}, userId=user, context=context),
            consent("email", userId=user),
        ]
        assert stack.post("/v1/batch", {"batch": batch}, key=WRITE)[0] == 200
        users[name] = user
    stack.settle()
    body = campaign(send_at="2026-11-04T09:00:00Z", local_time=True)  # 09:00 on 4 November, wherever they are

    assert stack.post("/v1/campaigns", body, key=SECRET)[0] == 201
    run_until(stack, T0 + timedelta(days=4))

    def sent_at(user: str) -> datetime:
        (entry,) = [e for e in stack.cloud.ledger.list("fast", f"u:{user}") if e.status == "sent"]
        assert entry.updated_at is not None
        return entry.updated_at

    assert sent_at(users["berlin"]) == datetime(2026, 11, 4, 8, tzinfo=UTC)
    assert sent_at(users["none"]) == datetime(2026, 11, 4, 8, tzinfo=UTC)
    assert sent_at(users["new_york"]) == datetime(2026, 11, 4, 14, tzinfo=UTC)
    assert sent_at(users["kathmandu"]) == datetime(2026, 11, 4, 3, 15, tzinfo=UTC)  # a timer within its wave
    report = status(stack, body["id"])
    assert report["status"] == "done" and report["progress"]["sent"] == 4
    assert report["progress"]["parts_done"] == report["progress"]["parts"] == 27 * 4


def test_a_follow_up_step_goes_to_the_members_reached_who_have_not_ordered_since(stack):
    buyer, idle = customers(stack, "DE", 2)
    body = campaign(
        template=None,
        steps=[{"template": "welcome"}, {"template": "welcome_loyalty", "wait": "P2D"}],
    )
    assert stack.post("/v1/campaigns", body, key=SECRET)[0] == 201
    run_until(stack, T0 + timedelta(days=1))  # the first message, at send_at
    [late] = customers(stack, "DE", 1)  # joined after the first step: no follow-up without it
    order = {"type": "track", "event": "Order Completed", "userId": buyer, "properties": {"order_id": unique("o")}}
    assert stack.post("/v1/batch", {"batch": [order]}, key=WRITE)[0] == 200
    run_until(stack, T0 + timedelta(days=4))

    def kinds(user: str) -> list[str]:
        found = [e for e in stack.cloud.ledger.list("fast", f"u:{user}") if e.status == "sent"]
        return sorted(e.template for e in found)

    assert kinds(buyer) == ["welcome"]
    assert kinds(idle) == ["welcome", "welcome_loyalty"]
    assert kinds(late) == []
    report = status(stack, body["id"])
    assert report["status"] == "done" and report["progress"]["parts"] == 8


def test_a_campaign_cancelled_between_its_steps_sends_no_follow_up(stack):
    german = customers(stack, "DE", 3)
    body = campaign(template=None, steps=[{"template": "welcome"}, {"template": "welcome_loyalty", "wait": "P2D"}])
    stack.post("/v1/campaigns", body, key=SECRET)
    run_until(stack, T0 + timedelta(days=1))  # the first step went out
    assert status(stack, body["id"])["status"] == "running"

    code, cancelled = stack.call("DELETE", f"/v1/campaigns/{body['id']}", key=SECRET)
    run_until(stack, T0 + timedelta(days=4))

    assert code == 200 and cancelled["status"] == "cancelled"
    assert emailed(stack) == sorted(german)  # the first step, once each; no follow-up
    assert status(stack, body["id"])["progress"]["sent"] == 3


def test_a_campaign_holdout_sends_nothing_to_its_control_group_and_the_report_counts_both(stack):
    german = customers(stack, "DE", 40)
    body = campaign(holdout=25)

    assert stack.post("/v1/campaigns", body, key=SECRET)[0] == 201
    until_quiet(stack)

    config = stack.cloud.shops.config("fast")
    assert config is not None
    journey = f"campaign:{body['id']}"
    held = [u for u in german if experiments.group_of(config, f"holdout:{journey}", 25, f"u:{u}") == "holdout"]
    assert 2 <= len(held) <= 18  # 25 % of 40, within the binomial's spread
    assert emailed(stack) == sorted(set(german) - set(held))
    code, report = stack.call("GET", "/v1/reports/journeys", key=SECRET)
    assert code == 200
    [row] = [j for j in report["journeys"] if j["journey"] == journey]
    assert row["groups"]["holdout"]["entered"] == len(held)
    assert row["groups"]["treatment"]["entered"] == len(german) - len(held)
    assert [s["held_out"] for s in row["steps"] if s["variant"] == "holdout"] == [len(held)]


def test_members_who_switched_the_campaigns_topic_off_get_none_of_it(memory_stack):
    from shared.core.tokens import issue_preferences_token

    config = shop().model_dump(mode="json", exclude_unset=True)
    config["topics"] = {"offers": {"label": {"en": "Offers"}}}
    stack = memory_stack([ShopConfig.model_validate(config)])
    german = customers(stack, "DE", 6)
    opted_out = german[:2]
    for user in opted_out:  # in their preference centre, "Offers" switched off
        token = issue_preferences_token(stack.cloud.signing_keys()[0], "fast", f"u:{user}", "email")
        form = "shown_channel=email&channel=email&shown_topic=offers"
        assert stack.request("POST", f"/p/{token}", form).status == 200
    body = campaign(topic="offers")

    assert stack.post("/v1/campaigns", body, key=SECRET)[0] == 201
    until_quiet(stack)

    assert emailed(stack) == sorted(german[2:])
    progress = status(stack, body["id"])["progress"]
    assert (progress["sent"], progress["suppressed_by_reason"]) == (4, {"topic_opted_out": 2})
