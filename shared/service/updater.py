"""The state updater: load the customer, decide, save on condition of the version read, retry on conflict.

Identity resolution happens here, around the pure core: an event for an anonymous visitor who has since been
identified is applied to the known customer; an identify (or alias) that names both ids merges the anonymous
record into the known one in the same transaction as the event itself. Two known customers are merged only when a
shop secret key sent the event; with the public write key the merge is refused and recorded on the event's customer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.adapters.catalog import Waiter
from shared.adapters.customers import (
    MergeChainError,
    StoredCustomer,
    UnloadableStateError,
    VersionConflictError,
)
from shared.adapters.queue import FifoEntry
from shared.core import attribution
from shared.core.attribution import CouponIssue
from shared.core.customer import Decision, decide, merge, refuse_merges
from shared.core.insights import ShopDistribution, distribution_changes, merge_moves
from shared.core.segments import uses_distribution
from shared.models.config import ShopConfig
from shared.models.effects import (
    CountChurn,
    CreditOrder,
    Effect,
    MoveCustomer,
    RecordOrder,
    RedeemOffer,
    Send,
    StartTimer,
    Tally,
    WatchProduct,
)
from shared.models.events import EngagementEvent, FeedbackEvent, QueuedEvent, SegmentEvent, TimerEvent
from shared.models.messages import LedgerEntry, SavedAs
from shared.models.segment import OrderTrack
from shared.models.state import CustomerState
from shared.ports import (
    Catalog,
    CustomerRecords,
    Erasure,
    EventQueue,
    Ledger,
    Offers,
    OrderAggregates,
    Outbox,
    Reports,
    Shops,
    Timers,
    WaitingLists,
)


@cache
def _queued() -> TypeAdapter[SegmentEvent | TimerEvent | FeedbackEvent | EngagementEvent]:
    """The validator of a queued event, built at first use rather than at import."""
    return TypeAdapter(QueuedEvent)


_ATTEMPTS = 4
DISTRIBUTION_TTL = timedelta(minutes=5)  # how long a container keeps a shop's distribution for entry segments


class PermanentEventError(Exception):
    """The event can never be applied (malformed, unknown shop); it goes to the dead-letter queue with this reason."""


@dataclass(frozen=True, slots=True)
class QueuedRecord:
    """One record of an events-queue batch: its body, message group, SQS messageId and receive count."""

    body: str
    group_id: str
    message_id: str
    receive_count: int = 1


Event = SegmentEvent | TimerEvent | FeedbackEvent | EngagementEvent
Parsed = tuple[QueuedRecord, Event | PermanentEventError]  # a record, and its event or why it has none


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying one queued message did."""

    event: Event
    customer: str
    decision: Decision
    decided_at: datetime  # the updater's clock when it decided
    merged: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # known customers it asked to merge without a secret key

    @property
    def timer_lag(self) -> timedelta | None:
        """How long after its due time a timer's wake-up was decided: the timer state machine's wait, the events
        queue and the updater together (a little below zero is the state machine waiting to the whole second). None
        for other events, and for a wake-up delivered again (late by nature)."""
        if not isinstance(self.event, TimerEvent) or self.decision.duplicate:
            return None
        return self.decided_at - self.event.occurred_at


RecordResult = Outcome | Exception | None
"""What became of one record of a batch: its outcome, the exception it failed with, or None when it was parked."""


