"""The ports the services are written against (architecture §5): what each store, queue and timer must do, and
nothing of how.

Each has two adapters with the same semantics: the AWS one in ``shared.adapters`` (DynamoDB, SQS, Step Functions;
what Lambda, the local stack and the integration tests run) and an in-memory one in ``infra.memory`` (the fast
backtest and the service tests). ``tests/parity`` replays one history through both and requires identical results.
The clock is a port too: a ``Callable[[], datetime]`` (``shared.clock.now`` in Lambda). Channel providers are
``shared.adapters.channels.ChannelProvider``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from shared.adapters.catalog import HeldProduct, Waiter
    from shared.adapters.channels import ChannelProvider
    from shared.adapters.contacts import ContactRecord
    from shared.adapters.customers import StoredCustomer
    from shared.adapters.offers import IssuedOffer
    from shared.adapters.phone_index import PhoneChannel, PhoneOwner
    from shared.adapters.queue import FifoEntry
    from shared.adapters.reports import ReportRow
    from shared.adapters.shops import ShopKey
    from shared.core.policy import ContactLog
    from shared.models.campaigns import Campaign, CampaignRequest
    from shared.models.catalog import Product
    from shared.models.channels import InboxItem
    from shared.models.config import Channel, KeyKind, ShopConfig
    from shared.models.effects import OrderLine, Tally
    from shared.models.events import TimerEvent
    from shared.models.messages import Attempt, Content, LedgerEntry, LedgerStatus, OutboxMessage
    from shared.models.nudge_events import EngagementAction
    from shared.models.state import CustomerState
    from shared.service.fan_out import FanOutJob, PageDone

Clock = Callable[[], datetime]


class CustomerRecords(Protocol):
    """Customer state, one record per customer, written only on the condition of the version read."""

    def load(self, shop_id: str, key: str) -> StoredCustomer:
        """The record (strongly consistent), or an empty one at version 0; UnloadableStateError if it does not load."""
        ...

    def follow(self, record: StoredCustomer) -> StoredCustomer:
        """The live record ``record``'s ``merged_into`` pointers lead to; MergeChainError past ``MAX_MERGE_HOPS``."""
        ...

    def encode(self, state: CustomerState) -> bytes:
        """The document :meth:`save` would write for ``state``, checked to load again (UnloadableStateError if not):
        made before anything of a decision goes out, so a state that cannot be written stops its effects too."""
        ...

    def save(
        self,
        record: StoredCustomer,
        state: CustomerState,
        now: datetime,
        absorbed: Sequence[StoredCustomer] = (),
        document: bytes | None = None,
    ) -> None:
        """Write ``state`` over ``record`` and turn ``absorbed`` into pointers to it, all or nothing;
        VersionConflictError if any changed since read, UnloadableStateError (nothing written) if ``state`` would
        not load again."""
        ...


class Ledger(Protocol):
    """The send ledger: one record per outgoing message, written with conditions so nothing is sent twice."""

    def find(self, message: OutboxMessage) -> LedgerEntry | None: ...

    def start(
        self,
        message: OutboxMessage,
        channel: Channel,
        attempts: Sequence[Attempt],
        now: datetime,
        previous: Channel | None = None,
    ) -> None:
        """Mark in flight on ``channel``; LedgerConflictError unless new or open with nothing (or ``previous``) in
        flight."""
        ...

    def close(
        self,
        message: OutboxMessage,
        status: LedgerStatus,
        now: datetime,
        *,
        channel: Channel | None = None,
        reason: str | None = None,
        title: str | None = None,
        attempts: Sequence[Attempt] = (),
        details: dict[str, Any] | None = None,
        in_flight: Channel | None = None,
    ) -> None:
        """Record the outcome; LedgerConflictError unless ``in_flight`` is what is in flight (or, with none, the
        message is not final)."""
        ...

    def list(self, shop_id: str, customer: str, limit: int = 100) -> list[LedgerEntry]:
        """A customer's messages, newest first."""
        ...

    def engage(
        self, shop_id: str, customer: str, message_id: str, action: EngagementAction, at: datetime
    ) -> LedgerEntry | None:
        """Record what the customer did with the message (first times, clicks); the entry as it was before, or
        None when it holds no such message."""
        ...

    def credit(
        self, shop_id: str, customer: str, message_id: str, order_id: str, revenue: float | None
    ) -> LedgerEntry | None:
        """Credit ``order_id`` to the message (None: remove the credit); the entry as it was before, or None when
        it holds no such message."""
        ...


