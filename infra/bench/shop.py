"""A realistic month of an online shop's Segment traffic for ``nudge bench``, generated with a fixed seed.

People are the unit: ``customers`` shoppers each visit the shop one or more times in ``days`` days, and every visit
is a session of the calls a shop's analytics.js or mobile SDK sends (page or screen views, product lists, searches,
product views, carts, checkouts, orders), with the context those clients attach (locale, time zone, user agent or
device). Three kinds of shopper:

- visitors (58 %) never log in; about 1.5 sessions a month;
- members (34 %) have an account from before: they identify when they first log in during the run (the shop syncs
  their stored e-mail consent then), about 4 sessions a month, a third of them also on the app;
- newcomers (8 %) browse anonymously first and sign up during the month (identify with their anonymousId, consents),
  about 3 sessions a month. A visitor who reaches checkout signs up there too.

The funnel follows commonly quoted e-commerce averages (assumptions, not measurements): about five pages a session,
one session in ten adds to cart, 45 % of carts reach checkout and 70 % of checkouts order, so about 3 % of sessions
convert and about 70 % of carts are abandoned (Baymard Institute's long-run average is about 70 %). Now and then a
member withdraws e-mail consent, an order is refunded, or a client retries a request with the same messageId.

Requests are what the clients send: analytics.js posts each call when it is made; Segment's mobile SDKs
(analytics-swift, analytics-kotlin) queue an app's calls and post them together to ``/v1/batch`` when 20 are queued or
at a tick every 30 s from the app's start (their defaults, ``flushAt`` and ``flushInterval``), each call keeping its
own timestamp (:meth:`Traffic.requests`).

The shop keeps its catalogue in nudge (:func:`inventory`): its 48 products posted before the first visit, then a
sync every night of what changed (units sold, a product sold out or back in stock, now and then a sale of 15 to
20 % off, a price drop). A shopper who views a product while it is out of stock now and then asks to be told when
it is back or wishlists it; a cart add of such a product puts the shopper on its waiting list too. Those events and
the feed come from random streams of their own: without the catalogue the traffic is the same, less them.

The run starts on an empty nudge: members are new to it, so their first identify starts a welcome journey that a
shop running nudge for a while would not see again (``nudge bench`` reports executions per journey, so this shows).
The same arguments give the same messages.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

START = datetime(2026, 10, 1, tzinfo=UTC)
SEED = 20261101

KINDS: dict[str, float] = {"visitor": 0.58, "member": 0.34, "newcomer": 0.08}
SESSIONS_PER_MONTH = {"visitor": 1.5, "member": 4.0, "newcomer": 3.0}
APP_USERS = {"visitor": 0.0, "member": 0.33, "newcomer": 0.15}
PAGES_PER_SESSION = 5.0
ADD_TO_CART = 0.10  # of sessions
CHECKOUT = 0.45  # of carts
ORDER = 0.70  # of checkouts
EMAIL_CONSENT = 0.60
SMS_CONSENT = 0.08
PUSH_CONSENT = 0.55
WITHDRAW = 0.01  # of identified shoppers, per session
REFUND = 0.03  # of orders
RETRY = 0.004  # of messages, sent twice with the same messageId
# analytics-swift's and analytics-kotlin's defaults: a flush when 20 calls are queued, and one every 30 s.
FLUSH_AT = 20
FLUSH_INTERVAL = timedelta(seconds=30)

FIRST_NAMES = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Lena", "Lukas", "Mia"]
LOCALES = [("en", "Europe/London"), ("de", "Europe/Berlin"), ("de", "Europe/Berlin"), ("de-AT", "Europe/Vienna")]
# Visits by local hour: quiet at night, a lunch bump, an evening peak.
HOURS = [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 4, 4.5, 5, 5.5, 5, 5, 5, 5.5, 6, 6.5, 7, 7.5, 7, 5, 3]
CATEGORIES = ["running-shoes", "sneakers", "rain-jackets", "down-jackets", "socks", "accessories"]
BRANDS = ["Northpeak", "Alder & Co", "Fjell", "Stride"]
SHOP_URL = "https://shop.example"
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15"
)


def _catalogue() -> list[dict[str, Any]]:
    """48 products, eight per category, with the properties Ecommerce v2 clients send."""
    products = []
    for c, category in enumerate(CATEGORIES):
        for n in range(8):
            slug = f"{category}-{n + 1:02d}"
            products.append(
                {
                    "product_id": f"p-{c + 1}{n + 1:02d}",
                    "sku": f"SKU-{c + 1}{n + 1:02d}-{n % 3}",
                    "category": category,
                    "name": f"{BRANDS[n % len(BRANDS)]} {category.replace('-', ' ').title()} {n + 1}",
                    "brand": BRANDS[n % len(BRANDS)],
                    "price": round(12.5 + 17.25 * ((c * 8 + n) % 11), 2),
                    "url": f"{SHOP_URL}/products/{slug}",
                    "image_url": f"https://cdn.shop.example/images/products/{slug}/main-800x800.jpg",
                }
            )
    return products


CATALOGUE = _catalogue()


@dataclass
class Shopper:
    """One person of the generated month."""

    number: int
    kind: str  # visitor | member | newcomer
    locale: str
    timezone: str
    first_name: str
    app: bool
    identified: bool = False
    cart_id: str | None = None
    cart: list[dict[str, Any]] = field(default_factory=list)
    carts: int = 0
    orders: int = 0
    consents: set[str] = field(default_factory=set)
    device_token: str | None = None

    @property
    def user_id(self) -> str:
        return f"shopper-{self.number:05d}"

    @property
    def anonymous_id(self) -> str:
        return str(uuid.UUID(int=(self.number * 2654435761) % (1 << 128)))


@dataclass
class Traffic:
    """The messages as the shop's clients send them, with deterministic messageIds."""

    rng: random.Random
    days: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    start: datetime = START  # the first day of the period the traffic covers
    app_sessions: list[list[dict[str, Any]]] = field(default_factory=list)  # each app session's messages, in order
    retries: list[tuple[dict[str, Any], dict[str, Any], timedelta]] = field(
        default_factory=list
    )  # (sent, again, after)

    def requests(self) -> list[dict[str, Any]]:
        """The request bodies the clients post, in the order they arrive: a browser's message alone, when it happens;
        an app's messages in one ``{"batch": [...], "sentAt": ...}`` per flush of its SDK (:func:`flushes`). A
        client's retry goes as the message first went, a few seconds after it."""
        flushed: dict[tuple[str, str], datetime] = {}
        bodies: list[dict[str, Any]] = []
        for session in self.app_sessions:
            for sent_at, batch in flushes(session):
                bodies.append({"batch": batch, "sentAt": _stamp(sent_at)})
                flushed.update((_identity(message), sent_at) for message in batch)
        from_app = {_identity(again): flushed[_identity(sent)] + after for sent, again, after in self.retries}
        for message in self.messages:
            identity = _identity(message)
            if identity in from_app:
                bodies.append({"batch": [message], "sentAt": _stamp(from_app[identity])})
            elif identity not in flushed:
                bodies.append(message)
        return sorted(bodies, key=arrival)

    def add(self, at: datetime, shopper: Shopper, body: dict[str, Any], app: bool) -> datetime:
        """Record one call by ``shopper`` at ``at``; returns when the next call of the session happens."""
        who = {"userId": shopper.user_id} if shopper.identified else {"anonymousId": shopper.anonymous_id}
        message = {
            **body,
            **who,
            "messageId": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "context": {**_context(shopper, app, body), **body.get("context", {})},
        }
        self.messages.append(message)
        if app:
            self.app_sessions[-1].append(message)
        return at + timedelta(seconds=self.rng.randint(5, 90))

    def track(self, at: datetime, shopper: Shopper, event: str, properties: dict[str, Any], app: bool) -> datetime:
        return self.add(at, shopper, {"type": "track", "event": event, "properties": properties}, app)


