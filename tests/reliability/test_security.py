"""Security through the local stack's HTTP API: keys, tokens, template injection, and no PII in any log line.

Two shops run on the stack (demo and fast, events/*.yaml). Every call goes over HTTP to the real handlers, the way a
shop's tracking client, its support staff, its app and a mail client's one-click unsubscribe reach nudge; what was
delivered is read from the emulator's SES and SNS backends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from moto.sns.models import sns_backends

from infra.local.stack import emails_to
from shared.adapters.queue import StandardQueue
from shared.core.tokens import issue_unsubscribe_token
from shared.models.messages import OutboxMessage
from tests.factories import consent, identify, product, track
from tests.integration.http import basic, customer, post
from tests.reliability import figures

ACCOUNT, REGION = "123456789012", "us-east-1"
# Independent of the shipped masks: any address-like or international-number-like text.
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
PHONE = re.compile(r"\+\d[\d\s().-]{6,}\d")
INJECTIONS = ["{{ ''.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "<script>alert(1)</script>"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def phone() -> str:
    return "+4917" + str(uuid.uuid4().int)[:8]


@pytest.fixture
def log_lines(local_stack) -> Iterator[list[str]]:
    """Every line the functions' logger (``nudge``) writes during the test, formatted as on Lambda, DEBUG included."""
    logger = logging.getLogger("nudge")
    formatter = next(h.formatter for h in logger.handlers if h.formatter is not None)
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    capture = Capture(level=logging.DEBUG)
    level = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)


def make_customer(stack, user: str, traits: dict[str, Any], consents: list[str], key: str = "demo-write-key") -> None:
    context = {"locale": "en-GB", "timezone": "Europe/Berlin"}
    batch = [identify(traits, userId=user, context=context)]
    batch += [consent(channel, userId=user) for channel in consents]
    batch.append(track("Product Added", product("boots", name="Trail Boots", price=120.0, cart_id="c1"), userId=user))
    status, body = post(stack.base_url, "/v1/batch", {"batch": batch}, key=key)
    assert status == 200, body
    stack.wait_idle()


def due(stack, user: str, channels: list[str] | None = None, shop: str = "demo") -> str:
    """A cart reminder for ``user`` is due (what the journey puts on the outbox); returns its message id."""
    message_id = unique("msg")
    from datetime import UTC, datetime

    message = OutboxMessage(
        message_id=message_id,
        shop_id=shop,
        customer=f"u:{user}",
        journey="cart_abandonment",
        step=0,
        template="cart_reminder",
        channels=channels,
        variables={"cart_id": "c1"},
        created_at=datetime.now(UTC),
    )
    StandardQueue(stack.resources["OutboxQueue"]).send(message.model_dump_json())
    stack.wait_idle()
    return message_id


def pushes_to(token: str) -> list[str]:
    backend = sns_backends[ACCOUNT][REGION]
    return [
        body
        for endpoint in backend.platform_endpoints.values()
        if endpoint.token == token
        for body in endpoint.messages.values()
    ]