class Reports(Protocol):
    """The shop's report counters: a daily rollup per journey, step, variant, channel (``shared.adapters.reports``)."""

    def add(self, tally: Tally) -> None:
        """Add a tally's counts to its day's row."""
        ...

    def read(self, shop_id: str, start: date, end: date) -> list[ReportRow]:
        """Every row from ``start`` to ``end``, both days included."""
        ...


class Erasure(Protocol):
    """Erasing customers: deleting their items, and the suppression records that keep late events from bringing them
    back (``shared.adapters.erasure``)."""

    def suppress(self, shop_id: str, customers: Sequence[str], identifiers: Sequence[str], at: datetime) -> None:
        """Record that ``customers`` were erased at ``at``, with the digests of ``identifiers``."""
        ...

    def erased_at(self, shop_id: str, customer: str) -> datetime | None:
        """When ``customer`` (a key) was erased, or None."""
        ...

    def delete(self, shop_id: str, customers: Sequence[str], others: Sequence[dict[str, Any]]) -> int:
        """Delete every item of the customers' partitions and the ``others`` keys; how many were deleted."""
        ...


class Quotas(Protocol):
    """Shop-wide quotas per window (``shared.adapters.quotas``): units taken one at a time, refused past a limit."""

    def take(self, shop_id: str, name: str, window: datetime, limit: int, keep: timedelta) -> bool:
        """One unit of quota ``name`` in the window starting at ``window`` if fewer than ``limit`` were taken."""
        ...


class Contacts(Protocol):
    """Each customer's contact log (the sends that took a slot of the shop's caps, the deferred messages waiting for
    one), written only on the condition of the version read."""

    def load(self, shop_id: str, customer: str) -> ContactRecord:
        """The log (strongly consistent), or an empty one at version 0."""
        ...

    def save(self, record: ContactRecord, log: ContactLog, now: datetime, keep: timedelta) -> None:
        """Write ``log`` over ``record``, kept at least ``keep``; ContactConflictError if it changed since read."""
        ...


class Offers(Protocol):
    """Offer codes handed out (so a checkout can check them) and the pools of codes shops upload."""

    def find(self, shop_id: str, code: str) -> IssuedOffer | None: ...

    def issue(self, offer: IssuedOffer) -> None:
        """Record ``offer`` handed out (again by the same message: harmless); ValueError if another message has it."""
        ...

    def redeem(self, shop_id: str, code: str, customer: str, order_id: str, at: datetime) -> bool:
        """Record the first order that used ``code``; False if nudge never handed it out or it was used before."""
        ...

    def upload(self, shop_id: str, pool: str, codes: Sequence[str]) -> int: ...

    def available(self, shop_id: str, pool: str) -> int: ...

    def claim(self, pool: str, offer: IssuedOffer) -> IssuedOffer:
        """A code of ``pool`` handed out for ``offer``'s message (the same one on a redelivery); PoolEmptyError."""
        ...


class Catalog(Protocol):
    """The shop's products, each written only on the condition of the version read (0: not held yet)."""

    def get(self, shop_id: str, product_ids: Sequence[str]) -> dict[str, HeldProduct]:
        """The held products among ``product_ids`` (strongly consistent), by id; the others are not held."""
        ...

    def put(self, shop_id: str, product: Product, version: int) -> None:
        """Store ``product`` over the one read at ``version``; ProductConflictError if it changed since."""
        ...


