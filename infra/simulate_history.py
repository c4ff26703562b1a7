"""A month of a small shop's Segment history, generated with a fixed seed, for ``nudge simulate``.

``python -m infra.simulate_history > events/history/small-shop-month.jsonl`` writes the committed sample: about
fifty customers over thirty days who identify themselves (locales en, de, de-AT), grant e-mail (or SMS) consent, browse,
leave carts or buy (some again), install the app and allow push, and now and then withdraw a consent. A few of
them buy early and then go quiet; a few start anonymous and identify later; a few messages arrive twice (client
retries with the same messageId). The same seed writes the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
SEED = 20261001

FIRST_NAMES = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Lena", "Lukas", "Mia"]
LOCALES = [("en", "Europe/Berlin"), ("de", "Europe/Berlin"), ("de-AT", "Europe/Vienna")]
CATALOGUE: list[dict[str, Any]] = [
    {"product_id": "trail-runner-2", "name": "Trail Runner 2", "price": 89.9, "category": "shoes"},
    {"product_id": "city-sneaker", "name": "City Sneaker", "price": 74.0, "category": "shoes"},
    {"product_id": "rain-jacket", "name": "Rain Jacket", "price": 129.0, "category": "jackets"},
    {"product_id": "down-vest", "name": "Down Vest", "price": 99.0, "category": "jackets"},
    {"product_id": "wool-socks", "name": "Wool Socks", "price": 12.5, "category": "socks"},
    {"product_id": "running-cap", "name": "Running Cap", "price": 19.0, "category": "accessories"},
]
CONSENT_NOTICE = "v3"


@dataclass
class Customer:
    """One shopper of the generated history."""

    number: int
    kind: str  # browser | buyer | repeat | lapsed | anonymous
    locale: str
    timezone: str
    first_name: str
    app: str | None  # ios | android | None
    carts: int = 0
    orders: int = 0

    @property
    def user_id(self) -> str:
        return f"cust-{self.number:03d}"

    @property
    def anonymous_id(self) -> str:
        return f"anon-{self.number:03d}"


@dataclass
class History:
    """Messages as a shop's tracking client sends them, with deterministic messageIds."""

    rng: random.Random
    messages: list[dict[str, Any]] = field(default_factory=list)

    def add(self, at: datetime, message: dict[str, Any]) -> dict[str, Any]:
        message = {
            **message,
            "messageId": f"hist-{len(self.messages) + 1:05d}",
            "timestamp": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        self.messages.append(message)
        return message

    def track(self, at: datetime, who: dict[str, Any], event: str, properties: dict[str, Any], **extra: Any) -> None:
        self.add(at, {"type": "track", "event": event, "properties": properties, **who, **extra})


def _who(customer: Customer, identified: bool = True) -> dict[str, Any]:
    return {"userId": customer.user_id} if identified else {"anonymousId": customer.anonymous_id}


def _context(customer: Customer) -> dict[str, Any]:
    return {"locale": customer.locale, "timezone": customer.timezone}


def _daytime(rng: random.Random, day: int) -> datetime:
    """A moment on ``day`` of the month, from early morning to late evening (05:00-23:00 UTC)."""
    return START + timedelta(days=day, hours=rng.randint(5, 22), minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))


def _consent(history: History, at: datetime, customer: Customer, channel: str, status: str, source: str) -> None:
    properties = {"channel": channel, "status": status, "source": source, "notice_version": CONSENT_NOTICE}
    history.track(at, _who(customer), "Consent Updated", properties)


def _sign_up(history: History, customer: Customer, at: datetime, anonymous_before: bool) -> None:
    traits = {"firstName": customer.first_name, "email": f"{customer.user_id}@example.com"}
    identify: dict[str, Any] = {"type": "identify", "userId": customer.user_id, "traits": traits}
    if anonymous_before:
        identify["anonymousId"] = customer.anonymous_id  # the anonymous browsing joins the customer
    identify["context"] = _context(customer)
    history.add(at, identify)
    if history.rng.random() < 0.85:
        _consent(history, at + timedelta(seconds=5), customer, "email", "granted", "signup-form")
    elif history.rng.random() < 0.7:  # no e-mail, but text messages (deferred at night: quiet hours)
        phone = f"+4917{customer.number:08d}"
        history.add(at + timedelta(seconds=4), {"type": "identify", **_who(customer), "traits": {"phone": phone}})
        _consent(history, at + timedelta(seconds=5), customer, "sms", "granted", "checkout")
    if customer.app is not None:
        install = at + timedelta(minutes=history.rng.randint(1, 120))
        device = {"type": customer.app, "token": f"{customer.app}-token-{customer.number:03d}"}
        history.track(
            install, _who(customer), "Application Installed", {}, context={**_context(customer), "device": device}
        )
        if history.rng.random() < 0.8:
            _consent(history, install + timedelta(seconds=3), customer, "push", "granted", "app-prompt")