def _context(shopper: Shopper, app: bool, body: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {"locale": shopper.locale, "timezone": shopper.timezone}
    if app:
        context["app"] = {"name": "Shop", "version": "4.12.0", "build": "4120"}
        context["os"] = {"name": "iOS" if shopper.number % 2 else "Android", "version": "18.1"}
        context["library"] = {
            "name": "analytics-swift" if shopper.number % 2 else "analytics-kotlin",
            "version": "1.6.0",
        }
        if shopper.device_token:
            context["device"] = {"type": "ios" if shopper.number % 2 else "android", "token": shopper.device_token}
    else:
        context["userAgent"] = USER_AGENT
        context["library"] = {"name": "analytics.js", "version": "next-1.74.0"}
        path = body.get("properties", {}).get("path") if body.get("type") == "page" else None
        if path:
            context["page"] = {"path": path, "url": SHOP_URL + path, "title": body.get("name", "Shop")}
    return context


def flushes(session: list[dict[str, Any]]) -> list[tuple[datetime, list[dict[str, Any]]]]:
    """When a mobile SDK posts one app session's messages, and which: the queue goes out as the 20th message is
    queued, or else at the next 30 s tick of the app's flush timer (which starts with the app: the session's first
    message), whichever comes first (analytics-kotlin's ``FrequencyFlushPolicy`` ticks at a fixed interval; a
    count flush does not move it)."""
    opened = _time(session[0])
    sent: list[tuple[datetime, list[dict[str, Any]]]] = []
    queued: list[dict[str, Any]] = []
    tick = opened
    for message in session:
        at = _time(message)
        if queued and at >= tick:
            sent.append((tick, queued))
            queued = []
        if not queued:
            tick = opened + FLUSH_INTERVAL * ((at - opened) // FLUSH_INTERVAL + 1)
        queued.append(message)
        if len(queued) == FLUSH_AT:
            sent.append((at, queued))
            queued = []
    if queued:
        sent.append((tick, queued))
    return sent


def arrival(body: dict[str, Any]) -> str:
    """When a request body reaches nudge: a batch's ``sentAt``, else the message's timestamp."""
    return str(body.get("sentAt") or body["timestamp"])


def _identity(message: dict[str, Any]) -> tuple[str, str]:
    return message["messageId"], message["timestamp"]  # a retry repeats the messageId, a little later


def _time(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["timestamp"])


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _geometric(rng: random.Random, mean: float) -> int:
    """At least one, ``mean`` on average."""
    return 1 + int(math.log(1 - rng.random()) / math.log(1 - 1 / mean)) if mean > 1 else 1


def _visit_times(
    rng: random.Random, shopper: Shopper, sessions: int, days: int, start: datetime = START
) -> list[datetime]:
    zone = ZoneInfo(shopper.timezone)
    moments = []
    for _ in range(sessions):
        day = start + timedelta(days=rng.randrange(days))
        hour = rng.choices(range(24), weights=HOURS)[0]
        local = datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), rng.randint(0, 59), tzinfo=zone)
        moments.append(local.astimezone(UTC))
    moments.sort()
    spaced: list[datetime] = []
    for moment in moments:  # sessions of one person do not overlap
        spaced.append(max(moment, spaced[-1] + timedelta(hours=1)) if spaced else moment)
    return spaced


