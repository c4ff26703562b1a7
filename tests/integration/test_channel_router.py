"""The channel router: outbox messages reach customers on one consented channel, once.

template.yaml runs in memory (``tests/memory.py``): the real handlers on the in-memory adapters, whose semantics
``tests/parity`` holds to the AWS adapters'. Customers are made the way a shop makes them (Segment calls through the
HTTP API's ingest function); messages are put on the outbox queue the way a journey (or `nudge send`) does; what
was delivered is what the channel services accepted, and what support sees comes from GET
/v1/customers/{id}/messages. The clock is set: a customer's noon is noon whatever the hour the suite runs at.

The same router over the AWS clients, against moto's SES and SNS and the local SMS and WhatsApp endpoints, is
``test_channels_on_stack.py``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from infra.memory.cloud import PUBLIC_BASE_URL
from shared.models.messages import OutboxMessage
from tests.factories import consent, customer_batch
from tests.memory import SECRET_KEY, MemoryStack

ZONE = "Europe/Berlin"  # every customer here lives in Berlin
NOON = time(12, 0)  # by day: inside the SMS window (08:00-21:00 local)


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    """The demo shop (events/demo-shop.yaml) on its own deployment, the clock at T0 (10:00 in Berlin)."""
    return memory_stack()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_customer(
    stack: MemoryStack,
    user: str,
    traits: dict[str, Any],
    consents: list[str],
    *,
    locale: str = "en-GB",
    device_token: str | None = None,
    cart: bool = True,
) -> None:
    """A customer as the shop's tracking client creates one: identify, consents, a cart, maybe the app."""
    batch = customer_batch(user, traits, consents, zone=ZONE, locale=locale, device_token=device_token, cart=cart)
    assert stack.post("/v1/batch", {"batch": batch})[0] == 200
    stack.settle()


def cart_reminder(
    stack: MemoryStack,
    user: str,
    *,
    template: str = "cart_reminder",
    channels: list[str] | None = None,
    message_id: str | None = None,
    transactional: bool = False,
) -> OutboxMessage:
    """The message a cart journey puts on the outbox for ``user``'s cart c1."""
    return OutboxMessage(
        message_id=message_id or unique("msg"),
        shop_id="demo",
        customer=f"u:{user}",
        journey="cart_abandonment",
        step=0,
        template=template,
        channels=channels,
        variables={"cart_id": "c1"},
        transactional=transactional,
        created_at=stack.clock(),
    )


def outbox(stack: MemoryStack, user: str, **kwargs: Any) -> OutboxMessage:
    """Put ``cart_reminder(user, **kwargs)`` on the outbox, as a journey does."""
    message = cart_reminder(stack, user, **kwargs)
    stack.cloud.outbox.send(message.model_dump_json())
    return message


def next_local(stack: MemoryStack, local: time) -> datetime:
    """The next ``local`` o'clock in the customers' zone after the stack's clock."""
    here = stack.clock().astimezone(ZoneInfo(ZONE))
    moment = datetime.combine(here.date(), local, tzinfo=ZoneInfo(ZONE))
    return moment if moment > here else moment + timedelta(days=1)


def deliver(stack: MemoryStack, user: str, *, local_time: time = NOON, **kwargs: Any) -> dict[str, Any]:
    """Put one message on the outbox at the next ``local_time`` in the customer's zone and let the router run;
    return what support sees for it."""
    stack.clock.at = next_local(stack, local_time)
    message = outbox(stack, user, **kwargs)
    stack.settle()
    return support_view(stack, user, message.message_id)


def support_view(stack: MemoryStack, user: str, message_id: str) -> dict[str, Any]:
    status, body = stack.call("GET", f"/v1/customers/{user}/messages", key=SECRET_KEY)
    assert status == 200, body
    return next(m for m in body["messages"] if m["message_id"] == message_id)


