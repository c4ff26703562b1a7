"""Email through SES v2 ``SendEmail`` with Raw MIME content.

Raw, not Simple: the one-click unsubscribe headers must reach the recipient exactly as written (and moto drops
Simple-content headers, so only Raw can be tested end to end). The message is ``multipart/alternative`` (text, then
HTML) with a UTF-8 subject, and, for marketing mail, RFC 8058's ``List-Unsubscribe: <https://...>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``. SES overwrites ``Message-ID``, so nudge's message id travels
as the ``nudge_message_id`` email tag (in SES events) and the ``X-Nudge-Message-Id`` header (in bounces), both
restricted to SES's tag alphabet. ``X-Nudge-Ref`` carries the router's signed (shop, customer) reference: SES event
notifications repeat the sent headers (``mail.headers``), so the feedback function knows whose address bounced or
complained without trusting the notification.
"""

from __future__ import annotations

import hashlib
import re
from email import quoprimime
from email.header import Header
from email.headerregistry import Address as MailAddress
from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import Any

from shared import aws
from shared.adapters.channels._aws import AWS_CALL_ERRORS, AwsFailure, AwsProvider
from shared.models.channels import EMAIL_ADDRESS, EmailSettings, SendContext
from shared.models.config import Channel
from shared.models.messages import (
    Address,
    Content,
    DeliveryError,
    PermanentDeliveryError,
    Receipt,
    TransientDeliveryError,
)

MESSAGE_ID_TAG = "nudge_message_id"
MESSAGE_ID_HEADER = "X-Nudge-Message-Id"
FEEDBACK_REF_HEADER = "X-Nudge-Ref"
_ONE_LINE_HEADERS = {"list-unsubscribe", FEEDBACK_REF_HEADER.lower()}
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_TAG_MAX = 256


