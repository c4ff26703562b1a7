"""`nudge demo`: a demo shop's customers, step by step, through the real handlers on the local stack.

Every step is an HTTP call a shop's tracking client would make; after each, the demo waits until the updater has
drained the queue and then reads the customer back through the support API, so what it prints is what nudge stored.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.metering import READ_OPERATIONS, WRITE_OPERATIONS, ApiCallMeter

WRITE_KEY = "demo-write-key"
SECRET_KEY = "demo-secret-key"
FAST_KEY, FAST_SECRET = "fast-write-key", "fast-secret-key"  # events/fast-shop.yaml
PACED_KEY, PACED_SECRET = "paced-write-key", "paced-secret-key"  # events/paced-shop.yaml: one message a day

TRAIL_RUNNER = {
    "product_id": "trail-runner-2",
    "name": "Trail Runner 2",
    "price": 89.90,
    "category": "shoes",
    "image_url": "https://demo.shop/img/trail-runner-2.jpg",
    "url": "https://demo.shop/p/trail-runner-2",
}
RAIN_JACKET = {
    "product_id": "rain-jacket",
    "name": "Rain Jacket",
    "price": 129.00,
    "category": "jackets",
    "image_url": "https://demo.shop/img/rain-jacket.jpg",
    "url": "https://demo.shop/p/rain-jacket",
}
WOOL_SOCKS = {"product_id": "wool-socks", "name": "Wool Socks", "price": 12.50, "category": "socks"}


def _auth(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


@dataclass
class Demo:
    """Drives the demo shop against a running local stack and narrates what happened."""

    base_url: str
    wait_idle: Any
    meter: ApiCallMeter
    out: Any = print
    providers: Any = None
    mails: Any = None  # address -> the e-mails the emulator's SES accepted for it (infra.local.stack.emails_to)
    accepted: int = 0
    _ids: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ HTTP
    def request(self, method: str, path: str, body: Any = None, key: str = WRITE_KEY) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", _auth(key))
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def send(self, path: str, body: dict[str, Any], key: str = WRITE_KEY) -> tuple[int, Any]:
        status, answer = self.request("POST", path, body, key)
        count = len(body.get("batch", [body]))
        events = ", ".join(m.get("event") or m.get("type", path.rsplit("/", 1)[-1]) for m in body.get("batch", [body]))
        self.out(f"   POST {path} ({events}) -> {status} {json.dumps(answer)}")
        if status == 200:
            self.accepted += count
        self.wait_idle()
        return status, answer

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        status, body = self.request("GET", f"/v1/customers/{customer_id}", key=SECRET_KEY)
        return body if status == 200 else None

    # ------------------------------------------------------------ narration
    def show(self, customer_id: str, label: str) -> None:
        body = self.customer(customer_id)
        if body is None:
            self.out(f"   {label}: not known to nudge")
            return
        self.out(f"   {label} ({body['record']}, version {body['version']}):")
        traits = {k: v for k, v in body["traits"].items() if k in ("first_name", "email", "phone")}
        if traits:
            self.out(f"     profile   {_masked(traits)}  locale={body['locale']} tz={body['timezone']}")
        for cart_id, cart in body["carts"].items():
            items = "; ".join(f"{i['quantity']} x {i['name']} ({i['price']:.2f})" for i in cart["items"])
            self.out(f"     cart {cart_id}: {items}")
        if not body["carts"]:
            self.out("     cart      empty")
        if body["viewed"]:
            self.out(f"     viewed    {', '.join(v['name'] or v['product_id'] for v in body['viewed'])}")
        orders = body["orders"]
        if orders["count"]:
            bought = ", ".join(orders["products_bought"])
            self.out(f"     orders    {orders['count']} worth {orders['revenue']:.2f}; bought {bought}")
        consents = [
            f"{channel} {record['status']} ({record['source']}, notice {record['notice_version']})"
            for channel, record in body["consent"].items()
            if record
        ]
        self.out(f"     consent   {'; '.join(consents) if consents else 'none given'}")
        if len(body["consent_history"]) > 1:
            history = ", ".join(f"{r['channel']} {r['status']} at {r['at'][11:19]}" for r in body["consent_history"])
            self.out(f"     history   {history}")
        if body["push_tokens"]:
            installed = "installed" if body["app"]["installed_at"] else "not installed"
            self.out(f"     devices   {len(body['push_tokens'])} push token(s); app {installed}")
        self.out(f"     events    {body['events_applied']} applied, last activity {body['last_activity_at']}")

    def step(self, number: int, title: str) -> None:
        self.out(f"\n{number}. {title}")

    # ------------------------------------------------------------ journeys (the fast shop waits seconds)
    def journeys(self) -> str:
        """Journeys on real Step Functions timers: the fast shop is configured to wait seconds, not hours. Returns
        Carla's id (she got a cart reminder)."""
        run = uuid.uuid4().hex[:4]
        carla, dan, eva = f"carla-{run}", f"dan-{run}", f"eva-{run}"
        boots = {**TRAIL_RUNNER, "cart_id": "web-9"}

        def shopper(user: str, name: str, locale: str) -> list[dict[str, Any]]:
            traits = {"firstName": name, "email": f"{user}@example.com"}
            return [
                {
                    "type": "identify",
                    "userId": user,
                    "traits": traits,
                    "context": {"locale": locale},
                    "messageId": _id(),
                },
                _consent(user, "email", "granted", "checkout", "privacy-2026-09"),
            ]

        self.step(8, "Fast shop: Carla (German) leaves running shoes in her cart; the reminder is due 2 s later")
        self.send(
            "/v1/batch",
            {"batch": [*shopper(carla, "Carla", "de-DE"), _track("Product Added", boots, userId=carla)]},
            key=FAST_KEY,
        )
        self.step(9, "Fast shop: Dan buys before his reminder is due; Eva withdraws e-mail consent while she waits")
        order = {"order_id": f"o-{run}", "cart_id": "web-9", "revenue": 89.9, "products": [TRAIL_RUNNER]}
        self.send(
            "/v1/batch",
            {
                "batch": [
                    *shopper(dan, "Dan", "en-GB"),
                    _track("Product Added", boots, userId=dan),
                    _track("Order Completed", order, userId=dan),
                ]
            },
            key=FAST_KEY,
        )
        self.send(
            "/v1/batch",
            {
                "batch": [
                    *shopper(eva, "Eva", "de-AT"),
                    _track("Product Added", boots, userId=eva),
                    _consent(eva, "email", "withdrawn", "account-settings", "privacy-2026-09"),
                ]
            },
            key=FAST_KEY,
        )
        fay = f"fay-{run}"
        self.step(10, "Paced shop (one marketing message a day): Fay signs up and leaves her cart; two journeys fire")
        self.send(
            "/v1/batch",
            {"batch": [*shopper(fay, "Fay", "en-GB"), _track("Product Added", boots, userId=fay)]},
            key=PACED_KEY,
        )
        self.out("   ... waiting 8 s of wall time for the timers (moto's Step Functions interpreter) ...")
        time.sleep(8)
        self.wait_idle(timeout=60, timers=True)
        _show_messages(self, carla, "Carla")
        _show_messages(self, dan, "Dan")
        _show_messages(self, eva, "Eva")
        _show_messages(
            self, fay, "Fay (her welcome took the day's slot; the cart reminder waits for tomorrow)", PACED_SECRET
        )
        self._checkout(carla, boots)
        self._restock(run, shopper)
        return carla

    def _restock(self, run: str, shopper: Any) -> None:
        """The catalogue: a sold-out lantern, a customer who asks to be told, the shop's restock (J7)."""
        gus = f"gus-{run}"
        lantern = {
            "id": f"lantern-{run}",
            "title": "Storm lantern",
            "link": f"https://fast.shop.example/p/lantern-{run}",
            "image_link": f"https://fast.shop.example/p/lantern-{run}.jpg",
            "price": "39.00 EUR",
            "availability": "out_of_stock",
            "quantity": 0,
        }
        self.step(12, "Fast shop: its catalogue says the storm lantern is sold out; Gus taps 'notify me'")
        status, answer = self.request("POST", "/v1/catalog", {"products": [lantern]}, key=FAST_SECRET)
        self.out(f"   POST /v1/catalog -> {status} created {answer.get('created')}")
        asked = _track("Back In Stock Requested", {"product_id": lantern["id"]}, userId=gus)
        self.send("/v1/batch", {"batch": [*shopper(gus, "Gus", "en-GB"), asked]}, key=FAST_KEY)
        self.step(13, "Fast shop: the lantern is back in stock; the restock fan-out tells everyone who waits")
        restock = {"products": [{"id": lantern["id"], "availability": "in_stock", "quantity": 25}]}
        status, answer = self.request("POST", "/v1/catalog", restock, key=FAST_SECRET)
        for change in answer.get("changes", []):
            self.out(f"   POST /v1/catalog -> {status}: {change['field']} {change['from']} -> {change['to']}")
        self.wait_idle(timeout=60, timers=True)
        _show_messages(self, gus, "Gus")
        hana = f"hana-{run}"
        self.step(14, "Fast shop: Hana (German) looks at the lantern; the shop puts it on sale at 20 % off")
        looked = _track("Product Viewed", {"product_id": lantern["id"], "name": "Sturmlaterne"}, userId=hana)
        self.send("/v1/batch", {"batch": [*shopper(hana, "Hana", "de-DE"), looked]}, key=FAST_KEY)
        sale = {"products": [{"id": lantern["id"], "sale_price": "31.20 EUR"}]}
        status, answer = self.request("POST", "/v1/catalog", sale, key=FAST_SECRET)
        for change in answer.get("changes", []):
            self.out(f"   POST /v1/catalog -> {status}: {change['field']} {change['from']} -> {change['to']}")
        self.wait_idle(timeout=60, timers=True)
        _show_messages(self, hana, "Hana (a sweep of the shop's customers found her view)")
        self._almost_buyers(run, shopper, str(lantern["id"]))

    def _almost_buyers(self, run: str, shopper: Any, lantern: str) -> None:
        """Browse abandonment with low stock, and the free-shipping gap with products that close it."""
        ida, jon, mug = f"ida-{run}", f"jon-{run}", f"mug-{run}"
        self.step(
            15, "Fast shop: 3 lanterns left; Jon looks at one and leaves without carting (reminder due 3 s later)"
        )
        self.request("POST", "/v1/catalog", {"products": [{"id": lantern, "quantity": 3}]}, key=FAST_SECRET)
        looked = _track("Product Viewed", {"product_id": lantern, "name": "Storm lantern", "price": 31.2}, userId=jon)
        self.send("/v1/batch", {"batch": [*shopper(jon, "Jon", "en-GB"), looked]}, key=FAST_KEY)
        self.step(16, "Fast shop (free shipping from €50): Ida, in the app, views a €39.90 cart")
        enamel = {
            "id": mug,
            "title": "Enamel mug",
            "link": f"https://fast.shop.example/p/{mug}",
            "price": "39.90 EUR",
            "availability": "in_stock",
            "related": [lantern],
        }
        self.request("POST", "/v1/catalog", {"products": [enamel]}, key=FAST_SECRET)
        cart = {"cart_id": f"web-{run}", "products": [{"product_id": mug, "name": "Enamel mug", "price": 39.9}]}
        batch = [
            *shopper(ida, "Ida", "en-GB"),
            _consent(ida, "in_app", "granted", "app-settings", "privacy-2026-09"),
            _track("Application Installed", {"version": "4.2"}, userId=ida),
            _track("Cart Viewed", cart, userId=ida),
        ]
        self.send("/v1/batch", {"batch": batch}, key=FAST_KEY)
        self.out("   ... waiting 4 s of wall time for Jon's reminder ...")
        time.sleep(4)
        self.wait_idle(timeout=60, timers=True)
        _show_messages(self, jon, "Jon")
        _show_messages(
            self, ida, "Ida (her in-app inbox: the exact gap, and a product from the catalogue that closes it)"
        )
        import os

        from shared.adapters.channels import InboxStore

        for item in InboxStore(os.environ["CUSTOMERS_TABLE"]).list("fast", f"u:{ida}"):  # the local stack's table
            self.out(f"     inbox: {item.title!r} - {item.text!r}")
        self._audiences(run, shopper)

    def _audiences(self, run: str, shopper: Any) -> None:
        """A campaign to a segment (J12) and a birthday (J9), both sweeps of the shop's customers on the fan-out
        machine."""
        kim, lou, max_, mia = f"kim-{run}", f"lou-{run}", f"max-{run}", f"mia-{run}"
        self.step(17, "Fast shop: Kim and Lou are gold-tier members (segment gold), Max is not; a campaign to gold")
        batch = []
        for user, name, tier in [(kim, "Kim", "gold"), (lou, "Lou", "gold"), (max_, "Max", "silver")]:
            batch += [*shopper(user, name, "en-GB"), _identify(user, {"tier": tier})]
        self.send("/v1/batch", {"batch": batch}, key=FAST_KEY)
        campaign = {
            "id": f"gold-week-{run}",
            "segment": "gold",
            "template": "welcome_loyalty",
            "send_at": datetime.now(UTC).isoformat(),
            "rate_per_second": 10,
        }
        status, answer = self.request("POST", "/v1/campaigns", campaign, key=FAST_SECRET)
        self.out(f"   POST /v1/campaigns -> {status} {answer.get('status')}")
        self.wait_idle(timeout=90, timers=True)
        status, answer = self.request("GET", f"/v1/campaigns/{campaign['id']}", key=FAST_SECRET)
        progress = answer.get("progress", {})
        shown = {k: progress.get(k) for k in ("members", "sent", "suppressed", "parts_done")}
        self.out(f"   GET /v1/campaigns/{campaign['id']} -> {status} {answer.get('status')} {json.dumps(shown)}")
        for user, label in [(kim, "Kim"), (max_, "Max (not gold: nothing)")]:
            _show_messages(self, user, label)

        today = datetime.now(UTC).date()
        self.step(18, f"Fast shop: Mia's birthday is today ({today:%d %B}); the day's birthday sweep greets her")
        self.send(
            "/v1/batch",
            {"batch": [*shopper(mia, "Mia", "en-GB"), _identify(mia, {"birthday": f"1994-{today:%m-%d}"})]},
            key=FAST_KEY,
        )
        self.out("   (the daily schedule at 12:00 UTC sweeps the next day; today's ran before Mia signed up, so the")
        self.out("    shop runs today's again, as after a missed day: POST /v1/date-sweeps, or nudge dates run)")
        status, answer = self.request("POST", "/v1/date-sweeps", {"day": today.isoformat()}, key=FAST_SECRET)
        self.out(f"   POST /v1/date-sweeps -> {status} {answer.get('day')}")
        self.wait_idle(timeout=90, timers=True)
        _show_messages(self, mia, "Mia")

    def report(self) -> None:
        """What the fast shop's journeys earned today, as the journey report says (``nudge report`` prints the same
        and draws its charts)."""
        from infra.report_cli import journey_tables

        self.step(19, "Fast shop: the journey report (GET /v1/reports/journeys): sent, engaged, credited, uplift")
        status, report = self.request("GET", "/v1/reports/journeys", key=FAST_SECRET)
        if status != 200:
            self.out(f"   GET /v1/reports/journeys -> {status} {report}")
            return
        for line in journey_tables(report).splitlines():
            self.out(f"   {line}")

    def preference_centre(self, user: str) -> None:
        """The customer's own page, as she reaches it: the link in the footer of the reminder she got."""
        self.step(20, "Fast shop: Carla follows the preference link in her reminder's footer and switches e-mail off")
        mails = self.mails(f"{user}@example.com") if self.mails is not None else []
        texts = [mail.get_body(("plain",)).get_content() for mail in mails]
        links = [link for text in texts for link in re.findall(r"https?://[^\s<>\"']+/p/[A-Za-z0-9_.-]+", text)]
        if not links:
            self.out("   no e-mail with a preference link reached Carla")
            return
        status, page = _html("GET", links[0])
        boxes = re.findall(r'<input type="checkbox" name="([a-z_]+)" value="([^"]*)"( checked)?>', page)
        labels = [("a 30-day pause" if name == "pause" else value, bool(on)) for name, value, on in boxes]
        shown = ", ".join(f"{label} {'on' if on else 'off'}" for label, on in labels)
        title = re.search(r"<h1>([^<]*)</h1>", page)
        self.out(f'   GET /p/... -> {status} "{title.group(1) if title else ""}": {shown}')
        status, page = _html("POST", links[0], b"shown_channel=email")  # the e-mail box unticked, saved
        title = re.search(r"<h1>([^<]*)</h1>", page)
        self.out(f'   POST /p/... (e-mail off) -> {status} "{title.group(1) if title else ""}"')
        self.wait_idle()
        status, body = self.request("GET", f"/v1/customers/{user}", key=FAST_SECRET)
        record = body["consent"]["email"] if status == 200 else None
        if record:
            self.out(f"   consent   email {record['status']} ({record['source']})")

    def _checkout(self, user: str, product: dict[str, Any]) -> None:
        """The shop's checkout checks the code of the customer's cart offer, she orders with it, it checks again."""
        offered = [m for m in _messages(self, user)["messages"] if m["template"] == "cart_offer"]
        code = offered[0]["details"].get("offer_code") if offered else None
        if not code:
            self.out("   (no cart offer was sent, so there is no code to check)")
            return
        self.step(11, f"Fast shop: the checkout checks Carla's code {code}; she orders with it; it checks again")
        self._check_code(code)
        order = {"order_id": f"o-{code[-4:]}", "revenue": 80.91, "coupon": code, "products": [product]}
        self.send("/v1/track", _track("Order Completed", order, userId=user), key=FAST_KEY)
        self._check_code(code)
        status, body = self.request("GET", f"/v1/customers/{user}/timeline?limit=5", key=FAST_SECRET)
        credited = [item for item in body.get("timeline", []) if item["kind"] == "order"] if status == 200 else []
        for item in credited[:1]:
            self.out(
                f"   GET /v1/customers/{user}/timeline -> the order, credited to {json.dumps(item['credited_to'])}"
            )

    def _check_code(self, code: str) -> None:
        status, body = self.request("GET", f"/v1/offers/{code}", key=FAST_SECRET)
        keep = ("status", "customer", "percent", "expires_at", "order_id")
        self.out(f"   GET /v1/offers/{code} -> {status} {json.dumps({k: body.get(k) for k in keep})}")

    # ------------------------------------------------------------ the story
    def run(self) -> dict[str, float]:
        """Play the story; returns the measured figures."""
        anna_anon = f"anon-{uuid.uuid4().hex[:8]}"
        now = datetime.now(UTC)
        web = {"locale": "de-DE", "timezone": "Europe/Berlin", "userAgent": "Mozilla/5.0"}

        self.step(1, "Anna browses the web shop anonymously and puts a shoe in her cart")
        self.send(
            "/v1/batch",
            {
                "batch": [
                    _track("Product Viewed", RAIN_JACKET, anonymousId=anna_anon),
                    _track("Product Viewed", TRAIL_RUNNER, anonymousId=anna_anon),
                    _track("Product Added", {**TRAIL_RUNNER, "cart_id": "web-1"}, anonymousId=anna_anon),
                ],
                "context": web,
            },
        )
        self.show(anna_anon, "visitor")

        self.step(2, "Anna signs up: identify joins her browsing to her account; she opts in to e-mail")
        self.send(
            "/v1/identify",
            {
                "userId": "anna",
                "anonymousId": anna_anon,
                "traits": {"firstName": "Anna", "email": "anna@example.com"},
                "context": web,
                "messageId": _id(),
            },
        )
        self.send("/v1/track", _consent("anna", "email", "granted", "signup-form", "privacy-2026-09"))
        self.show("anna", "customer anna")

        self.step(3, "Anna's phone loses the connection and retries 'Product Added' with the same messageId")
        retry = _track("Product Added", {**RAIN_JACKET, "cart_id": "web-1"}, userId="anna")
        self.send("/v1/track", retry)
        self.send("/v1/track", retry)
        self.show("anna", "customer anna (the jacket is in the cart once)")

        self.step(4, "Ben installs the app, allows push, and buys two things; his clock is 3 minutes fast")
        fast = now + timedelta(minutes=3)
        app = {"device": {"token": "fcm-" + uuid.uuid4().hex, "type": "android"}, "timezone": "Europe/Vienna"}
        self.send(
            "/v1/batch",
            {
                "batch": [
                    _track("Application Installed", {}, userId="ben", context=app),
                    _consent("ben", "push", "granted", "app-permission-prompt", "app-3.2"),
                    _track("Product Added", {**WOOL_SOCKS, "quantity": 2}, userId="ben"),
                    _track("Product Added", TRAIL_RUNNER, userId="ben"),
                    _track(
                        "Order Completed",
                        {
                            "order_id": "o-1001",
                            "revenue": 114.90,
                            "currency": "EUR",
                            "products": [{**WOOL_SOCKS, "quantity": 2}, TRAIL_RUNNER],
                        },
                        userId="ben",
                        timestamp=fast.isoformat(),
                    ),
                ],
                "sentAt": fast.isoformat(),
            },
        )
        self.show("ben", "customer ben (order closed his cart)")

        self.step(5, "A buggy client sends a batch with one broken event: the whole batch is refused")
        self.send(
            "/v1/batch",
            {
                "batch": [
                    _track("Product Added", RAIN_JACKET, userId="ben"),
                    _track("Product Added", {**RAIN_JACKET, "price": -1}, userId="ben"),
                    {"type": "track", "userId": "ben", "messageId": _id()},
                ]
            },
        )
        self.show("ben", "customer ben (unchanged)")

        self.step(6, "Someone tries another shop's key, and the public write key on the support API")
        self.send("/v1/track", _track("Product Viewed", RAIN_JACKET, userId="ben"), key="someone-elses-key")
        status, _ = self.request("GET", "/v1/customers/ben", key=WRITE_KEY)
        self.out(f"   GET /v1/customers/ben with the write key -> {status}")

        self.step(7, "Anna withdraws her e-mail consent in her account settings on the shop (Consent Updated)")
        self.send("/v1/track", _consent("anna", "email", "withdrawn", "account-settings", "privacy-2026-09"))
        self.show("anna", "customer anna")

        carla = self.journeys()
        self.report()
        self.preference_centre(carla)

        writes = self.meter.count("dynamodb", WRITE_OPERATIONS)
        reads = self.meter.count("dynamodb", READ_OPERATIONS)
        per_event = writes / self.accepted if self.accepted else 0.0
        sizes = self.meter.item_sizes
        self.out("\nSummary")
        self.out(f"   events accepted by ingest   {self.accepted}")
        self.out(f"   DynamoDB write requests     {writes}  ({per_event:.2f} per accepted event; duplicates cost none)")
        self.out(f"   DynamoDB read requests      {reads}")
        if sizes:
            self.out(f"   item size written           max {max(sizes)} B, mean {sum(sizes) / len(sizes):.0f} B")
        executions = self.meter.count("stepfunctions", frozenset({"StartExecution"}))
        self.out(f"   timer executions started    {executions}  ({executions / max(1, self.accepted):.2f} per event)")
        sends = self.meter.count("sesv2") + self.meter.count("sns", frozenset({"Publish"}))
        self.out(
            f"   provider calls (SES, SNS)   {sends}; SMS/WhatsApp to the local provider endpoints: "
            f"{len(self.providers.messages) if self.providers else 0}"
        )
        return {"accepted": self.accepted, "writes": writes, "writes_per_event": per_event}


