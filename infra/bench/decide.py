"""``nudge bench``: the real-time offer decision's latency on the local stack (J13, IN6).

Customers of every value segment are made through ingest (identify, orders at different ages), then each asks
``POST /v1/offers/decide`` over HTTP, as a shop's exit-intent script would, several times: the first decision of a
period records an offer (a code write and an ``Offer Shown`` event), later ones repeat it. Measured: the wall time of
each request, client side (the local gateway, the public API handler, the emulator's DynamoDB and SQS on loopback),
and the AWS calls it made. The emulator is not AWS: the figures compare versions of nudge on one machine; they are
not what a customer in a browser waits in production (add the network and Lambda's own overhead).
"""

from __future__ import annotations

import base64
import json
import statistics
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.models.config import ShopConfig

_KEY = "bench-decide-write-key"
DEFAULT_DECISIONS: dict[str, Any] = {
    "once_per": "P7D",
    "tiers": [
        {"name": "full_price", "segments": ["loyal"], "offer": None},
        {"name": "first_visit", "segments": ["new_visitor"], "offer": {"free_shipping": True, "static": "FREESHIP"}},
        {"name": "win_back", "segments": ["at_risk"], "offer": {"percent": 10, "prefix": "STAY"}},
        {"name": "returning", "segments": ["new_customer", "repeat"], "offer": {"percent": 5, "prefix": "BACK"}},
    ],
}


@dataclass(frozen=True)
class DecideFigures:
    """Latency of ``POST /v1/offers/decide`` on the local stack, and its AWS calls per request."""

    calls: int
    customers: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    reads_per_call: float  # DynamoDB GetItem/Query per request, after the first (keys and config cached)
    writes_per_call: float
    sends_per_call: float  # SQS SendMessage(Batch): the Offer Shown events
    recorded: int  # requests that recorded a new offer (the rest repeated one, or offered none)

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Calls:
    """The AWS calls made outside the local stack's pollers (whose threads are named ``poll-<function>``): those of
    the HTTP functions, here the public API answering decisions."""

    def __init__(self) -> None:
        self.operations: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any, service: str) -> None:
        def count(model: Any, **_: Any) -> None:
            if not threading.current_thread().name.startswith("poll-"):
                with self._lock:
                    self.operations[(service, model.name)] += 1

        client.meta.events.register("before-call", count)

    def count(self, service: str, operations: frozenset[str] | None = None) -> int:
        return sum(
            n for (s, op), n in self.operations.items() if s == service and (operations is None or op in operations)
        )


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure_decide(config: ShopConfig, calls: int = 400, customers: int = 40) -> DecideFigures:
    """Start the local stack, make ``customers`` of every segment, then time ``calls`` decisions over HTTP."""
    from infra.local.stack import LocalStack
    from infra.metering import READ_OPERATIONS, WRITE_OPERATIONS
    from shared import aws
    from shared.adapters.shops import ShopDirectory
    from shared.core.tokens import inbox_token
    from shared.models.config import OfferDecisions, hash_key
    from shared.service.public import customer_token_keys

    shop = config.shop.model_copy(update={"write_keys": [hash_key(_KEY)]})
    decisions = config.offer_decisions or OfferDecisions.model_validate(DEFAULT_DECISIONS)
    bench_config = config.model_copy(update={"shop": shop, "offer_decisions": decisions})
    token_key = customer_token_keys(shop.secret_keys)[0]
    run = uuid.uuid4().hex[:6]
    users = [f"d{run}-{n}" for n in range(customers)]
    with LocalStack(log_level="ERROR") as stack:
        ShopDirectory(stack.resources["ShopsTable"]).apply(bench_config)
        for index, user in enumerate(users):  # orders: none, one, a few, many; recent or long ago
            _post(stack.base_url, "/v1/batch", {"batch": _history(user, index)})
        stack.wait_idle(timeout=120)
        _decide(stack.base_url, shop.id, users[0], token_key, inbox_token)  # warm: keys and config cached
        stack.wait_idle(timeout=60)
        meter = _Calls()
        for service in ("dynamodb", "sqs"):
            meter.attach(aws.client(service), service)
        times, recorded = [], 0
        for call in range(calls):
            started = time.perf_counter()
            answer = _decide(stack.base_url, shop.id, users[call % customers], token_key, inbox_token)
            times.append((time.perf_counter() - started) * 1000)
            recorded += answer["offer"] is not None and not answer["repeat"]
            if call % customers == customers - 1:
                stack.wait_idle(timeout=60)  # each round's showings applied before the next round asks again
        reads = meter.count("dynamodb", READ_OPERATIONS)
        writes = meter.count("dynamodb", WRITE_OPERATIONS)
        sends = meter.count("sqs", frozenset({"SendMessage", "SendMessageBatch"}))
    return DecideFigures(
        calls=calls,
        customers=customers,
        p50_ms=statistics.median(times),
        p99_ms=_percentile(times, 0.99),
        max_ms=max(times),
        reads_per_call=reads / calls,
        writes_per_call=writes / calls,
        sends_per_call=sends / calls,
        recorded=recorded,
    )