def _product_list(rng: random.Random, category: str) -> list[dict[str, Any]]:
    listed = [p for p in CATALOGUE if p["category"] == category]
    return [
        {"product_id": p["product_id"], "sku": p["sku"], "name": p["name"], "price": p["price"], "position": i + 1}
        for i, p in enumerate(rng.sample(listed, k=rng.randint(6, len(listed))))
    ]


def _sign_up(traffic: Traffic, shopper: Shopper, at: datetime, app: bool) -> datetime:
    """Account created (or first login of a member): identify with traits, then the consents the shop records."""
    rng = traffic.rng
    traits: dict[str, Any] = {"firstName": shopper.first_name, "email": f"{shopper.user_id}@mail.example"}
    sms = rng.random() < SMS_CONSENT
    if sms:
        traits["phone"] = f"+4917{shopper.number:08d}"
    body: dict[str, Any] = {"type": "identify", "traits": traits}
    if shopper.kind != "member":
        body["anonymousId"] = shopper.anonymous_id  # the anonymous browsing joins the new account
    shopper.identified = True
    at = traffic.add(at, shopper, body, app)
    source = "account-settings" if shopper.kind == "member" else "signup-form"
    if rng.random() < EMAIL_CONSENT:
        at = _consent(traffic, shopper, at, "email", "granted", source, app)
    if sms:
        at = _consent(traffic, shopper, at, "sms", "granted", "checkout", app)
    return at


