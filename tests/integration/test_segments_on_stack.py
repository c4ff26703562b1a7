"""``nudge segment export`` against the local stack (HTTP, the moto tables, the demo shop's segments in
events/demo-shop.yaml): every member once, the addresses hashed as ad platforms match them when asked."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from infra.cli import main
from tests.factories import consent, identify, track
from tests.integration.http import SECRET_KEY, post
from tests.integration.test_journeys import unique


def test_export_writes_every_member_once_with_hashed_addresses(local_stack, tmp_path: Path, capsys):
    base = local_stack.base_url
    buyers = [unique("dach") for _ in range(3)]
    for user in buyers:
        traits = {"country": "AT", "email": f"{user.upper()}@Example.com", "phone": "+43 660 123 4567"}
        batch = [identify(traits, userId=user), consent("email", userId=user)]
        batch.append(track("Order Completed", {"order_id": unique("o"), "total": 35}, userId=user))
        assert post(base, "/v1/batch", {"batch": batch})[0] == 200
    browser = unique("browser")
    assert (
        post(base, "/v1/identify", identify({"country": "DE", "email": f"{browser}@example.com"}, userId=browser))[0]
        == 200
    )
    local_stack.wait_idle()

    out = tmp_path / "dach.csv"
    command = ["segment", "export", "dach_buyers", "--api", base, "--key", SECRET_KEY, "--hashed", "--output", str(out)]
    assert main(command) == 0

    rows = {row["customer_id"]: row for row in csv.DictReader(out.open())}
    assert set(buyers) <= set(rows) and browser not in rows  # ordered in DACH; the one who only browsed is not
    assert len(rows) == sum(1 for _ in out.open()) - 1  # nobody twice
    row = rows[buyers[0]]
    assert row["email"] == hashlib.sha256(f"{buyers[0]}@example.com".encode()).hexdigest()
    assert row["phone"] == hashlib.sha256(b"+436601234567").hexdigest() and row["known"] == "true"
    assert "members of" in capsys.readouterr().err

    assert main(["segment", "export", "newsletter", "--api", base, "--key", SECRET_KEY, "--format", "jsonl"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {m["customer_id"] for m in listed} >= set(buyers) and browser not in {m["customer_id"] for m in listed}


def test_export_of_a_segment_the_shop_does_not_have_fails_saying_so(local_stack, capsys):
    assert main(["segment", "export", "vips", "--api", local_stack.base_url, "--key", SECRET_KEY]) == 1
    assert "404" in capsys.readouterr().err
