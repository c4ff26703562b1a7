"""Journeys run by the pure core: who enters, when timers start, what is sent, why a customer left (no I/O)."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from typing import get_args

import pytest
from pydantic import ValidationError

from shared.core.customer import decide, merge
from shared.models import journeys
from shared.models.config import CHANNELS, EmailSettings
from shared.models.effects import Send, StartTimer, Tally
from shared.models.events import FeedbackEvent, TimerEvent
from shared.models.messages import OutboxMessage
from shared.models.state import ConsentRecord, CustomerState
from tests.factories import T0, accepted, consent, identify, minutes, product, shop_config, track

EMAIL = EmailSettings(from_address="hello@demo-shop.example")
EMAIL_CONSENT = ConsentRecord(
    channel="email", status="granted", source="signup-form", notice_version="v3", at=T0, recorded_at=T0, message_id="m0"
)
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def days(n: float) -> timedelta:
    return timedelta(days=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


class Customer:
    """One customer driven like the updater drives the core: decide, keep the state, collect the effects."""

    def __init__(self, journeys: dict, user: str = "u1", reachable: bool = True) -> None:
        """A customer of a shop that sends email, whom nudge can reach by email (consent and address known before
        the story starts) unless ``reachable`` is False."""
        config = shop_config(journeys)
        self.config = config.model_copy(update={"channels": config.channels.model_copy(update={"email": EMAIL})})
        self.user = user
        self.state: CustomerState | None = None
        if reachable:
            self.state = CustomerState(user_id=user, traits={"email": f"{user}@example.com"}, consents=[EMAIL_CONSENT])
        self.timers: list[TimerEvent] = []  # every StartTimer (one per wake-up), in order
        self.sent: list[OutboxMessage] = []
        self.fired: set[str] = set()

    def does(self, message: dict, at=T0):
        """The shop reports ``message`` happening (and arriving) at ``at``."""
        return self.apply(accepted({"userId": self.user, **message}, at), at)

    def apply(self, event, now):
        decision = decide(self.state, event, now, self.config)
        self.state = decision.state or self.state
        for effect in decision.effects:
            if isinstance(effect, StartTimer):
                self.timers.append(effect.event)
            elif isinstance(effect, Send):  # the rest counts or records (the shop's aggregates, reports): no message
                self.sent.append(effect.message)
        return decision

    def fire(self, timer: TimerEvent | None = None, late: timedelta = timedelta(0)):
        """A wake-up (default: the earliest due of those not fired yet) comes back into the customer's queue at its
        due time, as the timer state machine sends it."""
        timer = timer or min((t for t in self.timers if t.timer_id not in self.fired), key=_due)
        self.fired.add(timer.timer_id)
        return self.apply(timer, timer.due_at + late)

    def pending(self) -> list[TimerEvent]:
        """Started wake-ups an instance waits on next (the others wake up to nothing, or come later)."""
        armed = {i.timer_id for i in self.state.journeys}
        return [t for t in self.timers if t.timer_id in armed]

    def executions(self) -> dict[str, list[datetime]]:
        """Each execution started (Step Functions names one per execution), with its wake-ups' due times."""
        started: dict[str, list[datetime]] = {}
        for timer in self.timers:
            started.setdefault(timer.execution_name, []).append(timer.due_at)
        return started

    def run_timers_until(self, until):
        """Fire every timer not fired yet that is due by ``until``, in due order (timers armed meanwhile included)."""
        while True:
            due = sorted((t for t in self.timers if t.timer_id not in self.fired and t.due_at <= until), key=_due)
            if not due:
                return
            self.fire(due[0])

    def log(self, journey: str | None = None) -> list[tuple[str, str]]:
        return [(e.outcome, e.reason) for e in self.state.journey_log if journey in (None, e.journey)]

    def instances(self, journey: str):
        return [i for i in self.state.journeys if i.journey == journey]


def _due(timer: TimerEvent):
    return timer.due_at


def added(product_id: str, cart: str = "c1", **extra) -> dict:
    return track("Product Added", product(product_id, cart_id=cart, **extra))


def removed(product_id: str, cart: str = "c1") -> dict:
    return track("Product Removed", product(product_id, cart_id=cart))


def order(order_id: str = "o1", cart: str | None = "c1", categories: tuple[str, ...] = ("shoes",)) -> dict:
    products = [product(f"p-{c}", category=c) for c in categories]
    properties = {"order_id": order_id, "revenue": 42.0, "products": products}
    if cart:
        properties["cart_id"] = cart
    return track("Order Completed", properties)


# ---------------------------------------------------------------- J1 cart abandonment

CART = {"cart_abandonment": {}}


