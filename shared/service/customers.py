"""Support read API: a customer's state, the consent in force per channel and the full consent history, and what
nudge makes of them (lifecycle stage, RFM, engagement score) at the moment of reading."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.adapters.customers import MergeChainError, StoredCustomer
from shared.core.insights import ShopDistribution, insights_view
from shared.models.channels import InboxItem
from shared.models.messages import LedgerEntry
from shared.models.vocabulary import CHANNELS
from shared.ports import CustomerRecords, Erasure, Ledger, OrderAggregates, Shops
from shared.service.keys import secret_key_from
from shared.service.refusal import RequestRefused


class AccessDeniedError(Exception):
    """No valid secret key for the shop was presented."""


def customer_view(record: StoredCustomer, customer_id: str) -> dict[str, Any]:
    """The JSON a support engineer sees for one customer."""
    assert record.state is not None
    state = record.state
    body: dict[str, Any] = {"customer_id": customer_id, "record": record.key, "version": record.version}
    body.update(state.model_dump(mode="json", exclude={"seen", "consents"}))
    body["viewed"] = [product.view() for product in state.viewed]
    body["wishlist"] = [product.view() for product in state.wishlist]
    body["consent"] = {
        channel: (decision.model_dump(mode="json") if (decision := state.consent(channel)) else None)
        for channel in CHANNELS
    }
    body["consent_history"] = [entry.model_dump(mode="json") for entry in state.consents]
    body["touches"] = [touch.view() for touch in state.touches]
    body["recent_events"] = [{"at": _iso_epoch(mark.at), "event": mark.label} for mark in state.recent_events]
    return body


TIMELINE_LIMIT = 100
MAX_TIMELINE_LIMIT = 500


class TimelineRequestError(RequestRefused):
    """A timeline query the API refuses (400), with each field and rule."""


def timeline_limit(value: str | None) -> int:
    """The ``limit`` query parameter: 1 to 500, 100 when left out."""
    if value is None:
        return TIMELINE_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_TIMELINE_LIMIT:
        rule = f"must be a whole number from 1 to {MAX_TIMELINE_LIMIT}, not {value!r}"
        raise TimelineRequestError([{"field": "limit", "rule": rule}])
    return int(value)


def _iso_epoch(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def _iso(at: datetime) -> str:
    """Whole seconds, as every time of the timeline (they sort as text, and the events' are whole seconds)."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


_KIND_ORDER = {"event": 0, "consent": 1, "journey": 2, "message": 3, "engagement": 4, "order": 5}


def _timeline_order(item: dict[str, Any]) -> tuple[str, int, str]:
    tie = item.get("message_id") or item.get("order_id") or item.get("journey") or item.get("event") or ""
    return item["at"], _KIND_ORDER[item["kind"]], f"{tie}\n{item.get('action') or item.get('outcome') or ''}"


def timeline_view(
    record: StoredCustomer, customer_id: str, entries: list[LedgerEntry], limit: int = TIMELINE_LIMIT
) -> dict[str, Any]:
    """Everything nudge knows happened to one customer, newest first, in one list (OP3): the latest events, consent
    decisions, journey decisions (entered, not entered, step due, skipped, exited, with the reason), each message
    with every channel attempt and its status or suppression reason, what the customer did with it, and orders with
    the message each is credited to. Answers "why was this sent, why not that"."""
    state = record.state
    assert state is not None
    items: list[dict[str, Any]] = []
    items += [{"at": _iso_epoch(mark.at), "kind": "event", "event": mark.label} for mark in state.recent_events]
    items += [
        {"at": _iso(c.at), "kind": "consent", "channel": c.channel, "status": c.status, "source": c.source}
        for c in state.consents
    ]
    items += [{**entry.view(), "kind": "journey"} for entry in state.journey_log]
    for message in entries:
        view = message.view()
        items.append(
            {
                "at": _iso(message.created_at or message.updated_at or datetime.min.replace(tzinfo=UTC)),
                "kind": "message",
                **{name: view[name] for name in ("message_id", "journey", "step", "template", "channel", "title")},
                "status": view["status"],
                "reason": view["reason"],
                "attempts": view["attempts"],
                "skipped": view["details"].get("skipped"),
            }
        )
        if message.delivered_at is not None:
            items.append(
                {
                    "at": _iso(message.delivered_at),
                    "kind": "engagement",
                    "action": "delivered",
                    "message_id": message.message_id,
                    "channel": message.channel,
                }
            )
    items += [{**touch.view(), "kind": "engagement"} for touch in state.touches]
    for order in state.orders.recent:
        credit = order.credit
        items.append(
            {
                "at": _iso(order.at),
                "kind": "order",
                "order_id": order.order_id,
                "amount": order.amount,
                "status": order.status,
                "credited_to": credit.model_dump(mode="json", exclude_none=True) if credit is not None else None,
            }
        )
    # Newest first; at one moment, what follows from the rest first (an order after the click it is credited to),
    # and then by id, so the list is the same whatever order the ledger's items were read in.
    items.sort(key=_timeline_order, reverse=True)
    return {"customer_id": customer_id, "record": record.key, "timeline": items[:limit], "more": len(items) > limit}


def messages_view(record: StoredCustomer, customer_id: str, entries: list[LedgerEntry]) -> dict[str, Any]:
    """What a customer got and why not the rest: every message with journey, step, channel, status and reason,
    and the journey decisions (entered, skipped, exited) the core recorded."""
    state = record.state
    journey_log = state.journey_log if state else []
    return {
        "customer_id": customer_id,
        "record": record.key,
        "messages": [entry.view() for entry in entries],
        "journeys": [instance.view() for instance in (state.journeys if state else [])],
        "journey_log": [entry.view() for entry in reversed(journey_log)],
    }


class CustomerReader:
    """Finds a customer of the caller's shop: by userId, else by anonymousId; merged records lead to the live one.
    Shows them with their insights at ``now``, from the shop's distribution in ``orders``."""

    def __init__(
        self, store: CustomerRecords, shops: Shops, orders: OrderAggregates, now: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._shops = shops
        self._orders = orders
        self._now = now

    def view(self, shop_id: str, record: StoredCustomer, customer_id: str) -> dict[str, Any]:
        """:func:`customer_view` with ``insights``: lifecycle stage, RFM scores and engagement score, now."""
        from shared.models.config import InsightsSettings

        assert record.state is not None
        config = self._shops.config(shop_id)
        settings = config.insights if config is not None else InsightsSettings()
        distribution = ShopDistribution.of(self._orders.distribution(shop_id))
        return {
            **customer_view(record, customer_id),
            "insights": insights_view(record.state, settings, distribution, self._now()),
        }

    def export(
        self,
        shop_id: str,
        record: StoredCustomer,
        customer_id: str,
        messages: list[LedgerEntry],
        inbox: list[InboxItem],
        offers: Callable[[str], dict[str, Any]],
    ) -> dict[str, Any]:
        """Everything held about the customer, in one document (``shared.service.export``)."""
        from shared.service.export import export_document

        config = self._shops.config(shop_id)
        assert config is not None  # the key that found the shop came from its config
        distribution = ShopDistribution.of(self._orders.distribution(shop_id))
        return export_document(record, customer_id, config, distribution, messages, inbox, offers, self._now())

    def erase(
        self, shop_id: str, record: StoredCustomer, customer_id: str, ledger: Ledger, erasure: Erasure
    ) -> dict[str, Any]:
        """Erase the customer of ``record`` now (``shared.service.erase``); what was erased."""
        from shared.service.erase import erase_customer

        assert record.state is not None
        return {
            **erase_customer(record.key, record.state, shop_id, ledger, erasure, self._now()),
            "customer_id": customer_id,
        }

    def shop_for(self, authorization: str | None) -> str:
        """The shop whose secret key was presented; raises AccessDeniedError otherwise."""
        key = secret_key_from(authorization)
        found = self._shops.authenticate(key) if key else None
        if found is None or found.kind != "secret":
            raise AccessDeniedError("a shop secret key is required")
        return found.shop_id

    def find(self, shop_id: str, customer_id: str) -> StoredCustomer | None:
        for key in (f"u:{customer_id}", f"a:{customer_id}"):
            try:
                record = self._store.follow(self._store.load(shop_id, key))
            except MergeChainError:
                continue  # damaged pointers lead nowhere: try the other key
            if record.state is not None:
                return record
        return None
