"""Support read API: a customer's state, the consent in force per channel and the full consent history, and what
nudge makes of them (lifecycle stage, RFM, engagement score) at the moment of reading."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.adapters.customers import MergeChainError, StoredCustomer
from shared.core.insights import ShopDistribution, insights_view
from shared.models.messages import LedgerEntry
from shared.models.vocabulary import CHANNELS
from shared.ports import CustomerRecords, OrderAggregates, Shops
from shared.service.keys import secret_key_from


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
    return body


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
