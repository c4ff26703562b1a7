"""``nudge bench``: one maximal ``/v1/batch`` (2,500 events) through the real ingest handler, against the emulator.

Measured: the handler's wall time on the local stack, its AWS calls (how many ``SendMessageBatch``, and how many of
them one after the other in the busiest lane), and its own compute (wall time while no AWS call was in flight).
Modelled for AWS: that compute scaled to the function's CPU share, plus the calls of the busiest lane one after the
other at :data:`SEND_BATCH_MS` each (the lanes run at the same time), compared with the function's ``Timeout``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.bench.pricing import CALL_LATENCY_MS, LAMBDA_FULL_CPU_MB

if TYPE_CHECKING:
    from shared.models.config import ShopConfig

INGEST = "IngestFunction"
# Assumed latency of one SendMessageBatch (10 entries, a few KB) to a FIFO queue from Lambda in the same region,
# client side included: the slow end of the 10-30 ms such calls typically take (not measured here: the bench runs
# against the emulator). The per-event model (pricing.CALL_LATENCY_MS) uses 8 ms for SQS; this one is pessimistic.
SEND_BATCH_MS = 30.0
GET_ITEM_MS = CALL_LATENCY_MS["dynamodb"]  # the shop's key lookup (DynamoDB GetItem)
_KEY = "bench-batch-write-key"


@dataclass(frozen=True)
class BatchFigures:
    """What one maximal batch cost on the emulator, and its model for AWS."""

    events: int
    body_bytes: int
    status: int
    wall_ms: float  # the handler's wall time on the emulator
    compute_ms: float  # of it, with no AWS call in flight
    send_calls: int  # SendMessageBatch
    other_calls: int
    lanes: int  # threads that sent
    longest_lane_calls: int  # SendMessageBatch one after the other in the busiest lane
    memory_mb: int
    timeout_s: int

    @property
    def modelled_ms(self) -> float:
        """In AWS: compute at the function's CPU share + the busiest lane's calls + the other calls, in turn."""
        cpu = self.compute_ms * LAMBDA_FULL_CPU_MB / self.memory_mb
        return cpu + self.longest_lane_calls * SEND_BATCH_MS + self.other_calls * GET_ITEM_MS

    @property
    def sequential_ms(self) -> float:
        """The same without lanes: every SendMessageBatch one after the other."""
        return self.modelled_ms + (self.send_calls - self.longest_lane_calls) * SEND_BATCH_MS

    @property
    def headroom(self) -> float:
        """The function's Timeout over the modelled time."""
        return self.timeout_s * 1000 / self.modelled_ms if self.modelled_ms else 0.0


class _CallClock:
    """Every AWS call of the clients it is attached to: when it was in flight, and from which thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float, int]] = []  # operation, start, end, thread
        self._local = threading.local()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call", self._before)
        client.meta.events.register("after-call", self._after)

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("before-call", self._before)
        client.meta.events.unregister("after-call", self._after)

    def _before(self, **_: Any) -> None:
        self._local.started = time.perf_counter()

    def _after(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls.append((model.name, self._local.started, time.perf_counter(), threading.get_ident()))

    def busy_seconds(self, start: float, end: float) -> float:
        """Time within [start, end] with at least one call in flight."""
        spans = sorted((max(s, start), min(e, end)) for _, s, e, _ in self.calls if e > start and s < end)
        busy, reach = 0.0, start
        for s, e in spans:
            if e > reach:
                busy += e - max(s, reach)
                reach = e
        return busy


def batch_body(events: int, customers: int) -> dict[str, Any]:
    """A shop's ``/v1/batch`` of ``events`` small track calls from ``customers`` shoppers, interleaved."""
    run = uuid.uuid4().hex[:8]
    return {
        "batch": [
            {
                "type": "track",
                "userId": f"b{run}-{n % customers}",
                "event": "Product Viewed",
                "properties": {"product_id": f"p-{n % 97}"},
                "messageId": f"{run}-{n}",
            }
            for n in range(events)
        ]
    }


