"""`nudge serve` as an engineer runs it: a process in the foreground, an unmodified Segment client, Ctrl-C."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import segment.analytics as analytics

from tests.integration.http import SECRET_KEY, WRITE_KEY, basic, customer

ROOT = Path(__file__).resolve().parents[2]
NUDGE = Path(sys.executable).with_name("nudge")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Output:
    """The process's output, read line by line as it comes (so the pipe never fills)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self._process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} in:\n{self.text}")

    def closed(self, timeout: float) -> None:
        self._reader.join(timeout)


def probe(port: int) -> str:
    """One early client: 'refused', 'answered <status>' or 'hung' (connected, no answer within 3 s)."""
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=3)
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "hung"
    with connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        try:
            answer = connection.recv(64)
        except TimeoutError:
            return "hung"
        except ConnectionError:
            return "refused"
    return f"answered {answer.split(b' ')[1].decode()}" if answer else "refused"


def start_serve(port: int, **popen: Any) -> tuple[subprocess.Popen[str], Output]:
    """``nudge serve`` on ``port`` with the demo shop, its output read as it comes."""
    process = subprocess.Popen(
        [str(NUDGE), "serve", "--port", str(port), "--config", str(ROOT / "events" / "demo-shop.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TZ": "UTC"},
        cwd=ROOT,
        **popen,
    )
    return process, Output(process)


def stop_with_ctrl_c(process: subprocess.Popen[str], output: Output) -> str:
    """SIGINT, as Ctrl-C sends it; the whole output once the process ended (killed if it did not in 60 s)."""
    try:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    output.closed(timeout=10)
    return output.text


@pytest.fixture(scope="module")
def served():
    port = free_port()
    process, output = start_serve(port)
    # Clients that come while the stack starts (a script that does not wait for the ready line)
    probes: list[str] = []
    deadline = time.monotonic() + 180  # generous: CI shares two cores with other suites
    while time.monotonic() < deadline and process.poll() is None and "ready: " not in output.text:
        probes.append(probe(port))
        time.sleep(0.2)
    if "ready: " not in output.text:
        process.kill()
        pytest.fail(f"nudge serve was not ready after {len(probes)} probes:\n{output.text}")
    yield process, f"http://127.0.0.1:{port}", output, probes
    if process.poll() is None:
        process.kill()


def request(base_url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Authorization": basic(WRITE_KEY), "Content-Type": "application/json"}
    connection.request(method, path, body, headers)
    response = connection.getresponse()
    return response.status, response.read()


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
    _, base_url, output, _ = served
    text = output.text
    assert f"nudge local stack on {base_url}" in text
    assert f"POST {base_url}/v1/batch" in text
    assert "-> StateUpdaterFunction" in text


def test_serve_says_when_it_is_ready_and_refuses_clients_until_then(served):
    _, base_url, output, probes = served
    assert f"ready: {base_url}" in output.wait_for("ready: ")
    # Clients that came while it started were refused at once: none was left hanging, and none got a half-ready stack
    assert probes and "hung" not in probes
    assert set(probes) <= {"refused", "answered 200"}
    status, body = request(base_url, "GET", "/health")
    assert status == 200 and json.loads(body)["status"] == "ready"


def test_64_parallel_clients_are_all_answered(served):
    _, base_url, _, _ = served

    def one(n: int) -> int:
        event = {"userId": f"par-{n}", "event": "Product Viewed", "properties": {"product_id": "p-1"}}
        return request(base_url, "POST", "/v1/track", json.dumps(event).encode())[0]

    with ThreadPoolExecutor(64) as pool:
        assert list(pool.map(one, range(64))) == [200] * 64


def test_the_summary_line_masks_an_address_in_the_path(served):
    _, base_url, output, _ = served
    request(base_url, "GET", "/v1/customers/pii.person@example.com")
    line = output.wait_for("GET /v1/customers/<email>")
    assert "-> 401" in line  # the write key cannot read a customer; the line is printed either way
    assert "pii.person" not in output.text


def test_a_client_that_goes_away_prints_one_line_and_no_traceback(served):
    _, base_url, output, _ = served
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as cut:  # a body cut short
        cut.sendall(b'POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"batch"')
    with socket.create_connection(("127.0.0.1", port)) as reset:  # gone (RST) before the answer
        reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reset.sendall(b"GET /v1/customers/gone HTTP/1.1\r\nHost: x\r\n\r\n")
    assert "POST /v1/batch -> client went away" in output.wait_for("POST /v1/batch -> client went away")
    output.wait_for("GET /v1/customers/gone")
    request(base_url, "GET", "/health")  # still serving
    assert "Traceback" not in output.text
    assert "BrokenPipeError" not in output.text and "ConnectionResetError" not in output.text


def test_an_unmodified_segment_client_reaches_the_customer_state(served):
    _, base_url, _, _ = served
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


def test_a_small_request_is_answered_while_a_2500_event_batch_is_enqueued(served):
    _, base_url, _, _ = served
    host, port = base_url.removeprefix("http://").split(":")
    run = uuid.uuid4().hex[:6]
    batch = {
        "batch": [
            {
                "type": "track",
                "userId": f"big-{run}-{n % 250}",
                "event": "Product Viewed",
                "properties": {"product_id": "p"},
            }
            for n in range(2500)
        ]
    }
    big = http.client.HTTPConnection(host, int(port), timeout=300)
    big.request("POST", "/v1/batch", json.dumps(batch).encode(), {"Authorization": basic(WRITE_KEY)})
    answered: dict[str, float] = {}

    def await_batch() -> None:
        response = big.getresponse()
        response.read()
        answered["batch"] = time.monotonic()
        answered["status"] = response.status

    waiter = threading.Thread(target=await_batch)
    waiter.start()
    # The batch is on its way (sent whole); now a shop's single call to the same function
    small_status, _ = request(
        base_url,
        "POST",
        "/v1/track",
        json.dumps({"userId": f"small-{run}", "event": "Product Viewed", "properties": {"product_id": "p"}}).encode(),
    )
    small_done = time.monotonic()
    waiter.join(300)
    assert (small_status, answered["status"]) == (200, 200)
    # The small one did not wait behind the batch: it was answered first
    assert small_done < answered["batch"]


def test_ctrl_c_stops_the_stack_cleanly(served):
    process, _, output, _ = served
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=90)  # generous: CI shares two cores with other suites
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)  # serve prints every thread's stack: where it waits
        time.sleep(2)
        pytest.fail(f"nudge serve did not stop within 90 s of Ctrl-C:\n{output.text}")
    output.closed(timeout=10)
    assert process.returncode == 0
    assert "stopped" in output.text
    assert "Traceback" not in output.text