def test_a_cart_starts_one_instance_and_one_execution_that_wakes_it_for_the_reminder_and_the_offer():
    customer = Customer(CART)

    decision = customer.does(added("a"))

    assert [type(e) for e in decision.effects if not isinstance(e, Tally)] == [StartTimer, StartTimer]
    reminder, offer = customer.timers
    assert reminder.due_at == T0 + hours(1) and reminder.journey == "cart_abandonment" and reminder.step == 0
    assert offer.due_at == T0 + hours(1) + days(1) and offer.step == 1
    assert customer.executions() == {reminder.timer_id: [reminder.due_at, offer.due_at]}
    assert EXECUTION_NAME.match(reminder.execution_name) and len(reminder.execution_name) <= 80
    # each wake-up its own id (its FIFO deduplication id)
    assert reminder.timer_id != offer.timer_id and reminder.message_id != offer.message_id
    assert reminder.customer == "u:u1" and reminder.instance == "cart_abandonment:c1:1"
    assert customer.log() == [("entered", "Product Added")]


def test_cart_changes_while_waiting_start_nothing_and_the_wake_up_rearms_for_the_rest():
    customer = Customer(CART)
    customer.does(added("a"))
    customer.does(added("b"), T0 + minutes(20))
    customer.does(removed("a"), T0 + minutes(40))
    assert len(customer.executions()) == 1  # lazy: activity moved the reference time only

    customer.fire()

    assert customer.sent == []
    _, rearmed = customer.executions().values()
    assert rearmed == [T0 + minutes(100), T0 + minutes(100) + days(1)]
    assert customer.log()[-1][0] == "rearmed" and customer.state.journeys[0].arms == 2

    customer.fire()

    (reminder,) = customer.sent
    assert reminder.template == "cart_reminder" and reminder.variables["cart_id"] == "c1"
    assert [item["product_id"] for item in reminder.variables["items"]] == ["b"]
    assert reminder.variables["items"][0]["name"] == "Product b"


def test_second_step_brings_a_deterministic_time_limited_offer_then_the_journey_completes():
    customer = Customer(CART)
    customer.does(added("a"))
    customer.fire()
    customer.fire()

    reminder, offer = customer.sent
    assert offer.template == "cart_offer" and offer.step == 1
    code = offer.variables["offer"]
    assert re.fullmatch(r"CART[A-Z2-7]{10}", code["code"]) and code["percent"] == 10
    assert code["expires_at"] == "2026-11-05T10:00:00Z"  # due (T0 + 1 h + 1 d) + 2 days
    assert reminder.message_id != offer.message_id
    assert customer.log()[-1] == ("completed", "")
    assert customer.instances("cart_abandonment") == []

    # Deciding the same wake-up again (a retry after a lost write) gives the same message and the same code.
    again = Customer(CART)
    again.does(added("a"))
    again.fire()
    again.fire()
    assert again.sent[1].message_id == offer.message_id and again.sent[1].variables == offer.variables


def test_an_order_before_the_reminder_means_no_reminder_and_both_wake_ups_change_nothing():
    customer = Customer(CART)
    customer.does(added("a"))
    customer.does(order(cart="c1"), T0 + minutes(30))
    assert customer.log()[-1] == ("exited", "Order Completed")

    woke = [customer.fire(), customer.fire()]

    # nothing to send, nothing to save: the updater writes no state for them
    assert [(d.effects, d.state) for d in woke] == [([], None), ([], None)] and customer.sent == []
    assert customer.log()[-1] == ("exited", "Order Completed")


def test_a_wait_the_shop_changes_meanwhile_counts_from_the_next_step_on():
    # Given a cart whose execution carries the offer's wake-up at 1 h + 1 day
    customer = Customer(CART)
    customer.does(added("a"))
    # When the shop makes the offer wait two days before the reminder went out
    longer = [{"wait": "PT1H", "template": "cart_reminder"}, {"wait": "P2D", "template": "cart_offer"}]
    customer.config = Customer({"cart_abandonment": {"steps": longer}}).config
    customer.fire()

    # Then the offer comes at the new time, from a new execution; the old wake-up changes nothing
    assert list(customer.executions().values())[1:] == [[T0 + hours(1) + days(2)]]
    assert customer.fire().state is None
    customer.fire()
    assert [(m.template, m.created_at) for m in customer.sent] == [
        ("cart_reminder", T0 + hours(1)),
        ("cart_offer", T0 + hours(1) + days(2)),
    ]


def test_an_order_without_cart_id_closes_every_cart_journey():
    customer = Customer(CART)
    customer.does(added("a", cart="c1"))
    customer.does(added("b", cart="c2"), T0 + minutes(1))
    assert len(customer.instances("cart_abandonment")) == 2

    customer.does(order(cart=None), T0 + minutes(5))

    assert customer.instances("cart_abandonment") == []


def test_an_emptied_cart_exits_at_once_without_a_second_note():
    customer = Customer(CART)
    customer.does(added("a"))

    customer.does(removed("a"), T0 + minutes(10))

    assert customer.instances("cart_abandonment") == []
    assert customer.log() == [("entered", "Product Added"), ("exited", "cart is empty")]
    customer.fire()
    assert customer.sent == []


def test_a_cart_filled_again_after_the_order_starts_a_new_instance():
    customer = Customer(CART)
    customer.does(added("a"))
    customer.does(order(), T0 + minutes(10))

    customer.does(added("b"), T0 + minutes(20))

    (instance,) = customer.instances("cart_abandonment")
    assert instance.seq == 2
    assert list(customer.executions().values())[-1] == [T0 + minutes(80), T0 + minutes(80) + days(1)]


