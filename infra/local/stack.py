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
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from infra.local.gateway import HttpApi
from infra.local.pollers import QueuePoller
from infra.local.provision import REGION, Deployment, Provisioner, QueueSource
from infra.local.runtime import FunctionRuntime
from infra.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
_log = logging.getLogger("nudge.local")


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
    ) -> None:
        self._configs = [Path(p) for p in configs]
        self._port = port
        self._template_path = template
        self._log_level = log_level
        self._console = console
        self._server: Any = None
        self._api: HttpApi | None = None
        self._pollers: list[QueuePoller] = []
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
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self._configure_process(port)
        self._enable_state_machine_interpreter()

        from shared import aws

        aws.client.cache_clear()  # clients made before now would talk to AWS
        template = load_template(self._template_path)
        self.deployment = Provisioner(template, self._template_path.parent, aws.client).provision()
        self._export_function_environment()
        self._load_shops()

        self.runtimes = {fid: FunctionRuntime(spec) for fid, spec in self.deployment.functions.items()}
        self._api = HttpApi(self.deployment.routes, self.runtimes, self._port, on_request=self._on_request)
        self._api.start()
        sqs = aws.sqs()
        self._pollers = [
            QueuePoller(source, self.runtimes[source.function], sqs, on_batch=self._on_batch)
            for source in self.deployment.queue_sources
        ]
        for poller in self._pollers:
            poller.start()
        return self

    def stop(self) -> None:
        """Stop polling, serving and the emulator (in that order, so no handler runs against a dead emulator)."""
        for poller in self._pollers:
            poller.stop()
        if self._api is not None:
            self._api.stop()
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
        execution is still running). Records a handler failed wait for their visibility timeout and do not count.
        """
        deadline = time.monotonic() + timeout
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
                "POWERTOOLS_LOG_LEVEL": self._log_level,
            }
        )
        os.environ.pop("AWS_PROFILE", None)

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
        # One process plays every function, so their variables must agree where they overlap.
        merged: dict[str, str] = {}
        for spec in self.deployment.functions.values():
            for name, value in spec.environment.items():
                if name.startswith("POWERTOOLS_"):
                    continue  # the local stack sets these for the console
                if merged.get(name, value) != value:
                    raise LocalStackError(f"functions disagree on environment variable {name}")
                merged[name] = value
        os.environ.update(merged)

    def _load_shops(self) -> None:
        from infra.admin import load_config
        from shared.adapters.shops import ShopDirectory

        directory = ShopDirectory(self.deployment.physical["ShopsTable"])
        for path in self._configs:
            directory.apply(load_config(path))

    def _idle(self, timers: bool) -> bool:
        if any(poller.busy for poller in self._pollers):
            return False
        from shared import aws

        sqs = aws.sqs()
        for source in self.deployment.queue_sources:
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
            for arn in self._state_machines():
                if client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
                    return False
        return True

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

    def _on_request(self, method: str, path: str, status: int, millis: float) -> None:
        if self._console:
            self._console(f"  {method} {path} -> {status} ({millis:.0f} ms)")
