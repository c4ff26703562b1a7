"""Random customer histories for the pure core, and a small discrete-event world that plays them.

A history is what shops report about one customer (cart changes, orders, refunds, consent changes, app installs) plus
the delivery feedback providers send (unsubscribe clicks, STOP replies, complaints, bounces). The world plays every
customer's history the way production does, in virtual time:

- each queued event (a shop's event, a timer wake-up, feedback) is decided by ``decide`` at its arrival time;
- a ``StartTimer`` puts its timer event back in the customer's stream at ``due_at`` (Step Functions starts one
  execution per name, with the wake-ups it carries, so a name armed twice fires once);
- a ``Send`` reaches the channel router a little later, which reads the customer's state *then* and asks the pure
  ``route`` which channel may carry it; a send ledger keyed by message id lets each message out once;
- under redelivery, every queued event and every outbox message may be delivered 1-3 times: a copy right after the
  original (SQS redelivering message k before k+1), or a late copy after later events (a client retry past the FIFO
  five-minute window), always inside the 26 h dedupe window.

Alongside, the world keeps its own record of every consent choice it delivered (an oracle that does not read the
state), so a send can be checked against the customer's latest expressed choice at the moment it goes out.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from infra.admin import load_config
from shared.core.customer import decide
from shared.core.routing import reopens_at, route
from shared.models.config import ShopConfig
from shared.models.effects import Send, StartTimer
from shared.models.events import FeedbackEvent, SegmentEvent, TimerEvent
from shared.models.messages import OutboxMessage
from shared.models.state import CustomerState
from tests.factories import T0, accepted

ROOT = Path(__file__).resolve().parents[2]
# The demo shop as shipped: every channel configured, the five preset journeys with their real waits.
DEMO: ShopConfig = load_config(ROOT / "events" / "demo-shop.yaml")
CHANNELS = ("push", "whatsapp", "email", "sms", "in_app")
DEDUPE_SAFE = timedelta(hours=24)  # late copies arrive inside the 26 h dedupe window
AFTER_LAST_EVENT = timedelta(days=45)  # timers still fire this long after a customer's last event

# ---------------------------------------------------------------- what happens to a customer


@dataclass(frozen=True)
class Action:
    """One thing reported about a customer: ``gap`` after the previous one; it happened ``backdate`` before it
    arrived (late, retried or imported events)."""

    kind: str
    args: tuple[Any, ...]
    gap: timedelta
    backdate: timedelta = timedelta(0)


_gaps = st.one_of(
    st.integers(0, 59).map(lambda s: timedelta(seconds=s)),
    st.integers(1, 180).map(lambda m: timedelta(minutes=m)),
    st.integers(1, 72).map(lambda h: timedelta(hours=h)),
    st.integers(1, 20).map(lambda d: timedelta(days=d)),
)
_backdates = st.one_of(
    st.just(timedelta(0)),
    st.just(timedelta(0)),
    st.just(timedelta(0)),
    st.integers(1, 36 * 60).map(lambda m: timedelta(minutes=m)),
)
_carts = st.sampled_from(["c1", "c2", None])
_products = st.sampled_from(["p1", "p2", "p3"])
_orders = st.sampled_from(["o1", "o2", "o3"])
_channels = st.sampled_from(CHANNELS)


def _action(kind: str, args: st.SearchStrategy[tuple[Any, ...]], late: bool = True) -> st.SearchStrategy[Action]:
    return st.builds(Action, st.just(kind), args, _gaps, _backdates if late else st.just(timedelta(0)))


def actions(late_consent: bool = False, feedback: bool = True) -> st.SearchStrategy[Action]:
    """One reported action. ``late_consent``: consent choices may arrive late (backdated); ``feedback``: provider
    feedback (unsubscribe clicks, STOP, complaints, bounces, dead push tokens) is among them."""
    kinds = [
        _action("identify", st.tuples(st.booleans(), st.booleans())),  # (with email, with phone)
        _action("add", st.tuples(_carts, _products, st.integers(1, 3))),
        _action("remove", st.tuples(_carts, _products)),
        _action("view", st.tuples(_products)),
        _action("checkout", st.tuples(_carts)),
        _action("order", st.tuples(_orders, _carts)),
        _action("refund", st.tuples(_orders)),
        _action("cancel", st.tuples(_orders)),
        _action("consent", st.tuples(_channels, st.sampled_from(["granted", "withdrawn"])), late_consent),
        _action("consent", st.tuples(_channels, st.just("granted")), late_consent),  # grants are common
        _action("newsletter", st.tuples(st.booleans()), late_consent),
        _action("install", st.tuples(st.sampled_from(["ios", "android"]))),
        _action("open", st.tuples()),
        _action("uninstall", st.tuples()),
    ]
    if feedback:
        reasons = st.sampled_from(["unsubscribe_link", "complaint", "sms_opt_out", "hard_bounce", "push_dead"])
        kinds.append(_action("feedback", st.tuples(reasons)))
    return st.one_of(kinds)


def customers(
    max_customers: int = 8, max_actions: int = 18, late_consent: bool = False, feedback: bool = True
) -> st.SearchStrategy[list[list[Action]]]:
    """Histories of several customers of the demo shop (see :func:`actions`).

    A history starts as a shop's customers do: an identify (with or without email and phone), a few consent grants,
    then anything. Provider feedback is about a message nudge sent, so it never comes first (feedback or a timer
    about a customer nudge does not know is ignored, by design).
    """
    signup = st.builds(Action, st.just("identify"), st.tuples(st.booleans(), st.booleans()), _gaps)
    grants = st.lists(_action("consent", st.tuples(_channels, st.just("granted")), late_consent), max_size=3)
    rest = st.lists(actions(late_consent, feedback), max_size=max_actions)
    history = st.builds(lambda first, granted, then: [first, *granted, *then], signup, grants, rest)
    return st.lists(history, min_size=1, max_size=max_customers)


# ---------------------------------------------------------------- actions as queued events


@dataclass(frozen=True)
class Reported:
    """An action turned into what the events queue carries, with its arrival time."""

    event: SegmentEvent | FeedbackEvent
    arrival: datetime


def user_of(index: int) -> str:
    return f"cust{index}"


def email_of(user: str) -> str:
    return f"{user}@example.com"


def phone_of(user: str) -> str:
    return "+49151" + str(int(hashlib.sha256(user.encode()).hexdigest(), 16))[:7]


def reported(index: int, history: list[Action], start: datetime = T0) -> list[Reported]:
    """The queued events of customer ``index``'s history, in arrival order. Event times are unique (microseconds)."""
    user = user_of(index)
    arrival = start + timedelta(minutes=index)
    out = []
    for number, action in enumerate(history):
        arrival += action.gap + timedelta(seconds=1)
        occurred = arrival - action.backdate - timedelta(microseconds=number + 1)
        message_id = f"{user}-{number}"
        if action.kind == "feedback":
            out.append(Reported(_feedback(user, message_id, action.args[0], occurred, arrival), arrival))
        else:
            message = {"userId": user, "messageId": message_id, "timestamp": occurred.isoformat()}
            message.update(_message(user, action))
            out.append(Reported(accepted(message, arrival), arrival))
    return out


