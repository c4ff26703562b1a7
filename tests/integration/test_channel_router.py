"""The channel router on the local stack: outbox messages reach customers on one consented channel, once.

Customers are made the way a shop makes them (Segment calls through the HTTP API); messages are put on the outbox
queue the way a journey (or `nudge send`) does; what was delivered is read from the emulator's SES and SNS backends
and the local SMS/WhatsApp provider endpoints, and what support sees from GET /v1/customers/{id}/messages.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import datetime, time, timedelta
from email import message_from_bytes
from email.policy import default as email_policy
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from shared import aws, clock
from shared.adapters.queue import StandardQueue
from shared.models.messages import OutboxMessage
from tests.clocks import running_at
from tests.factories import consent, identify, product, track
from tests.integration.http import SECRET_KEY, call, post

ACCOUNT, REGION = "123456789012", "us-east-1"
ZONE = "Europe/Berlin"  # every customer here lives in Berlin
NOON = time(12, 0)  # by day: inside the SMS window (08:00-21:00 local), whatever the hour the suite runs at


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_customer(
    stack,
    user: str,
    traits: dict[str, Any],
    consents: list[str],
    *,
    locale: str = "en-GB",
    device_token: str | None = None,
    cart: bool = True,
) -> None:
    """A customer as the shop's tracking client creates one: identify, consents, a cart, maybe the app."""
    context = {"locale": locale, "timezone": ZONE}
    batch = [identify(traits, userId=user, context=context)]
    batch += [consent(channel, userId=user) for channel in consents]
    if cart:
        batch.append(
            track(
                "Product Added",
                product(
                    "boots", name="Trail Boots", price=120.0, cart_id="c1", image_url="https://img.example/boots.jpg"
                ),
                userId=user,
            )
        )
    if device_token:
        device = {"device": {"token": device_token, "type": "android"}}
        batch.append(track("Application Installed", {}, userId=user, context={**context, **device}))
    assert post(stack.base_url, "/v1/batch", {"batch": batch})[0] == 200
    stack.wait_idle()


def cart_reminder(
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
        created_at=clock.now(),
    )


def outbox(stack, user: str, **kwargs: Any) -> OutboxMessage:
    """Put ``cart_reminder(user, **kwargs)`` on the outbox, as a journey does."""
    message = cart_reminder(user, **kwargs)
    StandardQueue(stack.resources["OutboxQueue"]).send(message.model_dump_json())
    return message


def deliver(stack, user: str, *, local_time: time = NOON, **kwargs: Any) -> dict[str, Any]:
    """Put one message on the outbox and let the router run at ``local_time`` in the customer's zone (the clock
    moves forward to it); return what support sees for it."""
    with clock.use(running_at(local_time, ZONE)):
        message = outbox(stack, user, **kwargs)
        stack.wait_idle()
    return support_view(stack, user, message.message_id)


def support_view(stack, user: str, message_id: str) -> dict[str, Any]:
    status, body = call(stack.base_url, "GET", f"/v1/customers/{user}/messages", key=SECRET_KEY)
    assert status == 200, body
    return next(m for m in body["messages"] if m["message_id"] == message_id)


def emails_to(address: str) -> list[Any]:
    sent = ses_backends[ACCOUNT][REGION].sent_messages
    found = []
    for message in sent:
        raw = getattr(message, "raw_data", None)
        if raw is None:
            continue
        parsed = message_from_bytes(raw.encode() if isinstance(raw, str) else raw, policy=email_policy)
        if address in str(parsed["To"]):
            found.append(parsed)
    return found


def pushes_to(token: str) -> list[dict[str, Any]]:
    backend = sns_backends[ACCOUNT][REGION]
    return [
        json.loads(body)
        for endpoint in backend.platform_endpoints.values()
        if endpoint.token == token
        for body in endpoint.messages.values()
    ]


def test_the_first_consented_channel_in_the_shops_preference_carries_the_message(local_stack):
    # Given a customer who allowed push and email (the demo shop prefers push)
    user, token = unique("pref"), unique("fcm")
    make_customer(
        local_stack, user, {"firstName": "Pia", "email": f"{user}@example.com"}, ["push", "email"], device_token=token
    )

    # When a cart reminder is due
    seen = deliver(local_stack, user)

    # Then it went out as push only, with the cart's item in it
    assert (seen["status"], seen["channel"]) == ("sent", "push")
    assert len(pushes_to(token)) == 1
    assert emails_to(f"{user}@example.com") == []
    assert "Trail Boots" in json.dumps(pushes_to(token)[0])