def _consent(
    traffic: Traffic, shopper: Shopper, at: datetime, channel: str, status: str, source: str, app: bool
) -> datetime:
    (shopper.consents.add if status == "granted" else shopper.consents.discard)(channel)
    properties = {"channel": channel, "status": status, "source": source, "notice_version": "privacy-2026-09"}
    return traffic.track(at, shopper, "Consent Updated", properties, app)


def _open_app(traffic: Traffic, shopper: Shopper, at: datetime) -> datetime:
    rng = traffic.rng
    if shopper.device_token is None:
        shopper.device_token = f"{'apns' if shopper.number % 2 else 'fcm'}-{rng.getrandbits(64):016x}"
        if shopper.kind == "newcomer" or rng.random() < 0.1:  # a fresh install during the month
            at = traffic.track(at, shopper, "Application Installed", {"version": "4.12.0"}, True)
        if rng.random() < PUSH_CONSENT:
            at = _consent(traffic, shopper, at, "push", "granted", "app-prompt", True)
    return traffic.track(at, shopper, "Application Opened", {"from_background": rng.random() < 0.5}, True)


def _view(traffic: Traffic, shopper: Shopper, at: datetime, app: bool, name: str, path: str) -> datetime:
    if app:
        return traffic.add(at, shopper, {"type": "screen", "name": name}, app)
    return traffic.add(at, shopper, {"type": "page", "name": name, "properties": {"path": path}}, app)


def _browse(traffic: Traffic, shopper: Shopper, at: datetime, app: bool) -> tuple[datetime, dict[str, Any]]:
    """Pages of one session; returns when it ended and the last product viewed."""
    rng = traffic.rng
    last = rng.choice(CATALOGUE)
    for index in range(_geometric(rng, PAGES_PER_SESSION)):
        roll = rng.random()
        if index == 0 and roll < 0.4:
            at = _view(traffic, shopper, at, app, "Home", "/")
        elif roll < 0.25:
            category = rng.choice(CATEGORIES)
            at = _view(traffic, shopper, at, app, "Category", f"/c/{category}")
            listed = {"list_id": category, "category": category, "products": _product_list(rng, category)}
            at = traffic.track(at, shopper, "Product List Viewed", listed, app)
        elif roll < 0.37:
            query = rng.choice(["trail", "waterproof", "wool", "gift", "running", "winter jacket"])
            at = traffic.track(at, shopper, "Products Searched", {"query": query}, app)
            at = _view(traffic, shopper, at, app, "Search", f"/search?q={query}")
        elif roll < 0.45 and shopper.cart:
            at = _view(traffic, shopper, at, app, "Cart", "/cart")
            at = traffic.track(at, shopper, "Cart Viewed", {"cart_id": shopper.cart_id, "products": shopper.cart}, app)
        else:
            last = rng.choice(CATALOGUE)
            at = _view(traffic, shopper, at, app, last["name"], last["url"].removeprefix(SHOP_URL))
            at = traffic.track(at, shopper, "Product Viewed", dict(last), app)
    return at, last


