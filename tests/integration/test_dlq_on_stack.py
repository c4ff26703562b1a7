"""``nudge dlq`` on the local stack: an event the state updater cannot apply (its shop is not configured yet) is
parked in the events dead-letter queue with its reason; the operator lists it and shows it without consuming it,
configures the shop, and redrives it: the updater applies it, and the dead-letter queue is empty."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import yaml

from shared import aws
from shared.adapters.shops import ShopDirectory
from shared.models.config import ShopConfig
from shared.models.nudge_events import FeedbackEvent, deduplication_id
from tests.conftest import FAST_CONFIG
from tests.integration.test_journeys_on_stack import unique


def run(capsys, *arguments: str) -> tuple[int, list[str], str]:
    from infra.cli import main

    code = main(["dlq", *arguments])
    captured = capsys.readouterr()
    return code, [line for line in captured.out.splitlines() if line.strip()], captured.err


def test_an_event_parked_for_an_unknown_shop_is_listed_shown_and_redriven_once_the_shop_exists(local_stack, capsys):
    shop = unique("dlq")
    now = datetime.now(UTC)
    event = FeedbackEvent(
        shop_id=shop,
        customer="u:ada",
        channel="whatsapp",
        reason="whatsapp_inbound",
        source="whatsapp-inbound",
        feedback_id=unique("wa"),
        occurred_at=now,
        received_at=now,
    )
    aws.sqs().send_message(
        QueueUrl=local_stack.deployment.physical["EventsQueue"],
        MessageBody=event.model_dump_json(),
        MessageGroupId=event.group,
        MessageDeduplicationId=deduplication_id(shop, event.message_id),
    )
    local_stack.wait_idle()
    where = ["--queue-url", local_stack.deployment.physical["EventsDeadLetterQueue"]]

    listed, lines, _ = run(capsys, "list", *where)
    mine = [json.loads(line) for line in lines if json.loads(line).get("shop") == shop]
    [parked] = mine
    again, lines_again, _ = run(capsys, "list", *where)  # listing consumed nothing
    shown, shown_lines, _ = run(capsys, "show", parked["id"], *where)

    assert (listed, again, shown) == (0, 0, 0)
    assert parked["reason"] == f"unknown shop {shop!r}" and parked["kind"] == "feedback"
    assert parked["id"] in "\n".join(lines_again)
    assert json.loads("\n".join(shown_lines))["body"]["feedback_id"] == event.feedback_id

    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    document["shop"] = {**document["shop"], "id": shop, "write_keys": [f"{shop}-w"], "secret_keys": [f"{shop}-s"]}
    ShopDirectory(local_stack.deployment.physical["ShopsTable"]).apply(ShopConfig.model_validate(document))
    moved, moved_lines, err = run(capsys, "redrive", parked["id"], *where)
    local_stack.wait_idle()
    after, after_lines, _ = run(capsys, "list", *where)

    assert moved == 0 and [json.loads(line)["id"] for line in moved_lines] == [parked["id"]]
    assert "1 message(s) moved back" in err
    assert after == 0 and parked["id"] not in "\n".join(after_lines)
    assert not [line for line in after_lines if json.loads(line).get("shop") == shop]  # applied, not parked again


def test_without_a_queue_it_says_what_to_give(capsys):
    code, _, err = run(capsys, "list")

    assert code == 1 and "give --queue-url, or --queue events|outbox with --stack NAME" in err


def test_nudge_journey_pause_and_resume_store_the_pause_with_the_shop_and_refuse_an_unknown_journey(
    local_stack, capsys
):
    from infra.cli import main

    table = ["--shop", "fast", "--table", local_stack.deployment.physical["ShopsTable"]]

    paused = main(["journey", "pause", "browse_abandonment", *table])
    held = ShopDirectory(local_stack.deployment.physical["ShopsTable"]).config("fast")
    resumed = main(["journey", "resume", "browse_abandonment", *table])
    unknown = main(["journey", "pause", "no_such_journey", *table])
    printed = capsys.readouterr()

    assert (paused, resumed, unknown) == (0, 0, 1)
    assert held is not None and "browse_abandonment" in held.paused
    assert "browse_abandonment paused" in printed.out and "browse_abandonment resumed" in printed.out
    assert "has no journey 'no_such_journey'" in printed.err
    after = ShopDirectory(local_stack.deployment.physical["ShopsTable"]).config("fast")
    assert after is not None and "browse_abandonment" not in after.paused
