"""Engagement and attribution on the local stack: a click on a tracked link of a real SES e-mail (moto's backend)
goes through the public function's redirect over HTTP, reaches the customer's FIFO group and the send ledger in the
emulated DynamoDB, and the order after it is credited to the message, as support reads it from the timeline.

What the rules decide (windows, coupons, refunds, opens, taps, reads) runs in memory, ``test_engagement.py``.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from tests.factories import boots, shopper, track
from tests.integration.http import call
from tests.integration.test_channels_on_stack import emails_to
from tests.integration.test_journeys_on_stack import SECRET, messages, send, settle, unique


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the test reads the redirect itself


def follow(url: str) -> tuple[int, str | None]:
    """GET ``url`` as a mail client's browser would, without following the redirect: (status, Location)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url) as answer:
            return answer.status, answer.headers.get("Location")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location")


def test_a_click_in_a_sent_email_redirects_lands_on_the_message_and_credits_the_order(local_stack):
    user, order_id = unique("click"), unique("o")
    send(local_stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))
    settle(local_stack, 2.5)
    [email] = [m for m in emails_to(f"{user}@example.com") if "left something" in str(m["Subject"])]
    [link, *_] = re.findall(r"https?://\S+/c/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", email.get_body(("plain",)).get_content())

    status, location = follow(link)
    local_stack.wait_idle()
    send(local_stack, track("Order Completed", {"order_id": order_id, "revenue": 99.0}, userId=user))

    assert status == 302 and location is not None and location.startswith("https://fast.shop.example")
    assert "utm_campaign=cart_abandonment" in location
    reminder = next(m for m in messages(local_stack, user)["messages"] if m["template"] == "cart_reminder")
    assert reminder["clicks"] == 1 and reminder["credits"] == {order_id: 99.0}
    status, body = call(local_stack.base_url, "GET", f"/v1/customers/{user}/timeline", key=SECRET)
    assert status == 200
    [order] = [item for item in body["timeline"] if item["kind"] == "order"]
    assert order["credited_to"]["message"] == reminder["message_id"] and order["credited_to"]["rule"] == "click"
    # and the customer's export holds the message with the click and the order credited to it
    status, exported = call(local_stack.base_url, "GET", f"/v1/customers/{user}/export", key=SECRET)
    assert status == 200
    [held] = [m for m in exported["messages"] if m["message_id"] == reminder["message_id"]]
    assert held["clicks"] == 1 and held["credits"] == {order_id: 99.0}
    assert exported["shopping"]["orders"]["recent"][0]["credit"]["rule"] == "click"


def test_nudge_report_prints_the_stacks_reports_and_draws_their_charts(local_stack, tmp_path, capsys):
    from infra.report_cli import run

    user = unique("report")
    send(local_stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))
    settle(local_stack, 2.5)
    send(local_stack, track("Order Completed", {"order_id": unique("o"), "revenue": 42.0}, userId=user))

    code = run(local_stack.base_url, SECRET, None, None, tmp_path / "charts")

    printed = capsys.readouterr().out
    assert code == 0
    assert "Journey report" in printed and "cart_abandonment" in printed and "Churn report" in printed
    document = json.loads((tmp_path / "charts" / "report.json").read_text())
    [journey] = [j for j in document["journeys"]["journeys"] if j["journey"] == "cart_abandonment"]
    assert journey["groups"]["treatment"]["reached"] >= 1
    assert (tmp_path / "charts" / "funnel-cart_abandonment.png").read_bytes()[:4] == b"\x89PNG"
    assert run(local_stack.base_url, "wrong-key", None, None, None) == 1


def test_a_holdout_and_variants_run_on_the_stacks_timers_and_the_report_counts_them(local_stack):
    import yaml

    from shared.adapters.shops import ShopDirectory
    from shared.core import experiments
    from shared.models.config import ShopConfig
    from tests.conftest import FAST_CONFIG
    from tests.integration.http import post

    document = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    document["shop"] = {**document["shop"], "id": "abtest", "write_keys": ["ab-write"], "secret_keys": ["ab-secret"]}
    document["journeys"] = {
        "cart_abandonment": {
            "holdout": 40,
            "steps": [
                {"wait": "PT2S", "template": "cart_reminder", "variants": [{"name": "a"}, {"name": "b"}]},
            ],
        }
    }
    config = ShopConfig.model_validate(document)
    ShopDirectory(local_stack.deployment.physical["ShopsTable"]).apply(config)
    users = [unique("ab") for _ in range(10)]
    batch = [m for user in users for m in [*shopper(user, "email"), track("Product Added", boots(), userId=user)]]

    assert post(local_stack.base_url, "/v1/batch", {"batch": batch}, key="ab-write")[0] == 200
    local_stack.wait_idle()
    settle(local_stack, 2.5)

    held = [u for u in users if experiments.group(config, "cart_abandonment", f"u:{u}") == "holdout"]
    for user in users:
        status, body = call(local_stack.base_url, "GET", f"/v1/customers/{user}/messages", key="ab-secret")
        assert status == 200
        sent = [m for m in body["messages"] if m["journey"] == "cart_abandonment"]
        outcomes = [entry["outcome"] for entry in body["journey_log"]]
        if user in held:
            assert sent == [] and "held_out" in outcomes, user
        else:
            [message] = sent
            assert message["status"] == "sent" and message["variant"] in ("a", "b"), user
    status, report = call(local_stack.base_url, "GET", "/v1/reports/journeys", key="ab-secret")
    assert status == 200
    [journey] = report["journeys"]
    assert journey["groups"]["holdout"]["reached"] == len(held)
    assert journey["groups"]["treatment"]["reached"] == len(users) - len(held)
    assert sum(row["sent"] for row in journey["steps"]) == len(users) - len(held)


def test_nudge_customer_shows_a_customers_profile_timeline_and_export_from_the_stack(local_stack, tmp_path, capsys):
    from infra.cli import main

    user = unique("cli")
    send(local_stack, *shopper(user, "email"), track("Product Added", boots(), userId=user))
    api = ["--api", local_stack.base_url, "--key", SECRET]

    shown = main(["customer", "show", user, *api])
    profile = json.loads(capsys.readouterr().out)
    exported = main(["customer", "export", user, *api, "--output", str(tmp_path / "export.json")])
    refused = main(["customer", "timeline", user, "--api", local_stack.base_url, "--key", "fast-write-key"])

    assert (shown, exported, refused) == (0, 0, 1)
    assert profile["customer_id"] == user and profile["carts"]["c1"]["items"][0]["product_id"] == "boots"
    document = json.loads((tmp_path / "export.json").read_text(encoding="utf-8"))
    assert document["format"] == "nudge-customer-export/1" and document["profile"]["user_id"] == user
    assert "401" in capsys.readouterr().err