def _shop(traffic: Traffic, shopper: Shopper, at: datetime, app: bool, product: dict[str, Any]) -> datetime:
    """Add to cart; maybe check out and order."""
    rng = traffic.rng
    if shopper.cart_id is None:
        shopper.carts += 1
        shopper.cart_id = f"{shopper.user_id}-cart-{shopper.carts}"
    for item in [product] + ([rng.choice(CATALOGUE)] if rng.random() < 0.25 else []):
        line = {**item, "cart_id": shopper.cart_id, "quantity": rng.choice([1, 1, 1, 2])}
        shopper.cart.append({k: v for k, v in line.items() if k != "cart_id"})
        at = traffic.track(at, shopper, "Product Added", line, app)
    if len(shopper.cart) > 1 and rng.random() < 0.1:
        removed = shopper.cart.pop()
        at = traffic.track(at, shopper, "Product Removed", {**removed, "cart_id": shopper.cart_id}, app)
    if rng.random() >= CHECKOUT:
        return at  # abandoned (for now: the cart stays for the next session)
    if not shopper.identified:
        at = _sign_up(traffic, shopper, at, app)  # an account is made at checkout
    value = round(sum(p["price"] * p["quantity"] for p in shopper.cart), 2)
    checkout_id = f"{shopper.cart_id}-checkout"
    base = {"checkout_id": checkout_id, "cart_id": shopper.cart_id, "currency": "EUR"}
    at = traffic.track(at, shopper, "Checkout Started", {**base, "value": value, "products": shopper.cart}, app)
    at = traffic.track(at, shopper, "Checkout Step Viewed", {**base, "step": 1}, app)
    at = traffic.track(at, shopper, "Checkout Step Completed", {**base, "step": 1, "shipping_method": "standard"}, app)
    at = traffic.track(at, shopper, "Payment Info Entered", {**base, "step": 2, "payment_method": "card"}, app)
    if rng.random() >= ORDER:
        return at
    shopper.orders += 1
    order_id = f"{shopper.user_id}-order-{shopper.orders}"
    order = {
        **base,
        "order_id": order_id,
        "revenue": value,
        "shipping": 4.9,
        "tax": round(value * 0.19, 2),
        "total": round(value + 4.9, 2),
        "products": shopper.cart,
    }
    at = traffic.track(at, shopper, "Order Completed", order, app)
    if rng.random() < REFUND:
        later = at + timedelta(days=rng.randint(3, 10))
        if later < traffic.start + timedelta(days=traffic.days):
            traffic.track(later, shopper, "Order Refunded", {"order_id": order_id, "total": order["total"]}, False)
    shopper.cart_id, shopper.cart = None, []
    return at


def _month(traffic: Traffic, shopper: Shopper) -> None:
    rng = traffic.rng
    mean = SESSIONS_PER_MONTH[shopper.kind] * traffic.days / 30
    visits = _visit_times(rng, shopper, 1 + _poisson(rng, max(0.0, mean - 1)), traffic.days, traffic.start)
    signs_up_on = rng.choice([0, 0, 0, 1]) if shopper.kind == "newcomer" else None
    for index, at in enumerate(visits):
        app = shopper.app and rng.random() < 0.7
        if app:
            traffic.app_sessions.append([])  # the app starts, and its SDK's queue and flush timer with it
        if shopper.kind == "member" and not shopper.identified:
            at = _sign_up(traffic, shopper, at, app)  # the first login nudge sees
        elif shopper.kind == "member" and rng.random() < 0.15:
            at = _login(traffic, shopper, at, app)
        if app:
            at = _open_app(traffic, shopper, at)
        at, product = _browse(traffic, shopper, at, app)
        if signs_up_on is not None and index >= min(signs_up_on, len(visits) - 1) and not shopper.identified:
            at = _sign_up(traffic, shopper, at, app)
        if rng.random() < ADD_TO_CART:
            at = _shop(traffic, shopper, at, app, product)
        if shopper.identified and "email" in shopper.consents and rng.random() < WITHDRAW:
            _consent(traffic, shopper, at, "email", "withdrawn", "preference-center", app)


def _login(traffic: Traffic, shopper: Shopper, at: datetime, app: bool) -> datetime:
    """A member logs in again (another device): identify without new traits."""
    return traffic.add(at, shopper, {"type": "identify", "traits": {"firstName": shopper.first_name}}, app)


def shoppers(rng: random.Random, count: int) -> Iterator[Shopper]:
    kinds, weights = list(KINDS), list(KINDS.values())
    for number in range(1, count + 1):
        kind = rng.choices(kinds, weights=weights)[0]
        locale, zone = rng.choice(LOCALES)
        yield Shopper(number, kind, locale, zone, rng.choice(FIRST_NAMES), rng.random() < APP_USERS[kind])


