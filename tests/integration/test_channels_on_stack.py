"""The channel router on the local stack: each channel's provider reaches its service through the AWS clients.

Customers are made the way a shop makes them (Segment calls through the HTTP API); messages are put on the outbox
queue the way a journey (or `nudge send`) does; what was delivered is read from the emulator's SES and SNS backends
and the local SMS/WhatsApp provider endpoints, and what support sees from GET /v1/customers/{id}/messages.

This is what only the stack shows: the boto3 clients, their requests on the wire and the emulated services. What the
router decides (preference, consent at send time, quiet hours, fallback, once only, templates, unsubscribe) is
tested on the in-memory deployment in ``test_channel_router.py``.
"""

from __future__ import annotations

import json
import uuid
from datetime import time
from typing import Any

import pytest
from moto.sns.models import sns_backends

from infra.local.stack import emails_to
from shared import clock
from shared.adapters.queue import StandardQueue
from shared.models.messages import OutboxMessage
from tests.clocks import running_at
from tests.factories import customer_batch
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
    batch = customer_batch(user, traits, consents, zone=ZONE, locale=locale, device_token=device_token, cart=cart)
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


def pushes_to(token: str) -> list[dict[str, Any]]:
    backend = sns_backends[ACCOUNT][REGION]
    return [
        json.loads(body)
        for endpoint in backend.platform_endpoints.values()
        if endpoint.token == token
        for body in endpoint.messages.values()
    ]


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


def inbox_of(stack, user: str) -> list[dict[str, Any]]:
    from shared.adapters.channels import InboxStore

    return [item.model_dump() for item in InboxStore(stack.resources["CustomersTable"]).list("demo", f"u:{user}")]