def _history(user: str, index: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    count, age = [(0, 0), (1, 10), (3, 20), (6, 5), (2, 150)][index % 5]
    events: list[dict[str, Any]] = [
        {"type": "identify", "userId": user, "traits": {"email": f"{user}@example.com"}, "messageId": f"{user}-id"}
    ]
    for n in range(count):
        at = now - timedelta(days=age + n)
        properties = {"order_id": f"{user}-o{n}", "revenue": 40.0, "products": [{"product_id": "p1", "price": 40.0}]}
        events.append(
            {
                "type": "track",
                "event": "Order Completed",
                "userId": user,
                "properties": properties,
                "timestamp": at.isoformat(),
                "messageId": f"{user}-o{n}",
            }
        )
    return events


def _post(base_url: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    basic = base64.b64encode(f"{_KEY}:".encode()).decode()
    request = urllib.request.Request(
        base_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {basic}", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _decide(base_url: str, shop_id: str, user: str, token_key: bytes, inbox_token: Any) -> Any:
    token = inbox_token(token_key, shop_id, user)
    body = {"customer_id": user, "placement": "exit_intent"}
    return _post(base_url, "/v1/offers/decide", body, {"x-nudge-customer-token": token})


def render_decide(f: DecideFigures) -> list[str]:
    """The measurement as report lines (the same text on stdout and in docs/PERFORMANCE.md)."""
    return [
        f"`POST /v1/offers/decide` over HTTP on the local stack, {f.calls:,} requests of {f.customers} customers of "
        f"every value segment (each asked {f.calls // max(1, f.customers)} times; {f.recorded} requests recorded a "
        f"new offer, the others repeated one or offered none): **p50 {f.p50_ms:,.1f} ms, p99 {f.p99_ms:,.1f} ms** "
        f"(max {f.max_ms:,.1f} ms), client side on loopback. Per request: {f.reads_per_call:.2f} DynamoDB reads, "
        f"{f.writes_per_call:.2f} writes (a code nudge made), {f.sends_per_call:.2f} SQS sends (the `Offer Shown` "
        "events); the shop's keys and configuration cached in the execution environment after the first request.",
    ]


def run_in_subprocess(config_path: Path, calls: int) -> DecideFigures:
    """:func:`measure_decide` in a fresh interpreter (:mod:`infra.bench.child`)."""
    from infra.bench.child import run_module

    arguments = ["--config", str(config_path), "--calls", str(calls)]
    return DecideFigures(**run_module("infra.bench.decide", arguments, "offer decision measurement"))


def main(argv: list[str] | None = None) -> int:
    import argparse

    from infra.admin import load_config

    parser = argparse.ArgumentParser(description="time POST /v1/offers/decide on a local stack; one JSON line")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args(argv)
    print(json.dumps(measure_decide(load_config(args.config), args.calls).as_json()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