def _product(product_id: str, cart: str | None, quantity: int = 1) -> dict[str, Any]:
    found = {"product_id": product_id, "name": f"Product {product_id}", "price": 10.0, "quantity": quantity}
    if cart:
        found["cart_id"] = cart
    return found


def _track(event: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "properties": properties, **extra}


def _message(user: str, action: Action) -> dict[str, Any]:
    args = action.args
    match action.kind:
        case "identify":
            traits: dict[str, Any] = {"firstName": "Kim"}
            if args[0]:
                traits["email"] = email_of(user)
            if args[1]:
                traits["phone"] = phone_of(user)
            return {"type": "identify", "traits": traits, "context": {"timezone": "Europe/Berlin"}}
        case "add":
            return _track("Product Added", _product(args[1], args[0], args[2]))
        case "remove":
            return _track("Product Removed", _product(args[1], args[0]))
        case "view":
            return _track("Product Viewed", _product(args[0], None))
        case "checkout":
            return _track("Checkout Started", {"cart_id": args[0]} if args[0] else {})
        case "order":
            properties: dict[str, Any] = {"order_id": args[0], "revenue": 42.0, "products": [_product("p1", None)]}
            if args[1]:
                properties["cart_id"] = args[1]
            return _track("Order Completed", properties)
        case "refund":
            return _track("Order Refunded", {"order_id": args[0]})
        case "cancel":
            return _track("Order Cancelled", {"order_id": args[0]})
        case "consent":
            properties = {"channel": args[0], "status": args[1], "source": "prefs", "notice_version": "v1"}
            return _track("Consent Updated", properties)
        case "newsletter":
            return _track("Newsletter Subscribed" if args[0] else "Newsletter Unsubscribed", {})
        case "install":
            device = {"token": f"tok-{user}-{args[0]}", "type": args[0]}
            return _track("Application Installed", {}, context={"device": device})
        case "open":
            return _track("Application Opened", {})
        case "uninstall":
            return _track("Application Uninstalled", {})
    raise AssertionError(action.kind)


