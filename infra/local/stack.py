"""The local stack: nudge's real handlers on 127.0.0.1 against an embedded AWS emulator (moto).

It provides only what AWS would provide around the handlers (architecture §7): the emulator with the resources
template.yaml declares, the HTTP API in front of the HTTP functions, and the SQS event sources. Step Functions
executions run in moto's own interpreter. The emulator needs ``TZ=UTC`` (its Wait state compares against local time),
so the stack sets it for the process.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import traceback
import urllib.request
import warnings
from collections.abc import Callable, Iterable
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as email_policy
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from infra.local.emulator import speed_up_emulator
from infra.local.gateway import HttpApi, RequestSummary
from infra.local.pollers import QueuePoller, SchedulePlayer, TopicPoller
from infra.local.providers import LocalProviders
from infra.local.provision import REGION, Deployment, Provisioner, QueueSource, set_up_shop_channels
from infra.local.runtime import FunctionRuntime
from infra.template import load_template
from shared.models.config import ShopConfig

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# A timer execution's wake-up is taken as sent once it is this many seconds past due (the Map goes on to the next)
_SENT_WITHIN = 5.0
_log = logging.getLogger("nudge_local")


def emails_to(address: str) -> list[EmailMessage]:
    """Every e-mail the emulator's SES accepted for ``address``, parsed, oldest first (what the inbox would get)."""
    from moto.ses.models import ses_backends

    from infra.local.provision import ACCOUNT

    found = []
    for sent in ses_backends[ACCOUNT][REGION].sent_messages:
        raw = getattr(sent, "raw_data", None)
        if raw is None:
            continue
        parsed = message_from_bytes(raw.encode() if isinstance(raw, str) else raw, policy=email_policy)
        if address in str(parsed["To"]):
            found.append(parsed)
    return found


class LocalStackError(Exception):
    """The local stack cannot start or did not settle."""