def test_a_duplicate_message_id_makes_one_instance():
    customer = Customer(CART)
    message = {"userId": "u1", **added("a")}
    customer.apply(accepted(message), T0)

    duplicate = customer.apply(accepted(message, T0 + minutes(1)), T0 + minutes(1))

    assert duplicate.duplicate and duplicate.effects == []
    assert len(customer.instances("cart_abandonment")) == 1 and len(customer.executions()) == 1


def test_a_duplicate_wake_up_sends_nothing_twice():
    customer = Customer(CART)
    customer.does(added("a"))
    timer = customer.timers[0]
    customer.fire(timer)

    again = customer.fire(timer, late=minutes(3))

    assert again.duplicate and len(customer.sent) == 1


def test_an_unknown_timer_changes_nothing():
    customer = Customer(CART)
    customer.does(added("a"))
    stranger = customer.timers[0].model_copy(update={"timer_id": "cart_abandonment-9-0-1-zzzz"})

    decision = customer.fire(stranger)

    assert decision.effects == [] and decision.state is None and customer.sent == []
    assert customer.log() == [("entered", "Product Added")]
    customer.run_timers_until(T0 + days(2))  # the real wake-ups still count
    assert [m.template for m in customer.sent] == ["cart_reminder", "cart_offer"]


def test_the_reminder_is_not_sent_when_the_guard_fails_at_wake_up():
    customer = Customer(CART)
    customer.does(added("a", cart="c1"))
    # An order for another cart: the exit event does not match c1, the guard (no order since entry) does.
    customer.does(added("b", cart="c2"), T0 + minutes(5))
    customer.does(order("o9", cart="c2"), T0 + minutes(10))

    customer.fire(customer.timers[0])

    assert customer.sent == []
    assert ("exited", "guard: ordered since entry") in customer.log()


def test_a_backfilled_old_cart_starts_nothing():
    customer = Customer(CART)

    customer.does({**added("a"), "timestamp": (T0 - days(3)).isoformat()}, T0)

    assert customer.timers == [] and customer.log() == [("not_entered", "trigger older than P1D")]


def test_a_timer_for_a_customer_who_is_gone_brings_nothing_back():
    customer = Customer(CART)
    customer.does(added("a"))
    timer = customer.timers[0]

    decision = decide(None, timer, timer.due_at, customer.config)

    assert decision.state is None and decision.effects == []


# ---------------------------------------------------------------- J3 welcome

WELCOME = {"welcome": {}}


@pytest.mark.parametrize(
    "message",
    [
        track("Newsletter Subscribed", {"source": "footer"}),
        consent("email", source="newsletter"),
        track("Application Installed"),
        identify({"email": "anna@example.com"}),
    ],
    ids=["newsletter", "consent-from-newsletter", "app-install", "first-identify"],
)
def test_welcome_starts_on_each_of_its_triggers(message):
    customer = Customer(WELCOME)

    customer.does(message)

    assert len(customer.instances("welcome")) == 1
    assert customer.timers[0].due_at == T0 + minutes(10)


def test_a_consent_from_another_source_is_no_welcome():
    customer = Customer(WELCOME)
    customer.does(consent("email"))  # source: signup-form
    assert customer.instances("welcome") == [] and customer.timers == []


def test_welcome_runs_once_ever_however_the_customer_arrives():
    customer = Customer(WELCOME)
    customer.does(track("Application Installed"))
    customer.does(identify({"email": "anna@example.com"}), T0 + minutes(1))
    customer.does(track("Newsletter Subscribed"), T0 + minutes(2))
    assert len(customer.executions()) == 1 and customer.log("welcome")[-1] == ("not_entered", "already active")

    customer.run_timers_until(T0 + days(5))
    customer.does(identify({"email": "anna@example.com"}), T0 + days(30))
    customer.does(identify({"email": "anna@example.com"}), T0 + days(31))

    assert [m.template for m in customer.sent] == ["welcome", "welcome_loyalty"]
    outcomes = [outcome for outcome, _ in customer.log("welcome")]
    assert outcomes == ["entered", "not_entered", "step_due", "step_due", "completed", "not_entered"]
    assert customer.log("welcome")[-1][1].endswith("once only")


def test_an_unreachable_customer_starts_no_timer_and_is_welcomed_once_reachable():
    # Given a customer nudge cannot reach (no consent, no address) who signs in
    customer = Customer(WELCOME, reachable=False)
    customer.does(identify())
    # Then no timer is started, and the welcome waits
    assert customer.timers == [] and customer.log("welcome")[-1][0] == "not_entered"

    # When the email address and the consent arrive later the same day
    customer.does(identify({"email": "anna@example.com"}), T0 + hours(2))
    assert customer.timers == []  # the address alone reaches nobody
    customer.does(consent("email"), T0 + hours(3))

    # Then the welcome enters then: its first step was due already, so it goes out now, and the second keeps its
    # three days' wait after it (counted from the trigger, it would have come 2 h 50 min early)
    assert customer.log("welcome")[-2:] == [("entered", "a channel reaches the customer now"), ("step_due", "welcome")]
    assert [m.template for m in customer.sent] == ["welcome"]
    assert [t.due_at for t in customer.timers] == [T0 + hours(3) + days(3)]
    customer.run_timers_until(T0 + days(5))
    assert [m.template for m in customer.sent] == ["welcome", "welcome_loyalty"]

    # And the series ran once: a later sign-in starts no second one
    customer.does(identify({"email": "anna@example.com"}), T0 + days(6))
    assert len(customer.sent) == 2 and customer.log("welcome")[-1][1].endswith("once only")