def _session(
    history: History, customer: Customer, at: datetime, identified: bool, buys: bool, leaves_cart: bool
) -> datetime:
    """Browse a few pages and products; maybe add to cart; maybe check out. Returns when the session ended."""
    rng = history.rng
    who = _who(customer, identified)
    history.add(at, {"type": "page", "name": "Home", **who, "context": _context(customer)})
    at += timedelta(seconds=rng.randint(10, 90))
    picks = rng.sample(CATALOGUE, k=rng.randint(1, 3))
    for product in picks:
        history.track(at, who, "Product Viewed", dict(product))
        at += timedelta(seconds=rng.randint(20, 180))
    if not (buys or leaves_cart):
        return at
    customer.carts += 1
    cart_id = f"{customer.user_id}-cart-{customer.carts}"
    chosen = picks[: rng.randint(1, len(picks))]
    for product in chosen:
        history.track(at, who, "Product Added", {**product, "cart_id": cart_id, "quantity": rng.randint(1, 2)})
        at += timedelta(seconds=rng.randint(15, 120))
    if not buys:
        return at
    history.track(at, who, "Checkout Started", {"cart_id": cart_id})
    at += timedelta(minutes=rng.randint(2, 8))
    customer.orders += 1
    order = {
        "order_id": f"{customer.user_id}-order-{customer.orders}",
        "cart_id": cart_id,
        "revenue": round(sum(p["price"] for p in chosen), 2),
        "currency": "EUR",
        "products": [dict(p) for p in chosen],
    }
    history.track(at, who, "Order Completed", order)
    return at


def _customers(rng: random.Random, count: int) -> list[Customer]:
    kinds = ["browser"] * 14 + ["buyer"] * 14 + ["repeat"] * 10 + ["lapsed"] * 6 + ["anonymous"] * 6
    customers = []
    for number in range(1, count + 1):
        locale, zone = rng.choice(LOCALES)
        app = rng.choice(["ios", "android"]) if rng.random() < 0.35 else None
        kind = kinds[(number - 1) % len(kinds)]
        customers.append(Customer(number, kind, locale, zone, rng.choice(FIRST_NAMES), app))
    return customers


def _story(history: History, customer: Customer) -> None:
    """One customer's month, by kind."""
    rng = history.rng
    first_day = rng.randint(0, 6) if customer.kind == "lapsed" else rng.randint(0, DAYS - 8)
    at = _daytime(rng, first_day)
    anonymous = customer.kind == "anonymous"
    if anonymous:  # browses without an account first, signs up days later
        at = _session(history, customer, at, identified=False, buys=False, leaves_cart=rng.random() < 0.5)
        at = _daytime(rng, min(DAYS - 2, first_day + rng.randint(1, 4)))
    _sign_up(history, customer, at, anonymous_before=anonymous)
    at += timedelta(minutes=rng.randint(1, 30))
    if customer.kind == "lapsed":  # one order early in the month, then silence
        _session(history, customer, at, identified=True, buys=True, leaves_cart=False)
        return
    sessions = {"browser": rng.randint(2, 6), "buyer": rng.randint(2, 5), "repeat": rng.randint(4, 8)}.get(
        customer.kind, rng.randint(1, 4)
    )
    orders_left = {"buyer": 1, "repeat": rng.randint(2, 3)}.get(customer.kind, 0)
    day = (at - START).days
    for index in range(sessions):
        if day >= DAYS:
            break
        moment = max(at, _daytime(rng, day))
        buys = orders_left > 0 and (index >= sessions - orders_left or rng.random() < 0.4)
        leaves_cart = not buys and rng.random() < 0.45
        at = _session(history, customer, moment, identified=True, buys=buys, leaves_cart=leaves_cart)
        orders_left -= 1 if buys else 0
        if rng.random() < 0.05:
            _consent(history, at + timedelta(minutes=5), customer, "email", "withdrawn", "preference-center")
        day += rng.randint(1, 7)


def generate(seed: int = SEED, customers: int = 50) -> list[dict[str, Any]]:
    """The history, sorted by timestamp (a few client retries repeat a message with its messageId)."""
    rng = random.Random(seed)
    history = History(rng)
    for customer in _customers(rng, customers):
        _story(history, customer)
    retries = rng.sample(history.messages, k=max(1, len(history.messages) // 200))
    history.messages.extend(dict(message) for message in retries)
    return sorted(history.messages, key=lambda m: m["timestamp"])


def lines(messages: list[dict[str, Any]]) -> Iterator[str]:
    for message in messages:
        yield json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--customers", type=int, default=50)
    args = parser.parse_args(argv)
    for line in lines(generate(args.seed, args.customers)):
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
