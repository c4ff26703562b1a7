"""template.yaml deployed in memory: its queues (FIFO, visibility timeouts, redrive), tables and channel services
as in-memory adapters, its functions' real handlers wired to them, and event source mappings polling the queues.

The facts come from the template itself (which function consumes which queue, with what batch size and failure
reporting; each queue's visibility timeout, dead-letter queue and ``maxReceiveCount``; each function's memory and
timeout), as the local stack's provisioner reads them, so the memory deployment cannot drift from the real one.
Each function's object graph is built here from the same services its AWS composition root
(``functions/<fn>/wiring.py``) builds, on the in-memory adapters, and injected into its handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.customer_api.wiring import CustomerApiWiring
from functions.ingest.wiring import IngestWiring
from functions.public_api.wiring import PublicApiWiring
from functions.state_updater.wiring import StateUpdaterWiring
from infra.local.pollers import QueuePoller
from infra.local.provision import REGION, FunctionSpec, QueueSource, ScheduleSource, schedule_source
from infra.local.runtime import FunctionRuntime, SerialRuntime
from infra.memory.fan_out import VirtualFanOuts
from infra.memory.queues import MemoryQueue, ReceivedMessage
from infra.memory.stores import (
    MemoryCampaigns,
    MemoryCatalog,
    MemoryContacts,
    MemoryCustomers,
    MemoryErasure,
    MemoryInbox,
    MemoryLedger,
    MemoryOffers,
    MemoryOrderAggregates,
    MemoryPhoneBook,
    MemoryQuotas,
    MemoryReports,
    MemoryShops,
    MemoryWaitingLists,
)
from infra.memory.transports import MemoryTransports
from infra.template import Template, function_property, load_template, target_of
from shared.models.events import TimerEvent
from shared.ports import Clock, Timers

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_BASE_URL = "https://nudge.memory"
SIGNING_KEY = b"nudge-memory-signing-key"  # the memory deployment's signing secret (one key)

_log = logging.getLogger("nudge_local")


@dataclass(frozen=True, slots=True)
class QueueFacts:
    """What the template says about one queue."""

    fifo: bool
    visibility_timeout: int
    dead_letters: str | None
    max_receives: int | None
    deduplicate_per_group: bool = False  # DeduplicationScope: messageGroup (SQS's default is the whole queue)


@dataclass
class TemplateFacts:
    """The parts of template.yaml a memory deployment needs."""

    queues: dict[str, QueueFacts] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    sources: dict[str, tuple[str, int, bool]] = field(default_factory=dict)  # function -> (queue, batch, report)
    schedules: list[ScheduleSource] = field(default_factory=list)


def template_facts(template: Template) -> TemplateFacts:
    """Queues, functions and SQS event sources of ``template``."""
    facts = TemplateFacts()
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::SQS::Queue":
            redrive = properties.get("RedrivePolicy") or {}
            facts.queues[logical_id] = QueueFacts(
                fifo=bool(properties.get("FifoQueue", False)),
                visibility_timeout=int(properties.get("VisibilityTimeout", 30)),
                dead_letters=target_of(redrive["deadLetterTargetArn"]) if redrive else None,
                max_receives=int(redrive["maxReceiveCount"]) if redrive else None,
                deduplicate_per_group=properties.get("DeduplicationScope") == "messageGroup",
            )
        elif resource["Type"] == "AWS::Serverless::Function":
            facts.functions[logical_id] = FunctionSpec(
                logical_id=logical_id,
                handler=properties["Handler"],
                environment={},
                memory_mb=int(function_property(template, resource, "MemorySize", 128)),
                timeout_s=int(function_property(template, resource, "Timeout", 3)),
            )
            for event in properties.get("Events", {}).values():
                if event["Type"] == "SQS":
                    event_properties = event["Properties"]
                    queue = target_of(event_properties["Queue"])
                    assert queue is not None, logical_id
                    batch = int(event_properties.get("BatchSize", 10))
                    report = "ReportBatchItemFailures" in event_properties.get("FunctionResponseTypes", [])
                    facts.sources[logical_id] = (queue, batch, report)
                elif event["Type"] == "ScheduleV2":
                    facts.schedules.append(schedule_source(logical_id, event["Properties"]))
    return facts


class MemoryPoller(QueuePoller):
    """Lambda's event source mapping over a memory queue: the local stack's poller (batches, partial batch
    failures, a raising handler failing the whole batch), receiving and deleting in memory."""

    def __init__(self, queue: MemoryQueue, source: QueueSource, runtime: FunctionRuntime) -> None:
        super().__init__(source, runtime, sqs=None)
        self.queue = queue

    def _receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        return [message.as_sqs() for message in self.queue.receive(max_messages)]

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive one batch and invoke the function with it, as the local stack's poller does; each record is
        built straight from the memory queue's message (what ``lambda_sqs_record`` makes of its ReceiveMessage
        form)."""
        messages = self.queue.receive(min(self.source.batch_size, 10))
        if messages:
            self._busy.set()
            try:
                self._invoke([message.lambda_record(self.source.queue_arn, REGION) for message in messages])
            finally:
                self._busy.clear()
        return len(messages)

    def _delete(self, receipt_handles: list[str]) -> None:
        for handle in receipt_handles:
            self.queue.delete(handle)