def test_a_welcome_waiting_for_reach_lapses_with_its_trigger_and_is_not_used_up():
    # Given a customer who signed in unreachable, and stays so longer than a trigger may be old (P1D)
    customer = Customer(WELCOME, reachable=False)
    customer.does(identify())
    customer.does(track("Product Viewed", product("a")), T0 + days(2))
    assert customer.instances("welcome") == []
    assert customer.log("welcome")[-1] == ("not_entered", "no channel reached the customer within P1D")

    # When they subscribe to the newsletter with consent and an address later
    customer.does(identify({"email": "anna@example.com"}), T0 + days(3))
    customer.does(consent("email", source="newsletter"), T0 + days(3))

    # Then the welcome still runs, once
    customer.run_timers_until(T0 + days(10))
    customer.does(identify(), T0 + days(11))
    assert [m.template for m in customer.sent] == ["welcome", "welcome_loyalty"]
    assert customer.log("welcome")[-1][1].endswith("once only")


def test_a_waiting_welcome_enters_once_the_shop_turns_the_reach_rule_off():
    # Given an unreachable customer whose welcome waits
    customer = Customer(WELCOME, reachable=False)
    customer.does(identify())
    # When the shop turns the rule off and the customer does anything
    customer.config = Customer({"welcome": {"entry": {"until_reachable": False}}}).config
    customer.does(track("Product Viewed", product("a")), T0 + minutes(1))
    # Then the welcome enters, as it did before the rule
    assert customer.log("welcome")[-1] == ("entered", "no longer waits for reach")
    assert list(customer.executions().values()) == [[T0 + minutes(10), T0 + minutes(10) + days(3)]]


def test_an_unreachable_visitor_with_a_cart_starts_no_timer():
    # Given a visitor nudge cannot reach
    customer = Customer(CART, reachable=False)
    # When they fill a cart
    customer.does(added("a"))
    # Then nothing is armed, and an order ends the waiting entry
    assert customer.timers == [] and customer.instances("cart_abandonment")[0].held
    customer.does(order(), T0 + minutes(5))
    assert customer.instances("cart_abandonment") == [] and customer.sent == []


def test_the_welcome_offer_is_a_first_order_code_and_the_first_order_ends_the_series():
    # Given a newsletter signup: one execution carries both steps of the welcome
    customer = Customer(WELCOME)
    customer.does(track("Newsletter Subscribed"))
    assert list(customer.executions().values()) == [[T0 + minutes(10), T0 + minutes(10) + days(3)]]
    customer.fire()
    (welcome,) = customer.sent
    assert welcome.variables["offer"]["code"].startswith("WELCOME")

    # When they order on day 1, before the loyalty step
    customer.does(order(cart=None), T0 + days(1))
    loyalty = customer.fire()

    # Then the series ends: the loyalty step's wake-up comes at its time and changes nothing
    assert (loyalty.effects, loyalty.state) == ([], None)
    assert len(customer.sent) == 1 and customer.log("welcome")[-1] == ("exited", "Order Completed")


def test_a_customer_who_has_ordered_gets_no_welcome_and_the_log_says_why():
    customer = Customer(WELCOME)
    customer.does(order(cart=None))

    customer.does(track("Application Installed"), T0 + minutes(5))

    assert customer.instances("welcome") == []
    assert customer.log("welcome") == [("not_entered", "has ordered")]


# ---------------------------------------------------------------- J4 post-purchase

POST_PURCHASE = {"post_purchase": {}}


def test_post_purchase_thanks_asks_for_a_review_then_cross_sells_from_the_orders_categories():
    customer = Customer(POST_PURCHASE)
    customer.does(order("o1", categories=("shoes", "socks")))

    customer.run_timers_until(T0 + days(30))

    assert len(customer.executions()) == 1  # the three waits are one execution

    thanks, review, cross_sell = customer.sent
    assert (thanks.template, review.template, cross_sell.template) == (
        "order_thank_you",
        "review_request",
        "cross_sell",
    )
    assert thanks.variables["order_id"] == "o1" and thanks.variables["offer"]["code"].startswith("REF")
    assert cross_sell.variables["categories"] == ["shoes", "socks"]
    assert [t.due_at for t in customer.timers] == [
        T0 + minutes(10),
        T0 + days(7) + minutes(10),
        T0 + days(14) + minutes(10),
    ]


def test_the_same_order_reported_twice_is_one_sequence():
    customer = Customer(POST_PURCHASE)
    customer.does(order("o1"))
    customer.does(order("o1"), T0 + minutes(2))  # the shop's backend reports it again under another messageId

    assert len(customer.instances("post_purchase")) == 1 and len(customer.executions()) == 1