_FEEDBACK = {
    "unsubscribe_link": ("email", "unsubscribe_link", "unsubscribe-link"),
    "complaint": ("email", "complaint", "ses-complaint"),
    "sms_opt_out": ("sms", "sms_opt_out", "sms-reply-stop"),
    "hard_bounce": ("email", "hard_bounce", "ses-bounce"),
    "push_dead": ("push", "push_endpoint_disabled", "sns-push-event"),
}


def _feedback(user: str, message_id: str, kind: str, occurred: datetime, arrival: datetime) -> FeedbackEvent:
    channel, reason, source = _FEEDBACK[kind]
    address = {"email": email_of(user), "sms": phone_of(user), "push": f"tok-{user}-android"}[channel]
    return FeedbackEvent.model_validate(
        {
            "shop_id": "demo",
            "customer": f"u:{user}",
            "channel": channel,
            "reason": reason,
            "address": address,
            "source": source,
            "feedback_id": message_id,
            "occurred_at": occurred,
            "received_at": arrival,
        }
    )


# ---------------------------------------------------------------- the consent oracle

_WITHDRAWING_FEEDBACK = {"unsubscribe_link": "email", "complaint": "email", "sms_opt_out": "sms"}


def expressed_choices(event: SegmentEvent | FeedbackEvent | TimerEvent) -> list[tuple[str, str, datetime]]:
    """(channel, granted|withdrawn, when) of every consent choice ``event`` expresses: read from the event alone."""
    if isinstance(event, TimerEvent):
        return []
    if isinstance(event, FeedbackEvent):
        channel = _WITHDRAWING_FEEDBACK.get(event.reason)
        return [(channel, "withdrawn", event.occurred_at)] if channel else []
    message = event.message
    name = getattr(message, "event", None)
    if name == "Consent Updated":
        properties = message.properties  # type: ignore[union-attr]
        return [(properties.channel, properties.status, event.occurred_at)]
    if name in ("Newsletter Subscribed", "Newsletter Unsubscribed"):
        return [("email", "granted" if name == "Newsletter Subscribed" else "withdrawn", event.occurred_at)]
    return []


@dataclass
class ConsentOracle:
    """Every consent choice delivered so far, per customer and channel: the one in force is the latest by event time
    (the rule docs/DESIGN.md states), computed without reading the customer state."""

    choices: dict[tuple[str, str], list[tuple[datetime, str]]] = field(default_factory=dict)

    def record(self, customer: str, event: SegmentEvent | FeedbackEvent | TimerEvent) -> None:
        for channel, status, at in expressed_choices(event):
            self.choices.setdefault((customer, channel), []).append((at, status))

    def allows(self, customer: str, channel: str) -> bool:
        made = self.choices.get((customer, channel))
        return bool(made) and max(made)[1] == "granted"


# ---------------------------------------------------------------- the world


@dataclass
class Delivery:
    """The router let ``message_id`` out on ``channel`` at ``at``; ``allowed``: the oracle's consent then."""

    message_id: str
    customer: str
    channel: str
    at: datetime
    allowed: bool


@dataclass
class Outcome:
    """What a run produced."""

    states: dict[str, CustomerState | None]
    sends: list[OutboxMessage]
    timers_started: list[str]
    deliveries: list[Delivery]
    duplicates_ignored: int = 0
    ledger_refusals: int = 0
    decisions: int = 0
    consent_changes_while_timer_pending: int = 0
    router_runs: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)

    def sent_twice(self) -> list[str]:
        return [mid for mid, n in Counter(d.message_id for d in self.deliveries).items() if n > 1]