def measure_batch(config: ShopConfig, events: int = 2500, customers: int = 250) -> BatchFigures:
    """Start the local stack (no pollers), post one batch to the ingest function, and time it."""
    from infra.local.gateway import http_api_event
    from infra.local.provision import HttpRoute
    from infra.local.stack import LocalStack
    from shared import aws
    from shared.adapters.shops import ShopDirectory
    from shared.models.config import hash_key

    with LocalStack(log_level="ERROR", poll=False) as stack:
        shop = config.shop.model_copy(update={"write_keys": [hash_key(_KEY)]})
        ShopDirectory(stack.resources["ShopsTable"]).apply(config.model_copy(update={"shop": shop}))
        runtime = stack.runtimes[INGEST]
        body = json.dumps(batch_body(events, customers)).encode()
        route = HttpRoute(INGEST, "POST", "/v1/{endpoint}")
        basic = base64.b64encode(f"{_KEY}:".encode()).decode()
        headers = {"content-type": "application/json", "authorization": f"Basic {basic}"}

        def event() -> dict[str, Any]:
            return http_api_event(route, "POST", "/v1/batch", "", headers, body, {"endpoint": "batch"}, "127.0.0.1")

        # A warm container: the first invocation imports the handler and reads the shop (not what is measured).
        warm = json.dumps(batch_body(1, 1)).encode()
        runtime.invoke(http_api_event(route, "POST", "/v1/batch", "", headers, warm, {"endpoint": "batch"}, "::1"))
        clock = _CallClock()
        clients = [aws.client(service) for service in ("sqs", "dynamodb")]
        for client in clients:
            clock.attach(client)
        try:
            started = time.perf_counter()
            response = runtime.invoke(event())
            ended = time.perf_counter()
        finally:
            for client in clients:
                clock.detach(client)
    status = int(response.get("statusCode", 0)) if isinstance(response, dict) else 0
    if status != 200:  # a refused batch would be timed as if it had been enqueued
        raise RuntimeError(f"the 2,500-event batch was answered {status}, not 200: {response!r:.300}")
    sends = [call for call in clock.calls if call[0] == "SendMessageBatch"]
    per_thread: dict[int, int] = {}
    for _, _, _, thread in sends:
        per_thread[thread] = per_thread.get(thread, 0) + 1
    spec = runtime.spec
    return BatchFigures(
        events=events,
        body_bytes=len(body),
        status=status,
        wall_ms=(ended - started) * 1000,
        compute_ms=((ended - started) - clock.busy_seconds(started, ended)) * 1000,
        send_calls=len(sends),
        other_calls=len(clock.calls) - len(sends),
        lanes=len(per_thread),
        longest_lane_calls=max(per_thread.values(), default=0),
        memory_mb=spec.memory_mb,
        timeout_s=spec.timeout_s,
    )


def render_batch(figures: BatchFigures) -> list[str]:
    """The measurement as report lines (the same text on stdout and in docs/PERFORMANCE.md)."""
    f = figures
    verdict = "fits" if f.modelled_ms < f.timeout_s * 1000 else "does NOT fit"
    return [
        f"One `/v1/batch` of {f.events:,} events ({f.body_bytes / 1024:,.0f} KB) through the real ingest handler on "
        f"the local stack: answered {f.status} in "
        f"**{f.wall_ms:,.0f} ms** on the emulator ({f.compute_ms:,.0f} ms of it the handler's own compute), with "
        f"{f.send_calls} `SendMessageBatch` calls in {f.lanes} lanes at the same time (at most "
        f"{f.longest_lane_calls} one after the other) and {f.other_calls} other AWS call(s).",
        f"Modelled in AWS at {f.memory_mb} MB: compute x {LAMBDA_FULL_CPU_MB} / {f.memory_mb} = "
        f"{f.compute_ms * LAMBDA_FULL_CPU_MB / f.memory_mb:,.0f} ms, + {f.longest_lane_calls} x {SEND_BATCH_MS:.0f} ms "
        f"(an assumed, pessimistic SendMessageBatch to a FIFO queue in-region) + {f.other_calls} x "
        f"{GET_ITEM_MS:.0f} ms = **{f.modelled_ms:,.0f} ms**; the ingest function's Timeout is {f.timeout_s} s: it "
        f"{verdict} ({f.headroom:.1f}x headroom). Without lanes (one call after the other) it would be "
        f"{f.sequential_ms / 1000:,.1f} s.",
    ]