def test_post_purchase_starts_one_execution_for_its_three_waits_and_each_step_goes_out_at_its_time():
    # Given an order
    customer = Customer(POST_PURCHASE)
    decision = customer.does(order("o1"))

    # Then one execution is started, carrying a wake-up per step, each with its own id
    due = [T0 + minutes(10), T0 + days(7) + minutes(10), T0 + days(14) + minutes(10)]
    assert list(customer.executions().values()) == [due]
    assert len({effect.event.timer_id for effect in decision.effects if isinstance(effect, StartTimer)}) == 3

    # And each wake-up, when it comes, sends its step then and starts nothing
    for expected in due:
        woke = customer.fire()
        assert [type(e) for e in woke.effects if not isinstance(e, Tally)] == [Send]
        assert [e.message.created_at for e in woke.effects if isinstance(e, Send)] == [expected]
    assert [m.template for m in customer.sent] == ["order_thank_you", "review_request", "cross_sell"]
    assert customer.log("post_purchase")[-1] == ("completed", "") and customer.instances("post_purchase") == []


def test_a_refund_ends_the_post_purchase_sequence_and_its_later_wake_ups_change_nothing():
    customer = Customer(POST_PURCHASE)
    customer.does(order("o1"))
    customer.run_timers_until(T0 + hours(1))

    customer.does(track("Order Refunded", {"order_id": "o1"}), T0 + days(2))
    later = [customer.fire(), customer.fire()]  # the review request's and the cross-sell's wake-ups

    assert [(d.effects, d.state) for d in later] == [([], None), ([], None)]  # nothing sent, nothing saved
    assert [m.template for m in customer.sent] == ["order_thank_you"]
    assert customer.log()[-1] == ("exited", "Order Refunded")


def test_a_wake_up_that_comes_late_takes_every_step_due_by_then_once():
    # Given a post-purchase whose first wake-up is delivered eight days late (after the review request's time)
    customer = Customer(POST_PURCHASE)
    customer.does(order("o1"))
    customer.fire(late=days(8))
    assert [m.template for m in customer.sent] == ["order_thank_you", "review_request"]

    # When the review request's own wake-up comes, and then the cross-sell's
    review = customer.fire()
    customer.fire()

    # Then the review request is not sent twice, and the cross-sell goes out at its time
    assert review.state is None
    assert [m.template for m in customer.sent] == ["order_thank_you", "review_request", "cross_sell"]
    assert len(customer.executions()) == 1


# ---------------------------------------------------------------- J5 repeat purchase


def test_a_step_nothing_could_carry_waits_parked_until_a_channel_reaches_the_customer():
    # Given a customer who ordered and withdrew their only consent before the thank-you went out
    customer = Customer(POST_PURCHASE)
    customer.does(order(), T0)
    customer.does(consent("email", status="withdrawn"), T0 + minutes(5))
    customer.fire()  # the thank-you is decided (the router holds it back)
    # Then the review request, which nothing could carry, is parked: its wake-up, already in the execution, will
    # change nothing
    assert len(customer.executions()) == 1 and customer.log("post_purchase")[-1][0] == "parked"

    # When they consent again on day 3
    customer.does(consent("email"), T0 + days(3))
    # Then the rest is armed for its time, in a new execution
    assert list(customer.executions().values())[1:] == [[T0 + minutes(10) + days(7), T0 + minutes(10) + days(14)]]
    customer.run_timers_until(T0 + days(20))
    assert [m.template for m in customer.sent] == ["order_thank_you", "review_request", "cross_sell"]


def test_steps_due_while_nothing_could_carry_them_are_skipped_without_a_wake_up():
    # Given a parked post-purchase (consent withdrawn)
    customer = Customer(POST_PURCHASE)
    customer.does(order(), T0)
    customer.does(consent("email", status="withdrawn"), T0 + minutes(5))
    customer.fire()
    # When they consent again after the review request's time
    customer.does(consent("email"), T0 + days(10))
    # Then the review request is skipped (it would have been held back) and only the cross-sell is armed
    assert customer.log("post_purchase")[-1] == ("skipped", "no channel reached the customer")
    assert list(customer.executions().values())[1:] == [[T0 + minutes(10) + days(14)]]


REPEAT = {"repeat_purchase": {}}


def test_an_order_inside_the_window_brings_an_in_app_thank_you_with_a_bonus():
    customer = Customer(REPEAT)
    customer.does(order("o1", cart=None))
    customer.does(order("o2", cart=None), T0 + days(10))

    customer.fire(customer.timers[0])

    (thanks,) = customer.sent
    assert thanks.template == "repeat_thank_you" and thanks.channels == ["in_app"]
    assert thanks.variables["order_id"] == "o1" and thanks.variables["offer"]["code"].startswith("BONUS")
    assert customer.log("repeat_purchase")[-2:] == [
        ("skipped", "ordered since entry"),
        ("completed", ""),
    ]


