"""``nudge bench``: how fast the click redirect (``GET /c/{token}``) answers, on the local stack and in process.

Every web link of an e-mail, SMS or WhatsApp message leads through the redirect, so a shopper waits for it before
the shop's page even starts to load. docs/MEASUREMENT.md says it "reads no table: one HMAC and one SQS send"; this
times it and counts its AWS calls. The links are made as the channel router makes them (``Links.tracked``, with the
deployment's signing secret and the shop's UTM parameters), one e-mail to one customer each, so each click is a new
event rather than a repeat the queue deduplicates. Each is followed once, one at a time, client side, without
following the redirect (a browser's GET on a new connection, over loopback), and each answer must be a ``302`` to
the link's target. The stack runs without its queue pollers: the click events stay on the events queue (counted
after the run) and no state updater shares the process (one GIL) with the request being timed, as none shares a
Lambda execution environment with it in AWS.

Then the handler's own compute: the same real handler, Powertools decorators and its log line included, invoked in
process on the memory deployment (``infra.memory.MemoryCloud``), where the SQS send is an append to a list; that
time is the redirect without its one AWS call. The emulator is not AWS: the figures compare versions of nudge on
one machine; the model for Lambda (its CPU share, an assumed SQS latency) is labelled as such.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.bench.pricing import CALL_LATENCY_MS, LAMBDA_FULL_CPU_MB, METERED_SERVICES

if TYPE_CHECKING:
    from shared.models.config import ShopConfig

PUBLIC_API = "PublicApiFunction"
_JOURNEY, _TEMPLATE = "cart_abandonment", "cart_reminder"
_SENDS = frozenset({"SendMessage", "SendMessageBatch"})


@dataclass(frozen=True)
class ClickFigures:
    """The click redirect: its latency on the local stack, its AWS calls per click, its handler's own compute."""

    requests: int
    p50_ms: float  # client side, on the local stack
    p99_ms: float
    max_ms: float
    failures: int  # answers that were not a 302 to the link's target (on the stack and in process)
    queued: int  # click events on the events queue after the timed requests
    reads_per_click: float  # DynamoDB reads
    sends_per_click: float  # SQS SendMessage(Batch)
    other_calls_per_click: float  # any other AWS call (the signing secret, were it read again)
    link_chars: int  # the longest tracked link followed
    aws_call_p50_ms: float  # of the time on the stack, one AWS call to the emulator (median)
    compute_p50_ms: float  # the handler in process, no I/O
    compute_p99_ms: float
    memory_mb: int  # the public API function's, from template.yaml

    @property
    def modelled_ms(self) -> float:
        """On Lambda: the median compute at the function's CPU share, plus one SQS send at the assumed latency."""
        return self.compute_p50_ms * LAMBDA_FULL_CPU_MB / self.memory_mb + self.sends_per_click * CALL_LATENCY_MS["sqs"]

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TrackedLink:
    """A link as it went out in an e-mail, and where the redirect must send whoever follows it."""

    url: str
    target: str


def _quantile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile of ``values`` (interpolated between the two nearest), 0 for none."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def bench_config(config: ShopConfig) -> ShopConfig:
    """``config`` with its links tracked (the default; a shop may have turned it off)."""
    return config.model_copy(update={"tracking": config.tracking.model_copy(update={"clicks": True})})


def tracked_links(
    base_url: str, signing_keys: Callable[[], Sequence[bytes]], config: ShopConfig, count: int
) -> list[TrackedLink]:
    """``count`` links to one of the shop's product pages, each in its own cart reminder to its own customer, made
    by ``Links.tracked`` as the channel router makes them."""
    from shared import clock
    from shared.models.messages import Content, OutboxMessage
    from shared.service.links import Links, with_utm

    links = Links(base_url, signing_keys)
    page = f"{(config.shop.url or 'https://shop.example').rstrip('/')}/products/enamel-mug"
    fields = {"channel": "email", "journey": _JOURNEY, "step": "0", "template": _TEMPLATE}
    target = with_utm(page, config.tracking.utm, fields)
    run = uuid.uuid4().hex[:6]
    made = []
    for n in range(count):
        message = OutboxMessage(
            message_id=f"{_JOURNEY}-1-0-{uuid.uuid4().hex[:26]}",
            shop_id=config.shop.id,
            customer=f"u:k{run}-{n}",
            journey=_JOURNEY,
            step=0,
            template=_TEMPLATE,
            created_at=clock.now(),
        )
        content = Content(channel="email", locale="en", title="Your cart", text=f"Still thinking it over? {page}")
        [url] = re.findall(r"https?://\S+", links.tracked(content, message, bench_config(config)).text)
        if not url.startswith(base_url.rstrip("/") + "/c/"):  # too long to sign: it would go out untracked
            raise RuntimeError(f"the bench's link was not tracked: {url}")
        made.append(TrackedLink(url, target))
    return made


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the redirect is what is measured, not the page it leads to