def generate(customers: int = 200, days: int = 30, seed: int = SEED, catalogue: bool = True) -> list[dict[str, Any]]:
    """The shop's traffic, sorted by timestamp (a few client retries repeat a message with its messageId). With
    ``catalogue``, shoppers who view a product while it is out of stock now and then ask to be told when it is back
    or wishlist it (:func:`inventory`, :func:`_wait_for_sold_out`); without, the traffic is the same less those."""
    return sorted(_traffic(customers, days, seed, catalogue).messages, key=lambda m: m["timestamp"])


def history(customers: int = 200, days: int = 30, seed: int = SEED, catalogue: bool = True) -> list[dict[str, Any]]:
    """The same traffic as the request bodies the clients post, in the order they arrive (:meth:`Traffic.requests`):
    a history for ``nudge simulate``, whose batch lines with a ``sentAt`` arrive at it. With ``catalogue``, the
    shop's catalogue feed and nightly stock syncs are among them, as simulate's ``catalog`` lines
    (:attr:`Inventory.lines`)."""
    traffic = _traffic(customers, days, seed, catalogue)
    if not catalogue:
        return traffic.requests()
    return sorted([*traffic.requests(), *inventory(days, seed).lines], key=arrival)


def _traffic(customers: int, days: int, seed: int, catalogue: bool = True) -> Traffic:
    if customers < 1 or days < 1:
        raise ValueError("customers and days must be at least 1")
    rng = random.Random(seed)
    traffic = Traffic(rng, days)
    for shopper in list(shoppers(rng, customers)):
        _month(traffic, shopper)
    _retry(traffic)
    if catalogue:  # last, from its own random stream: the month above stays what it was without a catalogue
        _wait_for_sold_out(traffic, inventory(days, seed), seed)
    return traffic


def _retry(traffic: Traffic) -> None:
    """A few of the period's messages sent twice: the client timed out and sent it again a little later."""
    rng = traffic.rng
    retried = [m for m in traffic.messages if rng.random() < RETRY]
    app = {_identity(message) for session in traffic.app_sessions for message in session}
    for message in retried:
        after = timedelta(seconds=rng.randint(2, 30))
        again = {**message, "timestamp": _stamp(datetime.fromisoformat(message["timestamp"]) + after)}
        traffic.messages.append(again)
        if _identity(message) in app:
            traffic.retries.append((message, again, after))


