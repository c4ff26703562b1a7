"""Offer code pools on the local stack (moto, provisioned from template.yaml): `nudge offers upload` posts a shop's
file of codes through the HTTP API, and a checkout checks a code. The code's life (handed out, redeemed, expired) is
tests/integration/test_offers.py, on the same handlers in memory."""

from __future__ import annotations

import base64
import io
import json
import urllib.request
from typing import Any

from infra.offers_cli import upload
from tests.integration.test_journeys import unique

SECRET = "fast-secret-key"


def get(stack, path: str) -> dict[str, Any]:
    auth = "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()
    request = urllib.request.Request(stack.base_url + path, headers={"Authorization": auth})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_a_file_of_codes_goes_into_the_pool_and_a_repeated_code_stops_the_upload(local_stack, tmp_path):
    pool = unique("pool")
    codes = tmp_path / "codes.csv"
    codes.write_text("code\nSPRING-001\nSPRING-002\n\nSPRING-003,unused column\n", encoding="utf-8")
    said = io.StringIO()

    assert upload(codes, pool, local_stack.base_url, SECRET, out=said) == 0
    assert "3/3 codes uploaded" in said.getvalue()
    assert get(local_stack, f"/v1/offers/pools/{pool}") == {"pool": pool, "available": 3}

    codes.write_text("SPRING-004\nSPRING-004\n", encoding="utf-8")
    assert upload(codes, pool, local_stack.base_url, SECRET, out=said) == 2
    assert "given more than once: SPRING-004" in said.getvalue()
    assert get(local_stack, f"/v1/offers/pools/{pool}")["available"] == 3


def test_a_checkout_asking_for_a_code_nudge_never_handed_out_hears_unknown(local_stack):
    assert get(local_stack, "/v1/offers/SOMEONE-ELSES") == {"code": "SOMEONE-ELSES", "status": "unknown"}


def test_the_webhook_key_a_shop_verifies_with_comes_from_the_stacks_signing_secret(local_stack):
    from infra.offers_cli import webhook_keys
    from shared import aws
    from shared.core.webhooks import webhook_key

    arn = local_stack.resources["SigningSecret"]
    printed = io.StringIO()
    assert webhook_keys("fast", arn, out=printed) == 0

    newest = aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"].splitlines()[0].strip()
    assert printed.getvalue().split() == [webhook_key(newest.encode(), "fast").decode()]
