"""`nudge serve` as an engineer runs it: a process in the foreground, an unmodified Segment client, Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import segment.analytics as analytics

from tests.integration.http import SECRET_KEY, WRITE_KEY, customer

ROOT = Path(__file__).resolve().parents[2]
NUDGE = Path(sys.executable).with_name("nudge")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served():
    port = free_port()
    env = {**os.environ, "TZ": "UTC"}
    process = subprocess.Popen(
        [str(NUDGE), "serve", "--port", str(port), "--config", str(ROOT / "events" / "demo-shop.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if "Ctrl-C stops it" in line or process.poll() is not None:
            break
    yield process, f"http://127.0.0.1:{port}", lines
    if process.poll() is None:
        process.kill()


def wait_for_customer(base_url: str, user: str, predicate, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        status, body = customer(base_url, user)
        if status == 200 and predicate(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"customer {user} never reached the expected state; last: {body}")


def test_serve_prints_its_base_url_and_the_template_routes(served):
    _, base_url, lines = served
    text = "".join(lines)
    assert f"nudge local stack on {base_url}" in text
    assert f"POST {base_url}/v1/batch" in text
    assert "-> StateUpdaterFunction" in text


def test_an_unmodified_segment_client_reaches_the_customer_state(served):
    _, base_url, _ = served
    user = f"seg-{uuid.uuid4().hex[:8]}"
    client = analytics.Client(write_key=WRITE_KEY, host=base_url, sync_mode=True, max_retries=1)

    client.identify(user, {"firstName": "Sam", "email": "sam@example.com"})
    client.track(user, "Product Added", {"product_id": "p-7", "name": "Boots", "price": 120.0, "cart_id": "c-7"})
    client.track(
        user, "Consent Updated", {"channel": "email", "status": "granted", "source": "checkout", "notice_version": "v1"}
    )
    client.flush()

    body = wait_for_customer(base_url, user, lambda b: b["events_applied"] >= 3)
    assert body["traits"]["first_name"] == "Sam"
    assert body["carts"]["c-7"]["items"][0]["name"] == "Boots"
    assert body["consent"]["email"]["status"] == "granted"
    assert customer(base_url, user, key=SECRET_KEY)[0] == 200


def test_ctrl_c_stops_the_stack_cleanly(served):
    process, _, _ = served
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=90)  # generous: CI shares two cores with other suites
    assert process.returncode == 0
    assert "stopped" in output