def test_no_order_inside_the_window_brings_a_personal_offer_with_a_deep_link():
    customer = Customer(REPEAT)
    customer.does(order("o1", cart=None, categories=("tea",)))

    customer.fire()

    (offer,) = customer.sent
    code = offer.variables["offer"]["code"]
    assert offer.template == "repeat_offer" and offer.variables["deep_link"] == f"/offers/{code}"
    assert offer.variables["categories"] == ["tea"] and code.startswith("BACK")
    assert ("skipped", "no order since entry") in customer.log()
    assert len(customer.timers) == 1  # the branch is decided in one wake-up


# ---------------------------------------------------------------- J6 reactivation

REACTIVATION = {"reactivation": {}}


def test_a_customer_active_every_day_never_gets_a_reactivation_and_starts_few_executions():
    customer = Customer(REACTIVATION)
    customer.does(order("o0", cart=None))
    events = 1
    for day in range(120):
        at = T0 + days(day) + hours(day % 7)  # a different hour each day
        customer.run_timers_until(at)
        customer.does(track("Product Viewed", product(f"p{day}")), at)
        events += 1
    customer.run_timers_until(T0 + days(120))

    assert customer.sent == []
    executions = len(customer.executions())
    assert executions <= 3 and executions / events < 0.05, (executions, events)
    assert len(customer.pending()) == 1  # still watching, one execution pending


def test_an_inactive_customer_gets_a_reactivation_at_day_60_then_an_escalation_with_an_offer():
    customer = Customer(REACTIVATION)
    customer.does(order("o0", cart=None))
    assert customer.timers[0].due_at == T0 + days(60)

    customer.run_timers_until(T0 + days(100))

    first, second = customer.sent
    assert first.template == "reactivation" and first.channels == ["email", "push"]
    assert first.created_at == T0 + days(60)
    assert second.template == "reactivation_offer" and second.created_at == T0 + days(74)
    assert second.variables["offer"]["code"].startswith("COMEBACK")
    assert customer.log("reactivation")[-1] == ("completed", "")


def test_a_customer_who_comes_back_after_the_reactivation_leaves_and_is_watched_again():
    customer = Customer(REACTIVATION)
    customer.does(order("o0", cart=None))
    customer.run_timers_until(T0 + days(61))

    customer.does(track("Application Opened"), T0 + days(62))
    customer.run_timers_until(T0 + days(100))

    assert [m.template for m in customer.sent] == ["reactivation"]
    assert ("exited", "active again since the last message") in customer.log()
    (watch,) = customer.instances("reactivation")
    assert watch.step == 0 and customer.pending()[0].due_at == T0 + days(122)


def test_a_visitor_who_never_bought_is_not_watched_for_reactivation():
    # Given the reactivation preset (win-back is for buyers)
    customer = Customer(REACTIVATION)

    # When someone who never ordered browses
    customer.does(track("Product Viewed", product()))

    # Then no timer is armed, and the log says why
    assert customer.timers == []
    assert customer.log("reactivation")[-1][0] == "not_entered"


def test_a_timer_wake_up_is_not_activity():
    customer = Customer(REACTIVATION)
    customer.does(order("o0", cart=None))
    customer.fire()
    assert customer.state.last_activity_at == T0


# ---------------------------------------------------------------- long waits, config, state


def test_waits_beyond_a_year_chain_executions():
    journeys = {"anniversary": {"trigger": {"event": "Order Completed"}, "steps": [{"wait": "P400D", "template": "x"}]}}
    customer = Customer(journeys)
    customer.does(order(cart=None))

    assert customer.timers[0].due_at == T0 + days(365)
    customer.fire()
    assert customer.sent == [] and customer.timers[1].due_at == T0 + days(400)
    assert customer.log()[-1] == ("rearmed", "due 2027-12-07T09:00:00Z")
    customer.fire()
    assert [m.template for m in customer.sent] == ["x"]


def test_a_shop_journey_of_its_own_uses_the_condition_vocabulary_and_reentry_interval():
    journeys = {
        "vip_browse": {
            "trigger": {"event": "Product Viewed", "where": {"category": "shoes"}},
            "entry": {"reentry_after": "P90D", "only_if": ["has_ordered", {"not_ordered_within": "P30D"}]},
            "steps": [{"wait": "PT2H", "template": "vip_offer", "condition": {"inactive_for": "PT1H"}}],
        }
    }
    customer = Customer(journeys)
    customer.does(order(cart=None))
    viewed = track("Product Viewed", product("s1", category="shoes"))

    customer.does(viewed, T0 + days(10))
    customer.does(track("Product Viewed", product("h1", category="hats")), T0 + days(40))
    customer.does({**viewed, "messageId": "v2"}, T0 + days(40))
    customer.run_timers_until(T0 + days(41))
    customer.does({**viewed, "messageId": "v3"}, T0 + days(50))

    assert [m.template for m in customer.sent] == ["vip_offer"]
    assert customer.log("vip_browse") == [
        ("not_entered", "ordered within P30D"),
        ("entered", "Product Viewed"),
        ("step_due", "vip_offer"),
        ("completed", ""),
        ("not_entered", "reentry_after P90D not elapsed"),
    ]


