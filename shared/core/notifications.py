"""Provider notifications read into typed notices: one pure parser per source, no I/O, no PII in any error text.

All four arrive as the ``Message`` of an SNS notification on the feedback topic:

- **SES event publishing** (``eventType``; the older identity notifications say ``notificationType``): a
  ``Permanent`` bounce is a hard bounce of each bounced recipient; ``Transient`` and ``Undetermined`` bounces are
  ignored (SES retried already; the address may recover). A ``Complaint`` is a complaint, except the
  ``not-spam`` feedback type. Whose mail it was comes from the signed ``X-Nudge-Ref`` header SES repeats in
  ``mail.headers`` (or, failing that, from the token in ``List-Unsubscribe``); the caller verifies it. A
  ``Delivery``, an ``Open`` and a ``Click`` are engagement with the message the ``X-Nudge-Message-Id`` header (or the
  ``nudge_message_id`` tag) names; a click on nudge's own click redirect (``/c/``) is left to the redirect, which
  records it already.
- **AWS End User Messaging SMS two-way** (``originationNumber``, ``destinationNumber``, ``messageBody``,
  ``inboundMessageId``): only a reply that *is* an opt-out keyword (``shared.core.sms.opt_out_keyword``) matters.
  HELP/INFO need nothing from nudge: AWS answers them with the phone number's registered HELP auto-response.
- **SNS mobile push application events** (``EventType``): ``EndpointUpdated`` that leaves the endpoint disabled and
  ``DeliveryFailure`` with ``FailureType`` ``EndpointDisabled`` or ``InvalidPlatformToken``. The event names only the
  endpoint; the caller reads its owner (``CustomUserData``) and token with ``GetEndpointAttributes``.
- **AWS End User Messaging Social** (``whatsAppWebhookEntry``, a JSON string of Meta's webhook entry, beside a
  ``context`` naming the WABA's phone number ids): each inbound ``messages[]`` item is the customer writing.
  Delivery ``statuses`` are ignored.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Json,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from shared.core.sms import is_help_keyword, opt_out_keyword

_REF_HEADER = "x-nudge-ref"  # the email adapter's FEEDBACK_REF_HEADER, as SES lists it (any case)
_UNSUBSCRIBE_TOKEN = re.compile(r"<https://[^>\s]*/u/([A-Za-z0-9_.-]+)>")
_PHONE_NUMBER_ID = re.compile(r"phone-number-id[-/]([0-9A-Za-z]+)$")
_DISABLING_FAILURES = {"EndpointDisabled", "InvalidPlatformToken"}


class UnreadableNotificationError(ValueError):
    """The notification is not one nudge reads, or is malformed; the message says why without any address."""


@dataclass(frozen=True, slots=True)
class EmailFeedback:
    """A permanent bounce or a complaint SES reported about one email nudge sent."""

    reason: Literal["hard_bounce", "complaint"]
    recipients: tuple[str, ...]
    ref: str | None  # the signed (shop, customer) reference the email carried
    feedback_id: str
    occurred_at: datetime
    detail: str  # bounce subtype or complaint feedback type, for logs


@dataclass(frozen=True, slots=True)
class SmsOptOut:
    """A customer replied with an opt-out keyword from ``sender`` to the shop's number ``recipient``."""

    sender: str
    recipient: str
    keyword: str
    inbound_message_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class PushEndpointChange:
    """SNS says a platform endpoint is disabled (``disabled``) or may be (None: read the endpoint to know)."""

    endpoint_arn: str
    event_type: str
    disabled: bool | None
    notification_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class WhatsAppInbound:
    """A customer wrote on WhatsApp from ``sender`` to one of the business numbers in ``phone_number_ids``."""

    sender: str  # E.164
    phone_number_ids: tuple[str, ...]  # AWS phone number ids, bare (the part after "phone-number-id-")
    message_id: str  # Meta's wamid
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class EmailEngagement:
    """SES delivered an email nudge sent, or its recipient opened it or clicked a link in it."""

    action: Literal["delivered", "opened", "clicked"]
    ref: str | None  # the signed (shop, customer) reference the email carried
    message_id: str | None  # nudge's id of the message
    url: str | None
    feedback_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Ignored:
    """A notification nudge reads but that changes nothing (a transient bounce, HELP, a delivery status, ...)."""

    source: str
    reason: str


Notice = EmailFeedback | EmailEngagement | SmsOptOut | PushEndpointChange | WhatsAppInbound | Ignored