def _messages(demo: Demo, user: str, key: str = FAST_SECRET) -> dict[str, Any]:
    status, body = demo.request("GET", f"/v1/customers/{user}/messages", key=key)
    return body if status == 200 else {"messages": [], "journey_log": []}


def _show_messages(demo: Demo, user: str, label: str, key: str = FAST_SECRET) -> None:
    body = _messages(demo, user, key)
    demo.out(f"   {label}: what support sees at GET /v1/customers/{user}/messages")
    for message in sorted(body["messages"], key=lambda m: m["created_at"] or ""):
        where = f" on {message['channel']}" if message["channel"] else ""
        why = f" ({message['reason']})" if message["reason"] else ""
        if message["details"].get("deferred_until"):
            why += f" until {message['details']['deferred_until']}"
        title = f' "{message["title"]}"' if message["title"] else ""
        demo.out(
            f"     {message['journey']} step {message['step']} {message['template']}: {message['status']}"
            f"{where}{why}{title}"
        )
    for entry in reversed(body["journey_log"]):
        if entry["outcome"] in ("exited", "not_entered", "skipped"):
            demo.out(f"     journey log: {entry['journey']} {entry['outcome']} ({entry['reason']})")
    if not body["messages"]:
        demo.out("     no messages")


def _html(method: str, url: str, data: bytes | None = None) -> tuple[int, str]:
    """A page as a browser gets it (a form POST for ``data``): status and HTML."""
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _id() -> str:
    return str(uuid.uuid4())


def _identify(user: str, traits: dict[str, Any]) -> dict[str, Any]:
    """Traits of a known customer (her zone UTC: the fast shop greets at 00:00 in the customer's zone)."""
    return {"type": "identify", "userId": user, "traits": traits, "context": {"timezone": "UTC"}, "messageId": _id()}


def _track(event: str, properties: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "properties": properties, "messageId": _id(), **fields}


def _consent(user: str, channel: str, status: str, source: str, notice: str) -> dict[str, Any]:
    properties = {"channel": channel, "status": status, "source": source, "notice_version": notice}
    return _track("Consent Updated", properties, userId=user)


def _masked(traits: dict[str, Any]) -> str:
    shown = []
    for name, value in traits.items():
        text = str(value)
        if name in ("email", "phone"):
            text = text[:2] + "***" + (text[text.index("@") :] if "@" in text else "")
        shown.append(f"{name}={text}")
    return " ".join(shown)