def _follow(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, str | None]:
    """GET ``url`` without following the redirect: (status, Location)."""
    try:
        with opener.open(url, timeout=30) as answer:
            return answer.status, answer.headers.get("Location")
    except urllib.error.HTTPError as error:  # a 302 not followed arrives as one
        with error:
            return error.code, error.headers.get("Location")


class _AwsCalls:
    """The AWS calls made through the process's clients while counting, and how long each took (request built to
    answer parsed): on a stack without pollers, the public API's own."""

    def __init__(self) -> None:
        self.operations: Counter[tuple[str, str]] = Counter()
        self.durations_ms: list[float] = []
        self._started = threading.local()

    @contextmanager
    def counting(self, services: Sequence[str]) -> Iterator[None]:
        from shared import aws

        hooks: list[tuple[Any, str, Callable[..., None]]] = []
        for service in services:
            client = aws.client(service)

            def before(model: Any, _service: str = service, **_: Any) -> None:
                self.operations[(_service, model.name)] += 1
                self._started.at = time.perf_counter()

            hooks += [(client, "before-call", before), (client, "after-call", self._after)]
        for client, event, hook in hooks:
            client.meta.events.register(event, hook)
        try:
            yield
        finally:
            for client, event, hook in hooks:
                client.meta.events.unregister(event, hook)

    def _after(self, **_: Any) -> None:
        self.durations_ms.append((time.perf_counter() - self._started.at) * 1000)

    def count(self, service: str | None = None, operations: frozenset[str] | None = None) -> int:
        return sum(
            n
            for (s, op), n in self.operations.items()
            if service in (None, s) and (operations is None or op in operations)
        )


def measure_on_stack(config: ShopConfig, requests: int) -> dict[str, Any]:
    """Start the local stack (no pollers), follow one link to warm the function, then time ``requests`` others."""
    from infra.local.stack import LocalStack
    from infra.metering import READ_OPERATIONS
    from shared import aws
    from shared.service.links import SigningSecret

    with LocalStack(log_level="ERROR", poll=False) as stack:
        keys = SigningSecret(stack.resources["SigningSecret"])
        warm, *links = tracked_links(stack.base_url, keys, config, requests + 1)
        opener = urllib.request.build_opener(_NoRedirect)
        failures = int(_follow(opener, warm.url) != (302, warm.target))  # the environment's wiring, the secret read
        events = stack.resources["EventsQueue"]
        before = _queued(aws.sqs(), events)
        calls = _AwsCalls()
        times = []
        with calls.counting(METERED_SERVICES):
            for link in links:
                started = time.perf_counter()
                answer = _follow(opener, link.url)
                times.append((time.perf_counter() - started) * 1000)
                failures += answer != (302, link.target)
        queued = _queued(aws.sqs(), events) - before
    reads = calls.count("dynamodb", READ_OPERATIONS)
    sends = calls.count("sqs", _SENDS)
    return {
        "requests": requests,
        "p50_ms": _quantile(times, 0.5),
        "p99_ms": _quantile(times, 0.99),
        "max_ms": max(times, default=0.0),
        "failures": failures,
        "queued": queued,
        "reads_per_click": reads / max(1, requests),
        "sends_per_click": sends / max(1, requests),
        "other_calls_per_click": (calls.count() - reads - sends) / max(1, requests),
        "link_chars": max((len(link.url) for link in links), default=0),
        "aws_call_p50_ms": _quantile(calls.durations_ms, 0.5),
    }