class WaitingLists(Protocol):
    """Per product, the customers waiting for it, read page by page in key order."""

    def watch(self, shop_id: str, product_id: str, waiter: Waiter) -> None: ...

    def page(self, shop_id: str, product_id: str, limit: int, after: str | None) -> tuple[list[Waiter], str | None]: ...

    def forget(self, shop_id: str, product_id: str, customers: Sequence[str]) -> None: ...


class OrderAggregates(Protocol):
    """What the shop's orders say about its products: bought together, best-sellers per category (IN4); and about
    its customers: how they spread by recency, frequency and monetary value, and the days between orders (IN2), and
    month by month who bought, came back or churned (the churn report)."""

    def record(self, shop_id: str, lines: Sequence[OrderLine], day: date) -> None:
        """Count one completed order."""
        ...

    def bought_with(self, shop_id: str, product_ids: Sequence[str]) -> Counter[str]:
        """How many orders had each other product together with any of ``product_ids``."""
        ...

    def best_sellers(self, shop_id: str, category: str, since: date) -> Counter[str]:
        """Units sold per product of ``category`` (``*``: the whole shop) from ``since`` on."""
        ...

    def move(self, shop_id: str, changes: Mapping[str, int]) -> None:
        """Add ``changes`` to the shop's distribution counters (``shared.core.insights.distribution_changes``)."""
        ...

    def distribution(self, shop_id: str) -> dict[str, int]:
        """The shop's distribution counters (``shared.core.insights.ShopDistribution.of`` reads them)."""
        ...

    def count_churn(self, shop_id: str, month: str, changes: Mapping[str, float]) -> None:
        """Add ``changes`` to the shop's churn counters of ``month`` (``YYYY-MM``; ``shared.core.churn``)."""
        ...

    def churn(self, shop_id: str, first: str, last: str) -> dict[str, dict[str, float]]:
        """The shop's churn counters that are not zero, per month from ``first`` to ``last`` (months without any are
        left out); one request."""
        ...


class Campaigns(Protocol):
    """The shop's campaigns (J12): created once per id, cancelled before they start, their progress counted."""

    def create(self, shop_id: str, request: CampaignRequest, now: datetime) -> Campaign | None:
        """Store a new campaign as scheduled; None when the id exists (nothing written)."""
        ...

    def get(self, shop_id: str, campaign_id: str) -> Campaign | None: ...

    def cancel(self, shop_id: str, campaign_id: str) -> bool:
        """Cancel a campaign that has not ended (its pages from then on tell nobody); False otherwise."""
        ...

    def start(self, shop_id: str, campaign_id: str) -> bool:
        """Mark it running; False if it was cancelled or is none."""
        ...

    def finish(self, shop_id: str, campaign_id: str) -> None: ...

    def count_page(self, shop_id: str, campaign_id: str, page: str, members: int, part_done: str | None) -> None:
        """Add a page's members once per ``page``; ``part_done`` names the part that page ended."""
        ...

    def count_outcome(self, shop_id: str, campaign_id: str, status: str, reason: str | None) -> None:
        """Add one message the router closed as ``status`` (and ``reason`` when suppressed)."""
        ...


class CustomerSweep(Protocol):
    """A shop's customers read in pages of a parallel scan (work over many customers; never at send time)."""

    def sweep(
        self, shop_id: str, part: int, parts: int, limit: int, after: str | None
    ) -> tuple[list[tuple[str, CustomerState]], str | None]:
        """Segment ``part`` of ``parts``: one page of (customer key, state) after ``after``, and where it goes on."""
        ...


class FanOuts(Protocol):
    """Jobs of work over many customers (architecture §10), each started once: starting it again changes nothing."""

    def start(self, job: FanOutJob) -> None: ...


class FanOutTasks(Protocol):
    """A fan-out job's page tasks, answered when a page is done."""

    def succeed(self, token: str, done: PageDone) -> None: ...