def test_the_first_consented_channel_in_the_shops_preference_carries_the_message(stack):
    # Given a customer who allowed push and email (the demo shop prefers push)
    user, token = unique("pref"), unique("fcm")
    make_customer(
        stack, user, {"firstName": "Pia", "email": f"{user}@example.com"}, ["push", "email"], device_token=token
    )

    # When a cart reminder is due
    seen = deliver(stack, user)

    # Then it went out as push only, with the cart's item in it
    assert (seen["status"], seen["channel"]) == ("sent", "push")
    assert len(stack.pushes_to(token)) == 1
    assert stack.emails_to(f"{user}@example.com") == []
    assert "Trail Boots" in str(stack.pushes_to(token)[0])


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        pytest.param(time(3, 0), ("deferred", "quiet_hours", 0), id="03:00-deferred-to-08:00"),
        pytest.param(time(21, 30), ("deferred", "quiet_hours", 0), id="21:30-deferred-to-08:00"),
        pytest.param(time(12, 0), ("sent", None, 1), id="12:00-sent"),
    ],
)
def test_a_marketing_sms_waits_for_08_00_to_21_00_in_the_customers_zone(stack, local_time, expected):
    # Given a customer in Berlin who allowed only SMS
    user, phone = unique("quiet"), "+4917" + str(uuid.uuid4().int)[:8]
    make_customer(stack, user, {"firstName": "Nina", "phone": phone}, ["sms"])

    # When a marketing SMS is due at ``local_time`` Berlin time
    seen = deliver(stack, user, local_time=local_time)

    # Then by day it is sent; at night it is held back, and a timer brings it back at 08:00 Berlin time
    texts = stack.sent("sms", phone)
    assert (seen["status"], seen["reason"], len(texts)) == expected, seen
    if seen["status"] == "deferred":
        (timer,) = [e for e in stack.executions() if seen["message_id"] in e["event"]]
        due = datetime.fromisoformat(timer["due_at"]).astimezone(ZoneInfo(ZONE))
        assert due.time() == time(8, 0)
        assert timedelta(0) < due - datetime.fromisoformat(seen["at"]) <= timedelta(hours=11)

        # And at 08:00 the timer fires and the message goes out
        stack.run_timers(until=due)
        assert support_view(stack, user, seen["message_id"])["status"] == "sent"
        assert [s.request["Context"]["nudge_message_id"] for s in stack.sent("sms", phone)].count(
            seen["message_id"]
        ) == 1


def test_a_marketing_email_carries_one_click_unsubscribe_and_the_customers_name(stack):
    user = unique("mail")
    make_customer(stack, user, {"firstName": "Mara", "email": f"{user}@example.com"}, ["email"])

    seen = deliver(stack, user)

    (email,) = stack.emails_to(f"{user}@example.com")
    assert "Mara" in email["Subject"]
    assert seen["title"] == email["Subject"]
    assert email["List-Unsubscribe"].startswith(f"<{PUBLIC_BASE_URL}/u/")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = email.get_body(preferencelist=("html",)).get_content()
    assert "Trail Boots" in html and "https://img.example/boots.jpg" in html


def test_a_permanent_provider_failure_falls_back_to_the_next_permitted_channel(stack):
    # Given a customer who allowed SMS and email, whose number the SMS service says is invalid
    user = unique("fallback")
    phone = "+4917" + str(uuid.uuid4().int)[:8]
    stack.transports.reject(
        phone,
        "ValidationException",
        "invalid",
        Reason="INVALID_PARAMETER",
        Fields=[{"Name": "DestinationPhoneNumber", "Message": "invalid"}],
    )
    make_customer(stack, user, {"email": f"{user}@example.com", "phone": phone}, ["sms", "email"])

    # When a message is due with SMS first
    seen = deliver(stack, user, channels=["sms", "email"])

    # Then email carried it, and both attempts are on record
    assert (seen["status"], seen["channel"]) == ("sent", "email")
    assert [(a["channel"], a["outcome"]) for a in seen["attempts"]] == [("sms", "permanent_failure"), ("email", "sent")]
    assert seen["attempts"][0]["reason"] == "invalid_phone_number"
    assert len(stack.emails_to(f"{user}@example.com")) == 1


def test_no_consent_anywhere_means_nothing_is_sent_and_support_sees_why(stack):
    user = unique("noconsent")
    make_customer(stack, user, {"email": f"{user}@example.com"}, [])

    seen = deliver(stack, user)

    assert (seen["status"], seen["reason"], seen["channel"]) == ("suppressed", "no_consent", None)
    assert stack.emails_to(f"{user}@example.com") == []


