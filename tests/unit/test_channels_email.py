"""Email through SES v2: the raw message a recipient's mailbox sees, and which SES answers move to another channel."""

from __future__ import annotations

import email
import hashlib
import re
from email import policy

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.adapters.channels.email import EmailProvider, email_request, mime_message, tag_value
from shared.models.channels import EmailSettings, SendContext
from shared.models.messages import Address, Content, PermanentDeliveryError, TransientDeliveryError

SETTINGS = EmailSettings(from_address="hello@demo-shop.example", from_name="Démo Shop", configuration_set="nudge")
UNSUBSCRIBE = "https://nudge.example/u/" + "eyJkZW1vIiwidTphZGEiLCJlbWFpbCJd" * 4 + ".c2lnbmF0dXJlMTIzNDU2Nw"
MARKETING = SendContext(unsubscribe_url=UNSUBSCRIBE)
TRANSACTIONAL = SendContext(transactional=True)
TO = "ada@example.com"


def content(**changes) -> Content:
    fields = {
        "channel": "email",
        "locale": "de",
        "title": "Dein Warenkorb wartet: 10 % Rabatt für dich 🎁",
        "text": "Hallo Ada, dein Warenkorb wartet.",
        "html": "<p>Hallo <b>Ada</b>, dein Warenkorb wartet, 10 € für dich.</p>",
    }
    return Content(**{**fields, **changes})


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def text_of(part) -> str:
    """A part's decoded text with the wire's CRLF line ends read as newlines."""
    return part.get_content().replace("\r\n", "\n")


def header_lines(raw: bytes) -> list[str]:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")