def _queued(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@contextmanager
def _log_lines_discarded() -> Iterator[None]:
    """The functions' log lines formatted at the template's default level (INFO) and written where nobody reads
    them, as Lambda writes them to its log pipe: their cost is in the compute, not a console's."""
    import logging

    logger = logging.getLogger("nudge")
    handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    level = logger.level
    with open(os.devnull, "w", encoding="utf-8") as sink:
        streams = [(handler, handler.setStream(sink)) for handler in handlers]
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.setLevel(level)
            for handler, stream in streams:
                handler.setStream(stream)


def measure_compute(config: ShopConfig, requests: int) -> dict[str, Any]:
    """The public API handler on the memory deployment: one warm-up click, then ``requests`` timed one by one. Run
    after the local stack, in its process environment: Powertools' metrics and X-Ray tracing off, as there."""
    from infra.local.gateway import http_api_event
    from infra.local.provision import HttpRoute
    from infra.memory import MemoryCloud
    from infra.memory.cloud import PUBLIC_BASE_URL
    from infra.simulate import VirtualTimers
    from shared import clock, observability  # noqa: F401 - the functions' logger, before its stream is set

    cloud = MemoryCloud(clock.now, VirtualTimers())
    runtime = cloud.functions[PUBLIC_API]
    route = HttpRoute(PUBLIC_API, "GET", "/c/{token}")
    headers = {"host": "nudge.memory", "user-agent": "Mozilla/5.0 (bench)"}
    times, failures = [], 0
    with _log_lines_discarded():
        for n, link in enumerate(tracked_links(PUBLIC_BASE_URL, cloud.signing_keys, config, requests + 1)):
            path = link.url.removeprefix(PUBLIC_BASE_URL)
            event = http_api_event(
                route, "GET", path, "", headers, b"", {"token": path.removeprefix("/c/")}, "192.0.2.1"
            )
            started = time.perf_counter()
            answer = runtime.invoke(event)
            elapsed = (time.perf_counter() - started) * 1000
            failures += (answer.get("statusCode"), answer.get("headers", {}).get("Location")) != (302, link.target)
            if n:  # the first imports the handler's module and builds its wiring
                times.append(elapsed)
    return {
        "compute_p50_ms": _quantile(times, 0.5),
        "compute_p99_ms": _quantile(times, 0.99),
        "failures": failures,
        "memory_mb": runtime.spec.memory_mb,
    }


def measure_clicks(config: ShopConfig, requests: int = 200) -> ClickFigures:
    """The redirect on the local stack, then its handler's compute in process (the same number of clicks each)."""
    stack = measure_on_stack(config, requests)
    compute = measure_compute(config, requests)
    failures = stack.pop("failures") + compute.pop("failures")
    return ClickFigures(**stack, **compute, failures=failures)


def render_clicks(f: ClickFigures) -> list[str]:
    """The measurement as report lines (the same text on stdout and in docs/PERFORMANCE.md)."""
    answers = (
        f"**{f.failures} of the answers were not a 302 to the link's target**"
        if f.failures
        else "each a 302 to the link's target"
    )
    return [
        f"`GET /c/{{token}}` over HTTP on the local stack: {f.requests:,} tracked links made as the channel router "
        f"makes them (each in its own cart reminder e-mail, up to {f.link_chars} characters), followed one at a "
        f"time without following the redirect, after one warm-up click: **p50 {f.p50_ms:,.1f} ms, p99 "
        f"{f.p99_ms:,.1f} ms** (max {f.max_ms:,.1f} ms), client side on loopback, a new connection each; {answers}. "
        f"Per click the public API made {f.reads_per_click:.2f} DynamoDB reads, {f.sends_per_click:.2f} SQS sends "
        f"and {f.other_calls_per_click:.2f} other AWS calls (the signing secret is cached five minutes; an AWS call "
        f"to the emulator took {f.aws_call_p50_ms:.1f} ms, median), and the events queue took {f.queued:,} click "
        "events (the stack ran without its pollers: no updater shared the process with the redirect).",
        "",
        f"The handler's own compute, as many clicks in process on the memory deployment (the real handler with its "
        f"Powertools decorators and its log line, X-Ray off; the SQS send an in-memory append): **p50 "
        f"{f.compute_p50_ms:.2f} ms, "
        f"p99 {f.compute_p99_ms:.2f} ms** per click. Modelled on Lambda at {f.memory_mb} MB: compute x "
        f"{LAMBDA_FULL_CPU_MB} / {f.memory_mb} + {f.sends_per_click:.0f} x {CALL_LATENCY_MS['sqs']:.0f} ms (an "
        f"assumed SQS send, as in the cost model) ≈ **{f.modelled_ms:,.1f} ms** in the function, before API "
        "Gateway's own latency and the shopper's network. No goal in the Targets: the issue asks that the redirect "
        '"answers fast" and names no figure.',
    ]


def run_in_subprocess(config_path: Path, requests: int) -> ClickFigures:
    """:func:`measure_clicks` in a fresh interpreter (:mod:`infra.bench.child`)."""
    from infra.bench.child import run_module

    arguments = ["--config", str(config_path), "--requests", str(requests)]
    return ClickFigures(**run_module("infra.bench.clicks", arguments, "click redirect measurement"))


def main(argv: list[str] | None = None) -> int:
    import argparse

    from infra.admin import load_config

    parser = argparse.ArgumentParser(description="time GET /c/{token} on a local stack and in process; one JSON line")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    print(json.dumps(measure_clicks(load_config(args.config), args.requests).as_json()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
