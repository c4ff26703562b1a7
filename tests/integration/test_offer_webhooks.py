"""Codes registered with the shop's own system through a signed webhook before the message carrying them goes out
(issue: offers and contact policy, item 1). The fast shop's cart offer, on template.yaml in memory, announcing its
codes to a real HTTP server on loopback that verifies the signature as a shop would (``shared.core.webhooks``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.core.webhooks import HEADER, verify
from shared.service.webhooks import OfferWebhooks
from tests.integration.test_journeys import messages, unique
from tests.integration.test_offers import cart_offer, check, emailed, fast_shop
from tests.memory import MemoryStack


@dataclass
class ShopSystem:
    """The shop's endpoint: answers each POST with the next of ``answers`` (then 200), keeps what it received and
    whether the signature verified with the shop's key."""

    answers: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    key: bytes = b""
    url: str = ""


@pytest.fixture
def shop_system() -> Iterator[ShopSystem]:
    system = ShopSystem()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            system.received.append({"body": json.loads(body), "raw": body, "signature": self.headers.get(HEADER, "")})
            status = system.answers.pop(0) if system.answers else 200
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    system.url = f"http://127.0.0.1:{server.server_address[1]}/nudge/codes"
    try:
        yield system
    finally:
        server.shutdown()


@pytest.fixture
def stack(memory_stack, shop_system) -> MemoryStack:
    deployed = memory_stack([fast_shop({"CART": {"webhook": shop_system.url}})])
    shop_system.key = OfferWebhooks(deployed.cloud.signing_keys).keys_for("fast")[0]
    return deployed


def test_the_code_is_registered_with_a_valid_signature_before_the_message_goes(stack, shop_system):
    user = unique("hooked")
    offer = cart_offer(stack, user)

    code = offer["details"]["offer_code"]
    assert offer["status"] == "sent" and code in emailed(stack, user)
    ((call),) = shop_system.received
    assert call["body"]["code"] == code and call["body"]["customer"] == f"u:{user}"
    assert call["body"]["type"] == "offer.code_created" and call["body"]["percent"] == 10
    sent_at = int(stack.clock().timestamp())
    assert verify(shop_system.key, call["signature"], call["raw"], now=sent_at)
    assert not verify(shop_system.key, call["signature"], call["raw"], now=sent_at + 301)  # no replay later
    assert check(stack, code)["status"] == "valid"


def test_a_shop_system_that_is_down_is_retried_with_backoff_and_the_code_waits_for_it(stack, shop_system):
    shop_system.answers = [503, 503]
    user = unique("retry")
    offer = cart_offer(stack, user)
    assert (offer["status"], offer["reason"]) == ("pending", "offer_webhook_failed: HTTP 503")  # not sent yet
    assert "CART" not in emailed(stack, user)

    stack.clock.at += timedelta(seconds=31)  # the first backoff (30 s)
    stack.settle()
    stack.clock.at += timedelta(seconds=61)  # the second (60 s)
    stack.settle()

    seen = next(m for m in messages(stack, user)["messages"] if m["template"] == "cart_offer")
    assert seen["status"] == "sent" and len(shop_system.received) == 3
    assert len({call["body"]["code"] for call in shop_system.received}) == 1  # one code, announced until accepted


def test_a_code_the_shop_refuses_is_never_sent(stack, shop_system):
    shop_system.answers = [409]
    user = unique("refused")
    offer = cart_offer(stack, user)

    assert (offer["status"], offer["reason"]) == ("suppressed", "offer_refused_by_shop: HTTP 409")
    assert check(stack, offer["details"]["offer_code"])["status"] == "unknown"


def test_a_shop_system_that_never_answers_parks_the_message_with_the_reason(memory_stack):
    stack = memory_stack([fast_shop({"CART": {"webhook": "http://127.0.0.1:9/nothing-listens-here"}})])
    user = unique("never")
    cart_offer(stack, user)
    for backoff in (30, 60, 120, 240):
        stack.clock.at += timedelta(seconds=backoff + 1)
        stack.settle()

    seen = next(m for m in messages(stack, user)["messages"] if m["template"] == "cart_offer")
    assert seen["status"] == "failed" and "offer_webhook_unreachable" in seen["reason"]
    parked = stack.cloud.queues["OutboxDeadLetterQueue"].receive(10)
    assert any("offer_webhook_unreachable" in str(p.as_sqs()) for p in parked)