class StateUpdater:
    """Applies queued events to customer state."""

    def __init__(
        self,
        store: CustomerRecords,
        shops: Shops,
        dead_letters: EventQueue,
        clock: Callable[[], datetime],
        timers: Timers | None = None,
        outbox: Outbox | None = None,
        offers: Offers | None = None,
        catalog: Catalog | None = None,
        waiting: WaitingLists | None = None,
        orders: OrderAggregates | None = None,
        ledger: Ledger | None = None,
        reports: Reports | None = None,
        erasure: Erasure | None = None,
    ) -> None:
        self._erasure = erasure
        self._reports = reports
        self._ledger = ledger
        self._orders = orders
        self._distributions: dict[str, tuple[datetime, ShopDistribution]] = {}  # shop -> (read at, distribution)
        self._offers = offers
        self._catalog = catalog
        self._waiting = waiting
        self._store = store
        self._shops = shops
        self._dead_letters = dead_letters
        self._clock = clock
        self._timers = timers
        self._outbox = outbox

    def handle(
        self, body: str, group_id: str, message_id: str, receive_count: int = 1, max_receives: int = 5
    ) -> Outcome | None:
        """Apply one queued message; None when it was parked in the dead-letter queue with its reason: one that can
        never be applied, or one that still fails on its last receive (SQS's redrive would move it without a why).
        Raises otherwise, for SQS to deliver it again."""
        record = QueuedRecord(body, group_id, message_id, receive_count)
        return self._settle(record, max_receives, lambda: self.apply(self.parse(body)))

    def handle_batch(self, records: Sequence[QueuedRecord], max_receives: int = 5) -> list[RecordResult]:
        """Apply a batch of the events queue; per record, in the batch's order: its outcome, None when it was parked
        in the dead-letter queue (as :meth:`handle`), or the exception it failed with, for SQS to deliver it again.

        Each message group's records are applied in order, and a failed record fails the later records of its group
        (they are not applied: their result is that same exception); other groups go on. Consecutive records of one
        customer are decided one after the other on one loaded state, which is saved once (:meth:`_apply_run`): a
        batch of an app's or an import's events costs one read and one write instead of one each per event. A record
        that does not parse, and an event that merges another record (a transaction of its own), end a run.
        """
        by_group: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            by_group.setdefault(record.group_id, []).append(index)
        results: list[RecordResult] = [None] * len(records)
        for indices in by_group.values():
            group = [records[index] for index in indices]
            for index, result in zip(indices, self._handle_group(group, max_receives), strict=True):
                results[index] = result
        return results

    def _handle_group(self, records: list[QueuedRecord], max_receives: int) -> list[RecordResult]:
        results: list[RecordResult] = []
        failure: Exception | None = None
        for run in _runs(records):
            if failure is not None:  # an earlier record of the group failed: these wait for their redelivery
                results += [failure] * len(run)
                continue
            handled = self._handle_run(run, max_receives)
            results += handled
            failure = next((result for result in handled if isinstance(result, Exception)), None)
        return results

    def _handle_run(self, run: list[Parsed], max_receives: int) -> list[RecordResult]:
        """A run of one customer's records: decided together and saved once. If that fails in any way, the records
        are handled one by one as :meth:`handle` does, which finds the one that failed (or is to be parked) and
        saves the ones before it; effects the run carried out go out again then, harmlessly (effects before save)."""
        events = [event for _, event in run if not isinstance(event, PermanentEventError)]
        if len(events) == len(run) > 1:
            try:
                return list(self._apply_run(events))
            except Exception:  # not swallowed: one by one, the record that fails fails alone
                return self._one_by_one(run, max_receives)
        return self._one_by_one(run, max_receives)

    def _one_by_one(self, run: list[Parsed], max_receives: int) -> list[RecordResult]:
        results: list[RecordResult] = []
        for record, event in run:
            try:
                results.append(self._settle(record, max_receives, partial(self._apply_parsed, event)))
            except Exception as error:
                return results + [error] * (len(run) - len(results))
        return results

    def _settle(self, record: QueuedRecord, max_receives: int, work: Callable[[], Outcome]) -> Outcome | None:
        """``work``'s outcome, or None when the record was parked: at once when it can never be applied, on its
        last receive when it still fails; raises otherwise."""
        entry = FifoEntry(record.group_id, record.message_id, record.body)
        try:
            return work()
        except (PermanentEventError, UnloadableStateError) as error:
            # A state that does not load will not load on the next receive either: parked at once, with why.
            self._dead_letters.park(entry, str(error))
            return None
        except Exception as error:
            if record.receive_count < max_receives:
                raise
            self._dead_letters.park(
                entry, f"gave up after {record.receive_count} attempts: {type(error).__name__}: {error}"
            )
            return None

    @staticmethod
    def parse(body: str) -> Event:
        try:
            return _queued().validate_json(body)
        except ValidationError as error:
            raise PermanentEventError(
                f"malformed event: {error.error_count()} error(s): {error.errors()[0]['msg']}"
            ) from error

    def apply(self, event: Event) -> Outcome:
        """Apply ``event`` exactly once; retries when another writer got there first."""
        config = self._shops.config(event.shop_id)
        if config is None:
            raise PermanentEventError(f"unknown shop {event.shop_id!r}")
        return _retried(lambda: self._apply_once(event, config))

    def _apply_parsed(self, event: Event | PermanentEventError) -> Outcome:
        if isinstance(event, PermanentEventError):
            raise event
        return self.apply(event)

    def _apply_run(self, events: list[Event]) -> list[Outcome]:
        """Apply consecutive events of one customer, none of which merges another record: one load, each event
        decided in order on the state the one before left, every effect carried out, then one save (retried from
        the load when another writer got there first). Duplicates among them are found by the state's own dedupe
        digests, so one delivered twice in the batch is applied once."""
        config = self._shops.config(events[0].shop_id)
        if config is None:  # each event is parked with the reason when they are handled one by one
            raise PermanentEventError(f"unknown shop {events[0].shop_id!r}")
        return _retried(lambda: self._apply_run_once(events, config))

    def _apply_run_once(self, events: list[Event], config: ShopConfig) -> list[Outcome]:
        record = self._store.follow(self._store.load(events[0].shop_id, events[0].customer))
        state = record.state
        now = self._clock()  # the batch came at one moment
        distribution = self._distribution(config, now)
        decisions: list[Decision] = []
        for event in events:
            unknown = self._erased(event, state) or self._unknown_engagement(event)
            if unknown is not None:
                decisions.append(unknown)
                continue
            # The state was read for this run alone, and each decision's state is the next one's input.
            coupon = self._coupon(event)
            decision = decide(state, event, now, config, owned=True, distribution=distribution, coupon=coupon)
            state = decision.state or state
            decisions.append(decision)
        changed = any(decision.state is not None for decision in decisions)
        # As for one event: the state is checked to load again before any effect goes out, effects before the save.
        document = self._store.encode(state) if state is not None and changed else None
        saved_as = SavedAs(key=record.key, version=record.version + 1) if document is not None else None
        for event, decision in zip(events, decisions, strict=True):
            self._carry_out(decision.effects, cause_of(event), saved_as)
        if state is not None and document is not None:
            self._store.save(record, state, now, document=document)
            self._count_orders([effect for decision in decisions for effect in decision.effects])
        return [Outcome(event, record.key, decision, now) for event, decision in zip(events, decisions, strict=True)]

    def _apply_once(self, event: Event, config: ShopConfig) -> Outcome:
        unknown = self._unknown_engagement(event)
        if unknown is not None:
            return Outcome(event, event.customer, unknown, self._clock())
        try:
            record = self._store.follow(self._store.load(event.shop_id, event.customer))
        except MergeChainError as error:
            raise PermanentEventError(str(error)) from error
        erased = self._erased(event, record.state)
        if erased is not None:
            return Outcome(event, record.key, erased, self._clock())
        absorbed, refused = self._mergeable(event, record)
        state: CustomerState | None = record.state
        known = state.orders if state is not None else None  # read before the merge
        for other in absorbed:
            assert other.state is not None
            state = merge(state or CustomerState(), other.state, config.insights.engagement.half_life)
        moves: list[Effect] = []
        if absorbed and state is not None:  # two buyers become one in the shop's distribution
            others = [other.state.orders for other in absorbed if other.state is not None]
            moves += merge_moves(event.shop_id, known, others, state.orders)
        now = self._clock()
        # The state was just read (or merged) for this decision alone, so decide may work on it directly.
        distribution = self._distribution(config, now)
        decision = decide(state, event, now, config, owned=True, distribution=distribution, coupon=self._coupon(event))
        new_state = decision.state or state
        if refused and decision.state is not None:
            assert isinstance(event, SegmentEvent)
            refuse_merges(decision.state, refused, "known_customer_needs_secret_key", now, event.message_id)
        # Effects go out before the state is saved: if the save loses a race, the event is decided again and the
        # same deterministic timer names and message ids make the repeat harmless (Step Functions refuses a second
        # execution of a name; the send ledger lets a message out once). Saving first could lose them for good.
        # Each message names the version this save writes, which the router waits to read (``saved_as``).
        # The new state is checked to load again before anything goes out (UnloadableStateError parks the event).
        saves = new_state is not None and (decision.state is not None or bool(absorbed))
        document = self._store.encode(new_state) if new_state is not None and saves else None
        saved_as = SavedAs(key=record.key, version=record.version + 1) if document is not None else None
        self._carry_out(decision.effects, cause_of(event), saved_as)
        if new_state is not None and document is not None:
            self._store.save(record, new_state, now, absorbed=absorbed, document=document)
            self._count_orders([*moves, *decision.effects])
        return Outcome(
            event=event,
            customer=record.key,
            decision=decision,
            decided_at=now,
            merged=tuple(o.key for o in absorbed),
            refused=tuple(refused) if decision.state is not None else (),
        )

    def _erased(self, event: Event, state: CustomerState | None) -> Decision | None:
        """A decision that changes nothing for an event about a customer erased after it was sent (a late retry, a
        queued message): it must not start a new profile. Read only for a customer with no state (one read)."""
        if state is not None or self._erasure is None:
            return None
        erased_at = self._erasure.erased_at(event.shop_id, event.customer)
        if erased_at is None or event.occurred_at > erased_at:
            return None  # never erased, or a new customer under the same id since
        why = f"{event.customer} was erased at {erased_at.isoformat()}, after this event"
        return Decision(state=None, ignored=why, notes=[why])

    def _unknown_engagement(self, event: Event) -> Decision | None:
        """Mark the message's ledger record with the engagement ``event`` reports (before deciding: the state keeps
        only the touches of messages nudge holds); a decision that changes nothing when it holds no such message.

        Marking is idempotent but for the click count, which an event decided again after a lost save counts twice.
        """
        if self._ledger is None or not isinstance(event, EngagementEvent | SegmentEvent):
            return None
        engagement = attribution.engaged(event)
        if engagement is None:
            return None
        before = self._ledger.engage(
            event.shop_id, engagement.recipient, engagement.message, engagement.action, engagement.at
        )
        if before is not None:
            self._tally_engagement(event.shop_id, engagement, before)
            return None
        why = f"{engagement.action} of message {engagement.message}: nudge holds no such message"
        return Decision(state=None, ignored=why, notes=[why])

    def _tally_engagement(self, shop_id: str, engagement: attribution.Engaged, before: LedgerEntry) -> None:
        """Count what was new on the message (its first delivery, open, click) in the shop's reports; a second open
        is no news. Counted at once: the ledger's mark is the fact, and a retried event finds it no longer new."""
        if self._reports is None:
            return
        firsts = {
            "delivered": before.delivered_at is None and engagement.action in ("delivered", "received"),
            "opened": before.opened_at is None and engagement.action in ("opened", "tapped", "read", "clicked"),
            "clicked": before.clicked_at is None and engagement.action == "clicked",
        }
        counts = {name: 1.0 for name, new in firsts.items() if new}
        if counts:
            self._reports.add(_row_tally(shop_id, before, engagement.at, counts))

    def _tally_credit(self, effect: CreditOrder, before: LedgerEntry) -> None:
        """Move the credit in the reports: ``converted`` counts the messages with at least one order credited (so a
        rate per message sent stays a rate), ``revenue`` every order's; each by the difference to what the message
        held before (a repeated credit adds nothing; a reversal takes the order off)."""
        if self._reports is None:
            return
        held = before.credits.get(effect.order_id)
        now = effect.revenue
        after = (
            {**before.credits, effect.order_id: now}
            if now is not None
            else {order: revenue for order, revenue in before.credits.items() if order != effect.order_id}
        )
        counts: dict[str, float] = {}
        if bool(before.credits) != bool(after):
            counts["converted"] = 1.0 if after else -1.0
        change = round((now or 0.0) - (held or 0.0), 2)
        if change:
            counts["revenue"] = change
        if counts:
            self._reports.add(_row_tally(effect.shop_id, before, self._clock(), counts))

    def _coupon(self, event: Event) -> CouponIssue | None:
        """The offer code an order used, if nudge handed it out (one read, for an order with a coupon only)."""
        if self._offers is None or not isinstance(event, SegmentEvent):
            return None
        message = event.message
        if not isinstance(message, OrderTrack) or message.event != "Order Completed" or not message.properties.coupon:
            return None
        issued = self._offers.find(event.shop_id, message.properties.coupon)
        if issued is None:
            return None
        return CouponIssue(issued.code, issued.message_id, issued.customer)

    def _mergeable(self, event: Event, record: StoredCustomer) -> tuple[list[StoredCustomer], list[str]]:
        """The records ``event`` merges into ``record``, and the keys of known customers it may not merge.

        With the public write key (anyone can read it from a shop's web page) only anonymous visitors join: merging
        another known customer would hand that customer's profile, consents and messages to whoever sent the alias.
        A record that already points elsewhere (``merged_into``) belongs to that customer and is never taken over.
        """
        if not isinstance(event, SegmentEvent):
            return [], []
        absorbed: list[StoredCustomer] = []
        refused: list[str] = []
        for key in event.merges:
            if key == record.key:
                continue
            other = self._store.load(event.shop_id, key)
            if other.state is None or other.merged_into is not None:
                continue
            known = other.key.startswith("u:") or other.state.user_id is not None
            if known and event.authority != "secret":
                refused.append(other.key)
            else:
                absorbed.append(other)
        return absorbed, refused

    def _carry_out(self, effects: list[Effect], cause: str | None = None, saved_as: SavedAs | None = None) -> None:
        """Start the timers, send the messages and record the rest of one decision's effects. Each timer and message
        carries ``cause``, the id of the event behind the decision (None: as the core made them), so that the
        wake-up and the delivery log under it; ids, deduplication ids and execution names stay as the core made
        them. Each message carries ``saved_as``, the record version the save after the effects writes: the router
        waits for it rather than route on the state before the decision (the consent that came with the same
        batch, say)."""
        caused = {"cause": cause} if cause is not None else {}
        timers = [effect.event.model_copy(update=caused) for effect in effects if isinstance(effect, StartTimer)]
        stamp = {**caused, "saved_as": saved_as} if saved_as is not None else caused
        sends = [
            effect.message.model_copy(update=stamp).model_dump_json() for effect in effects if isinstance(effect, Send)
        ]
        if timers:
            if self._timers is None:
                raise RuntimeError("a decision armed a timer, but this updater has no timer adapter")
            self._timers.start(timers)
        if sends:
            if self._outbox is None:
                raise RuntimeError("a decision sent a message, but this updater has no outbox")
            self._outbox.send_many(sends)
        for effect in effects:
            if isinstance(effect, RedeemOffer) and self._offers is not None:
                # A coupon nudge never handed out (the shop's own) is refused by the store's condition: nothing to do.
                self._offers.redeem(effect.shop_id, effect.code, effect.customer, effect.order_id, effect.at)
            elif isinstance(effect, WatchProduct):
                self._watch(effect)
            elif isinstance(effect, CreditOrder) and self._ledger is not None:
                # A message the ledger no longer holds (past its retention) keeps the credit on the order alone.
                before = self._ledger.credit(
                    effect.shop_id, effect.recipient, effect.message, effect.order_id, effect.revenue
                )
                if before is not None:
                    self._tally_credit(effect, before)

    def _distribution(self, config: ShopConfig, now: datetime) -> ShopDistribution | None:
        """The shop's distribution when a journey's entry segment ranks customers by it (RFM, lifecycle), read at
        most every :data:`DISTRIBUTION_TTL` per container (it moves with orders, slowly); else None, and no read."""
        if self._orders is None or not any(
            journey.entry.segment is not None and uses_distribution(config, journey.entry.segment)
            for journey in config.journeys.values()
        ):
            return None
        shop_id = config.shop.id
        kept = self._distributions.get(shop_id)
        if kept is None or now - kept[0] > DISTRIBUTION_TTL or now < kept[0]:
            kept = (now, ShopDistribution.of(self._orders.distribution(shop_id)))
            self._distributions[shop_id] = kept
        return kept[1]

    def _count_orders(self, effects: list[Effect]) -> None:
        """Count the new orders in the shop's aggregates and move their customers in its distribution and its monthly
        churn counters, after the save that made them new: counters are not idempotent, so a decision whose save lost
        a race (decided again) or a redelivered event (found a duplicate then) counts nothing. A crash right after the
        save loses the count (the aggregates are statistics). The report tallies (entries, held-out steps,
        conversions) are counted here for the same reason."""
        if self._reports is not None:
            for tally in _merged(effect for effect in effects if isinstance(effect, Tally)):
                self._reports.add(tally)
        for effect in effects:
            if self._orders is None:
                break
            if isinstance(effect, RecordOrder) and effect.lines:
                self._orders.record(effect.shop_id, effect.lines, effect.day)
            elif isinstance(effect, MoveCustomer):
                self._orders.move(effect.shop_id, distribution_changes(effect))
            elif isinstance(effect, CountChurn):
                for month, changes in effect.months.items():
                    self._orders.count_churn(effect.shop_id, month, changes)

    def _watch(self, effect: WatchProduct) -> None:
        """List the customer as waiting for the product; a wishlist or cart add only while the catalogue holds it
        out of stock (a product it does not hold yet is not known to be out of stock)."""
        if self._waiting is None:
            return
        if effect.if_out_of_stock:
            held = self._catalog.get(effect.shop_id, [effect.product_id]) if self._catalog is not None else {}
            product = held.get(effect.product_id)
            if product is None or product.product.availability != "out_of_stock":
                return
        waiter = Waiter(effect.customer, effect.since, effect.until)
        self._waiting.watch(effect.shop_id, effect.product_id, waiter)