def ses_stub():
    client = boto3.client("sesv2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


# ---------------------------------------------------------------- the message


def test_the_mail_has_a_text_and_an_html_alternative_and_a_utf8_subject():
    message = parsed(mime_message(SETTINGS, TO, content(), "m-1", UNSUBSCRIBE))

    assert message.get_content_type() == "multipart/alternative"
    parts = [(part.get_content_type(), text_of(part)) for part in message.iter_parts()]
    assert parts == [
        ("text/plain", "Hallo Ada, dein Warenkorb wartet.\n"),
        ("text/html", "<p>Hallo <b>Ada</b>, dein Warenkorb wartet, 10 € für dich.</p>\n"),
    ]
    assert message["Subject"] == "Dein Warenkorb wartet: 10 % Rabatt für dich 🎁"
    assert message["From"].addresses[0].display_name == "Démo Shop"
    assert message["To"] == TO


def test_marketing_mail_offers_one_click_unsubscribe_on_single_unfolded_header_lines():
    raw = mime_message(SETTINGS, TO, content(), "m-1", UNSUBSCRIBE)

    lines = header_lines(raw)
    assert f"List-Unsubscribe: <{UNSUBSCRIBE}>" in lines  # exactly, not RFC 2047-encoded or folded
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines


def test_other_headers_still_fold_so_a_long_subject_stays_standard():
    raw = mime_message(SETTINGS, TO, content(title="Grüße aus dem Shop " * 20), "m-1", UNSUBSCRIBE)

    long_lines = [line for line in header_lines(raw) if len(line) > 78]
    assert long_lines == [f"List-Unsubscribe: <{UNSUBSCRIBE}>"]
    assert parsed(raw)["Subject"] == ("Grüße aus dem Shop " * 20).strip()


@pytest.mark.parametrize("url", ["http://nudge.example/u/t", "https://nudge.example/u/t>\r\nBcc: x", "mailto:u@x"])
def test_only_a_plain_https_url_can_become_the_unsubscribe_link(url):
    with pytest.raises(ValidationError, match="https"):
        SendContext(unsubscribe_url=url)


def test_transactional_mail_may_go_without_unsubscribe_headers():
    request = email_request(SETTINGS, TO, content(), "m-1", TRANSACTIONAL)

    message = parsed(request["Content"]["Raw"]["Data"])
    assert "List-Unsubscribe" not in message
    assert "List-Unsubscribe-Post" not in message


def test_marketing_mail_without_an_unsubscribe_url_is_refused_before_sending():
    with pytest.raises(ValueError, match="unsubscribe_url"):
        email_request(SETTINGS, TO, content(), "m-1", SendContext())


def test_a_text_only_message_is_a_single_text_part():
    message = parsed(mime_message(SETTINGS, TO, content(html=None), "m-1", None))

    assert message.get_content_type() == "text/plain"
    assert text_of(message) == "Hallo Ada, dein Warenkorb wartet.\n"


def test_a_line_break_in_the_subject_cannot_inject_headers():
    message = parsed(mime_message(SETTINGS, TO, content(title="Hi\r\nBcc: evil@example.com"), "m-1", None))

    assert message["Subject"] == "Hi Bcc: evil@example.com"
    assert "Bcc" not in message


def test_the_same_message_builds_the_same_bytes():
    assert mime_message(SETTINGS, TO, content(), "m-1", UNSUBSCRIBE) == mime_message(
        SETTINGS, TO, content(), "m-1", UNSUBSCRIBE
    )


def test_the_request_carries_the_message_id_as_an_ses_tag_and_header():
    request = email_request(SETTINGS, TO, content(), "demo#u:ada#cart_abandonment#1", MARKETING)

    (tag,) = request["EmailTags"]
    assert tag["Name"] == "nudge_message_id"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", tag["Value"])
    assert parsed(request["Content"]["Raw"]["Data"])["X-Nudge-Message-Id"] == tag["Value"]
    assert request["FromEmailAddress"] == "hello@demo-shop.example"
    assert request["Destination"] == {"ToAddresses": [TO]}
    assert request["ConfigurationSetName"] == "nudge"


def test_the_signed_feedback_ref_rides_on_one_unfolded_header_line():
    # Given the router's signed (shop, customer) reference, longer than a folded header line
    ref = "WyJkZW1vIiwidTphZGEtbG92ZWxhY2UtMTgxNSIsImVtYWlsIl0" * 3 + ".gag5M4uG-poJPYzm37mbIw"
    context = SendContext(unsubscribe_url=UNSUBSCRIBE, feedback_ref=ref)

    # When the mail is built
    raw = email_request(SETTINGS, TO, content(), "m-1", context)["Content"]["Raw"]["Data"]

    # Then SES's bounce and complaint notifications will repeat it exactly (mail.headers)
    assert f"X-Nudge-Ref: {ref}" in header_lines(raw)
    assert parsed(raw)["X-Nudge-Ref"] == ref


def test_transactional_mail_carries_the_feedback_ref_too():
    raw = email_request(SETTINGS, TO, content(), "m-1", SendContext(transactional=True, feedback_ref="abc.def"))
    assert parsed(raw["Content"]["Raw"]["Data"])["X-Nudge-Ref"] == "abc.def"


@pytest.mark.parametrize("ref", ["abc\r\nBcc: evil@example.com", "a b", "x" * 961, ""])
def test_a_feedback_ref_that_could_break_or_overflow_the_header_is_refused(ref):
    with pytest.raises(ValidationError):
        SendContext(feedback_ref=ref)


def test_tag_values_keep_safe_ids_and_keep_different_ids_apart():
    assert tag_value("cart_reminder-123") == "cart_reminder-123"
    assert tag_value("a#b") != tag_value("a:b")  # both sanitise to a_b; the hash keeps them apart
    assert tag_value("a#b") == tag_value("a#b")
    assert len(tag_value("x#" * 300)) <= 256


# ---------------------------------------------------------------- send and errors (exact SES answers)


def test_send_returns_the_ses_message_id():
    client, stub = ses_stub()
    stub.add_response("send_email", {"MessageId": "ses-1"}, email_request(SETTINGS, TO, content(), "m-1", MARKETING))

    with stub:
        receipt = EmailProvider(SETTINGS, client).send(
            Address(channel="email", value=TO), content(), "m-1", context=MARKETING
        )

    assert receipt.provider_message_id == "ses-1"
    assert receipt.details == {"one_click_unsubscribe": True}


@pytest.mark.parametrize(
    ("code", "status", "kind", "reason"),
    [
        ("BadRequestException", 400, PermanentDeliveryError, "invalid_email_address"),
        ("MessageRejected", 400, TransientDeliveryError, "email_rejected: MessageRejected"),
        (
            "MailFromDomainNotVerifiedException",
            400,
            TransientDeliveryError,
            "email_config: MailFromDomainNotVerifiedException",
        ),
        ("AccountSuspendedException", 400, TransientDeliveryError, "email_config: AccountSuspendedException"),
        ("SendingPausedException", 400, TransientDeliveryError, "email_config: SendingPausedException"),
        ("NotFoundException", 404, TransientDeliveryError, "email_config: NotFoundException"),
        ("LimitExceededException", 400, TransientDeliveryError, "email_quota_exceeded"),
        ("TooManyRequestsException", 429, TransientDeliveryError, "email_throttled"),
        ("InternalServiceErrorException", 500, TransientDeliveryError, "email_unavailable"),
    ],
)
def test_only_a_malformed_recipient_moves_email_to_the_next_channel(code, status, kind, reason):
    client, stub = ses_stub()
    stub.add_client_error("send_email", service_error_code=code, http_status_code=status)

    with stub, pytest.raises(kind) as raised:
        EmailProvider(SETTINGS, client).send(Address(channel="email", value=TO), content(), "m-1", context=MARKETING)

    assert raised.value.reason == reason


@pytest.mark.parametrize(
    "address", ["not-an-address", "ada@example.com\r\nBcc: x@example.com", "Ada <ada@example.com>"]
)
def test_a_malformed_address_fails_permanently_without_calling_ses(address):
    client, stub = ses_stub()

    with stub, pytest.raises(PermanentDeliveryError, match="invalid_email_address"):
        EmailProvider(SETTINGS, client).send(
            Address(channel="email", value=address), content(), "m-1", context=MARKETING
        )


# ---------------------------------------------------------------- the message is the standard library's


def stdlib_mime_message(
    settings: EmailSettings, to: str, body: Content, message_id: str, unsubscribe: str | None, ref: str | None
) -> bytes:
    """The message as the standard library builds it with set_content, add_alternative and set_boundary: what
    mime_message builds directly, byte for byte."""
    from email.headerregistry import Address as MailAddress
    from email.message import EmailMessage

    from shared.adapters.channels.email import FEEDBACK_REF_HEADER, MESSAGE_ID_HEADER, _MailPolicy

    mail_policy = _MailPolicy(linesep="\r\n")
    message = EmailMessage(policy=mail_policy)
    message["From"] = MailAddress(display_name=settings.from_name or "", addr_spec=settings.from_address)
    message["To"] = to
    if settings.reply_to:
        message["Reply-To"] = settings.reply_to
    message["Subject"] = " ".join(body.title.split())
    message[MESSAGE_ID_HEADER] = tag_value(message_id)
    if ref is not None:
        message[FEEDBACK_REF_HEADER] = ref
    if unsubscribe is not None:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(body.text, cte="quoted-printable")
    if body.html is not None:
        message.add_alternative(body.html, subtype="html", cte="quoted-printable")
        message.set_boundary(f"nudge-{hashlib.sha256(message_id.encode()).hexdigest()[:32]}")
    return message.as_bytes()


PIECES = ["a", "Z", " ", "  ", "\t", "\n", "\r\n", "\r", "ä", "€", "😀", "=", ".", "From ", "x" * 80, "é" * 30]
PIECES += ["\u2028", "\x0c", "--", "<p>", "&amp;", '"', ",", ";", "\u00a0", "=C3=A4", "ß" * 40 + " "]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.lists(st.sampled_from(PIECES), min_size=1, max_size=60).map("".join),
    html=st.none() | st.lists(st.sampled_from(PIECES), min_size=1, max_size=80).map("".join),
    title=st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join).filter(lambda t: t.strip()),
    from_name=st.sampled_from([None, "Démo Shop", "Shop, Inc.", 'The "Best" Shop', "A" * 90, "Ünïcødé 😀 Store"]),
    reply_to=st.sampled_from([None, "care@demo-shop.example"]),
    to=st.sampled_from([TO, "Very.Long.Name.Of.A.Customer+tag@some.subdomain.example"]),
    message_id=st.sampled_from(["m-1", "x" * 300, "msg with spaces/ä"]),
    unsubscribe=st.sampled_from([None, UNSUBSCRIBE]),
    ref=st.sampled_from([None, "ref-" + "r" * 120]),
)
def test_the_message_is_byte_for_byte_what_the_standard_library_builds(
    text, html, title, from_name, reply_to, to, message_id, unsubscribe, ref
):
    sender = EmailSettings(from_address="hello@demo-shop.example", from_name=from_name, reply_to=reply_to)
    body = Content(channel="email", locale="de", title=title, text=text, html=html)

    built = mime_message(sender, to, body, message_id, unsubscribe, ref)

    assert built == stdlib_mime_message(sender, to, body, message_id, unsubscribe, ref)
    assert mime_message(sender, to, body, message_id, unsubscribe, ref) == built  # and again, headers folded once