class MemoryCloud:
    """One deployment of template.yaml in memory, on ``clock``, with ``timers`` as the timer state machine.

    ``keep_sent`` off: the channel services count what they accept without keeping each request (a backtest)."""

    def __init__(
        self,
        clock: Clock,
        timers: Timers,
        template: Template | None = None,
        *,
        keep_sent: bool = True,
        webhook_post: Callable[[str, bytes, dict[str, str]], int] | None = None,
    ) -> None:
        facts = template_facts(template if template is not None else load_template(ROOT / "template.yaml"))
        self.webhook_post = webhook_post  # None: offer webhooks go out over HTTP (a test's server on loopback)
        self.clock = clock
        self.timers = timers
        self.customers = MemoryCustomers()
        self.ledger = MemoryLedger()
        self.reports = MemoryReports()
        self.contacts = MemoryContacts()
        self.quotas = MemoryQuotas()
        self.offers = MemoryOffers()
        self.catalog = MemoryCatalog()
        self.waiting = MemoryWaitingLists()
        self.orders = MemoryOrderAggregates()
        self.campaigns = MemoryCampaigns()
        self.phones = MemoryPhoneBook()
        self.inbox = MemoryInbox()
        self.shops = MemoryShops(clock)  # key retirements run on the deployment's clock
        self.erasure = MemoryErasure(
            self.customers, self.ledger, self.contacts, self.inbox, self.phones, self.offers, self.waiting
        )
        self.transports = MemoryTransports(keep_sent=keep_sent)
        self.queues: dict[str, MemoryQueue] = {}
        for name in sorted(facts.queues, key=lambda n: facts.queues[n].dead_letters is not None):  # targets first
            queue = facts.queues[name]
            self.queues[name] = MemoryQueue(
                name + (".fifo" if queue.fifo else ""),
                clock,
                fifo=queue.fifo,
                visibility_timeout=queue.visibility_timeout,
                dead_letters=self.queues[queue.dead_letters] if queue.dead_letters else None,
                max_receives=queue.max_receives,
                deduplicate_per_group=queue.deduplicate_per_group,
            )
        self.events = self.queues["EventsQueue"]
        self.events_dlq = self.queues["EventsDeadLetterQueue"]
        self.outbox = self.queues["OutboxQueue"]
        self.outbox_dlq = self.queues["OutboxDeadLetterQueue"]
        self.fan_outs = VirtualFanOuts(self.queues["FanOutQueue"], clock)  # the fan-out state machine, in virtual time
        builders: dict[str, Callable[[], Any]] = {
            "ingest": self.ingest_wiring,
            "state_updater": self.state_updater_wiring,
            "channel_router": self.channel_router_wiring,
            "customer_api": self.customer_api_wiring,
            "public_api": self.public_api_wiring,
            "feedback": self.feedback_wiring,
            "fan_out": self.fan_out_wiring,
        }
        self.functions: dict[str, FunctionRuntime] = {
            logical_id: SerialRuntime(spec, wiring=builders[spec.handler.split(".")[1]])
            for logical_id, spec in facts.functions.items()
        }
        self.schedules = facts.schedules  # EventBridge Scheduler's daily schedules: whoever runs the cloud plays them
        self.pollers = [
            MemoryPoller(
                self.queues[queue],
                QueueSource(function, self.queues[queue].url, self.queues[queue].arn, batch, report),
                self.functions[function],
            )
            for function, (queue, batch, report) in facts.sources.items()
        ]

    # ------------------------------------------------------------ each function's object graph, in memory
    def ingest_wiring(self) -> IngestWiring:
        from shared.service.ingest import Ingestor

        return IngestWiring(self.shops, Ingestor(self.shops, self.events, self.clock))

    def state_updater_wiring(self) -> StateUpdaterWiring:
        from shared.service.updater import StateUpdater

        updater = StateUpdater(
            self.customers,
            self.shops,
            self.events_dlq,
            self.clock,
            self.timers,
            self.outbox,
            self.offers,
            self.catalog,
            self.waiting,
            self.orders,
            self.ledger,
            self.reports,
            self.erasure,
        )
        return StateUpdaterWiring(updater, self.queues["EventsQueue"]._max_receives or 5)

    def channel_router_wiring(self, pause: Callable[[float], None] | None = None) -> Any:
        """The router's consumer on this cloud's adapters. ``pause`` is its sleep while a record's save is behind:
        by default none, as nothing here saves while the router sleeps (the handlers run one after the other)."""
        from shared.service.links import Links
        from shared.service.outbox import assemble_consumer

        return assemble_consumer(
            customers=self.customers,
            shops=self.shops,
            ledger=self.ledger,
            contacts=self.contacts,
            offers=self.offers,
            phones=self.phones,
            inbox=self.inbox,
            events=self.events,
            outbox=self.outbox,
            dead_letters=self.outbox_dlq,
            timers=self.timers,
            links=Links(PUBLIC_BASE_URL, self.signing_keys),
            clock=self.clock,
            max_receives=self.outbox._max_receives or 5,
            campaigns=self.campaigns,
            provider_clients=self.transports.clients(),
            post=self.webhook_post,
            catalog=self.catalog,
            orders=self.orders,
            reports=self.reports,
            erasure=self.erasure,
            pause=pause or _no_pause,
            quotas=self.quotas,
        )

    def customer_api_wiring(self) -> CustomerApiWiring:
        from shared.service.campaigns import CampaignDesk
        from shared.service.catalog import CatalogDesk
        from shared.service.churn import ChurnDesk
        from shared.service.customers import CustomerReader
        from shared.service.dates import DateSweeps
        from shared.service.offers import OfferDesk
        from shared.service.segments import SegmentDesk

        offers = OfferDesk(self.offers, self.shops, self.clock)
        catalog = CatalogDesk(self.catalog, self.clock, self.waiting, self.fan_outs, self.shops)
        reader = CustomerReader(self.customers, self.shops, self.orders, self.clock)
        segments = SegmentDesk(self.customers, self.shops, self.orders, self.clock)
        campaigns = CampaignDesk(self.campaigns, self.shops, self.fan_outs, self.clock)
        dates = DateSweeps(self.shops, self.fan_outs, self.clock)
        churn = ChurnDesk(self.orders, self.shops, self.clock)
        from shared.service.reports import JourneyReports

        reports = JourneyReports(self.reports, self.clock)
        return CustomerApiWiring(
            reader,
            self.ledger,
            offers,
            catalog,
            segments,
            campaigns,
            dates,
            churn=churn,
            reports=reports,
            inbox=self.inbox,
            erasure=self.erasure,
        )

    def public_api_wiring(self) -> PublicApiWiring:
        from shared.service.decide import OfferDecider
        from shared.service.engagement import Clicks
        from shared.service.preferences import Confirmations, PreferenceCentre
        from shared.service.public import InboxApi, Unsubscribe

        inbox = InboxApi(self.shops, self.inbox, self.clock, self.events)
        decider = OfferDecider(inbox.shop_for, self.shops, self.customers, self.offers, self.events, self.clock)
        unsubscribe = Unsubscribe(self.signing_keys, self.events, self.clock)
        keys, events, clock = self.signing_keys, self.events, self.clock
        return PublicApiWiring(
            unsubscribe,
            inbox,
            decider,
            Clicks(keys, events, clock),
            PreferenceCentre(keys, events, clock, self.shops, self.customers),
            Confirmations(keys, events, clock, self.shops),
        )

    def feedback_wiring(self) -> Any:
        from shared.adapters.channels.push import EndpointReader
        from shared.service.feedback import FeedbackIntake

        endpoints = EndpointReader(self.transports.clients()["push"])
        return FeedbackIntake(self.events, self.phones, endpoints, self.signing_keys, self.clock)

    def fan_out_wiring(self) -> Any:
        from functions.fan_out.wiring import FanOutWiring
        from shared.service.campaigns import CampaignPager
        from shared.service.dates import DatePager, DateSweeps
        from shared.service.price_drop import PriceDropPager
        from shared.service.restock import RestockPager
        from shared.service.retention import RetentionPager, RetentionSweeps

        restocks = RestockPager(self.catalog, self.waiting, self.events, self.shops, self.clock)
        price_drops = PriceDropPager(self.catalog, self.customers, self.events, self.shops, self.clock)
        campaigns = CampaignPager(self.campaigns, self.customers, self.events, self.shops, self.orders, self.clock)
        dates = DatePager(self.customers, self.events, self.shops, self.clock)
        sweeps = DateSweeps(self.shops, self.fan_outs, self.clock)
        retention = RetentionPager(self.customers, self.shops, self.ledger, self.erasure, self.clock)
        retained = RetentionSweeps(self.shops, self.fan_outs, self.clock)
        return FanOutWiring(restocks, price_drops, campaigns, dates, self.fan_outs, sweeps, retention, retained)

    @staticmethod
    def signing_keys() -> list[bytes]:
        return [SIGNING_KEY]

    # ------------------------------------------------------------ what the timer state machine does
    def fire(self, due: list[TimerEvent]) -> None:
        """Each due timer's event into its customer's FIFO group, as the state machine's SendMessage does."""
        from shared.adapters.queue import FifoEntry
        from shared.adapters.timers import wake_up

        for event in due:
            document = wake_up(event)  # what the due wake-up's SendMessage sends
            self.events.send([FifoEntry(document["group_id"], document["dedup_id"], document["event"])])

    # ------------------------------------------------------------ running the functions
    def drain(self) -> int:
        """Invoke the functions with what their queues hold until no queue has a message ready; records handled."""
        self.fan_outs.release(self.clock())
        handled = 0
        while True:
            received = 0
            for poller in self.pollers:
                queue = poller.queue
                while len(queue) and queue.ready() and (count := poller.poll_once(wait_seconds=0)):
                    received += count
            if not received:
                return handled
            handled += received

    def next_visible(self) -> Any:
        """When the next queued message becomes receivable (a delay, a visibility timeout, a retry's backoff)."""
        upcoming = [
            moment for queue in self.queues.values() if len(queue) and (moment := queue.next_visible()) is not None
        ]
        if self.fan_outs.next_due is not None:  # a fan-out part held in a long wait
            upcoming.append(self.fan_outs.next_due)
        return min(upcoming) if upcoming else None

    def dead_letters(self) -> dict[str, list[ReceivedMessage]]:
        """What the dead-letter queues hold, by queue."""
        return {name: list(queue) for name, queue in self.queues.items() if name.endswith("DeadLetterQueue")}


def _no_pause(seconds: float) -> None:
    """The router's pause in memory: nothing to wait for (see ``MemoryCloud.channel_router_wiring``)."""