class LocalStack:
    """Start with ``start()`` (or as a context manager); ``base_url`` is the HTTP API, ``resources`` the ids."""

    def __init__(
        self,
        configs: Iterable[Path] = (),
        port: int = 0,
        template: Path = TEMPLATE,
        log_level: str = "WARNING",
        console: Callable[[str], None] | None = None,
        poll: bool = True,
    ) -> None:
        self._configs = [Path(p) for p in configs]
        self._port = port
        self._template_path = template
        self._log_level = log_level
        self._console = console
        self._poll = poll  # False: no event sources (a measurement of one function alone)
        self._server: Any = None
        self.providers = LocalProviders()
        self._due: dict[str, list[float]] = {}
        self._timer_horizon = 0.0
        self._api: HttpApi | None = None
        self._pollers: list[QueuePoller] = []
        self._schedules: SchedulePlayer | None = None
        self._failures: list[tuple[float, int, QueueSource]] = []
        self._failures_lock = threading.Lock()
        self.deployment = Deployment()
        self.runtimes: dict[str, FunctionRuntime] = {}
        self.endpoint_url = ""

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        """Start the emulator, provision the template's resources, load the shop configs, serve and poll."""
        from moto.server import ThreadedMotoServer

        os.environ["TZ"] = "UTC"
        time.tzset()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per emulator call otherwise
        speed_up_emulator()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self.providers.start()
        self._configure_process(port)
        self._enable_state_machine_interpreter()

        from shared import aws

        # The HTTP API's port is bound first: links in messages (unsubscribe) name it, as PublicBaseUrl.
        self._api = HttpApi(self._port, on_request=self._on_request, health=self._health)
        template = load_template(self._template_path)
        self.deployment = Provisioner(
            template, self._template_path.parent, aws.client, parameters={"PublicBaseUrl": self._api.base_url}
        ).provision()
        self._export_function_environment()
        self._route_logs_to_console()
        for config in self._load_shops():
            set_up_shop_channels(config)
        self.runtimes = {fid: FunctionRuntime(spec) for fid, spec in self.deployment.functions.items()}
        self._api.mount(self.deployment.routes, self.runtimes)
        sqs = aws.sqs()
        self._pollers = [
            QueuePoller(source, self.runtimes[source.function], sqs, on_batch=self._on_batch)
            for source in self.deployment.queue_sources
        ]
        self._pollers += [
            TopicPoller(source, self.runtimes[source.function], sqs) for source in self.deployment.topic_sources
        ]
        if not self._poll:
            self._pollers = []
        for poller in self._pollers:
            poller.start()
        self._schedules = SchedulePlayer(self.deployment.schedules if self._poll else [], self.runtimes)
        self._schedules.start()
        self._api.start()  # last: a client is refused until everything above is there
        return self

    def stop(self) -> None:
        """Stop polling, serving and the emulator (in that order, so no handler runs against a dead emulator)."""
        if self._schedules is not None:
            self._schedules.stop()
        for poller in self._pollers:
            poller.signal_stop()  # all at once: each may be inside a one-second receive
        for poller in self._pollers:
            poller.stop()
        if self._api is not None:
            self._api.stop()
        self.providers.stop()
        if self._server is not None:
            self._server.stop()

    # ---------------------------------------------------------------- what callers read
    @property
    def base_url(self) -> str:
        """The HTTP API's base URL (what a shop's tracking client takes as ``host``)."""
        assert self._api is not None, "start() first"
        return self._api.base_url

    @property
    def resources(self) -> dict[str, str]:
        """Physical ids by logical id: table names, queue URLs, state machine ARNs."""
        return dict(self.deployment.physical)

    def wait_idle(self, timeout: float = 30.0, timers: bool = False) -> None:
        """Return once every polled queue is drained and no batch is in flight (and, with ``timers``, no timer
        execution due within ``timeout`` is still running). Records a handler failed wait for their visibility
        timeout and do not count.
        """
        deadline = time.monotonic() + timeout
        self._timer_horizon = timeout  # timers due later than the caller waits are not waited for
        settled = 0
        while time.monotonic() < deadline:
            settled = settled + 1 if self._idle(timers) else 0
            if settled >= 2:
                return
            time.sleep(0.05)
        raise LocalStackError(f"the local stack did not settle within {timeout} s")

    # ---------------------------------------------------------------- internals
    def _configure_process(self, port: int) -> None:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "MOTO_PORT": str(port),  # moto's Step Functions interpreter calls services on this port
                "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon on a laptop
                "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines would bury the console
                # INFO reaches the console filter, which shows deliveries and what is at or above ``log_level``
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **self.providers.environment(),
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        # With metrics off, Powertools warns at every flush that there were none to publish: noise on the console.
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

    def _enable_state_machine_interpreter(self) -> None:
        request = urllib.request.Request(
            self.endpoint_url + "/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def _export_function_environment(self) -> None:
        environment = self.deployment.environment()
        environment.pop("POWERTOOLS_LOG_LEVEL", None)  # the local stack sets it for the console
        os.environ.update(environment)

    def _load_shops(self) -> list[ShopConfig]:
        from infra.admin import load_config
        from shared.adapters.shops import ShopDirectory

        directory = ShopDirectory(self.deployment.physical["ShopsTable"])
        configs = [load_config(path) for path in self._configs]
        for config in configs:
            directory.apply(config)
        return configs

    def _route_logs_to_console(self) -> None:
        """The functions log JSON (as on Lambda); the console shows each delivery in one line, and whole lines only
        at or above ``log_level``."""
        import shared.observability  # noqa: F401 - creates the service logger whose output is redirected

        stream = ConsoleStream(self._console, logging.getLevelNamesMapping()[self._log_level])
        for handler in logging.getLogger("nudge").handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)

    def _idle(self, timers: bool) -> bool:
        if any(poller.busy for poller in self._pollers):
            return False
        from shared import aws

        sqs = aws.sqs()
        for source in [poller.source for poller in self._pollers]:
            counts = sqs.get_queue_attributes(
                QueueUrl=source.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if int(counts["ApproximateNumberOfMessages"]) > 0:
                return False
            if int(counts["ApproximateNumberOfMessagesNotVisible"]) > self._awaiting_retry(source):
                return False
        if timers:
            client = aws.stepfunctions()
            now = time.time()
            horizon = now + self._timer_horizon
            for arn in self._state_machines():
                for execution in client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
                    if arn not in self._timer_machines():
                        return False  # a fan-out (a restock, a price drop) is busy until it ends
                    # A wake-up due more than a few seconds ago was sent (the execution waits for a later one)
                    dues = self._due_epochs(execution["executionArn"])
                    if any(now - _SENT_WITHIN <= due <= horizon for due in dues):
                        return False
        return True

    def _due_epochs(self, execution_arn: str) -> list[float]:
        """When a running timer execution's wake-ups are due (its input's ``due_at``s), read once per execution."""
        if execution_arn not in self._due:
            from shared import aws

            document = json.loads(aws.stepfunctions().describe_execution(executionArn=execution_arn)["input"])
            wakes = document.get("wake_ups", [])
            self._due[execution_arn] = [datetime.fromisoformat(w["due_at"]).timestamp() for w in wakes]
        return self._due[execution_arn]

    def _timer_machines(self) -> list[str]:
        return [self.deployment.physical["TimerStateMachine"]]

    def _state_machines(self) -> list[str]:
        return [arn for arn in self.deployment.physical.values() if arn.startswith("arn:aws:states:")]

    def _awaiting_retry(self, source: QueueSource) -> int:
        """Records of ``source`` a handler failed that are still inside their visibility timeout."""
        now = time.monotonic()
        with self._failures_lock:
            self._failures = [(until, n, s) for until, n, s in self._failures if until > now]
            return sum(n for _, n, s in self._failures if s == source)

    def _on_batch(self, source: QueueSource, records: int, failed: int) -> None:
        if failed:
            from shared import aws

            timeout = int(
                aws.sqs().get_queue_attributes(QueueUrl=source.queue_url, AttributeNames=["VisibilityTimeout"])[
                    "Attributes"
                ]["VisibilityTimeout"]
            )
            with self._failures_lock:
                self._failures.append((time.monotonic() + timeout, failed, source))
        if self._console:
            note = f", {failed} left for retry" if failed else ""
            self._console(f"  {source.function}: batch of {records}{note}")

    def _health(self) -> dict[str, Any]:
        """``GET /health``: answered once the stack is ready (the HTTP API takes connections only from then)."""
        return {
            "status": "ready",
            "emulator": self.endpoint_url,
            "functions": sorted(self.runtimes),
            "routes": len(self.deployment.routes),
        }

    def _on_request(self, request: RequestSummary) -> None:
        if not self._console:
            return
        from shared.observability import mask_pii  # imported once the stack has set the functions' environment

        # The path is masked like every log line: customer ids may be e-mail addresses or phone numbers.
        line = f"  {request.method} {mask_pii(unquote(request.path))}"
        if request.status is None:
            self._console(f"{line} -> client went away ({request.millis:.0f} ms)")
            return
        self._console(f"{line} -> {request.status} ({request.millis:.0f} ms)")
        if request.error is not None:
            error = request.error
            self._console(f"    the handler raised {type(error).__name__}: {mask_pii(str(error))[:200]}")
            if self._log_level == "DEBUG":
                for text in traceback.format_exception(error):
                    for part in text.rstrip("\n").splitlines():
                        self._console("    " + mask_pii(part))
            else:
                self._console("    (--log-level DEBUG prints its traceback)")


class ConsoleStream:
    """A text stream for the functions' JSON log lines: deliveries become one readable line, the rest is shown only
    at or above a level (PII is already masked by the logger's formatter)."""

    def __init__(self, console: Callable[[str], None] | None, level: int) -> None:
        self._console = console
        self._level = level

    def write(self, text: str) -> int:
        for line in text.splitlines():
            self._show(line)
        return len(text)

    def flush(self) -> None:
        pass

    def _show(self, line: str) -> None:
        if not line.strip():
            return
        record = _json_or_none(line)
        shown = record is None or logging.getLevelNamesMapping().get(str(record.get("level")), 0) >= self._level
        if self._console is None:  # no console (tests): only what is at or above the level, on stderr
            if shown:
                sys.stderr.write(line + "\n")
        elif record is not None and record.get("message") == "delivery":
            where = f" on {record['channel']}" if record.get("channel") else ""
            why = f" ({record['reason']})" if record.get("reason") else ""
            title = f' "{record["title"]}"' if record.get("title") else ""
            step = f"{record.get('journey')} step {record.get('step')}"
            self._console(f"  delivery {step}: {record.get('status')}{where}{why}{title}")
        elif shown:
            self._console("  " + line)


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