def months(
    customers: int = 1000, seed: int = SEED, start: datetime = START, days: int = 30
) -> Iterator[dict[str, Any]]:
    """The traffic of the same ``customers`` shoppers period after period of ``days`` days from ``start``, as the
    request bodies the clients post (:meth:`Traffic.requests`) in the order they arrive, without end (take as many
    as wanted): a shop running for months, not one month.

    Shoppers keep what they did (accounts, consents, carts, app installs) from one period to the next, so after
    the first period nobody is new to nudge any more. One period's messages are made at a time and held until no
    later period can come before them (a period begins up to a few hours before its first UTC day, in local
    time), so memory holds about one period of messages, whatever the length of the history.
    """
    if customers < 1 or days < 1:
        raise ValueError("customers and days must be at least 1")
    rng = random.Random(seed)
    people = list(shoppers(rng, customers))
    waiting: list[tuple[str, int, dict[str, Any]]] = []  # (arrival, order made, request body): a heap
    made = itertools.count()
    for period in itertools.count():
        traffic = Traffic(rng, days, start=start + timedelta(days=period * days))
        for shopper in people:
            _month(traffic, shopper)
        _retry(traffic)
        for body in traffic.requests():
            heapq.heappush(waiting, (arrival(body), next(made), body))
        # The next period's first visits are at local midnight or later: at most a few hours before it in UTC.
        settled = _stamp(traffic.start + timedelta(days=days - 1))
        while waiting and waiting[0][0] < settled:
            yield heapq.heappop(waiting)[2]


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def messages_of(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Segment messages the request bodies carry (not the catalogue's lines)."""
    return [message for body in bodies if body.get("type") != CATALOG_LINE for message in body.get("batch", [body])]


# ---------------------------------------------------------------- the catalogue feed and the shoppers it turns away

CATALOG_LINE = "catalog"  # simulate's history line that posts to POST /v1/catalog (docs/SIMULATE.md)
CURRENCY = "EUR"  # the demo shop's (events/demo-shop.yaml)
FEED_AT = START - timedelta(hours=12)  # the whole catalogue, before the first visit (local midnight is 22:00 UTC)
SYNC_AT = timedelta(hours=2)  # the inventory system's nightly sync, 02:00 UTC
OUT_OF_STOCK_AT_START = 4  # of the 48 products
SOLD_PER_SYNC = (2, 5)  # products whose count of units a sync changes (units sold since the one before)
SELL_OUT = 0.5  # chance, each night, that one more product has sold out
RESTOCK = 0.25  # chance, each night, that each product out of stock for two days or more is back
SALE = 0.2  # chance, each night, that a product goes on sale: a price drop
SALE_OFF = (0.15, 0.20)
SALE_NIGHTS = (3, 7)
# Of the shoppers who view a product while it is out of stock: a known customer asks to be told when it is back
# ("notify me", Back In Stock Requested) or wishlists it; a visitor may wishlist it (a guest wishlist).
NOTIFY_ME = 0.2
WISHLIST = 0.1
GUEST_WISHLIST = 0.05


@dataclass
class Inventory:
    """The shop's catalogue through the period, as its feed posts it: simulate's ``catalog`` lines, and when each
    product was out of stock (from, until; None: still at the end)."""

    lines: list[dict[str, Any]]
    sold_out_periods: dict[str, list[tuple[datetime, datetime | None]]]

    def sold_out(self, product_id: str, moment: datetime) -> bool:
        """The catalogue holds ``product_id`` out of stock at ``moment``."""
        return any(
            start <= moment and (end is None or moment < end)
            for start, end in self.sold_out_periods.get(product_id, [])
        )


def merchant_product(product: dict[str, Any], quantity: int) -> dict[str, Any]:
    """A product of :data:`CATALOGUE` in the Merchant Center attributes ``POST /v1/catalog`` takes."""
    return {
        "id": product["product_id"],
        "title": product["name"],
        "link": product["url"],
        "image_link": product["image_url"],
        "price": f"{product['price']:.2f} {CURRENCY}",
        "availability": "in_stock" if quantity > 0 else "out_of_stock",
        "quantity": quantity,
        "product_type": product["category"].replace("-", " ").capitalize(),
        "brand": product["brand"],
    }


def inventory(days: int = 30, seed: int = SEED) -> Inventory:
    """The catalogue feed of the period: the whole catalogue (a few products out of stock) before its first visit,
    then a sync every night at 02:00 UTC of what changed: units sold, now and then a product sold out, one back in
    stock, a sale of 15 to 20 % off (a price drop) and its end. The same arguments give the same feed."""
    rng = random.Random(f"catalogue {seed}")  # its own stream: the shoppers' traffic does not depend on it
    ids = [product["product_id"] for product in CATALOGUE]
    stock = {product_id: rng.randint(8, 60) for product_id in ids}
    for product_id in rng.sample(ids, OUT_OF_STOCK_AT_START):
        stock[product_id] = 0
    periods: dict[str, list[tuple[datetime, datetime | None]]] = {
        pid: [(FEED_AT, None)] for pid in ids if not stock[pid]
    }
    products = [merchant_product(product, stock[product["product_id"]]) for product in CATALOGUE]
    lines = [{"type": CATALOG_LINE, "timestamp": _stamp(FEED_AT), "products": products}]
    base = {product["product_id"]: float(product["price"]) for product in CATALOGUE}
    sale_ends: dict[str, datetime] = {}
    for night in range(days):
        at = START + timedelta(days=night) + SYNC_AT
        changed: dict[str, dict[str, Any]] = {}
        before = dict(stock)
        in_stock = [pid for pid in ids if stock[pid] > 0]
        for product_id in rng.sample(in_stock, min(len(in_stock), rng.randint(*SOLD_PER_SYNC))):
            stock[product_id] = max(0, stock[product_id] - rng.randint(1, 6))
        if rng.random() < SELL_OUT and (left := [pid for pid in ids if stock[pid] > 0]):
            stock[rng.choice(left)] = 0  # the last units went
        for product_id in ids:
            if (
                not before[product_id]
                and periods[product_id][-1][0] <= at - timedelta(days=2)
                and rng.random() < RESTOCK
            ):
                stock[product_id] = rng.randint(20, 60)  # a delivery came in
        for product_id in ids:
            if stock[product_id] == before[product_id]:
                continue
            update = changed.setdefault(product_id, {"id": product_id})
            update["quantity"] = stock[product_id]
            if not stock[product_id]:
                update["availability"] = "out_of_stock"
                periods.setdefault(product_id, []).append((at, None))
            elif not before[product_id]:
                update["availability"] = "in_stock"
                periods[product_id][-1] = (periods[product_id][-1][0], at)
        for product_id, ends in list(sale_ends.items()):
            if ends <= at:
                changed.setdefault(product_id, {"id": product_id})["sale_price"] = None  # the sale is over
                del sale_ends[product_id]
        if rng.random() < SALE:
            product_id = rng.choice([pid for pid in ids if pid not in sale_ends])
            off = rng.uniform(*SALE_OFF)
            price = math.floor(base[product_id] * (1 - off) * 100) / 100  # at least ``off`` below
            changed.setdefault(product_id, {"id": product_id})["sale_price"] = f"{price:.2f} {CURRENCY}"
            sale_ends[product_id] = at + timedelta(days=rng.randint(*SALE_NIGHTS))
        if changed:
            lines.append({"type": CATALOG_LINE, "timestamp": _stamp(at), "products": list(changed.values())})
    return Inventory(lines, periods)


def _wait_for_sold_out(traffic: Traffic, stock: Inventory, seed: int) -> None:
    """Shoppers who view a product while the catalogue holds it out of stock now and then ask to be told when it
    is back or wishlist it, a few seconds after the view and from the same client; either puts them on the
    product's waiting list (a cart add of such a product does too: the month's carts are left as they were)."""
    rng = random.Random(f"waiting {seed}")
    sessions = {_identity(message): session for session in traffic.app_sessions for message in session}
    seen: set[str] = set()
    for message in list(traffic.messages):
        if message.get("event") != "Product Viewed" or message["messageId"] in seen:
            continue  # a client's retry repeats a view: the shopper saw the page once
        seen.add(message["messageId"])
        properties = message["properties"]
        at = _time(message)
        if not stock.sold_out(properties["product_id"], at):
            continue
        roll, known = rng.random(), "userId" in message
        if known and roll < NOTIFY_ME:
            event = "Back In Stock Requested"
        elif roll < (NOTIFY_ME + WISHLIST if known else GUEST_WISHLIST):
            event = "Product Added to Wishlist"
        else:
            continue
        who: dict[str, Any] = {name: message[name] for name in ("userId", "anonymousId") if name in message}
        asked: dict[str, Any] = {
            "type": "track",
            "event": event,
            "properties": dict(properties),
            **who,
            "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "timestamp": _stamp(at + timedelta(seconds=rng.randint(2, 4))),  # the session's next call is 5 s on
            "context": message["context"],
        }
        traffic.messages.append(asked)
        session = sessions.get(_identity(message))
        if session is not None:  # an app's call: queued by its SDK after the view
            session.insert(next(i for i, queued in enumerate(session) if queued is message) + 1, asked)


def distinct_customers(messages: list[dict[str, Any]]) -> int:
    """People in the traffic: user ids, plus anonymous ids never joined to one (what nudge keeps a record of)."""
    users = {m["userId"] for m in messages if m.get("userId")}
    joined = {m["anonymousId"] for m in messages if m.get("userId") and m.get("anonymousId")}
    anonymous = {m["anonymousId"] for m in messages if m.get("anonymousId") and not m.get("userId")}
    return len(users) + len(anonymous - joined)
