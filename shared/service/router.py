"""The channel router: one outbox message reaches the customer on one channel, at most once, only with consent.

For each message: the ledger says whether it was already handled; the customer's state is read *now* (consent at send
time, not when the journey started; yet never before the save of the decision that sent the message); the pure
``route`` picks the candidate channels in order; a marketing message of a shop with frequency caps takes a slot in the
customer's contact log (``shared.core.policy``) or is deferred or dropped there; the first candidate is rendered and
marked in flight in the ledger before its provider is called. A permanent provider failure (dead push endpoint,
invalid number, hard bounce) moves on to the next candidate; a transient one leaves the message pending for SQS to
redeliver with backoff, and after the last receive it is parked in the dead-letter queue with its reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from shared.adapters.channels import ChannelProvider
from shared.adapters.contacts import ContactConflictError
from shared.adapters.customers import MergeChainError, StoredCustomer
from shared.adapters.ledger import LedgerConflictError
from shared.adapters.offers import IssuedOffer, PoolEmptyError
from shared.content.errors import ContentError
from shared.core.policy import Ask, ContactLog, Verdict, admit, best_moment, defer
from shared.core.routing import Routing, customer_zone, reopens_at, route
from shared.models.channels import PushPlatform, SendContext
from shared.models.config import Channel, ShopConfig
from shared.models.effects import Tally
from shared.models.messages import (
    OFFER_CODE_PLACEHOLDER,
    Address,
    Attempt,
    AttemptOutcome,
    Content,
    LedgerEntry,
    OutboxMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from shared.models.nudge_events import CONFIRM_JOURNEY, FeedbackEvent
from shared.models.state import CustomerState
from shared.observability import correlate, reason_code
from shared.ports import Contacts, CustomerRecords, Erasure, Ledger, Offers, PhoneBook, Quotas, Reports, Shops

if TYPE_CHECKING:
    from shared.models.catalog import Stock
    from shared.service.shelf import Shelf
    from shared.service.webhooks import OfferWebhooks

DeliveryStatus = Literal["sent", "suppressed", "failed", "deferred", "duplicate"]
CONTACT_ATTEMPTS = 5  # reads of a contact log another router keeps writing, before SQS retries the message later
PAUSE_RECHECK = timedelta(hours=1)  # how often a paused journey's waiting message looks again
# Reads of a customer record whose decision's save has not landed yet (``OutboxMessage.saved_as``), the pauses
# between them doubling from the first: 0.05 s, 0.1 s, ... 0.8 s, about 1.5 s in all, before SQS retries the message.
STATE_READS = 6
STATE_PAUSE_SECONDS = 0.05
CONFIRMATIONS_LIMITED = "confirmation_rate_limited"  # the reason of a confirmation past the shop's hourly limit
QUOTA_KEPT = timedelta(hours=2)  # an hour's quota item outlives its hour (the table's time to live removes it)


class UnknownShopError(Exception):
    """The message names a shop nudge does not know: it can never be delivered."""


class StateNotSavedError(Exception):
    """The customer's record is still older than the save of the decision that sent the message: try again soon.

    The updater puts a decision's messages on the outbox before it saves the state (docs/DESIGN.md, "Effects before
    the save"), so a router quick enough reads the state from before the decision: without the consent, the address
    or the app that came in the same batch, it would suppress the message for want of them."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the router did with one message (for logs, metrics and the local console)."""

    message: OutboxMessage
    status: DeliveryStatus
    channel: Channel | None = None
    reason: str | None = None
    title: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    retry_at: datetime | None = None  # a deferred message goes out again then
    details: dict[str, object] = field(default_factory=dict)


ProvidersFor = Callable[[ShopConfig], Mapping[Channel, ChannelProvider]]
LinksFor = Callable[[OutboxMessage, ShopConfig, Channel], Mapping[str, str]]


