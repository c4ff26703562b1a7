"""template.yaml deployed in memory (``infra.memory.MemoryCloud``) for tests of the services and handlers: the real
handlers, wired to the in-memory adapters, called as API Gateway and the SQS event sources call them, on a clock the
test sets.

What the local stack does over HTTP and with real time, this does in-process and in no time, with the same
semantics (``tests/parity/test_ports.py`` holds the memory adapters to the AWS ones):

- ``call``/``post`` give a request to the function whose ``HttpApi`` route (template.yaml) matches, as the event
  API Gateway HTTP API (payload 2.0) would carry it, and return (status, parsed body);
- ``settle`` runs the event sources until no queue has a message ready (what the local stack's ``wait_idle`` waits
  for); ``run_timers`` plays the timer state machine: each timer due by then fires, in due order, the clock moving
  to it;
- ``transports.sent`` is what the channel services accepted (SES, SNS, SMS, WhatsApp), the inbox is
  ``cloud.inbox``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as email_policy
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

from infra.local.gateway import http_api_event
from infra.local.provision import HttpRoute
from infra.memory import MemoryCloud
from infra.memory.transports import Sent
from infra.simulate import VirtualTimers
from infra.template import Template, load_template, resources_of_type
from shared.models.config import ShopConfig
from shared.models.events import TimerEvent
from tests.clocks import SetClock

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = load_template(ROOT / "template.yaml")
DEMO_CONFIG = ROOT / "events" / "demo-shop.yaml"
FAST_CONFIG = ROOT / "events" / "fast-shop.yaml"
WRITE_KEY, SECRET_KEY = "demo-write-key", "demo-secret-key"


def _routes(template: Template) -> list[tuple[HttpRoute, re.Pattern[str]]]:
    """Every HttpApi route of the template, with a pattern for its path (``{name}`` is one segment)."""
    found = []
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                route = HttpRoute(logical_id, event["Properties"]["Method"].upper(), event["Properties"]["Path"])
                pattern = re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path))
                found.append((route, re.compile(f"^{pattern}$")))
    return found


@dataclass
class ArmedTimers(VirtualTimers):
    """The simulation's timers (a timer id runs once, fired in due order), remembering every timer armed, as the
    timer state machine's executions list does."""

    armed: list[TimerEvent] = field(default_factory=list)

    def start(self, events: Sequence[TimerEvent]) -> None:
        self.armed.extend(event for event in events if event.timer_id not in {a.timer_id for a in self.armed})
        super().start(events)


QUIET = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"}
"""The environment the functions get here: no EMF lines and no X-Ray segments (as on the local stack)."""


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text or "null")


class MemoryStack:
    """The deployment, the shops in ``configs`` applied, the clock at ``at``; ``timers`` plays the timer state
    machine (:class:`ArmedTimers` unless given; ``run_timers`` needs that one)."""

    def __init__(
        self, configs: Iterable[Path | ShopConfig] = (DEMO_CONFIG,), at: datetime | None = None, timers: Any = None
    ) -> None:
        from tests.factories import T0

        self.clock = SetClock(at or T0)
        self.timers = timers if timers is not None else ArmedTimers()
        self.cloud = MemoryCloud(self.clock, self.timers, template=TEMPLATE)
        self.transports = self.cloud.transports
        self._routes = _routes(TEMPLATE)
        for config in configs:
            self.cloud.shops.apply(config if isinstance(config, ShopConfig) else ShopConfig.from_yaml_file(config))

    # ------------------------------------------------------------ the HTTP API
    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | Any = None,
        headers: dict[str, str] | None = None,
        key: str | None = None,
    ) -> Response:
        """One request through the HTTP API to the function its route names (404 as API Gateway when none)."""
        raw_path, _, query = path.partition("?")
        data = b"" if body is None else body if isinstance(body, bytes) else str(body).encode()
        sent_headers = {"host": "nudge.memory", **(headers or {})}
        if key is not None:
            sent_headers["authorization"] = basic(key)
        for route, pattern in self._routes:
            found = pattern.match(unquote(raw_path))
            if found and route.method in (method, "ANY"):
                event = http_api_event(
                    route, method, raw_path, query, sent_headers, data, found.groupdict(), "192.0.2.1"
                )
                result = self.cloud.functions[route.function].invoke(event)
                payload = base64.b64decode(result.get("body") or "") if result.get("isBase64Encoded") else None
                text = payload.decode() if payload is not None else str(result.get("body") or "")
                return Response(int(result["statusCode"]), dict(result.get("headers") or {}), text)
        return Response(404, {}, '{"message":"Not Found"}')

    def call(self, method: str, path: str, body: Any = None, key: str | None = WRITE_KEY) -> tuple[int, Any]:
        """A JSON request with the key as HTTP Basic; (status, parsed JSON answer)."""
        data = None if body is None else body if isinstance(body, bytes) else json.dumps(body)
        response = self.request(method, path, data, {"content-type": "application/json"}, key)
        return response.status, response.json()

    def post(self, path: str, body: Any, key: str | None = WRITE_KEY) -> tuple[int, Any]:
        return self.call("POST", path, body, key)

    def customer(self, customer_id: str, key: str = SECRET_KEY) -> tuple[int, Any]:
        return self.call("GET", f"/v1/customers/{customer_id}", key=key)

    # ------------------------------------------------------------ the event sources and the timer state machine
    def settle(self) -> int:
        """Run the functions on what their queues hold until nothing is ready; records handled."""
        return self.cloud.drain()

    def run_timers(self, until: datetime) -> int:
        """Fire each timer due by ``until`` in due order (the clock moves to it), settling after each; the clock
        ends at ``until``. Returns how many fired."""
        fired = 0
        while (due := self.timers.next_due) is not None and due <= until:
            self.clock.at = max(self.clock.at, due)
            events = self.timers.pop_due(self.clock.at)
            self.cloud.fire(events)
            fired += len(events)
            self.settle()
        self.clock.at = max(self.clock.at, until)
        self.settle()
        return fired

    def executions(self) -> list[dict[str, Any]]:
        """Every timer wake-up armed, as its execution's input carries it (``due_at``, ``event``, ``group_id``,
        ``dedup_id``)."""
        from shared.adapters.timers import wake_up

        return [wake_up(event) for event in self.timers.armed]

    # ------------------------------------------------------------ what the channel services accepted
    def sent(self, channel: str | None = None, to: str | None = None) -> list[Sent]:
        return [s for s in self.transports.sent if (channel in (None, s.channel)) and (to in (None, s.to))]

    def emails_to(self, address: str) -> list[EmailMessage]:
        return [
            cast(EmailMessage, message_from_bytes(s.request["Content"]["Raw"]["Data"], policy=email_policy))
            for s in self.sent("email", address)
        ]

    def pushes_to(self, token: str) -> list[dict[str, Any]]:
        endpoints = {arn for arn, attributes in self.transports.endpoints.items() if attributes["Token"] == token}
        return [json.loads(s.request["Message"]) for s in self.transports.sent if s.to in endpoints]
