"""Provider notifications read into typed notices: one pure parser per source, no I/O, no PII in any error text.

All four arrive as the ``Message`` of an SNS notification on the feedback topic:

- **SES event publishing** (``eventType``; the older identity notifications say ``notificationType``): a
  ``Permanent`` bounce is a hard bounce of each bounced recipient; ``Transient`` and ``Undetermined`` bounces are
  ignored (SES retried already; the address may recover). A ``Complaint`` is a complaint, except the
  ``not-spam`` feedback type. Whose mail it was comes from the signed ``X-Nudge-Ref`` header SES repeats in
  ``mail.headers`` (or, failing that, from the token in ``List-Unsubscribe``); the caller verifies it.
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

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

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
class Ignored:
    """A notification nudge reads but that changes nothing (a transient bounce, HELP, a delivery status, ...)."""

    source: str
    reason: str


Notice = EmailFeedback | SmsOptOut | PushEndpointChange | WhatsAppInbound | Ignored


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


# ---------------------------------------------------------------- SES


def parse_ses_event(body: dict[str, Any], notification_id: str, published_at: datetime) -> list[Notice]:
    """An SES event (event publishing or identity notification) as notices."""
    kind = str(body.get("eventType") or body.get("notificationType") or "")
    if kind == "Bounce":
        bounce = _object(body, "bounce")
        bounce_type = str(bounce.get("bounceType", ""))
        if bounce_type != "Permanent":
            return [Ignored("ses", f"{bounce_type.lower() or 'unknown'}_bounce")]
        return [
            EmailFeedback(
                reason="hard_bounce",
                recipients=_recipients(bounce, "bouncedRecipients"),
                ref=feedback_ref(body),
                feedback_id=str(bounce.get("feedbackId") or notification_id),
                occurred_at=_time(bounce.get("timestamp"), published_at),
                detail=str(bounce.get("bounceSubType", "")),
            )
        ]
    if kind == "Complaint":
        complaint = _object(body, "complaint")
        feedback_type = str(complaint.get("complaintFeedbackType", ""))
        if feedback_type == "not-spam":
            return [Ignored("ses", "not_spam_report")]
        return [
            EmailFeedback(
                reason="complaint",
                recipients=_recipients(complaint, "complainedRecipients"),
                ref=feedback_ref(body),
                feedback_id=str(complaint.get("feedbackId") or notification_id),
                occurred_at=_time(complaint.get("timestamp"), published_at),
                detail=feedback_type,
            )
        ]
    return [Ignored("ses", _snake(kind) or "unknown_event")]


def feedback_ref(body: dict[str, Any]) -> str | None:
    """The signed reference the sent email carried: ``X-Nudge-Ref``, else the token of its unsubscribe link."""
    headers = _mapping(body.get("mail")).get("headers")
    found: dict[str, str] = {}
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and isinstance(header.get("name"), str) and isinstance(header.get("value"), str):
            found.setdefault(header["name"].lower(), header["value"].strip())
    if found.get(_REF_HEADER):
        return found[_REF_HEADER]
    link = _UNSUBSCRIBE_TOKEN.search(found.get("list-unsubscribe", ""))
    return link.group(1) if link else None


def _recipients(section: dict[str, Any], key: str) -> tuple[str, ...]:
    recipients = section.get(key)
    if not isinstance(recipients, list):
        raise UnreadableNotificationError(f"SES event without {key}")
    addresses = tuple(
        r["emailAddress"] for r in recipients if isinstance(r, dict) and isinstance(r.get("emailAddress"), str)
    )
    if not addresses:
        raise UnreadableNotificationError(f"SES event without {key}")
    return addresses


# ---------------------------------------------------------------- SMS


def parse_sms_inbound(body: dict[str, Any], published_at: datetime) -> list[Notice]:
    """An inbound SMS (two-way messaging) as notices: an opt-out, or nothing to do."""
    text = body.get("messageBody")
    sender, recipient, inbound_id = (
        body.get(k) for k in ("originationNumber", "destinationNumber", "inboundMessageId")
    )
    if not all(isinstance(value, str) and value for value in (text, sender, recipient, inbound_id)):
        raise UnreadableNotificationError("inbound SMS without sender, recipient, body or id")
    assert isinstance(text, str) and isinstance(sender, str) and isinstance(recipient, str)
    keyword = opt_out_keyword(text)
    if keyword is not None:
        return [SmsOptOut(sender, recipient, keyword, str(inbound_id), published_at)]
    if is_help_keyword(text):
        # AWS answers HELP/INFO itself with the number's registered HELP auto-response; nothing to store.
        return [Ignored("sms", "help_keyword")]
    return [Ignored("sms", "not_a_keyword")]


# ---------------------------------------------------------------- push


def parse_push_event(body: dict[str, Any], notification_id: str, published_at: datetime) -> list[Notice]:
    """An SNS mobile push application event as notices."""
    event_type = str(body.get("EventType", ""))
    endpoint_arn = body.get("EndpointArn") or (
        body.get("Resource") if ":endpoint/" in str(body.get("Resource")) else None
    )
    occurred_at = _time(body.get("Time"), published_at)
    if event_type == "EndpointUpdated":
        attributes = _mapping(body.get("Attributes"))
        enabled = str(attributes.get("Enabled", "")).lower()
        if enabled == "true":
            return [Ignored("push", "endpoint_enabled")]
        disabled: bool | None = True if enabled == "false" else None
    elif event_type == "DeliveryFailure":
        failure = str(body.get("FailureType", ""))
        if failure not in _DISABLING_FAILURES:
            return [Ignored("push", f"delivery_failure_{_snake(failure) or 'unknown'}")]
        disabled = True
    else:
        return [Ignored("push", _snake(event_type) or "unknown_event")]
    if not isinstance(endpoint_arn, str) or ":endpoint/" not in endpoint_arn:
        raise UnreadableNotificationError(f"push {event_type} event without an endpoint ARN")
    return [PushEndpointChange(endpoint_arn, event_type, disabled, notification_id, occurred_at)]


# ---------------------------------------------------------------- WhatsApp


def bare_phone_number_id(value: str) -> str:
    """``phone-number-id-<id>`` or its ARN (``...:phone-number-id/<id>``) as the bare ``<id>``; else unchanged."""
    found = _PHONE_NUMBER_ID.search(value)
    return found.group(1) if found else value


def parse_whatsapp_event(body: dict[str, Any], published_at: datetime) -> list[Notice]:
    """An End User Messaging Social event as notices: one per inbound customer message."""
    entry = body.get("whatsAppWebhookEntry")
    if isinstance(entry, str):
        try:
            entry = json.loads(entry)
        except ValueError as error:
            raise UnreadableNotificationError("whatsAppWebhookEntry is not JSON") from error
    if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
        raise UnreadableNotificationError("whatsAppWebhookEntry without changes")
    numbers = _mapping(body.get("context")).get("MetaPhoneNumberIds")
    phone_number_ids = tuple(
        bare_phone_number_id(number["arn"])
        for number in (numbers if isinstance(numbers, list) else [])
        if isinstance(number, dict) and isinstance(number.get("arn"), str)
    )
    notices: list[Notice] = []
    for change in entry["changes"]:
        value = change.get("value") if isinstance(change, dict) else None
        messages = value.get("messages") if isinstance(value, dict) else None
        for message in messages if isinstance(messages, list) else []:
            sender, wamid = (message.get(k) if isinstance(message, dict) else None for k in ("from", "id"))
            if not isinstance(sender, str) or not sender.lstrip("+").isdigit() or not isinstance(wamid, str):
                raise UnreadableNotificationError("WhatsApp message without a sender number or id")
            occurred_at = _epoch(message.get("timestamp"), published_at)
            notices.append(WhatsAppInbound("+" + sender.lstrip("+"), phone_number_ids, wamid, occurred_at))
    return notices or [Ignored("whatsapp", "status_update")]


# ---------------------------------------------------------------- helpers


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    section = body.get(key)
    if not isinstance(section, dict):
        raise UnreadableNotificationError(f"SES event without {key}")
    return section


def _time(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return default
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return default


def _epoch(value: Any, default: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", re.sub(r"[^A-Za-z0-9]+", "_", name)).strip("_").lower()