class _MailPolicy(EmailPolicy):
    """SMTP policy (CRLF, 78-column folding) with two exceptions the standard library gets wrong.

    ``List-Unsubscribe`` and ``X-Nudge-Ref`` are written on one line, exactly as given: a long URL or token has no
    folding whitespace, so the default policy would RFC 2047-encode it and it would no longer be a URL or a token
    (RFC 5322 allows 998 characters per line). A non-ASCII ``Subject`` is written as whole UTF-8 encoded words: the
    default folder can mix encoded and plain words so that decoders show doubled spaces.

    A header that is the same in every message (:func:`_fixed`) is folded once.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        fixed = _FOLDED.get(id(value))
        if fixed is not None and fixed[0] is value:
            return fixed[1]
        if name.lower() in _ONE_LINE_HEADERS:
            return f"{name}: {value}{self.linesep}".encode("ascii")
        if name.lower() == "subject" and not str(value).isascii():
            encoded = Header(str(value), "utf-8", header_name=name).encode(linesep=self.linesep, maxlinelen=78)
            return f"{name}: {encoded}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_POLICY = _MailPolicy(linesep="\r\n")
_LINE_LENGTH = _POLICY.max_line_length or 78  # what set_content encodes a quoted-printable body to
# Headers that are the same in every message of a sender, parsed (and folded) once: (name, value) -> header.
_FIXED: dict[tuple[str, str, str], Any] = {}
_FOLDED: dict[int, tuple[Any, bytes]] = {}  # id of a fixed header (kept alive by _FIXED) -> it, folded
_MAX_FIXED = 1024  # senders times headers; beyond, headers are parsed per message as any other


def _fixed(name: str, value: str, display_name: str | None = None) -> Any:
    """The header ``name: value`` as the policy stores it (``display_name`` given: an address with that name),
    made once and folded once."""
    key = (name, value, display_name if display_name is not None else "\0")
    header = _FIXED.get(key)
    if header is None:
        parsed = MailAddress(display_name=display_name, addr_spec=value) if display_name is not None else value
        header = _POLICY.header_store_parse(name, parsed)[1]
        if len(_FIXED) < _MAX_FIXED:
            _FIXED[key] = header
            _FOLDED[id(header)] = (header, super(_MailPolicy, _POLICY).fold_binary(name, header))
    return header


_EMAIL_ADDRESS = re.compile(EMAIL_ADDRESS)

# SES sends to a syntactically invalid recipient with BadRequestException (SES v1 and moto: InvalidParameterValue).
_INVALID_ADDRESS = {"BadRequestException", "InvalidParameterValue"}
_THROTTLED = {"TooManyRequestsException", "Throttling"}


def tag_value(message_id: str) -> str:
    """``message_id`` in SES's tag alphabet ``[A-Za-z0-9_-]`` (max 256), deterministic and collision-resistant.

    Unchanged when already valid; otherwise unsafe characters become ``_`` and a hash of the original is appended.
    """
    if len(message_id) <= _TAG_MAX and not _TAG_UNSAFE.search(message_id):
        return message_id
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:16]
    return f"{_TAG_UNSAFE.sub('_', message_id)[: _TAG_MAX - 17]}-{digest}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def mime_message(
    settings: EmailSettings,
    to: str,
    content: Content,
    message_id: str,
    unsubscribe_url: str | None,
    feedback_ref: str | None = None,
) -> bytes:
    """The raw RFC 5322 message: deterministic bytes for the same inputs (the MIME boundary derives from the id).

    The message ``set_content(text, cte="quoted-printable")`` and, with HTML, ``add_alternative(html, ...)`` and
    ``set_boundary`` make, built directly: the same headers in the same order, each part's body encoded by the same
    function, the sender's headers and the parts' content headers parsed and folded once rather than per message.
    """
    message = EmailMessage(policy=_POLICY)
    message["From"] = _fixed("From", settings.from_address, display_name=settings.from_name or "")
    message["To"] = to
    if settings.reply_to:
        message["Reply-To"] = _fixed("Reply-To", settings.reply_to)
    message["Subject"] = _one_line(content.title)
    message[MESSAGE_ID_HEADER] = tag_value(message_id)
    if feedback_ref is not None:
        message[FEEDBACK_REF_HEADER] = feedback_ref
    if unsubscribe_url is not None:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = _fixed("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    if content.html is None:
        _text_part(message, content.text, "plain")
        message["MIME-Version"] = _fixed("MIME-Version", "1.0")
        return message.as_bytes()
    # add_alternative moves the text's content headers into a first part, keeps MIME-Version, and makes the message
    # multipart/alternative; the HTML part is a message of its own, so it gets a MIME-Version too.
    message["MIME-Version"] = _fixed("MIME-Version", "1.0")
    message["Content-Type"] = (
        f'multipart/alternative; boundary="nudge-{hashlib.sha256(message_id.encode()).hexdigest()[:32]}"'
    )
    text, html = EmailMessage(policy=_POLICY), EmailMessage(policy=_POLICY)
    _text_part(text, content.text, "plain")
    _text_part(html, content.html, "html")
    html["MIME-Version"] = _fixed("MIME-Version", "1.0")
    message.set_payload([text, html])
    return message.as_bytes()


def _text_part(part: EmailMessage, text: str, subtype: str) -> None:
    """What ``set_text_content`` does for UTF-8 text and quoted-printable: the two content headers, the body encoded
    as ``email.contentmanager._encode_text`` encodes it."""
    part["Content-Type"] = _fixed("Content-Type", f'text/{subtype}; charset="utf-8"')
    part["Content-Transfer-Encoding"] = _fixed("Content-Transfer-Encoding", "quoted-printable")
    lines = text.encode("utf-8").splitlines()
    part.set_payload(quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), _LINE_LENGTH))


def email_request(
    settings: EmailSettings, to: str, content: Content, message_id: str, context: SendContext
) -> dict[str, Any]:
    """The SES v2 SendEmail request for one message.

    Raises ValueError for marketing mail without an unsubscribe URL: bulk senders must offer one-click unsubscribe
    (Gmail/Yahoo), so the router must pass ``context.unsubscribe_url`` unless the message is transactional.
    """
    if context.unsubscribe_url is None and not context.transactional:
        raise ValueError("marketing email needs context.unsubscribe_url (RFC 8058 one-click unsubscribe)")
    request: dict[str, Any] = {
        "FromEmailAddress": settings.from_address,
        "Destination": {"ToAddresses": [to]},
        "Content": {
            "Raw": {
                "Data": mime_message(settings, to, content, message_id, context.unsubscribe_url, context.feedback_ref)
            }
        },
        "EmailTags": [{"Name": MESSAGE_ID_TAG, "Value": tag_value(message_id)}],
    }
    if settings.configuration_set:
        request["ConfigurationSetName"] = settings.configuration_set
    return request


def email_error(error: Exception) -> DeliveryError:
    """The delivery error for a failed SES v2 SendEmail (the one place SES errors are read).

    Only a malformed recipient is permanent for the *address*. SES does not refuse a suppressed or bouncing address
    at send time (that comes back later as bounce/complaint feedback), so nothing else SES answers says the address
    is dead. ``MessageRejected`` (sender identity not verified, sandbox recipient not verified, content with a
    virus), ``MailFromDomainNotVerifiedException``, ``AccountSuspendedException``, ``SendingPausedException``,
    ``NotFoundException`` (configuration set) and ``LimitExceededException`` (sending quota) are configuration or
    account states: they are transient, so the message is retried and then lands in the dead-letter queue with its
    reason, instead of silently moving every customer to another channel forever.
    """
    failure = AwsFailure.of(error)
    if failure.code in _INVALID_ADDRESS:
        return PermanentDeliveryError("invalid_email_address")
    if failure.code in _THROTTLED:
        return TransientDeliveryError("email_throttled")
    if failure.code == "MessageRejected":
        return TransientDeliveryError("email_rejected: MessageRejected")
    if failure.code == "LimitExceededException":
        return TransientDeliveryError("email_quota_exceeded")
    if failure.server_side:
        return TransientDeliveryError("email_unavailable")
    return TransientDeliveryError(f"email_config: {failure.code}")


class EmailProvider(AwsProvider[EmailSettings]):
    """Sends email through SES v2 from the shop's verified identity."""

    channel: Channel = "email"

    client_factory = staticmethod(aws.sesv2)

    def send(
        self, address: Address, content: Content, message_id: str, *, context: SendContext | None = None
    ) -> Receipt:
        """Send ``content`` to the address in ``address.value``; raises a DeliveryError if SES refuses.

        ``context.unsubscribe_url`` (this message's one-click link) is required unless ``context.transactional``.
        """
        if not _EMAIL_ADDRESS.fullmatch(address.value):
            raise PermanentDeliveryError("invalid_email_address")
        context = context or SendContext()
        request = email_request(self.settings, address.value, content, message_id, context)
        try:
            response = self.client.send_email(**request)
        except AWS_CALL_ERRORS as error:
            raise email_error(error) from error
        return Receipt(
            provider_message_id=response.get("MessageId"),
            details={"one_click_unsubscribe": context.unsubscribe_url is not None},
        )