def parse_notification(message: str, notification_id: str, published_at: datetime) -> list[Notice]:
    """The notices in one SNS ``Message``; raises UnreadableNotificationError for anything else.

    ``notification_id`` and ``published_at`` are the SNS envelope's ``MessageId`` and ``Timestamp``: the dedupe key
    and the time for sources that carry neither.
    """
    try:
        body = json.loads(message)
    except (TypeError, ValueError) as error:
        raise UnreadableNotificationError("the message is not JSON") from error
    if not isinstance(body, dict):
        raise UnreadableNotificationError("the message is not a JSON object")
    if "eventType" in body or "notificationType" in body:
        return parse_ses_event(body, notification_id, published_at)
    if "originationNumber" in body and "messageBody" in body:
        return parse_sms_inbound(body, published_at)
    if "EventType" in body:
        return parse_push_event(body, notification_id, published_at)
    if "whatsAppWebhookEntry" in body:
        return parse_whatsapp_event(body, published_at)
    raise UnreadableNotificationError("not an SES, SMS, push or WhatsApp notification")


# ---------------------------------------------------------------- the shapes nudge reads


class _Shape(BaseModel):
    """What nudge reads of a provider's JSON: named fields only, the rest ignored; numbers read as text."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True, populate_by_name=True)


def _readable[T: BaseModel](shape: type[T]) -> BeforeValidator:
    """A list validator that keeps the items ``shape`` can read and drops the rest (providers add odd entries)."""

    def keep(items: object) -> list[T]:
        kept: list[T] = []
        for item in items if isinstance(items, list) else ():
            try:
                kept.append(shape.model_validate(item))
            except ValidationError:
                continue
        return kept

    return BeforeValidator(keep)


def _or_empty(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """An optional section nudge cannot read is read as an empty one (its fields all have defaults)."""
    try:
        return handler(value)
    except ValidationError:
        return handler({})


_Optional = WrapValidator(_or_empty)
_NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class _Header(_Shape):
    name: str
    value: str


class _Mail(_Shape):
    headers: Annotated[list[_Header], _readable(_Header)] = []
    tags: Annotated[dict[str, list[str]], _Optional] = {}
    message_id: str | None = Field(None, alias="messageId")


class _Moment(_Shape):
    """The ``delivery``, ``open`` or ``click`` section of an SES event: when, and for a click, which link."""

    timestamp: str | None = None
    link: str | None = None


class _Recipient(_Shape):
    email_address: str = Field(alias="emailAddress")


class _Bounce(_Shape):
    bounce_type: str | None = Field(None, alias="bounceType")
    bounce_sub_type: str | None = Field(None, alias="bounceSubType")
    recipients: Annotated[list[_Recipient], _readable(_Recipient)] | None = Field(None, alias="bouncedRecipients")
    feedback_id: str | None = Field(None, alias="feedbackId")
    timestamp: str | None = None


class _Complaint(_Shape):
    feedback_type: str | None = Field(None, alias="complaintFeedbackType")
    recipients: Annotated[list[_Recipient], _readable(_Recipient)] | None = Field(None, alias="complainedRecipients")
    feedback_id: str | None = Field(None, alias="feedbackId")
    timestamp: str | None = None


class _SesEvent(_Shape):
    event_type: str | None = Field(None, alias="eventType")
    notification_type: str | None = Field(None, alias="notificationType")
    mail: Annotated[_Mail, _Optional] = _Mail()
    bounce: _Bounce | None = None
    complaint: _Complaint | None = None
    delivery: Annotated[_Moment, _Optional] = _Moment()
    open: Annotated[_Moment, _Optional] = _Moment()
    click: Annotated[_Moment, _Optional] = _Moment()


class _SmsInbound(_Shape):
    sender: _NonEmpty = Field(alias="originationNumber")
    recipient: _NonEmpty = Field(alias="destinationNumber")
    text: _NonEmpty = Field(alias="messageBody")
    inbound_message_id: _NonEmpty = Field(alias="inboundMessageId")


class _PushAttributes(_Shape):
    enabled: str | None = Field(None, alias="Enabled")


class _PushEvent(_Shape):
    event_type: str | None = Field(None, alias="EventType")
    endpoint_arn: str | None = Field(None, alias="EndpointArn")
    resource: str | None = Field(None, alias="Resource")
    time: str | None = Field(None, alias="Time")
    attributes: Annotated[_PushAttributes, _Optional] = Field(_PushAttributes(), alias="Attributes")
    failure_type: str | None = Field(None, alias="FailureType")


class _WhatsAppMessage(_Shape):
    sender: Annotated[str, StringConstraints(pattern=r"^\+*[0-9]+$")] = Field(alias="from")
    id: str
    timestamp: str | None = None


class _WhatsAppValue(_Shape):
    messages: list[_WhatsAppMessage] = []


class _WhatsAppChange(_Shape):
    value: _WhatsAppValue | None = None


class _WhatsAppEntry(_Shape):
    changes: list[_WhatsAppChange]


class _PhoneNumber(_Shape):
    arn: str


class _WhatsAppContext(_Shape):
    phone_numbers: Annotated[list[_PhoneNumber], _readable(_PhoneNumber)] = Field([], alias="MetaPhoneNumberIds")


class _WhatsAppEvent(_Shape):
    entry: Json[_WhatsAppEntry] | _WhatsAppEntry = Field(alias="whatsAppWebhookEntry")
    context: Annotated[_WhatsAppContext, _Optional] = _WhatsAppContext()


def _read[T: BaseModel](shape: type[T], body: dict[str, object], source: str) -> T:
    """``body`` read as ``shape``; the error names the first section that did not read, never a value."""
    try:
        return shape.model_validate(body)
    except ValidationError as error:
        reason = f"{source} notification without a readable {error.errors()[0]['loc'][0]}"
    raise UnreadableNotificationError(reason)  # outside the except: the pydantic error quotes values


# ---------------------------------------------------------------- SES


def parse_ses_event(body: dict[str, Any], notification_id: str, published_at: datetime) -> list[Notice]:
    """An SES event (event publishing or identity notification) as notices."""
    event = _read(_SesEvent, body, "SES")
    kind = event.event_type or event.notification_type or ""
    if kind == "Bounce":
        bounce = _section(event.bounce, "bounce")
        bounce_type = bounce.bounce_type or ""
        if bounce_type != "Permanent":
            return [Ignored("ses", f"{bounce_type.lower() or 'unknown'}_bounce")]
        return [
            EmailFeedback(
                reason="hard_bounce",
                recipients=_recipients(bounce.recipients, "bouncedRecipients"),
                ref=_ref(event.mail),
                feedback_id=bounce.feedback_id or notification_id,
                occurred_at=_time(bounce.timestamp, published_at),
                detail=bounce.bounce_sub_type or "",
            )
        ]
    if kind == "Complaint":
        complaint = _section(event.complaint, "complaint")
        feedback_type = complaint.feedback_type or ""
        if feedback_type == "not-spam":
            return [Ignored("ses", "not_spam_report")]
        return [
            EmailFeedback(
                reason="complaint",
                recipients=_recipients(complaint.recipients, "complainedRecipients"),
                ref=_ref(event.mail),
                feedback_id=complaint.feedback_id or notification_id,
                occurred_at=_time(complaint.timestamp, published_at),
                detail=feedback_type,
            )
        ]
    if kind in _ENGAGEMENT:
        action = _ENGAGEMENT[kind]
        moment = {"delivered": event.delivery, "opened": event.open, "clicked": event.click}[action]
        if action == "clicked" and _CLICK_REDIRECT.search(moment.link or ""):
            return [Ignored("ses", "click_on_nudge_redirect")]  # the redirect recorded it
        return [
            EmailEngagement(
                action=action,
                ref=_ref(event.mail),
                message_id=_message_id(event.mail),
                url=moment.link,
                feedback_id=f"{event.mail.message_id or notification_id}:{action}:{moment.timestamp or ''}",
                occurred_at=_time(moment.timestamp, published_at),
            )
        ]
    return [Ignored("ses", _snake(kind) or "unknown_event")]


_ENGAGEMENT: dict[str, Literal["delivered", "opened", "clicked"]] = {
    "Delivery": "delivered",
    "Open": "opened",
    "Click": "clicked",
}
_MESSAGE_HEADER = "x-nudge-message-id"  # the email adapter's MESSAGE_ID_HEADER, as SES lists it (any case)
_MESSAGE_TAG = "nudge_message_id"
_CLICK_REDIRECT = re.compile(r"^https://[^/]+(/[^/?#]+)*/c/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


def _message_id(mail: _Mail) -> str | None:
    for header in mail.headers:
        if header.name.lower() == _MESSAGE_HEADER and header.value.strip():
            return header.value.strip()
    tagged = mail.tags.get(_MESSAGE_TAG) or []
    return tagged[0] if tagged else None


def feedback_ref(body: dict[str, Any]) -> str | None:
    """The signed reference the sent email carried: ``X-Nudge-Ref``, else the token of its unsubscribe link."""
    return _ref(_read(_SesEvent, body, "SES").mail)


def _ref(mail: _Mail) -> str | None:
    found: dict[str, str] = {}
    for header in mail.headers:
        found.setdefault(header.name.lower(), header.value.strip())
    if found.get(_REF_HEADER):
        return found[_REF_HEADER]
    link = _UNSUBSCRIBE_TOKEN.search(found.get("list-unsubscribe", ""))
    return link.group(1) if link else None


def _section[T: BaseModel](section: T | None, key: str) -> T:
    if section is None:
        raise UnreadableNotificationError(f"SES event without {key}")
    return section


def _recipients(recipients: list[_Recipient] | None, key: str) -> tuple[str, ...]:
    if not recipients:
        raise UnreadableNotificationError(f"SES event without {key}")
    return tuple(recipient.email_address for recipient in recipients)


# ---------------------------------------------------------------- SMS


def parse_sms_inbound(body: dict[str, Any], published_at: datetime) -> list[Notice]:
    """An inbound SMS (two-way messaging) as notices: an opt-out, or nothing to do."""
    try:
        sms = _SmsInbound.model_validate(body)
    except ValidationError:
        raise UnreadableNotificationError("inbound SMS without sender, recipient, body or id") from None
    keyword = opt_out_keyword(sms.text)
    if keyword is not None:
        return [SmsOptOut(sms.sender, sms.recipient, keyword, sms.inbound_message_id, published_at)]
    if is_help_keyword(sms.text):
        # AWS answers HELP/INFO itself with the number's registered HELP auto-response; nothing to store.
        return [Ignored("sms", "help_keyword")]
    return [Ignored("sms", "not_a_keyword")]


# ---------------------------------------------------------------- push


def parse_push_event(body: dict[str, Any], notification_id: str, published_at: datetime) -> list[Notice]:
    """An SNS mobile push application event as notices."""
    event = _read(_PushEvent, body, "push")
    event_type = event.event_type or ""
    endpoint_arn = event.endpoint_arn or (event.resource if ":endpoint/" in str(event.resource) else None)
    occurred_at = _time(event.time, published_at)
    if event_type == "EndpointUpdated":
        enabled = (event.attributes.enabled or "").lower()
        if enabled == "true":
            return [Ignored("push", "endpoint_enabled")]
        disabled: bool | None = True if enabled == "false" else None
    elif event_type == "DeliveryFailure":
        failure = event.failure_type or ""
        if failure not in _DISABLING_FAILURES:
            return [Ignored("push", f"delivery_failure_{_snake(failure) or 'unknown'}")]
        disabled = True
    else:
        return [Ignored("push", _snake(event_type) or "unknown_event")]
    if endpoint_arn is None or ":endpoint/" not in endpoint_arn:
        raise UnreadableNotificationError(f"push {event_type} event without an endpoint ARN")
    return [PushEndpointChange(endpoint_arn, event_type, disabled, notification_id, occurred_at)]


# ---------------------------------------------------------------- WhatsApp


def bare_phone_number_id(value: str) -> str:
    """``phone-number-id-<id>`` or its ARN (``...:phone-number-id/<id>``) as the bare ``<id>``; else unchanged."""
    found = _PHONE_NUMBER_ID.search(value)
    return found.group(1) if found else value


def parse_whatsapp_event(body: dict[str, Any], published_at: datetime) -> list[Notice]:
    """An End User Messaging Social event as notices: one per inbound customer message."""
    event = _read(_WhatsAppEvent, body, "WhatsApp")
    phone_number_ids = tuple(bare_phone_number_id(number.arn) for number in event.context.phone_numbers)
    notices: list[Notice] = [
        WhatsAppInbound(
            "+" + message.sender.lstrip("+"),
            phone_number_ids,
            message.id,
            _epoch(message.timestamp, published_at),
        )
        for change in event.entry.changes
        if change.value is not None
        for message in change.value.messages
    ]
    return notices or [Ignored("whatsapp", "status_update")]


# ---------------------------------------------------------------- helpers


def _time(value: str | None, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return default
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _epoch(value: str | None, default: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(value or ""), UTC)
    except (ValueError, OverflowError, OSError):
        return default


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", re.sub(r"[^A-Za-z0-9]+", "_", name)).strip("_").lower()