@pytest.mark.parametrize("channel", ["push", "email", "sms", "whatsapp", "in_app"])
def test_every_channel_is_delivered_through_its_provider(local_stack, channel):
    # Given a customer who allowed only one channel and has an address for every channel
    user, token = unique(f"only-{channel}"), unique("fcm")
    phone = "+4917" + str(uuid.uuid4().int)[:8]
    make_customer(
        local_stack,
        user,
        {"firstName": "Olli", "email": f"{user}@example.com", "phone": phone},
        [channel],
        device_token=token,
    )

    # When a message is due
    seen = deliver(local_stack, user)

    # Then it went out on that channel, through that channel's provider
    assert (seen["status"], seen["channel"]) == ("sent", channel), seen
    delivered = {
        "push": len(pushes_to(token)),
        "email": len(emails_to(f"{user}@example.com")),
        "sms": len([m for m in local_stack.providers.sent_to(phone) if m.channel == "sms"]),
        "whatsapp": len([m for m in local_stack.providers.sent_to(phone) if m.channel == "whatsapp"]),
        "in_app": len(inbox_of(local_stack, user)),
    }
    assert delivered == {name: (1 if name == channel else 0) for name in delivered}


def deferral_due(stack, message_id: str) -> datetime:
    """When the timer that brings a deferred message back is due (its execution's ``due_at``)."""
    client = aws.stepfunctions()
    machine = stack.resources["TimerStateMachine"]
    for page in client.get_paginator("list_executions").paginate(stateMachineArn=machine):
        for execution in page["executions"]:
            document = client.describe_execution(executionArn=execution["executionArn"])["input"]
            if message_id in document:
                (wake_up,) = json.loads(document)["wake_ups"]  # a deferral is an execution of one wake-up
                return datetime.fromisoformat(wake_up["due_at"])
    raise AssertionError(f"no timer for {message_id}")


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        pytest.param(time(3, 0), ("deferred", "quiet_hours", 0), id="03:00-deferred-to-08:00"),
        pytest.param(time(21, 30), ("deferred", "quiet_hours", 0), id="21:30-deferred-to-08:00"),
        pytest.param(time(12, 0), ("sent", None, 1), id="12:00-sent"),
    ],
)
def test_a_marketing_sms_waits_for_08_00_to_21_00_in_the_customers_zone(local_stack, local_time, expected):
    # Given a customer in Berlin who allowed only SMS
    user, phone = unique("quiet"), "+4917" + str(uuid.uuid4().int)[:8]
    make_customer(local_stack, user, {"firstName": "Nina", "phone": phone}, ["sms"])

    # When a marketing SMS is due at ``local_time`` Berlin time
    seen = deliver(local_stack, user, local_time=local_time)

    # Then by day it is sent; at night it is held back, and a timer brings it back at 08:00 Berlin time
    texts = [m for m in local_stack.providers.sent_to(phone) if m.channel == "sms"]
    assert (seen["status"], seen["reason"], len(texts)) == expected, seen
    if seen["status"] == "deferred":
        due = deferral_due(local_stack, seen["message_id"]).astimezone(ZoneInfo(ZONE))
        assert due.time() == time(8, 0)
        assert timedelta(0) < due - datetime.fromisoformat(seen["at"]) <= timedelta(hours=11)


def inbox_of(stack, user: str) -> list[dict[str, Any]]:
    from shared.adapters.channels import InboxStore

    return [item.model_dump() for item in InboxStore(stack.resources["CustomersTable"]).list("demo", f"u:{user}")]


def test_a_marketing_email_carries_one_click_unsubscribe_and_the_customers_name(local_stack):
    user = unique("mail")
    make_customer(local_stack, user, {"firstName": "Mara", "email": f"{user}@example.com"}, ["email"])

    seen = deliver(local_stack, user)

    (email,) = emails_to(f"{user}@example.com")
    assert "Mara" in email["Subject"]
    assert seen["title"] == email["Subject"]
    assert email["List-Unsubscribe"].startswith(f"<{local_stack.base_url}/u/")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = email.get_body(preferencelist=("html",)).get_content()
    assert "Trail Boots" in html and "https://img.example/boots.jpg" in html


def test_a_permanent_provider_failure_falls_back_to_the_next_permitted_channel(local_stack):
    # Given a customer who allowed SMS and email, whose number the SMS provider says is invalid
    user = unique("fallback")
    phone = "+4917" + str(uuid.uuid4().int)[:8]
    local_stack.providers.reject(
        phone,
        400,
        "ValidationException",
        Reason="INVALID_PARAMETER",
        Fields=[{"Name": "DestinationPhoneNumber", "Message": "invalid"}],
    )
    make_customer(local_stack, user, {"email": f"{user}@example.com", "phone": phone}, ["sms", "email"])

    # When a message is due with SMS first
    seen = deliver(local_stack, user, channels=["sms", "email"])

    # Then email carried it, and both attempts are on record
    assert (seen["status"], seen["channel"]) == ("sent", "email")
    assert [(a["channel"], a["outcome"]) for a in seen["attempts"]] == [("sms", "permanent_failure"), ("email", "sent")]
    assert seen["attempts"][0]["reason"] == "invalid_phone_number"
    assert len(emails_to(f"{user}@example.com")) == 1


def test_no_consent_anywhere_means_nothing_is_sent_and_support_sees_why(local_stack):
    user = unique("noconsent")
    make_customer(local_stack, user, {"email": f"{user}@example.com"}, [])

    seen = deliver(local_stack, user)

    assert (seen["status"], seen["reason"], seen["channel"]) == ("suppressed", "no_consent", None)
    assert emails_to(f"{user}@example.com") == []