def test_the_short_config_shape_is_cart_abandonment_with_a_one_hour_reminder():
    config = shop_config({"cart_abandonment": {"steps": [{"wait": "PT1H", "template": "cart_reminder"}]}})

    journey = config.journeys["cart_abandonment"]

    assert journey.preset == "cart_abandonment" and journey.key == "cart_id" and journey.restart_on_trigger
    assert "Product Added" in {t.event for t in journey.trigger}
    assert [(s.wait, s.template) for s in journey.steps] == [(hours(1), "cart_reminder")]
    assert [m.event for m in journey.exit.events] == ["Order Completed"]


def test_a_preset_runs_under_another_name_and_overrides_keep_the_rest():
    config = shop_config(
        {
            "cart_abandonment": {"enabled": False},
            "cart_vip": {"preset": "cart_abandonment", "entry": {"reentry_after": "P1D"}},
        }
    )
    vip = config.journeys["cart_vip"]
    assert vip.entry.reentry_after == days(1) and [c.name for c in vip.entry.only_if] == ["cart_not_empty"]

    customer = Customer({"cart_abandonment": {"enabled": False}, "cart_vip": {"preset": "cart_abandonment"}})
    customer.does(added("a"))
    assert [i.journey for i in customer.state.journeys] == ["cart_vip"]


@pytest.mark.parametrize(
    ("journeys", "path", "rule"),
    [
        ({"cart_abandonment": {"steps": [{"wait": "soon", "template": "x"}]}}, "steps.0.wait", "duration"),
        ({"cart_abandonment": {"steps": [{"wait": "-PT1H", "template": "x"}]}}, "steps.0.wait", "not be negative"),
        ({"cart_abandonment": {"guard": ["cart_full"]}}, "guard.0.name", "Input should be"),
        ({"cart_abandonment": {"steps": [{"wait": "PT1H", "template": "x", "when": "x"}]}}, "steps.0.when", "Extra"),
        ({"welcome": {"entry": {"only_if": [{"inactive_for": "soon"}]}}}, "entry.only_if.0.within", "duration"),
        ({"welcome": {"entry": {"only_if": ["inactive_for"]}}}, "entry.only_if.0", "needs a duration"),
        ({"mine": {"steps": [{"wait": "PT1H", "template": "x"}]}}, "trigger", "Field required"),
        ({"mine": {"preset": "cart", "trigger": {"event": "X"}}}, "preset", "unknown preset"),
        ({"mine": {"trigger": {"event": "X", "call": "identify"}, "steps": []}}, "trigger.0", "exactly one"),
        ({"reactivation": {"key": "cart_id"}}, "", "inactive_for journey has no key"),
        ({"repeat_purchase": {"steps": [{"wait": "PT1H", "template": "x", "deep_link": "/{sku}"}]}}, "steps.0", "sku"),
    ],
)
def test_config_mistakes_name_their_path(journeys, path, rule):
    with pytest.raises(ValidationError) as caught:
        shop_config(journeys)
    name = next(iter(journeys))
    expected = f"journeys.{name}" + (f".{path}" if path else "")
    found = [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]
    assert any(where.startswith(expected) and rule in message for where, message in found), found


def test_the_presets_are_valid_journeys_and_their_channels_are_the_shops():
    assert set(journeys.presets()) == {
        "cart_abandonment",
        "welcome",
        "post_purchase",
        "repeat_purchase",
        "reactivation",
        "back_in_stock",
        "price_drop",
        "browse_abandonment",
        "free_shipping",
        "birthday",
        "occasion",
        "lead_nurturing",
    }
    assert get_args(journeys.Channel) == CHANNELS


def test_a_config_with_every_preset_survives_a_json_round_trip():
    config = shop_config({name: {} for name in journeys.preset_documents()})
    assert type(config).model_validate_json(config.model_dump_json()) == config


def test_a_disabled_journey_ends_its_instances_and_starts_none():
    customer = Customer(CART)
    customer.does(added("a"))
    customer.config = shop_config({"cart_abandonment": {"enabled": False}})

    customer.does(added("b"), T0 + minutes(5))
    customer.fire(customer.timers[0])

    assert customer.state.journeys == [] and customer.sent == []
    assert ("exited", "journey disabled") in customer.log()


def test_journey_state_is_small_and_survives_the_store_round_trip():
    customer = Customer(CART)
    customer.does(added("a"))
    journey_fields = {"journeys", "journey_history", "journey_log", "journey_seq"}
    assert len(customer.state.model_dump_json(exclude_defaults=True, include=journey_fields)) < 350

    customer.does(order(), T0 + minutes(5))
    customer.fire()  # stale: nothing saved
    customer.does(track("Product Removed", product("zz", cart_id="c7")), T0 + hours(2))  # not entered: no cart
    customer.does(added("b"), T0 + hours(3))
    customer.fire()  # the reminder: the instance now waits on the offer's wake-up, planned in its execution
    state = customer.state

    stored = state.model_dump_json(exclude_defaults=True)

    assert CustomerState.model_validate_json(stored) == state
    assert [e.view()["outcome"] for e in state.journey_log] == [
        "entered",
        "exited",
        "not_entered",
        "entered",
        "step_due",
    ]
    assert state.journey_log[1].view() == {
        "at": "2026-11-02T09:05:00Z",
        "journey": "cart_abandonment",
        "outcome": "exited",
        "instance": 1,
        "step": 0,
        "reason": "Order Completed",
    }
    assert state.journeys[0].view()["due_at"] == "2026-11-03T13:00:00Z"
    assert state.journeys[0].view()["execution"] == customer.pending()[0].execution_name != state.journeys[0].timer_id