def test_ctrl_c_while_the_stack_starts_stops_it_cleanly():
    process, output = start_serve(free_port())
    output.wait_for("starting the local stack", timeout=60)

    text = stop_with_ctrl_c(process, output)

    assert process.returncode == 0, text
    assert "ready: " not in text and text.rstrip().endswith("stopped") and "Traceback" not in text


@pytest.mark.slow(seconds=45)
def test_the_demo_plays_its_story_on_the_local_stack_without_an_error_or_a_warning():
    # `make demo`, the first command a newcomer runs, once installed
    done = subprocess.run(
        [str(NUDGE), "demo"], capture_output=True, text=True, env={**os.environ, "TZ": "UTC"}, cwd=ROOT, timeout=300
    )
    out = done.stdout + done.stderr

    assert done.returncode == 0, out
    assert "Traceback" not in out and "Warning" not in out, out
    for step in range(1, 21):
        assert f"\n{step}. " in out, f"step {step} missing"
    # what the story shows, step by step
    assert '"field": "properties.price"' in out  # the broken batch refused, naming the field
    assert "deferred (frequency_cap) until" in out  # the paced shop's second message waits for the next day
    assert '"status": "valid"' in out and '"status": "redeemed"' in out  # the checkout's code, before and after
    assert "back_in_stock step 0 back_in_stock: sent on email" in out
    assert "price_drop step 0 price_drop: sent on email" in out
    assert 'free_shipping_nudge: sent on in_app "Only €10.10 to free shipping"' in out
    assert 'POST /p/... (e-mail off) -> 200 "Gespeichert"' in out  # Carla's own preference centre, in German
    assert "consent   email withdrawn (preference_centre)" in out
    assert "\nSummary\n" in out


def test_ctrl_c_stops_a_stack_started_in_the_background_by_a_script():
    # A shell script's `nudge serve &` inherits SIGINT ignored (no job control); `kill -INT` must still stop it
    ignored = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731 (what the shell does)
    process, output = start_serve(free_port(), preexec_fn=ignored)
    output.wait_for("ready: ", timeout=180)

    text = stop_with_ctrl_c(process, output)

    assert process.returncode == 0, text
    assert text.rstrip().endswith("stopped") and "Traceback" not in text
