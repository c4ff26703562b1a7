"""nudge's real handlers on an in-process AWS (moto's ``mock_aws``), driven the way Lambda and SQS drive them, with
faults injected into the AWS calls the functions make.

- :class:`Deployment` provisions what ``template.yaml`` declares (through the local stack's own provisioner, under
  another stack name so nothing collides with a running local stack) and points the functions' settings at it.
- :class:`Pipeline` plays Lambda's SQS event sources: receive a batch, invoke the real ``lambda_handler`` with the
  SQS-shaped event, delete what succeeded, make ``batchItemFailures`` visible again at once (virtual time: the
  visibility timeout and the outbox backoff pass instantly) until SQS moves a record to the dead-letter queue after
  ``maxReceiveCount``. It plays the timer state machine too: each wake-up of an execution whose ``due_at`` has come
  puts its event into the customer's FIFO group (what the ASL's ``SendMessage`` does per wake-up). The clock is virtual
  (``shared.clock.use``), so a journey's days pass in milliseconds.
- :class:`Faults` is a botocore hook on the functions' clients (``shared.aws.client``): a seeded share of DynamoDB,
  SQS, Step Functions, SES and SNS calls fail with throttling, 500 or 503, either on the wire (botocore's retries
  see them and may absorb them) or as a ``ClientError`` that outlasted the retries (the handler sees it).
- :class:`SendCounter` counts what the providers accepted, per outbox message id (SES ``SendEmail``, SNS
  ``Publish``, the in-app inbox's ``PutItem``), from successful calls only.

The harness's own AWS calls (draining queues, reading state) use separate clients without hooks.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto.core.botocore_stubber import MockRawResponse

from infra.local.gateway import http_api_event
from infra.local.pollers import lambda_sqs_record
from infra.local.provision import HttpRoute, Provisioner, QueueSource, set_up_shop_channels
from infra.local.runtime import LambdaContext
from infra.template import load_template
from shared import aws
from shared.models.config import ShopConfig

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
FAULTED_SERVICES = ("dynamodb", "sqs", "stepfunctions", "sesv2", "sns")
STACK = "nudge-reliability"


# ---------------------------------------------------------------- faults


@dataclass(frozen=True, slots=True)
class Fault:
    code: str
    status: int


# What AWS answers when it throttles or fails, per wire protocol (botocore retries all three kinds).
_FAULTS = (Fault("ThrottlingException", 400), Fault("InternalServerError", 500), Fault("ServiceUnavailable", 503))
_QUERY_CODES = {"ThrottlingException": "Throttling", "InternalServerError": "InternalFailure"}


class Faults:
    """Fails a seeded share of the calls the functions make to the faulted services.

    ``mode="wire"``: the HTTP answer is the fault, so botocore's retries (adaptive, 5 attempts) see it. ``mode=
    "exhausted"``: the call raises ``ClientError`` as if every retry had failed, so the handler sees it.
    ``operations``: only these operation names (all when None); ``when``: a predicate on (operation, params).
    """

    def __init__(
        self,
        rate: float,
        seed: int,
        mode: str = "wire",
        services: tuple[str, ...] = FAULTED_SERVICES,
        when: Any = None,
    ) -> None:
        self.rate = rate
        self.mode = mode
        self.services = services
        self.when = when
        self._random = random.Random(seed)
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._registered: list[tuple[Any, str, Any]] = []
        self.enabled = True

    @contextmanager
    def installed(self) -> Iterator[Faults]:
        """Registered on the functions' clients inside the block; unregistered after, whatever happens."""
        for service in self.services:
            events = aws.client(service).meta.events
            if self.mode == "wire":
                events.register_first("before-send", self._before_send, unique_id=f"faults-{id(self)}")
                events.register_last("before-send", self._after_send, unique_id=f"faults-after-{id(self)}")
                self._registered.append((events, "before-send", f"faults-{id(self)}"))
                self._registered.append((events, "before-send", f"faults-after-{id(self)}"))
            events.register_first("before-call", self._before_call, unique_id=f"faults-call-{id(self)}")
            self._registered.append((events, "before-call", f"faults-call-{id(self)}"))
        try:
            yield self
        finally:
            for events, name, unique_id in self._registered:
                events.unregister(name, unique_id=unique_id)
            self._registered.clear()

    def _pick(self, service: str, operation: str, params: Any) -> Fault | None:
        self.calls[service] += 1
        if not self.enabled or (self.when is not None and not self.when(operation, params)):
            return None
        if self._random.random() >= self.rate:
            return None
        fault = self._random.choice(_FAULTS)
        self.injected[f"{service} {fault.code}"] += 1
        return fault

    def _before_call(self, model: Any, context: Any, **_: Any) -> None:
        if self.mode != "exhausted":
            return
        service = model.service_model.service_name
        operation, params = context.get("nudge_operation", (model.name, None))
        fault = self._pick(service, operation, params)
        if fault is not None:
            error = {"Code": fault.code, "Message": "injected fault"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": fault.status}}, model.name)

    def _before_send(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        service = kwargs["event_name"].split(".")[1]
        operation, params = request.context.get("nudge_operation", ("?", None))
        fault = self._pick(_SERVICE_NAMES.get(service, service), operation, params)
        if fault is None:
            return None
        protocol = request.context.get("protocol") or _PROTOCOLS.get(service, "json")
        if protocol == "query":
            code = _QUERY_CODES.get(fault.code, fault.code)
            body = (
                f"<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>injected</Message></Error>"
                "<RequestId>injected</RequestId></ErrorResponse>"
            )
            headers = {"Content-Type": "text/xml"}
        else:
            body = json.dumps({"__type": fault.code, "message": "injected fault"})
            headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": fault.code}
        # botocore calls every before-send handler, moto's too: moto must not see a request that "failed on the
        # wire", so it is pointed elsewhere until the last handler (``_after_send``) puts it back for the retry.
        request.context["nudge_faulted_url"] = request.url
        answer = AWSResponse(request.url, fault.status, headers, MockRawResponse(body.encode()))
        request.url = "http://injected-fault.invalid/"
        return answer

    @staticmethod
    def _after_send(request: Any, **_: Any) -> None:
        if "nudge_faulted_url" in request.context:
            request.url = request.context.pop("nudge_faulted_url")

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())

    def per_service(self) -> dict[str, int]:
        found: Counter[str] = Counter()
        for key, count in self.injected.items():
            found[key.split()[0]] += count
        return dict(found)


_SERVICE_NAMES = {"sfn": "stepfunctions"}
_PROTOCOLS = {"sns": "query"}


# ---------------------------------------------------------------- what the providers accepted

PUSH_MESSAGE_ID = re.compile(r'nudge_message_id\\*"\s*:\s*\\*"([^"\\]+)')


class SendCounter:
    """Successful provider calls per outbox message id: SES SendEmail, SNS Publish, the inbox's PutItem."""

    def __init__(self) -> None:
        self.sends: Counter[tuple[str, str]] = Counter()
        self._registered: list[tuple[Any, str, str]] = []

    @contextmanager
    def installed(self) -> Iterator[SendCounter]:
        for service in ("sesv2", "sns", "dynamodb"):
            events = aws.client(service).meta.events
            events.register("after-call", self._after_call, unique_id=f"sends-{id(self)}")
            self._registered.append((events, "after-call", f"sends-{id(self)}"))
        try:
            yield self
        finally:
            for events, name, unique_id in self._registered:
                events.unregister(name, unique_id=unique_id)
            self._registered.clear()

    def _after_call(self, http_response: Any, model: Any, context: Any, **_: Any) -> None:
        if http_response is None or http_response.status_code >= 300:
            return
        operation, params = context.get("nudge_operation", (None, None))
        if params is None:
            return
        if operation == "SendEmail":
            tag = next(t["Value"] for t in params.get("EmailTags", []) if t["Name"] == "nudge_message_id")
            self.sends[("email", tag)] += 1
        elif operation == "Publish":
            found = PUSH_MESSAGE_ID.search(params.get("Message", ""))
            self.sends[("push", found.group(1) if found else "?")] += 1
        elif operation == "PutItem" and params.get("Item", {}).get("sk", {}).get("S", "").startswith("inbox#"):
            self.sends[("in_app", params["Item"]["sk"]["S"].removeprefix("inbox#"))] += 1

    def twice(self) -> dict[tuple[str, str], int]:
        return {key: n for key, n in self.sends.items() if n > 1}

    def per_message(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for (_, message_id), count in self.sends.items():
            found[message_id] += count
        return found


class RecordOperations:
    """Puts (operation name, API parameters) in each request's context, for the fault hook and the send counter."""

    def __init__(self) -> None:
        self._registered: list[tuple[Any, str]] = []

    @contextmanager
    def installed(self) -> Iterator[None]:
        for service in FAULTED_SERVICES:
            events = aws.client(service).meta.events
            events.register_first("before-parameter-build", self._remember, unique_id=f"ops-{id(self)}")
            self._registered.append((events, f"ops-{id(self)}"))
        try:
            yield
        finally:
            for events, unique_id in self._registered:
                events.unregister("before-parameter-build", unique_id=unique_id)

    @staticmethod
    def _remember(model: Any, params: Any, context: Any, **_: Any) -> None:
        context["nudge_operation"] = (model.name, params)


# ---------------------------------------------------------------- the deployment


class Deployment:
    """template.yaml's resources in moto, the shops applied, the functions' environment set (``monkeypatch``)."""

    def __init__(self, monkeypatch: Any, shops: list[ShopConfig]) -> None:
        self._wirings: dict[str, Any] = {}
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }.items():
            monkeypatch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_PORT"):
            monkeypatch.delenv(name, raising=False)
        for name in list(os.environ):
            if name.startswith("AWS_ENDPOINT_URL_"):
                monkeypatch.delenv(name)
        template = load_template(ROOT / "template.yaml")
        self.deployment = Provisioner(
            template, ROOT, aws.client, parameters={"PublicBaseUrl": "https://nudge.example"}, stack_name=STACK
        ).provision()
        for name, value in self.deployment.environment().items():
            if name != "POWERTOOLS_LOG_LEVEL":
                monkeypatch.setenv(name, value)
        from shared.adapters.shops import ShopDirectory

        directory = ShopDirectory(self.resources["ShopsTable"])
        for config in shops:
            directory.apply(config)
            set_up_shop_channels(config, credential="test")

    @property
    def resources(self) -> dict[str, str]:
        return dict(self.deployment.physical)

    def wiring(self, function: str) -> Any:
        """``function``'s wiring on this deployment, built once (one warm execution environment)."""
        if function not in self._wirings:
            self._wirings[function] = environment_wiring(function)
        return self._wirings[function]

    def source(self, function: str) -> QueueSource:
        return next(s for s in self.deployment.queue_sources if s.function == function)


@contextmanager
def deployed(monkeypatch: Any, shops: list[ShopConfig]) -> Iterator[Deployment]:
    """A :class:`Deployment` inside ``mock_aws``."""
    from moto import mock_aws

    from infra.local.emulator import speed_up_emulator, unsigned_in_process

    speed_up_emulator()
    unsigned_in_process()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        yield Deployment(monkeypatch, shops)


_WIRING_MODULES = {
    "IngestFunction": "functions.ingest.wiring",
    "StateUpdaterFunction": "functions.state_updater.wiring",
    "ChannelRouterFunction": "functions.channel_router.wiring",
    "CustomerApiFunction": "functions.customer_api.wiring",
    "PublicApiFunction": "functions.public_api.wiring",
    "FeedbackFunction": "functions.feedback.wiring",
}


def environment_wiring(function: str) -> Any:
    """What a new execution environment of ``function`` builds from the process environment now (its AWS wiring),
    for a test to inject into the handler."""
    import importlib

    return importlib.import_module(_WIRING_MODULES[function]).from_environment()


# ---------------------------------------------------------------- driving it


@dataclass
class Drained:
    """What draining did: invocations, records handled and failed, records SQS moved to a dead-letter queue."""

    invocations: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    failed_records: Counter[str] = field(default_factory=Counter)
    ingest_retries: int = 0
    ingest_unhandled: int = 0
    ingest_gave_up: int = 0


class Pipeline:
    """Drives the real handlers like Lambda's event sources, in virtual time."""

    MAX_INGEST_ATTEMPTS = 12  # a tracking client retries a 5xx with the same messageIds (Segment's clients do)

    def __init__(self, deployment: Deployment, start: datetime) -> None:
        self.deployment = deployment
        self.now = start
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.resources = deployment.resources
        self.fired: set[str] = set()
        self.drained = Drained()
        self._executions: dict[str, dict[str, Any]] = {}

    def clock(self) -> datetime:
        return self.now

    # ---- the HTTP API in front of ingest
    def post(self, path: str, body: Any, key: str) -> int:
        """POST like a Segment client: a 5xx is retried with the same body; returns the final status."""
        from functions.ingest.handler import lambda_handler

        raw = json.dumps(body).encode()
        headers = {"content-type": "application/json", "authorization": basic_auth(key)}
        route = HttpRoute("IngestFunction", "POST", "/v1/{endpoint}")
        status = 0
        for attempt in range(self.MAX_INGEST_ATTEMPTS):
            event = http_api_event(
                route, "POST", path, "", headers, raw, {"endpoint": path.rsplit("/", 1)[1]}, "1.1.1.1"
            )
            self.drained.invocations["IngestFunction"] += 1
            try:
                status = lambda_handler(
                    event, _context("IngestFunction"), wiring=self.deployment.wiring("IngestFunction")
                )["statusCode"]
            except Exception:  # an unhandled error: API Gateway answers 500
                status = 500
                self.drained.ingest_unhandled += 1
            if status < 500:
                return status
            if attempt < self.MAX_INGEST_ATTEMPTS - 1:
                self.drained.ingest_retries += 1
        self.drained.ingest_gave_up += 1
        return status

    # ---- SQS event sources
    def drain(self, function: str, handler: Any) -> int:
        """Invoke ``handler`` with batches from ``function``'s queue until it is empty; returns records handled."""
        source = self.deployment.source(function)
        handled = 0
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(10, source.batch_size),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return handled
            records = [lambda_sqs_record(message, source) for message in messages]
            self.drained.invocations[function] += 1
            self.drained.records[function] += len(records)
            handled += len(records)
            try:
                response = handler({"Records": records}, _context(function), wiring=self.deployment.wiring(function))
                failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
            except Exception:  # the invocation failed: the whole batch comes back (Lambda's behaviour)
                failed = {record["messageId"] for record in records}
            self.drained.failed_records[function] += len(failed)
            done = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                for i, r in enumerate(records)
                if r["messageId"] not in failed
            ]
            if done:
                self.sqs.delete_message_batch(QueueUrl=source.queue_url, Entries=done)
            for record in records:
                if record["messageId"] in failed:  # the visibility timeout (or backoff) passes at once
                    self.sqs.change_message_visibility(
                        QueueUrl=source.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                    )

    def settle(self) -> None:
        """Run the updater and the router until both queues are empty."""
        from functions.channel_router.handler import lambda_handler as router
        from functions.state_updater.handler import lambda_handler as updater

        for _ in range(1000):
            handled = self.drain("StateUpdaterFunction", updater) + self.drain("ChannelRouterFunction", router)
            if handled == 0 and self._empty():
                return
        raise AssertionError("the pipeline did not settle")

    def _empty(self) -> bool:
        for name in ("EventsQueue", "OutboxQueue"):
            counts = self.sqs.get_queue_attributes(
                QueueUrl=self.resources[name],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if int(counts["ApproximateNumberOfMessages"]) or int(counts["ApproximateNumberOfMessagesNotVisible"]):
                return False
        return True

    # ---- the timer state machine
    @contextmanager
    def watching_timers(self) -> Iterator[None]:
        """Learn each execution Step Functions accepts from the functions' own StartExecution calls (cheaper than
        listing executions after every step)."""
        events = aws.client("stepfunctions").meta.events
        unique_id = f"timers-{id(self)}"
        events.register("after-call.sfn.StartExecution", self._started, unique_id=unique_id)
        try:
            yield
        finally:
            events.unregister("after-call.sfn.StartExecution", unique_id=unique_id)

    def _started(self, http_response: Any, context: Any, **_: Any) -> None:
        _, params = context.get("nudge_operation", (None, None))
        if http_response is not None and http_response.status_code < 300 and params is not None:
            self._executions.setdefault(params["name"], json.loads(params["input"]))

    def pending_timers(self) -> dict[str, datetime]:
        """Wake-up (execution name + index) -> due time of every wake-up of the timer executions not fired yet."""
        return {
            f"{name}#{index}": datetime.fromisoformat(wake["due_at"])
            for name, document in self._executions.items()
            for index, wake in enumerate(document["wake_ups"])
            if f"{name}#{index}" not in self.fired
        }

    def fire(self, wake_up: str) -> None:
        """A wake-up's Wait is over: its SendMessage puts its timer event into the customer's group."""
        name, index = wake_up.rsplit("#", 1)
        document = self._executions[name]["wake_ups"][int(index)]
        self.sqs.send_message(
            QueueUrl=self.resources["EventsQueue"],
            MessageBody=document["event"],
            MessageGroupId=document["group_id"],
            MessageDeduplicationId=document["dedup_id"],
        )
        self.fired.add(wake_up)

    def run_timers(self, until: datetime) -> int:
        """Advance the clock timer by timer (in due order) up to ``until``, settling after each; returns fired."""
        fired = 0
        while True:
            pending = {name: due for name, due in self.pending_timers().items() if due <= until}
            if not pending:
                self.now = max(self.now, until)
                return fired
            name = min(pending, key=lambda n: (pending[n], n))
            self.now = max(self.now, pending[name] + timedelta(seconds=1))
            self.fire(name)
            fired += 1
            self.settle()

    # ---- reading the outcome
    def dead_letters(self, name: str) -> list[dict[str, Any]]:
        """Every message in the dead-letter queue ``name``; they stay there (made visible again after reading)."""
        found: dict[str, dict[str, Any]] = {}
        url = self.resources[name]
        handles = []
        for _ in range(1000):
            messages = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=300,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            found.update({m["MessageId"]: m for m in messages})
            handles.extend(m["ReceiptHandle"] for m in messages)
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles[start : start + 10])
            ]
            self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        return list(found.values())

    def customer_state(self, shop_id: str, key: str) -> Any:
        from shared.adapters.customers import CustomerStore

        store = CustomerStore(self.resources["CustomersTable"], client=self.dynamodb)
        record = store.load(shop_id, key)
        while record.merged_into:
            record = store.load(shop_id, record.merged_into)
        return record.state

    def customer_states(self, shop_id: str, keys: Iterable[str]) -> dict[str, Any]:
        """The states of several customers (merge pointers followed), read in one BatchGetItem (strongly consistent,
        as the store reads) rather than one GetItem each."""
        from shared.adapters.customers import STATE_SK, decode_state

        wanted = sorted(set(keys))
        table = self.resources["CustomersTable"]
        items: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {
                table: {
                    "Keys": [
                        {"pk": {"S": f"{shop_id}#{key}"}, "sk": {"S": STATE_SK}} for key in wanted[start : start + 100]
                    ],
                    "ConsistentRead": True,
                }
            }
            while request:
                answer = self.dynamodb.batch_get_item(RequestItems=request)
                items.update({item["pk"]["S"]: item for item in answer["Responses"].get(table, [])})
                request = answer.get("UnprocessedKeys") or {}
        states: dict[str, Any] = {}
        for key in wanted:
            item = items.get(f"{shop_id}#{key}")
            if item is not None and "merged_into" in item:
                states[key] = self.customer_state(shop_id, key)
            else:
                states[key] = decode_state(item) if item is not None else None
        return states


def read_customer(customer_id: str, key: str) -> tuple[int, dict[str, Any]]:
    """``GET /v1/customers/{customer_id}`` through the customer API function, as API Gateway invokes it."""
    from functions.customer_api.handler import lambda_handler

    route = HttpRoute("CustomerApiFunction", "GET", "/v1/customers/{customer_id}")
    headers = {"authorization": basic_auth(key)}
    path = f"/v1/customers/{customer_id}"
    event = http_api_event(route, "GET", path, "", headers, b"", {"customer_id": customer_id}, "1.1.1.1")
    response = lambda_handler(event, _context("CustomerApiFunction"), wiring=environment_wiring("CustomerApiFunction"))
    return int(response["statusCode"]), json.loads(response["body"] or "{}")


def basic_auth(key: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def _context(function: str) -> LambdaContext:
    return LambdaContext(f"{STACK}-{function}", 512, 60)