def test_merging_an_anonymous_visitor_adopts_their_cart_journey_under_a_new_number():
    anonymous = Customer(CART, user=None)
    anonymous.apply(accepted({**added("a"), "anonymousId": "anon-1", "userId": None}), T0)
    known = Customer(CART)
    known.does(added("x", cart="c9"), T0 - hours(5))

    merged = merge(known.state, anonymous.state)

    assert sorted((i.journey, i.key, i.seq) for i in merged.journeys) == [
        ("cart_abandonment", "c1", 2),
        ("cart_abandonment", "c9", 1),
    ]
    adopted = next(i for i in merged.journeys if i.key == "c1")
    assert adopted.timer_id == anonymous.timers[0].timer_id  # its pending timer still finds it

    woke = decide(merged, anonymous.timers[0], T0 + hours(1), known.config)

    (reminder,) = [e.message for e in woke.effects if isinstance(e, Send)]
    assert reminder.customer == "u:u1" and reminder.variables["instance"] == "cart_abandonment:c1:2"
    # and the offer's wake-up, planned in the anonymous visitor's execution, finds the renumbered instance too
    assert woke.state is not None
    offer = decide(woke.state, anonymous.timers[1], T0 + hours(25), known.config)
    assert [e.message.template for e in offer.effects if isinstance(e, Send)] == ["cart_offer"]


def test_feedback_is_deduplicated_and_starts_nothing():
    customer = Customer(CART)
    customer.does(added("a"))
    feedback = FeedbackEvent(
        shop_id="demo",
        customer="u:u1",
        channel="email",
        reason="hard_bounce",
        source="ses-notification",
        feedback_id="f-1",
        occurred_at=T0,
        received_at=T0,
    )

    first = customer.apply(feedback, T0 + minutes(1))
    again = customer.apply(feedback, T0 + minutes(2))

    assert first.effects == [] and not first.duplicate and again.duplicate


# ---------------------------------------------------------------- page views within a visit (not saved)

FOLLOW_UP = {
    "follow_up": {
        "trigger": {"event": "Quote Requested"},
        "steps": [{"wait": "PT10M", "template": "reactivation"}, {"wait": "PT1H", "template": "reactivation"}],
        "exit": {"conditions": ["active_since_message"]},
    }
}


_PAGE_VIEWS = itertools.count(1)


def page_view(name: str = "Home") -> dict:
    path = f"/{name.lower()}"
    return {"type": "page", "name": name, "properties": {"path": path}, "messageId": f"pv-{next(_PAGE_VIEWS)}"}


def test_a_page_view_after_a_message_is_kept_so_the_journey_sees_the_customer_came_back():
    customer = Customer(FOLLOW_UP)
    customer.does(track("Quote Requested"), T0)
    customer.fire()  # the first message, at T0 + 10 min

    decision = customer.does(page_view("Quote"), T0 + minutes(20))  # 20 min after their last activity
    customer.run_timers_until(T0 + hours(3))

    assert not decision.quiet
    assert [m.created_at for m in customer.sent] == [T0 + minutes(10)]
    assert ("exited", "active again since the last message") in customer.log("follow_up")


def test_a_page_view_before_the_message_within_the_visit_is_not_saved_and_changes_no_journey():
    customer = Customer(FOLLOW_UP)
    customer.does(track("Quote Requested"), T0)

    decision = customer.does(page_view("Pricing"), T0 + minutes(5))
    customer.run_timers_until(T0 + hours(3))

    assert decision.quiet and decision.state is None
    assert [m.created_at for m in customer.sent] == [T0 + minutes(10), T0 + minutes(70)]


def test_a_page_view_a_journey_starts_on_is_kept():
    step = {"wait": "PT0S", "template": "welcome"}
    on_pricing = {"pricing": {"trigger": {"call": "page", "where": {"path": "/pricing"}}, "steps": [step]}}
    customer = Customer(on_pricing)
    customer.does(track("Quote Requested"), T0)

    assert customer.does(page_view("Home"), T0 + minutes(1)).quiet
    decision = customer.does(page_view("Pricing"), T0 + minutes(2))

    assert not decision.quiet and customer.log("pricing")[0][0] == "entered"


def test_a_reactivation_watch_is_not_moved_by_a_page_view_within_the_visit():
    # The documented cost of not saving such views: the watch counts from the last activity saved, at most 30
    # minutes before the true last one.
    customer = Customer(REACTIVATION)
    customer.does(order("o0", cart=None), T0)

    assert customer.does(page_view(), T0 + minutes(25)).quiet
    customer.run_timers_until(T0 + days(61))

    assert [m.created_at for m in customer.sent] == [T0 + days(60)]