def test_consent_withdrawn_after_the_message_was_queued_is_honoured_at_send_time(local_stack):
    # Given a customer who allowed email when the journey queued the message
    user = unique("withdrawn")
    make_customer(local_stack, user, {"email": f"{user}@example.com"}, ["email"])
    queued = cart_reminder(user)

    # When the customer withdraws before the router gets to it
    assert post(local_stack.base_url, "/v1/track", consent("email", "withdrawn", userId=user))[0] == 200
    local_stack.wait_idle()
    StandardQueue(local_stack.resources["OutboxQueue"]).send(queued.model_dump_json())
    local_stack.wait_idle()

    # Then nothing was sent
    assert support_view(local_stack, user, queued.message_id)["status"] == "suppressed"
    assert emails_to(f"{user}@example.com") == []


def test_the_same_outbox_message_delivered_twice_is_sent_once(local_stack):
    user = unique("twice")
    make_customer(local_stack, user, {"email": f"{user}@example.com"}, ["email"])
    message_id = unique("msg")

    outbox(local_stack, user, message_id=message_id)
    outbox(local_stack, user, message_id=message_id)
    local_stack.wait_idle()

    assert len(emails_to(f"{user}@example.com")) == 1
    assert support_view(local_stack, user, message_id)["status"] == "sent"


@pytest.mark.parametrize(("locale", "expected"), [("de-DE", "de"), ("de-AT", "de"), ("en-GB", "en")])
def test_german_and_austrian_customers_get_the_german_template(local_stack, locale, expected):
    user = unique("locale")
    make_customer(local_stack, user, {"firstName": "Lena", "email": f"{user}@example.com"}, ["email"], locale=locale)

    deliver(local_stack, user)

    (email,) = emails_to(f"{user}@example.com")
    text = email.get_body(preferencelist=("plain",)).get_content()
    german = "Warenkorb" in text
    assert german == (expected == "de"), text


def test_the_unsubscribe_link_of_a_delivered_email_works_end_to_end(local_stack):
    # Given a customer who got a marketing email
    user = unique("unsub")
    make_customer(local_stack, user, {"firstName": "Uli", "email": f"{user}@example.com"}, ["email"])
    deliver(local_stack, user)
    (email,) = emails_to(f"{user}@example.com")
    link = email["List-Unsubscribe"].strip("<>")
    path = link.removeprefix(local_stack.base_url)

    # When a link scanner fetches the link, nothing changes
    request = urllib.request.Request(link, method="GET")
    with urllib.request.urlopen(request, timeout=10) as page:
        assert page.status == 200 and b"One-Click" in page.read()
    local_stack.wait_idle()
    assert customer_consent(local_stack, user) == "granted"

    # When the mailbox provider sends the RFC 8058 one-click POST (no cookies, no auth)
    one_click = urllib.request.Request(
        link,
        data=b"List-Unsubscribe=One-Click",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(one_click, timeout=10) as answer:
        assert answer.status == 200
    local_stack.wait_idle()

    # Then email consent is withdrawn, with the link as its source, and the next message is not sent
    assert customer_consent(local_stack, user) == "withdrawn"
    history = call(local_stack.base_url, "GET", f"/v1/customers/{user}", key=SECRET_KEY)[1]["consent_history"]
    assert history[-1]["source"] == "unsubscribe-link"
    assert deliver(local_stack, user)["reason"] == "no_consent"
    assert len(emails_to(f"{user}@example.com")) == 1

    # And a tampered link is refused without saying why
    tampered = local_stack.base_url + path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    try:
        urllib.request.urlopen(urllib.request.Request(tampered, data=b"List-Unsubscribe=One-Click", method="POST"))
        raise AssertionError("a tampered token was accepted")
    except urllib.error.HTTPError as error:
        assert error.code == 404


def customer_consent(stack, user: str) -> str:
    body = call(stack.base_url, "GET", f"/v1/customers/{user}", key=SECRET_KEY)[1]
    return body["consent"]["email"]["status"]


def test_a_router_that_died_after_the_provider_call_never_causes_a_second_send(local_stack):
    # Given a message a router marked in flight on email and then died (its lease ran out long ago): the provider may
    # have sent it, nobody knows
    from shared.adapters.ledger import LEASE, SendLedger

    user = unique("crash")
    make_customer(local_stack, user, {"email": f"{user}@example.com"}, ["email"])
    message = cart_reminder(user)
    SendLedger(local_stack.resources["CustomersTable"]).start(message, "email", [], clock.now() - 2 * LEASE)

    # When SQS redelivers the message
    StandardQueue(local_stack.resources["OutboxQueue"]).send(message.model_dump_json())
    local_stack.wait_idle()

    # Then it is closed as failed with the reason, and nothing is sent again
    seen = support_view(local_stack, user, message.message_id)
    assert (seen["status"], seen["reason"]) == ("failed", "outcome_unknown")
    assert emails_to(f"{user}@example.com") == []