def test_consent_withdrawn_after_the_message_was_queued_is_honoured_at_send_time(stack):
    # Given a customer who allowed email when the journey queued the message
    user = unique("withdrawn")
    make_customer(stack, user, {"email": f"{user}@example.com"}, ["email"])
    queued = cart_reminder(stack, user)

    # When the customer withdraws before the router gets to it
    stack.clock.at += timedelta(minutes=1)
    assert stack.post("/v1/track", consent("email", "withdrawn", userId=user))[0] == 200
    stack.settle()
    stack.cloud.outbox.send(queued.model_dump_json())
    stack.settle()

    # Then nothing was sent
    assert support_view(stack, user, queued.message_id)["status"] == "suppressed"
    assert stack.emails_to(f"{user}@example.com") == []


def test_the_same_outbox_message_delivered_twice_is_sent_once(stack):
    user = unique("twice")
    make_customer(stack, user, {"email": f"{user}@example.com"}, ["email"])
    message_id = unique("msg")

    outbox(stack, user, message_id=message_id)
    outbox(stack, user, message_id=message_id)
    stack.settle()

    assert len(stack.emails_to(f"{user}@example.com")) == 1
    assert support_view(stack, user, message_id)["status"] == "sent"


@pytest.mark.parametrize(("locale", "expected"), [("de-DE", "de"), ("de-AT", "de"), ("en-GB", "en")])
def test_german_and_austrian_customers_get_the_german_template(stack, locale, expected):
    user = unique("locale")
    make_customer(stack, user, {"firstName": "Lena", "email": f"{user}@example.com"}, ["email"], locale=locale)

    deliver(stack, user)

    (email,) = stack.emails_to(f"{user}@example.com")
    text = email.get_body(preferencelist=("plain",)).get_content()
    german = "Warenkorb" in text
    assert german == (expected == "de"), text


def test_the_unsubscribe_link_of_a_delivered_email_works_end_to_end(stack):
    # Given a customer who got a marketing email
    user = unique("unsub")
    make_customer(stack, user, {"firstName": "Uli", "email": f"{user}@example.com"}, ["email"])
    deliver(stack, user)
    (email,) = stack.emails_to(f"{user}@example.com")
    link = email["List-Unsubscribe"].strip("<>")
    path = link.removeprefix(PUBLIC_BASE_URL)

    # When a link scanner fetches the link, nothing changes
    page = stack.request("GET", path)
    assert page.status == 200 and "One-Click" in page.text
    stack.settle()
    assert customer_consent(stack, user) == "granted"

    # When the mailbox provider sends the RFC 8058 one-click POST (no cookies, no auth)
    stack.clock.at += timedelta(minutes=1)
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert stack.request("POST", path, b"List-Unsubscribe=One-Click", form).status == 200
    stack.settle()

    # Then email consent is withdrawn, with the link as its source, and the next message is not sent
    assert customer_consent(stack, user) == "withdrawn"
    history = stack.customer(user)[1]["consent_history"]
    assert history[-1]["source"] == "unsubscribe-link"
    assert deliver(stack, user)["reason"] == "no_consent"
    assert len(stack.emails_to(f"{user}@example.com")) == 1

    # And a tampered link is refused without saying why
    tampered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    assert stack.request("POST", tampered, b"List-Unsubscribe=One-Click").status == 404


def customer_consent(stack: MemoryStack, user: str) -> str:
    body = stack.customer(user)[1]
    return str(body["consent"]["email"]["status"])


def test_a_router_that_died_after_the_provider_call_never_causes_a_second_send(stack):
    # Given a message a router marked in flight on email and then died (its lease ran out long ago): the provider may
    # have sent it, nobody knows
    from shared.adapters.ledger import LEASE

    user = unique("crash")
    make_customer(stack, user, {"email": f"{user}@example.com"}, ["email"])
    message = cart_reminder(stack, user)
    stack.cloud.ledger.start(message, "email", [], stack.clock() - 2 * LEASE)

    # When SQS redelivers the message
    stack.cloud.outbox.send(message.model_dump_json())
    stack.settle()

    # Then it is closed as failed with the reason, and nothing is sent again
    seen = support_view(stack, user, message.message_id)
    assert (seen["status"], seen["reason"]) == ("failed", "outcome_unknown")
    assert stack.emails_to(f"{user}@example.com") == []