@dataclass(frozen=True)
class Redelivery:
    """How often each queued event and outbox message is delivered: ``copies`` extra deliveries each (0-2), a copy
    either right after the original or late (up to ``DEDUPE_SAFE`` after it)."""

    seed: int
    enabled: bool = True

    def copies(self, rng: random.Random) -> list[timedelta]:
        if not self.enabled:
            return []
        extra = rng.choice((0, 0, 1, 2))
        return [
            timedelta(0) if rng.random() < 0.5 else timedelta(seconds=rng.randint(1, int(DEDUPE_SAFE.total_seconds())))
            for _ in range(extra)
        ]


def _lag(name: str, most: int) -> timedelta:
    """A fixed pseudo-random latency per name (the same in every run of the same history)."""
    return timedelta(seconds=int(hashlib.sha256(name.encode()).hexdigest(), 16) % (most + 1))


def play(
    histories: list[list[Action]],
    config: ShopConfig = DEMO,
    redelivery: Redelivery | None = None,
    only: int | None = None,
) -> Outcome:
    """Play every customer's history (``only``: just that customer's) through ``decide`` and ``route`` in virtual
    time; see the module docstring."""
    redelivery = redelivery or Redelivery(seed=0, enabled=False)
    rng = random.Random(redelivery.seed)
    sequence = itertools.count()
    agenda: list[tuple[datetime, int, str, Any]] = []

    def at(moment: datetime, kind: str, payload: Any) -> None:
        heapq.heappush(agenda, (moment, next(sequence), kind, payload))

    horizon: dict[str, datetime] = {}
    for index, history in enumerate(histories):
        if only is not None and index != only:
            continue
        items = reported(index, history)
        for item in items:
            at(item.arrival, "event", (item.event, True))
        horizon[f"u:{user_of(index)}"] = items[-1].arrival + AFTER_LAST_EVENT

    states: dict[str, CustomerState | None] = {customer: None for customer in horizon}
    oracle = ConsentOracle()
    outcome = Outcome(states=states, sends=[], timers_started=[], deliveries=[])
    armed: set[str] = set()
    ledger: set[str] = set()

    while agenda:
        now, _, kind, payload = heapq.heappop(agenda)
        if kind == "event":
            event, original = payload
            customer = event.customer
            if now > horizon[customer]:
                continue
            if original:
                oracle.record(customer, event)
                state = states[customer]
                if expressed_choices(event) and state is not None and any(i.timer_id for i in state.journeys):
                    outcome.consent_changes_while_timer_pending += 1
                for delay in redelivery.copies(rng):
                    at(now + delay, "event", (event, False))
            decision = decide(states[customer], event, now, config)
            outcome.decisions += 1
            if decision.state is None:  # a duplicate, or a quiet page view: nothing kept
                outcome.duplicates_ignored += decision.duplicate
                continue
            states[customer] = decision.state
            started: set[str] = set()
            for effect in decision.effects:
                if isinstance(effect, StartTimer):
                    timer = effect.event
                    outcome.timers_started.append(timer.timer_id)
                    name = timer.execution_name
                    if name not in armed or name in started:  # one execution per name, with its wake-ups
                        armed.add(name)
                        started.add(name)
                        at(timer.due_at + _lag(timer.timer_id, 5), "event", (timer, True))
                elif isinstance(effect, Send):  # the others list, count or credit (aggregates, reports): no message
                    message = effect.message
                    outcome.sends.append(message)
                    at(now + _lag(message.message_id, 600), "outbox", (message, True))
        else:
            message, original = payload
            if original:
                for delay in redelivery.copies(rng):
                    at(now + delay, "outbox", (message, False))
            outcome.router_runs += 1
            if message.message_id in ledger:
                outcome.ledger_refusals += 1
                continue
            ledger.add(message.message_id)  # recorded before the provider is called, as the router does
            state = states[message.customer]
            routing = route(state, message, config, now)
            if not routing.candidates:
                status, reason = routing.outcome_if_none
                outcome.suppressed[reason] += 1
                if status == "deferred" and state is not None:  # quiet hours: not final, out again when they end
                    ledger.discard(message.message_id)
                    at(reopens_at(state, config, routing, now), "outbox", (message, False))
                continue
            channel = routing.candidates[0].channel
            allowed = oracle.allows(message.customer, channel)
            outcome.deliveries.append(Delivery(message.message_id, message.customer, channel, now, allowed))
    return outcome