def cause_of(event: Event) -> str:
    """The id of the event behind ``event``'s work, its correlation id: a timer's wake-up keeps the cause it was
    armed with (a deferred message's wake-up, the message's); any other event is its own cause."""
    if isinstance(event, TimerEvent):
        return event.cause or (event.message.cause if event.message else None) or event.message_id
    return event.message_id


def _merged(tallies: Iterable[Tally]) -> list[Tally]:
    """The tallies of one row added up: one write per row however many events of a run counted in it."""
    rows: dict[tuple[Any, ...], Tally] = {}
    for tally in tallies:
        key = (tally.shop_id, tally.day, tally.journey, tally.step, tally.variant, tally.channel)
        held = rows.get(key)
        if held is None:
            rows[key] = tally
            continue
        counts = dict(held.counts)
        for name, value in tally.counts.items():
            counts[name] = counts.get(name, 0.0) + value
        rows[key] = held.model_copy(update={"counts": counts})
    return list(rows.values())


def _row_tally(shop_id: str, entry: LedgerEntry, at: datetime, counts: dict[str, float]) -> Tally:
    """The report row of the message ``entry`` (its journey, step, variant and channel) on ``at``'s day."""
    return Tally(
        shop_id=shop_id,
        day=at.date(),
        journey=entry.journey,
        step=entry.step,
        variant=entry.variant,
        channel=entry.channel,
        counts=counts,
    )