class Shops(Protocol):
    """Shop configurations and the hashed keys that identify shops."""

    def authenticate(self, key: str) -> ShopKey | None: ...

    def config(self, shop_id: str) -> ShopConfig | None: ...

    def allowed_origins(self, shop_id: str) -> frozenset[str]: ...

    def origins_of_any_shop(self) -> frozenset[str]: ...

    def dated_shops(self) -> list[str]:
        """The shops with a date or occasion journey (the daily date sweep's), from one index, never a scan."""
        ...

    def retained_shops(self) -> list[str]:
        """The shops with a ``retention`` (the daily retention sweep's), from the same index."""
        ...

    def apply(self, config: ShopConfig) -> None:
        """Store ``config`` and its keys: dropped keys stop working, but a rotated key works until its time (see
        :meth:`rotate`); ShopDirectoryError if a key is another shop's."""
        ...

    def pause(self, shop_id: str, journey: str, paused: bool = True) -> frozenset[str]:
        """Pause (``paused=False``: resume) a journey of the shop, kept beside its config; the journeys paused now."""
        ...

    def rotate(self, shop_id: str, kind: KeyKind, key_hash: str, retire_at: datetime) -> dict[str, datetime]:
        """Make ``key_hash`` a ``kind`` key of the shop, first in its config, and retire its other ``kind`` keys at
        ``retire_at`` (one retiring sooner keeps its time): until then they work and stay listed, after it they are
        refused, even if a config lists them again; ``apply`` keeps them until their time. The retiring keys with
        their times; UnknownShopError for a shop not stored, ShopDirectoryError if the shop changed meanwhile."""
        ...


class EventQueue(Protocol):
    """A FIFO queue of customer events (or its dead-letter queue): per group in order, deduplicated by id."""

    def send(self, entries: Sequence[FifoEntry]) -> None:
        """Enqueue all, each group in order; EnqueueError if some could not be (retrying with the same ids is safe)."""
        ...

    def park(self, entry: FifoEntry, reason: str) -> None:
        """Put a message that can never be processed here (a dead-letter queue), with its reason."""
        ...


class Outbox(Protocol):
    """A standard queue of outgoing messages (or its dead-letter queue)."""

    def send(self, body: str, delay_seconds: int = 0) -> None: ...

    def send_many(self, bodies: Sequence[str]) -> None: ...

    def park(self, body: str, reason: str) -> None: ...

    def delay_retry(self, receipt_handle: str, seconds: int) -> None:
        """Back off: the received message becomes visible again only after ``seconds``."""
        ...


class Timers(Protocol):
    """Each event is put back into its customer's FIFO group at its ``due_at``, at most once per ``timer_id``; the
    events naming one ``execution`` are one execution (starting it again is harmless)."""

    def start(self, events: Sequence[TimerEvent]) -> None:
        """Arm the wake-ups: one execution per execution name, carrying its events in the order given."""
        ...


class PhoneBook(Protocol):
    """Who nudge reaches at a phone number (replies name no shop)."""

    def remember(
        self, shop_id: str, customer: str, phone: str, origination: str, channel: PhoneChannel = "sms"
    ) -> bool:
        """Record the mapping; False if it already said exactly this."""
        ...

    def lookup(self, phone: str) -> list[PhoneOwner]: ...


class Inbox(Protocol):
    """Customers' in-app inboxes."""

    def deliver(
        self, shop_id: str, customer: str, message_id: str, content: Content, now: datetime, ttl: timedelta = ...
    ) -> bool:
        """Put the message in the inbox; False if it was there already."""
        ...

    def list(self, shop_id: str, customer: str, limit: int = 50, now: datetime | None = None) -> list[InboxItem]: ...

    def mark_read(self, shop_id: str, customer: str, message_id: str, now: datetime) -> bool: ...


class EndpointAttributes(Protocol):
    """Reads a push endpoint's attributes (its owner, whether it is enabled); None if it no longer exists."""

    def attributes(self, endpoint_arn: str) -> dict[str, str] | None: ...


ProvidersFor = Callable[["ShopConfig"], Mapping["Channel", "ChannelProvider"]]
SigningKeys = Callable[[], Sequence[bytes]]