class ChannelRouter:
    """Delivers outbox messages through the channel providers."""

    def __init__(
        self,
        customers: CustomerRecords,
        shops: Shops,
        ledger: Ledger,
        providers_for: ProvidersFor,
        links_for: LinksFor,
        clock: Callable[[], datetime],
        feedback: Callable[[FeedbackEvent], None] | None = None,
        phones: PhoneBook | None = None,
        contacts: Contacts | None = None,
        offers: Offers | None = None,
        webhooks: OfferWebhooks | None = None,
        shelf: Shelf | None = None,
        track: Callable[[Content, OutboxMessage, ShopConfig], Content] | None = None,
        reports: Reports | None = None,
        erasure: Erasure | None = None,
        pause: Callable[[float], None] | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        self._quotas = quotas
        self._pause = pause or time.sleep  # between reads of a record whose save is behind (``_state``)
        self._erasure = erasure
        self._reports = reports
        self._track = track
        self._shelf = shelf
        self._offers = offers
        self._webhooks = webhooks
        self._phones = phones
        self._contacts = contacts
        self._feedback = feedback or (lambda event: None)
        self._customers = customers
        self._shops = shops
        self._ledger = ledger
        self._providers_for = providers_for
        self._links_for = links_for
        self._clock = clock

    def deliver(self, message: OutboxMessage) -> Delivery:
        """Deliver ``message`` once; raises TransientDeliveryError / LedgerConflictError for SQS to retry."""
        correlate(message.cause or message.message_id)  # what it logs from here on is found under its event's id
        delivery = self._deliver(message)
        self._tally(delivery.message, delivery.status, delivery.channel, delivery.reason)
        return delivery

    def _tally(self, message: OutboxMessage, status: str, channel: Channel | None, reason: str | None) -> None:
        """Count a message's end in the shop's reports: sent, failed, or suppressed and why. Only the delivery that
        closed it counts (a redelivery finds it final: ``duplicate``); a deferral is no end."""
        if self._reports is None or status not in ("sent", "suppressed", "failed"):
            return
        counts = {status: 1.0}
        code = reason_code(reason)
        if status == "suppressed" and code:
            counts[f"suppressed:{code}"] = 1.0
        self._reports.add(
            Tally(
                shop_id=message.shop_id,
                day=self._clock().date(),
                journey=message.journey,
                step=message.step,
                variant=message.variant,
                channel=channel,
                counts=counts,
            )
        )

    def _deliver(self, message: OutboxMessage) -> Delivery:
        config = self._shops.config(message.shop_id)
        if config is None:
            raise UnknownShopError(f"unknown shop {message.shop_id!r}")
        entry = self._ledger.find(message)
        now = self._clock()
        if entry is not None and entry.final:
            return Delivery(message, "duplicate", entry.channel, entry.status)
        attempts = list(entry.attempts) if entry else []
        if entry is not None and entry.in_flight:
            if entry.lease_until and entry.lease_until > now:
                raise LedgerConflictError(message.message_id)  # another router is sending it right now
            # A router died after calling the provider and before recording the answer: it may have been sent.
            self._ledger.close(
                message, "failed", now, reason="outcome_unknown", attempts=attempts, in_flight=entry.in_flight
            )
            return Delivery(message, "failed", reason="outcome_unknown", attempts=attempts)

        customer, state = self._state(message)
        if state is None and self._erasure is not None and self._erasure.erased_at(message.shop_id, customer):
            # The customer was erased while it waited: nothing is sent, and nothing is written under their key.
            return Delivery(message, "suppressed", reason="customer_erased")
        if message.journey in config.paused and not message.transactional:
            # An operator paused the journey: its messages wait (the contact policy's max_deferral at most).
            return self._defer(message, config, customer, now + PAUSE_RECHECK, "journey_paused", now, attempts)
        if state is not None and (best := self._best_moment(message, config, state, now)) > now:
            return self._defer(message, config, customer, best, "best_send_time", now, attempts)
        routing = route(state, message, config, now)
        if not routing.candidates:
            return self._close_without_candidates(message, config, customer, state, routing, now, attempts, entry)
        candidates = routing.candidates
        if message.journey == CONFIRM_JOURNEY and not self._may_confirm(message, config, candidates[0].channel, now):
            # More sign-ups this hour than the shop allows confirmations for: list bombing, most likely.
            self._ledger.close(message, "suppressed", now, reason=CONFIRMATIONS_LIMITED, attempts=attempts)
            return Delivery(message, "suppressed", reason=CONFIRMATIONS_LIMITED, attempts=attempts)
        if self._capped(message, config):
            assert state is not None  # a candidate needs a state
            ask = _ask(message, config, [a.channel for a in candidates])
            zone = customer_zone(state, config)
            verdict = self._with_log(
                message, config, customer, now, lambda log: admit(log, config.contact_policy, ask, now, zone)
            )
            if verdict.action != "send":
                return self._close_by_policy(message, verdict, now, attempts)
            # From the first channel the caps admit on (a channel's own cap may have refused those before it).
            admitted = next(index for index, a in enumerate(candidates) if a.channel == verdict.channel)
            candidates = candidates[admitted:]
        if "offer" in message.variables and self._offers is not None:
            prepared = self._prepare_offer(message, config, customer, now, attempts)
            if isinstance(prepared, Delivery):
                return prepared
            message = prepared
        providers = self._providers_for(config)
        previous: Channel | None = None
        for address in candidates:
            provider = providers.get(address.channel)
            if provider is None:
                attempts.append(self._attempt(address.channel, "skipped", "channel_not_configured", now))
                continue
            try:
                content = self._render(message, config, state, address.channel)
            except ContentError as error:
                failure = f"template_error: {error}"
                attempts.append(self._attempt(address.channel, "permanent_failure", failure, now))
                continue
            self._ledger.start(message, address.channel, attempts, now, previous)
            previous = address.channel
            try:
                target = self._target(provider, address, message, state)
                receipt = provider.send(
                    target, content, message.message_id, context=self._send_context(message, config, address, state)
                )
            except PermanentDeliveryError as error:
                attempts.append(self._attempt(address.channel, "permanent_failure", error.reason))
                self._report_dead_address(message, address, error.reason)
                continue
            except TransientDeliveryError as error:
                attempts.append(self._attempt(address.channel, "transient_failure", error.reason))
                self._ledger.close(
                    message, "pending", self._clock(), reason=error.reason, attempts=attempts, in_flight=address.channel
                )
                raise
            attempts.append(self._attempt(address.channel, "sent", None))
            details = {
                **receipt.details,
                **({"provider_message_id": receipt.provider_message_id} if receipt.provider_message_id else {}),
                **({"offer_code": offer["code"]} if isinstance(offer := message.variables.get("offer"), dict) else {}),
            }
            self._ledger.close(
                message,
                "sent",
                self._clock(),
                channel=address.channel,
                title=content.title or None,
                attempts=attempts,
                details=details,
                in_flight=address.channel,
            )
            return Delivery(message, "sent", address.channel, None, content.title, attempts)
        reason = "all_channels_failed" if previous else (attempts[-1].reason if attempts else "no_channel")
        self._ledger.close(message, "failed", self._clock(), reason=reason, attempts=attempts, in_flight=previous)
        return Delivery(message, "failed", reason=reason, attempts=attempts)

    def park(self, message: OutboxMessage, reason: str) -> None:
        """Record that ``message`` will not be retried any more (it goes to the dead-letter queue with ``reason``)."""
        entry = self._ledger.find(message)
        if entry is not None and entry.final:
            return
        attempts = list(entry.attempts) if entry else []
        self._ledger.close(
            message,
            "failed",
            self._clock(),
            reason=reason,
            attempts=attempts,
            in_flight=entry.in_flight if entry else None,
        )
        self._tally(message, "failed", None, reason)

    # ---------------------------------------------------------------- internals
    def _attempt(
        self, channel: Channel, outcome: AttemptOutcome, reason: str | None, at: datetime | None = None
    ) -> Attempt:
        return Attempt(channel=channel, outcome=outcome, reason=reason, at=at or self._clock())

    def _close_without_candidates(
        self,
        message: OutboxMessage,
        config: ShopConfig,
        customer: str,
        state: CustomerState | None,
        routing: Routing,
        now: datetime,
        attempts: list[Attempt],
        entry: LedgerEntry | None,
    ) -> Delivery:
        status, reason = routing.outcome_if_none
        skipped = {skip.channel: skip.reason for skip in routing.skipped}
        if status == "deferred" and state is not None:  # quiet hours on every channel that could carry it
            until = reopens_at(state, config, routing, now)
            return self._defer(message, config, customer, until, "quiet_hours", now, attempts, {"skipped": skipped})
        if entry is not None and entry.status == "deferred" and self._capped(message, config):
            self._with_log(message, config, customer, now, lambda log: _forget(log, message.message_id))
        self._ledger.close(message, status, now, reason=reason, attempts=attempts, details={"skipped": skipped})
        return Delivery(message, status, reason=reason, attempts=attempts)

    # ---------------------------------------------------------------- offer codes
    def _prepare_offer(
        self, message: OutboxMessage, config: ShopConfig, customer: str, now: datetime, attempts: list[Attempt]
    ) -> OutboxMessage | Delivery:
        """The message with its offer code known to the checkout: a pool's code taken for it, or the code nudge made
        recorded; a message whose offer expired, or whose pool is empty, is dropped with that reason instead."""
        assert self._offers is not None
        offer = dict(message.variables["offer"])
        expires = datetime.fromisoformat(offer["expires_at"])
        if expires <= now:
            return self._drop(message, "offer_expired", now, attempts, {"offer_expired_at": offer["expires_at"]})
        if offer.get("source") == "static":
            return message  # the shop's own code: its checkout knows it
        issued = IssuedOffer(
            shop_id=message.shop_id,
            code=offer["code"],
            customer=customer,
            message_id=message.message_id,
            journey=message.journey,
            percent=offer["percent"],
            expires_at=expires,
            issued_at=now,
        )
        if offer.get("source") == "webhook":
            return self._announce(message, config, issued, offer.get("prefix", ""), now, attempts)
        pool = offer.get("pool")
        if pool is None:
            self._offers.issue(issued)
            return message
        try:
            taken = self._offers.claim(pool, issued)
        except PoolEmptyError:
            return self._drop(message, "offer_pool_empty", now, attempts, {"pool": pool})
        variables = {**message.variables, "offer": {**offer, "code": taken.code}}
        if isinstance(link := variables.get("deep_link"), str):
            variables["deep_link"] = link.replace(OFFER_CODE_PLACEHOLDER, taken.code)
        return message.model_copy(update={"variables": variables})

    def _announce(
        self,
        message: OutboxMessage,
        config: ShopConfig,
        issued: IssuedOffer,
        prefix: str,
        now: datetime,
        attempts: list[Attempt],
    ) -> OutboxMessage | Delivery:
        """Register the code with the shop's system before the message goes (once: an acknowledged code is on
        record); a refusal drops the message, no answer leaves it for SQS to bring back (TransientDeliveryError)."""
        assert self._offers is not None
        held = self._offers.find(issued.shop_id, issued.code)
        if held is not None and held.acknowledged_at is not None:
            return message
        source = config.offers.get(prefix)
        if source is None or source.webhook is None or self._webhooks is None:
            return self._drop(message, "offer_webhook_not_configured", now, attempts, {"prefix": prefix})
        try:
            self._webhooks.announce(source.webhook, issued, now)
        except PermanentDeliveryError as error:
            return self._drop(message, error.reason, now, attempts, {"offer_code": issued.code})
        except TransientDeliveryError as error:  # support sees why it waits; SQS brings it back with backoff
            details = {"offer_code": issued.code}
            self._ledger.close(message, "pending", now, reason=error.reason, attempts=attempts, details=details)
            raise
        self._offers.issue(issued.model_copy(update={"acknowledged_at": now}))
        return message

    def _drop(
        self,
        message: OutboxMessage,
        reason: str,
        now: datetime,
        attempts: list[Attempt],
        details: dict[str, object],
    ) -> Delivery:
        self._ledger.close(message, "suppressed", now, reason=reason, attempts=attempts, details=details)
        return Delivery(message, "suppressed", reason=reason, attempts=attempts, details=details)

    # ---------------------------------------------------------------- contact policy
    def _defer(
        self,
        message: OutboxMessage,
        config: ShopConfig,
        customer: str,
        until: datetime,
        reason: str,
        now: datetime,
        attempts: list[Attempt],
        details: dict[str, object] | None = None,
    ) -> Delivery:
        """Defer ``message`` to ``until`` for ``reason`` (or drop it, past its maximum deferral)."""
        ask = _ask(message, config, [])
        policy = config.contact_policy
        if self._capped(message, config):  # the hold it leaves lets a higher priority take that moment's slot
            verdict = self._with_log(
                message, config, customer, now, lambda log: defer(log, policy, ask, until, reason, now)
            )
        else:
            verdict = defer(ContactLog(), policy, ask, until, reason, now)
        return self._close_by_policy(message, verdict, now, attempts, details)

    @staticmethod
    def _best_moment(message: OutboxMessage, config: ShopConfig, state: CustomerState, now: datetime) -> datetime:
        """For a marketing message of a ``send_time: best`` step: when it should go; else ``now``."""
        journey = config.journeys.get(message.journey)
        if message.transactional or journey is None or message.step >= len(journey.steps):
            return now
        step = journey.steps[message.step]
        if step.send_time != "best":
            return now
        zone = customer_zone(state, config)
        hour = config.contact_policy.best_hour
        return best_moment(state.activity_by_hour, zone, message.created_at, step.within, now, hour)

    def _capped(self, message: OutboxMessage, config: ShopConfig) -> bool:
        """Whether the message counts against the shop's frequency caps (marketing, and the shop has caps)."""
        return bool(config.contact_policy.caps) and not message.transactional and self._contacts is not None

    def _with_log(
        self,
        message: OutboxMessage,
        config: ShopConfig,
        customer: str,
        now: datetime,
        decide: Callable[[ContactLog], Verdict],
    ) -> Verdict:
        """``decide`` over the customer's contact log, written back on the version read (read again on a conflict)."""
        assert self._contacts is not None
        policy = config.contact_policy
        for _ in range(CONTACT_ATTEMPTS):
            record = self._contacts.load(message.shop_id, customer)
            verdict = decide(record.log)
            if verdict.log is None or verdict.log == record.log:
                return verdict
            try:
                self._contacts.save(record, verdict.log, now, policy.longest_cap + policy.max_deferral)
            except ContactConflictError:
                continue
            return verdict
        raise LedgerConflictError(message.message_id)  # SQS brings it back after a backoff

    def _may_confirm(self, message: OutboxMessage, config: ShopConfig, channel: Channel, now: datetime) -> bool:
        """Whether a double opt-in confirmation fits this hour's ``confirmations_per_hour`` on ``channel`` (taking
        its unit of the shop's quota if so)."""
        limit = config.channels.confirmations_per_hour(channel)
        if self._quotas is None or limit is None:
            return True
        hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return self._quotas.take(message.shop_id, f"confirm-{channel}", hour, limit, keep=QUOTA_KEPT)

    def _close_by_policy(
        self,
        message: OutboxMessage,
        verdict: Verdict,
        now: datetime,
        attempts: list[Attempt],
        details: dict[str, object] | None = None,
    ) -> Delivery:
        """Record a deferral (the message comes back at ``verdict.until``) or a drop with its reason."""
        status: Literal["deferred", "suppressed"] = "deferred" if verdict.action == "defer" else "suppressed"
        details = {**(details or {}), **verdict.details}
        self._ledger.close(message, status, now, reason=verdict.reason, attempts=attempts, details=details)
        return Delivery(message, status, reason=verdict.reason, attempts=attempts, retry_at=verdict.until)

    def _state(self, message: OutboxMessage) -> tuple[str, CustomerState | None]:
        """The key of the customer's live record and their state now, through merges; a broken merge chain reads as
        no state (nothing to send on). Not before the save of the decision that sent the message: while the record
        is older, it is read again after a pause (``STATE_READS``); then StateNotSavedError has SQS retry."""
        for read in range(STATE_READS):
            try:
                record = self._customers.follow(self._customers.load(message.shop_id, message.customer))
            except MergeChainError:
                return message.customer, None
            if not self._before_save(message, record):
                return record.key, record.state
            if read + 1 < STATE_READS:
                self._pause(STATE_PAUSE_SECONDS * 2**read)
        saved = message.saved_as
        assert saved is not None
        raise StateNotSavedError(f"customer record {saved.key} not yet saved as version {saved.version}")

    def _before_save(self, message: OutboxMessage, record: StoredCustomer) -> bool:
        """Whether ``record`` is the one the message's decision saves, at a version before that save. (A record the
        customer was merged into since is later than the decision; an erased customer's will never come.)"""
        saved = message.saved_as
        if saved is None or record.key != saved.key or record.version >= saved.version:
            return False
        if record.version == 0 and self._erasure is not None:
            return self._erasure.erased_at(message.shop_id, record.key) is None
        return True

    def _render(
        self, message: OutboxMessage, config: ShopConfig, state: CustomerState | None, channel: Channel
    ) -> Content:
        from shared.content import build_context, render  # jinja2 and the templates load at the first message rendered

        links = self._links_for(message, config, channel)
        stock: dict[str, Stock] = {}
        if self._shelf is not None:
            stock, message = self._shelf.look(message, state, config.shop.free_shipping_threshold)
        context = build_context(state, message, config, extra=links, stock=stock)
        content = render(message.template, channel, state.locale if state else None, context, config)
        return self._track(content, message, config) if self._track is not None else content

    def _send_context(
        self, message: OutboxMessage, config: ShopConfig, address: Address, state: CustomerState | None
    ) -> SendContext:
        links = self._links_for(message, config, address.channel)
        return SendContext(
            transactional=message.transactional,
            unsubscribe_url=links.get("unsubscribe_url"),
            whatsapp_window_open=_whatsapp_window_open(state, self._clock()),
            feedback_ref=links.get("feedback_ref"),
        )

    def _target(
        self, provider: ChannelProvider, address: Address, message: OutboxMessage, state: CustomerState | None
    ) -> Address:
        """The address the provider sends to: for push, the SNS endpoint of the token (created on first use).

        Before an SMS or WhatsApp message the phone index learns who this number is, so a STOP or a WhatsApp reply
        from it finds the customer.
        """
        if address.channel in ("sms", "whatsapp") and self._phones is not None:
            self._remember_phone(message, address)
        from shared.adapters.channels.push import PushProvider  # loaded already when the shop has push configured

        if address.channel != "push" or not isinstance(provider, PushProvider):
            return address
        token = next((t for t in (state.push_tokens if state else []) if t.token == address.value), None)
        endpoint = token.endpoint_arn if token is not None else None
        if endpoint is None:
            endpoint = provider.register_device(
                _platform(address.platform), address.value, custom_user_data=f"{message.shop_id}\n{message.customer}"
            )
            if endpoint is None:
                raise PermanentDeliveryError("push_platform_not_configured")
            # Cached in the customer's state through their FIFO group (the router never writes state itself).
            self._feedback(
                self._feedback_event(message, "push", "push_endpoint_registered", address.value, endpoint_arn=endpoint)
            )
        return address.model_copy(update={"value": endpoint})

    def _remember_phone(self, message: OutboxMessage, address: Address) -> None:
        config = self._shops.config(message.shop_id)
        assert config is not None and self._phones is not None
        if address.channel == "sms" and config.channels.sms is not None:
            identity = config.channels.sms.origination_identity
            self._phones.remember(message.shop_id, message.customer, address.value, identity)
        elif address.channel == "whatsapp" and config.channels.whatsapp is not None:
            identity = config.channels.whatsapp.phone_number_id
            self._phones.remember(message.shop_id, message.customer, address.value, identity, channel="whatsapp")

    def _report_dead_address(self, message: OutboxMessage, address: Address, reason: str) -> None:
        """A permanent provider refusal becomes feedback on the customer's state (next time, skip that address)."""
        feedback = _FEEDBACK_FOR_REASON.get(reason)
        if feedback is not None:
            self._feedback(self._feedback_event(message, address.channel, feedback, address.value))

    def _feedback_event(
        self, message: OutboxMessage, channel: Channel, reason: str, address: str, endpoint_arn: str | None = None
    ) -> FeedbackEvent:
        now = self._clock()
        return FeedbackEvent.model_validate(
            {
                "shop_id": message.shop_id,
                "customer": message.customer,
                "channel": channel,
                "reason": reason,
                "address": address,
                "source": "channel-router",
                "feedback_id": f"{message.message_id}:{channel}:{reason}",
                "occurred_at": now,
                "received_at": now,
                **({"endpoint_arn": endpoint_arn} if endpoint_arn else {}),
            }
        )


# Provider reasons that say the address itself is dead, and the feedback that records it.
_FEEDBACK_FOR_REASON = {
    "push_endpoint_disabled": "push_endpoint_disabled",
    "push_endpoint_invalid": "push_endpoint_disabled",
    "invalid_phone_number": "invalid_address",
    "sms_destination_unreachable": "invalid_address",
    "invalid_whatsapp_number": "invalid_address",
    "invalid_email_address": "invalid_address",
    "sms_opted_out": "sms_opt_out",
}


def _ask(message: OutboxMessage, config: ShopConfig, channels: list[Channel]) -> Ask:
    """What ``message`` asks of the contact policy: a slot on one of ``channels``, at its journey's priority, by its
    deadline (``max_deferral`` after it was first due)."""
    return Ask(
        message.message_id,
        config.priority_of(message.journey),
        tuple(channels),
        message.created_at,
        config.contact_policy.max_deferral,
    )


def _forget(log: ContactLog, message_id: str) -> Verdict:
    """The log without the hold of a message that ended without a slot (no channel could carry it)."""
    return Verdict("drop", log.without_hold(message_id))


def _platform(name: str | None) -> PushPlatform:
    return "ios" if name == "ios" else "android"


def _whatsapp_window_open(state: CustomerState | None, now: datetime) -> bool:
    last = state.whatsapp_inbound_at if state else None
    return bool(last and (now - last).total_seconds() < 24 * 3600)
