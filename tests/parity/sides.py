"""The two sides of every port: the AWS adapters on template.yaml provisioned in moto (``mock_aws``), and the in-memory
adapters of ``infra.memory``, behind one small interface so that one contract test runs against each.

A test gets a :class:`Side`. Its stores are the port adapters themselves (``CustomerStore`` or ``MemoryCustomers``,
...). Queues come fresh per test (:meth:`Side.queues`), with the template's properties, and with what a test needs of
the consumer side that no port has: receive, delete, and end a message's visibility timeout (SQS's
``ChangeMessageVisibility`` to 0, which is how a test lets the timeout pass without waiting; moto's own SQS on one
side, ``MemoryQueue.receive/delete/delay_retry`` on the other). Where a contract is about time passing, the memory
side moves its clock and the moto side really waits (a second or two; moto keeps wall time, and nothing here patches
it).
"""

from __future__ import annotations

import copy
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from infra.local.provision import ACCOUNT, REGION, Deployment, Provisioner, set_up_shop_channels
from infra.memory import MemoryCloud, MemoryQueue
from infra.simulate import VirtualTimers
from infra.template import Template, load_template
from shared import aws
from tests.clocks import SetClock

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
_stacks = itertools.count(1)


def unique(prefix: str) -> str:
    """An id no other test uses (the moto side keeps one set of tables for the module)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def with_queue_property(name: str, queue: str, value: Any) -> Template:
    """template.yaml with one property of one queue changed (a visibility timeout a test can wait out)."""
    template = copy.deepcopy(TEMPLATE)
    template["Resources"][queue]["Properties"][name] = value
    return template


@dataclass
class Queues:
    """The events FIFO queue, the outbox and their dead-letter queues as the ports see them (``events``, ``outbox``,
    ...), and the consumer side by logical name (``EventsQueue``, ``OutboxDeadLetterQueue``, ...)."""

    events: Any
    events_dlq: Any
    outbox: Any
    outbox_dlq: Any
    receive: Callable[[str, int], list[dict[str, Any]]]
    delete: Callable[[str, str], None]
    release: Callable[[str, str], None]

    def take(self, queue: str, max_messages: int = 10) -> list[dict[str, Any]]:
        """Receive up to ``max_messages`` (SQS's ReceiveMessage answer: ``Body``, ``Attributes``, ...)."""
        return self.receive(queue, max_messages)

    def drain(self, queue: str) -> list[dict[str, Any]]:
        """Receive and delete until nothing is receivable; what was received, in order."""
        found: list[dict[str, Any]] = []
        while messages := self.receive(queue, 10):
            for message in messages:
                self.delete(queue, message["ReceiptHandle"])
            found.extend(messages)
        return found


@dataclass
class Side:
    """One side of the contracts: ``name`` is ``moto`` or ``memory``."""

    name: str
    customers: Any
    ledger: Any
    contacts: Any
    quotas: Any
    offers: Any
    catalog: Any
    waiting: Any
    orders: Any
    reports: Any
    erasure: Any
    campaigns: Any
    shops: Any
    phones: Any
    inbox: Any
    queues: Callable[..., Queues]
    wait: Callable[[float], None]
    transports: Callable[[], dict[str, Any]]  # channel -> the client a provider takes (None: AWS's own)
    timers: Callable[[], Any]
    executions: Callable[[Any], list[dict[str, Any]]]  # the timers' started executions' inputs
    set_up_channels: Callable[[Any], None]  # what a shop's operator sets up once (a verified sender, push apps)
    received: Callable[[str, str], list[str]]  # (channel, address) -> what that channel's service accepted for it
    raw: dict[str, Any] = field(default_factory=dict)  # side-specific handles (moto: the deployment)


# ---------------------------------------------------------------- moto


def moto_side(deployment: Deployment) -> Side:
    """The AWS adapters on the provisioned template (inside the caller's ``mock_aws``)."""
    from shared.adapters.campaigns import CampaignStore
    from shared.adapters.catalog import CatalogStore, WaitingList
    from shared.adapters.channels.inbox import InboxStore
    from shared.adapters.contacts import ContactStore
    from shared.adapters.customers import CustomerStore
    from shared.adapters.erasure import CustomerErasure
    from shared.adapters.ledger import SendLedger
    from shared.adapters.offers import OfferStore
    from shared.adapters.phone_index import PhoneIndex
    from shared.adapters.quotas import QuotaStore
    from shared.adapters.recommendations import OrderAggregates
    from shared.adapters.reports import ReportCounters
    from shared.adapters.shops import ShopDirectory
    from shared.adapters.timers import StepFunctionsTimers

    table = deployment.physical["CustomersTable"]

    def queues(template: Template = TEMPLATE) -> Queues:
        from shared.adapters.queue import FifoQueue, StandardQueue

        # A stack of its own: the queues are new, with the properties ``template`` gives them (and their redrive
        # targets, which the provisioner creates first).
        provisioner = Provisioner(template, ROOT, aws.client, stack_name=f"ports-{next(_stacks)}")
        urls = {name: provisioner.physical_id(name) for name in ("EventsQueue", "OutboxQueue")}
        urls |= {name: provisioner.physical_id(name) for name in ("EventsDeadLetterQueue", "OutboxDeadLetterQueue")}
        sqs = aws.sqs()

        def receive(queue: str, max_messages: int) -> list[dict[str, Any]]:
            answer = sqs.receive_message(
                QueueUrl=urls[queue],
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            return list(answer.get("Messages", []))

        return Queues(
            events=FifoQueue(urls["EventsQueue"]),
            events_dlq=FifoQueue(urls["EventsDeadLetterQueue"]),
            outbox=StandardQueue(urls["OutboxQueue"]),
            outbox_dlq=StandardQueue(urls["OutboxDeadLetterQueue"]),
            receive=receive,
            delete=lambda queue, handle: sqs.delete_message(QueueUrl=urls[queue], ReceiptHandle=handle),
            release=lambda queue, handle: sqs.change_message_visibility(
                QueueUrl=urls[queue], ReceiptHandle=handle, VisibilityTimeout=0
            ),
        )

    machine = deployment.physical["TimerStateMachine"]

    def executions(_: Any) -> list[dict[str, Any]]:
        import json

        client = aws.stepfunctions()
        found = client.list_executions(stateMachineArn=machine)["executions"]
        inputs = [json.loads(client.describe_execution(executionArn=e["executionArn"])["input"]) for e in found]
        return [wake_up for document in inputs for wake_up in document["wake_ups"]]

    def received(channel: str, address: str) -> list[str]:
        from moto.ses.models import ses_backends
        from moto.sns.models import sns_backends

        if channel == "email":
            sent = ses_backends[ACCOUNT][REGION].sent_messages
            return [m.raw_data for m in sent if address in getattr(m, "destinations", [])]
        endpoint = sns_backends[ACCOUNT][REGION].platform_endpoints.get(address)
        return list(endpoint.messages.values()) if endpoint else []

    return Side(
        name="moto",
        customers=CustomerStore(table),
        ledger=SendLedger(table),
        contacts=ContactStore(table),
        quotas=QuotaStore(table),
        offers=OfferStore(table),
        catalog=CatalogStore(table),
        waiting=WaitingList(table),
        orders=OrderAggregates(table),
        reports=ReportCounters(table),
        erasure=CustomerErasure(table),
        campaigns=CampaignStore(table),
        shops=ShopDirectory(deployment.physical["ShopsTable"]),
        phones=PhoneIndex(table),
        inbox=InboxStore(table),
        queues=queues,
        wait=time.sleep,
        transports=lambda: {},
        timers=lambda: StepFunctionsTimers(machine),
        executions=executions,
        set_up_channels=set_up_shop_channels,
        received=received,
        raw={"deployment": deployment, "table": table},
    )


# ---------------------------------------------------------------- memory


def memory_side(start: datetime) -> Side:
    """The in-memory adapters, as ``MemoryCloud`` builds them from template.yaml, on a clock the test moves."""
    clock = SetClock(start)
    cloud = MemoryCloud(clock, VirtualTimers(), template=TEMPLATE)

    def queues(template: Template = TEMPLATE) -> Queues:
        fresh = cloud if template is TEMPLATE else MemoryCloud(clock, VirtualTimers(), template=template)
        by_name: dict[str, MemoryQueue] = fresh.queues

        def receive(queue: str, max_messages: int) -> list[dict[str, Any]]:
            return [message.as_sqs() for message in by_name[queue].receive(max_messages)]

        return Queues(
            events=fresh.events,
            events_dlq=fresh.events_dlq,
            outbox=fresh.outbox,
            outbox_dlq=fresh.outbox_dlq,
            receive=receive,
            delete=lambda queue, handle: by_name[queue].delete(handle),
            release=lambda queue, handle: by_name[queue].delay_retry(handle, 0),
        )

    def wait(seconds: float) -> None:
        clock.at += timedelta(seconds=seconds)

    def executions(timers: VirtualTimers) -> list[dict[str, Any]]:
        from shared.adapters.timers import wake_up

        # every pending wake-up, as its execution's input carries it (taking them fires them: read once, at the end)
        return [wake_up(event) for event in timers.pop_due(datetime.max.replace(tzinfo=start.tzinfo))]

    return Side(
        name="memory",
        customers=cloud.customers,
        ledger=cloud.ledger,
        contacts=cloud.contacts,
        quotas=cloud.quotas,
        offers=cloud.offers,
        catalog=cloud.catalog,
        waiting=cloud.waiting,
        orders=cloud.orders,
        reports=cloud.reports,
        erasure=cloud.erasure,
        campaigns=cloud.campaigns,
        shops=cloud.shops,
        phones=cloud.phones,
        inbox=cloud.inbox,
        queues=queues,
        wait=wait,
        transports=cloud.transports.clients,
        timers=VirtualTimers,
        executions=executions,
        set_up_channels=lambda config: None,  # the memory services know no accounts: nothing to set up
        received=lambda channel, address: [
            sent.request["Content"]["Raw"]["Data"].decode() if channel == "email" else sent.request["Message"]
            for sent in cloud.transports.sent
            if sent.channel == channel and sent.to == address
        ],
        raw={"cloud": cloud, "clock": clock},
    )