def _retried[T](attempt: Callable[[], T]) -> T:
    """``attempt()``, tried again (up to ``_ATTEMPTS`` in all) while another writer got there first."""
    for number in range(_ATTEMPTS):
        try:
            return attempt()
        except VersionConflictError:
            if number == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _runs(records: list[QueuedRecord]) -> Iterator[list[Parsed]]:
    """One message group's records, parsed, cut into runs applied together: consecutive events of one customer.

    A record that does not parse is a run of its own (parked alone, the state around it saved first, so parking
    it never runs ahead of a failure before it), and so is an event that merges other records (it may need a
    transaction with them)."""
    run: list[Parsed] = []
    for record in records:
        try:
            parsed: Event | PermanentEventError = StateUpdater.parse(record.body)
        except PermanentEventError as error:
            parsed = error
        if run and not _joins(run[-1][1], parsed):
            yield run
            run = []
        run.append((record, parsed))
    if run:
        yield run


def _joins(previous: Event | PermanentEventError, event: Event | PermanentEventError) -> bool:
    """Whether ``event`` is applied in the same run as the ``previous`` one."""
    if isinstance(previous, PermanentEventError) or isinstance(event, PermanentEventError):
        return False
    if _merges(previous) or _merges(event):
        return False
    return (event.shop_id, event.customer) == (previous.shop_id, previous.customer)


def _merges(event: Event) -> bool:
    return isinstance(event, SegmentEvent) and bool(event.merges)