def request(stack, method: str, path: str, headers: dict[str, str], data: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(stack.base_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    "key", ["wrong-key", "guessed-secret-key", "", "sha256:" + hashlib.sha256(b"demo-write-key").hexdigest()]
)
def test_ingest_refuses_a_key_that_is_not_a_shop_key_and_keeps_nothing(local_stack, key):
    # Given a customer nobody has heard of
    user = unique("nokey")

    # When their events come with a wrong key, a made-up one, no key, or the stored hash of the real key
    status, _ = post(local_stack.base_url, "/v1/track", track("Product Viewed", product("p1"), userId=user), key=key)
    local_stack.wait_idle()

    # Then the request is refused and the customer does not exist in either shop
    assert status == 401
    assert customer(local_stack.base_url, user)[0] == 404
    assert customer(local_stack.base_url, user, key="fast-secret-key")[0] == 404
    figures.add("security", refused_keys=1)


def test_another_shops_keys_never_reach_this_shops_customers(local_stack):
    # Given a demo customer with an email address
    user = unique("tenant")
    make_customer(local_stack, user, {"email": f"{user}@example.com", "firstName": "Tia"}, ["email"])

    # When the fast shop's support reads that customer id, and its tracking client writes to the same user id
    read_by_other_shop = customer(local_stack.base_url, user, key="fast-secret-key")
    read_with_write_key = customer(local_stack.base_url, user, key="demo-write-key")
    status, _ = post(
        local_stack.base_url, "/v1/identify", identify({"firstName": "Mallory"}, userId=user), key="fast-write-key"
    )
    local_stack.wait_idle()

    # Then the other shop sees nothing of demo's customer, a write key reads nothing, and demo's customer is untouched
    assert read_by_other_shop[0] == 404 and user + "@example.com" not in json.dumps(read_by_other_shop[1])
    assert read_with_write_key[0] == 401
    assert status == 200
    demo = customer(local_stack.base_url, user)[1]
    fast = customer(local_stack.base_url, user, key="fast-secret-key")[1]
    assert demo["traits"]["first_name"] == "Tia" and demo["traits"]["email"] == f"{user}@example.com"
    assert fast["traits"] == {"first_name": "Mallory"}
    figures.add("security", cross_shop_reads_refused=2)


# ---------------------------------------------------------------- unsubscribe tokens


def tamper(token: str, customer_key: str) -> str:
    _payload, mac = token.split(".")
    other = base64.urlsafe_b64encode(json.dumps(["demo", customer_key, "email"], separators=(",", ":")).encode())
    return f"{other.decode().rstrip('=')}.{mac}"


def test_forged_and_tampered_unsubscribe_links_are_404_and_unsubscribe_nobody(local_stack):
    # Given two customers who allowed email, one of whom got a marketing email with a one-click unsubscribe link
    victim, attacker = unique("victim"), unique("attacker")
    for user in (victim, attacker):
        make_customer(local_stack, user, {"email": f"{user}@example.com", "firstName": "Uma"}, ["email"])
    due(local_stack, attacker, channels=["email"])
    (mail,) = emails_to(f"{attacker}@example.com")
    link = mail["List-Unsubscribe"].strip("<>")
    real = link.rsplit("/u/", 1)[1]

    # When someone posts forged tokens: the real one pointed at the victim, one signed with their own key, cut short,
    # garbage; and GETs them
    forged = [
        tamper(real, f"u:{victim}"),
        issue_unsubscribe_token(b"attackers-own-key-0123456789abcdef", "demo", f"u:{victim}", "email"),
        real[:-3],
        real + "A",
        "not-a-token",
    ]
    answers = []
    for token in forged:
        for method in ("POST", "GET"):
            answers.append(request(local_stack, method, f"/u/{token}", {"Content-Type": "text/plain"}, b"x=y")[0])
    local_stack.wait_idle()

    # Then every one is a plain 404, and the victim still receives email
    assert set(answers) == {404}
    assert customer(local_stack.base_url, victim)[1]["consent"]["email"]["status"] == "granted"

    # (and the genuine link does unsubscribe its own customer)
    assert (
        request(local_stack, "POST", f"/u/{real}", {"Content-Type": "text/plain"}, b"List-Unsubscribe=One-Click")[0]
        == 200
    )
    local_stack.wait_idle()
    assert customer(local_stack.base_url, attacker)[1]["consent"]["email"]["status"] == "withdrawn"
    figures.add("security", forged_unsubscribe_requests=len(answers))


def test_preference_centre_links_open_only_their_own_customer_and_no_other_page(local_stack):
    # Given two customers who allowed email, one of whom got a marketing email linking to her preference centre
    victim, holder = unique("victim"), unique("holder")
    for user in (victim, holder):
        make_customer(local_stack, user, {"email": f"{user}@example.com", "firstName": "Uma"}, ["email"])
    due(local_stack, holder, channels=["email"])
    (mail,) = emails_to(f"{holder}@example.com")
    real = re.findall(r"/p/([A-Za-z0-9_.-]+)", mail.get_body(("plain",)).get_content())[0]
    unsubscribe = mail["List-Unsubscribe"].strip("<>").rsplit("/u/", 1)[1]
    form = b"shown_channel=email"  # would switch e-mail off

    # When someone posts the form to forged tokens (the real one pointed at the victim, one signed with their own key,
    # cut short), to the unsubscribe token (another page's), and the preference token to the unsubscribe page
    forged = [
        tamper(real, f"u:{victim}"),
        issue_unsubscribe_token(b"attackers-own-key-0123456789abcdef", "demo", f"u:{victim}", "email"),
        real[:-3],
        unsubscribe,
    ]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answers = [
        request(local_stack, method, f"/p/{token}", headers, form)[0] for token in forged for method in ("GET", "POST")
    ]
    answers.append(request(local_stack, "POST", f"/u/{real}", headers, b"List-Unsubscribe=One-Click")[0])
    local_stack.wait_idle()

    # Then every one is a plain 404 and both still receive email; the genuine link changes its own customer only
    assert set(answers) == {404}
    assert request(local_stack, "POST", f"/p/{real}", headers, form)[0] == 200
    local_stack.wait_idle()
    assert customer(local_stack.base_url, victim)[1]["consent"]["email"]["status"] == "granted"
    withdrawn = customer(local_stack.base_url, holder)[1]["consent"]["email"]
    assert (withdrawn["status"], withdrawn["source"]) == ("withdrawn", "preference_centre")
    figures.add("security", forged_preference_requests=len(answers))


# ---------------------------------------------------------------- inbox tokens


def inbox_token(customer_id: str, secret_key: str, shop_id: str = "demo") -> str:
    key = hashlib.sha256(secret_key.encode()).hexdigest().encode()
    return hmac.new(key, f"{shop_id}\n{customer_id}".encode(), hashlib.sha256).hexdigest()


def test_the_inbox_refuses_forged_customer_tokens(local_stack):
    # Given a customer with a message in their in-app inbox
    user, other = unique("inbox"), unique("other")
    make_customer(local_stack, user, {"firstName": "Ina"}, ["in_app"])
    post(local_stack.base_url, "/v1/track", track("Application Installed", {}, userId=user))
    local_stack.wait_idle()
    due(local_stack, user, channels=["in_app"])

    def inbox(token: str, key: str = "demo-write-key", who: str = user) -> int:
        headers = {"Authorization": basic(key), "X-Nudge-Customer-Token": token}
        return request(local_stack, "GET", f"/v1/inbox/{who}", headers)[0]

    # When the app presents a token made with a wrong secret, another customer's token, another shop's, none, or the
    # right token with another shop's write key
    refused = [
        inbox(inbox_token(user, "guessed-secret")),
        inbox(inbox_token(other, "demo-secret-key")),
        inbox(inbox_token(user, "fast-secret-key", "fast")),
        inbox(inbox_token(user, "demo-secret-key", "fast")),
        inbox(""),
        inbox(inbox_token(user, "demo-secret-key"), key="fast-write-key"),
        inbox(inbox_token(user, "demo-secret-key"), key="demo-secret-key"),
    ]

    # Then each is 401, and the right token opens the inbox
    assert refused == [401] * len(refused)
    status, body = request(
        local_stack,
        "GET",
        f"/v1/inbox/{user}",
        {"Authorization": basic("demo-write-key"), "X-Nudge-Customer-Token": inbox_token(user, "demo-secret-key")},
    )
    assert status == 200 and json.loads(body)["unread"] == 1
    figures.add("security", forged_inbox_requests=len(refused))


# ---------------------------------------------------------------- template injection


@pytest.mark.parametrize("payload", INJECTIONS, ids=["class", "subclasses", "script"])
def test_template_injection_in_a_trait_is_delivered_as_inert_text(local_stack, payload):
    # Given a customer whose first name is a template expression or a script
    user, token = unique("inject"), unique("fcm")
    make_customer(local_stack, user, {"firstName": payload, "email": f"{user}@example.com"}, ["email", "push"])
    post(
        local_stack.base_url,
        "/v1/track",
        track("Application Installed", {}, userId=user, context={"device": {"token": token, "type": "android"}}),
    )
    local_stack.wait_idle()

    # When they get an email and a push
    due(local_stack, user, channels=["email"])
    due(local_stack, user, channels=["push"])

    # Then the expression was not evaluated and the script is not markup
    (mail,) = emails_to(f"{user}@example.com")
    (push,) = pushes_to(token)
    html = mail.get_body(preferencelist=("html",)).get_content()
    text = mail.get_body(preferencelist=("plain",)).get_content()
    for part in (mail["Subject"], html, text, push):
        assert "<class" not in part  # what evaluating ''.__class__ (or its subclasses) would print
    assert "<script" not in html.lower()
    assert payload in text or payload in mail["Subject"]  # shown as the text it is
    figures.add("security", injection_payloads_delivered_inert=1)


# ---------------------------------------------------------------- no PII in logs


def test_no_email_address_or_phone_number_reaches_any_log_line(local_stack, log_lines):
    # Given customers with addresses and numbers on every channel, messages to each, a bounce-worthy address, an
    # unsubscribe, an SMS STOP reply and a WhatsApp message
    user, number = unique("pii"), phone()
    traits = {"email": f"{user}@example.com", "phone": number, "whatsapp": number, "firstName": "Pia"}
    make_customer(local_stack, user, traits, ["email", "sms", "whatsapp", "push"])
    bad = unique("bad")
    make_customer(local_stack, bad, {"email": f"{bad}@example.com", "phone": "+1 (206) 555-0100"}, ["sms"])
    local_stack.providers.reject(
        "+12065550100", 400, "ValidationException", Reason="INVALID_PARAMETER", message="bad number +12065550100"
    )
    for channels in (["email"], ["sms"], ["whatsapp"], ["push"]):
        due(local_stack, user, channels=channels)
    due(local_stack, bad, channels=["sms", "email"])
    (mail,) = emails_to(f"{user}@example.com")
    request(local_stack, "POST", "/u/" + mail["List-Unsubscribe"].strip("<>").rsplit("/u/", 1)[1], {}, b"")
    stop = {
        "originationNumber": number,
        "destinationNumber": "+4915112345678",
        "messageBody": "STOP",
        "inboundMessageId": unique("in"),
        "messageKeyword": "KEYWORD",
    }
    from shared import aws

    topic = local_stack.resources["FeedbackTopic"]
    aws.sns().publish(TopicArn=topic, Message=json.dumps(stop))
    post(local_stack.base_url, "/v1/identify", identify({"email": "not-an-email@@"}, userId=user))
    local_stack.wait_idle()

    # Then no line the functions logged holds an email address or a phone number
    assert log_lines, "the capture saw the functions log"
    leaks = [line for line in log_lines if EMAIL.search(line) or PHONE.search(line)]
    assert leaks == []
    figures.add("security", log_lines_checked=len(log_lines), log_lines_with_pii=len(leaks))
