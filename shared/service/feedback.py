"""Feedback intake: one provider notification in, the customers' ``FeedbackEvent``s out on their FIFO groups.

The parsers (``shared.core.notifications``) say what happened; this module finds whose it is and enqueues:

- email: the signed ``X-Nudge-Ref`` names (shop, customer); it is verified against every signing key (rotation).
  A notification whose reference is missing or does not verify is dropped (``unverifiable_ref``): nobody can be
  unsubscribed by a forged notification. A delivery, an open or a click becomes an ``EngagementEvent`` on the
  message the email's ``X-Nudge-Message-Id`` names (no id: dropped as ``no_message_id``).
- SMS STOP: the phone index maps the sender's number to (shop, customer) pairs; the shops whose origination identity
  is the number the reply went to, or, when none is (a pool, an ARN), every shop that texts that number. Honouring
  an opt-out more widely than needed is the safe side of the law.
- push: ``GetEndpointAttributes`` gives the endpoint's token and its ``CustomUserData`` (shop, customer).
- WhatsApp: the phone index again, matched on the business phone number id the message went to, else every shop
  that reaches the number.

Nothing here is retried forever: what cannot be read or traced is dropped with a reason (for logs and metrics);
only AWS failing (SQS, SNS, Secrets Manager) raises, so SNS/Lambda retry and then the dead-letter queue take over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.adapters.channels.push import endpoint_owner
from shared.adapters.phone_index import PhoneOwner
from shared.core.notifications import (
    EmailEngagement,
    EmailFeedback,
    Ignored,
    Notice,
    PushEndpointChange,
    SmsOptOut,
    UnreadableNotificationError,
    WhatsAppInbound,
    bare_phone_number_id,
    parse_notification,
)
from shared.core.tokens import InvalidTokenError, verify_unsubscribe_token
from shared.models.nudge_events import EngagementEvent, FeedbackEvent, FeedbackReason
from shared.models.vocabulary import Channel
from shared.ports import EndpointAttributes, EventQueue, PhoneBook
from shared.service.engagement import engagement_entry
from shared.service.feedback_events import feedback_entry

SOURCES = {
    "hard_bounce": "ses-bounce",
    "complaint": "ses-complaint",
    "sms_opt_out": "sms-reply-stop",
    "push_endpoint_disabled": "sns-push-event",
    "whatsapp_inbound": "whatsapp-inbound",
}


@dataclass
class Intake:
    """What one notification became: the events enqueued, and what was ignored or dropped (reasons, no PII).

    ``dropped`` holds fixed reason codes (``unreadable``, ``unverifiable_ref``, ``no_message_id``, ``unknown_phone``,
    ``endpoint_gone``, ``untraceable_endpoint``); ``detail`` says why a notification was unreadable.
    """

    source: str = "unknown"
    events: list[FeedbackEvent] = field(default_factory=list)
    engagements: list[EngagementEvent] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    detail: str | None = None


class FeedbackIntake:
    """Turns provider notifications into feedback events on the customer events queue."""

    def __init__(
        self,
        queue: EventQueue,
        phones: PhoneBook,
        endpoints: EndpointAttributes,
        signing_keys: Callable[[], Sequence[bytes]],
        clock: Callable[[], datetime],
    ) -> None:
        self._queue = queue
        self._phones = phones
        self._endpoints = endpoints
        self._signing_keys = signing_keys
        self._clock = clock

    def handle(self, message: str, notification_id: str, published_at: str | datetime) -> Intake:
        """Read one SNS ``Message`` and enqueue its feedback events; raises only when AWS fails."""
        now = self._clock()
        try:
            notices = parse_notification(message, notification_id, _instant(published_at, now))
        except UnreadableNotificationError as error:
            return Intake(dropped=["unreadable"], detail=str(error))
        intake = Intake()
        for notice in notices:
            self._resolve(notice, intake, now)
        entries = [feedback_entry(event) for event in intake.events]
        entries += [engagement_entry(event) for event in intake.engagements]
        if entries:
            self._queue.send(entries)
        return intake

    # ---------------------------------------------------------------- per source
    def _resolve(self, notice: Notice, intake: Intake, now: datetime) -> None:
        if isinstance(notice, Ignored):
            intake.source = notice.source
            intake.ignored.append(notice.reason)
        elif isinstance(notice, EmailFeedback):
            intake.source = "ses"
            self._email(notice, intake, now)
        elif isinstance(notice, EmailEngagement):
            intake.source = "ses"
            self._engagement(notice, intake, now)
        elif isinstance(notice, SmsOptOut):
            intake.source = "sms"
            self._sms(notice, intake, now)
        elif isinstance(notice, PushEndpointChange):
            intake.source = "push"
            self._push(notice, intake, now)
        else:
            intake.source = "whatsapp"
            self._whatsapp(notice, intake, now)

    def _email(self, notice: EmailFeedback, intake: Intake, now: datetime) -> None:
        try:
            claim = verify_unsubscribe_token(self._signing_keys(), notice.ref or "")
        except InvalidTokenError:
            intake.dropped.append("unverifiable_ref")
            return
        if claim.channel != "email":
            intake.dropped.append("unverifiable_ref")
            return
        for index, recipient in enumerate(notice.recipients):
            intake.events.append(
                FeedbackEvent(
                    shop_id=claim.shop_id,
                    customer=claim.customer,
                    channel="email",
                    reason=notice.reason,
                    address=recipient,
                    source=SOURCES[notice.reason],
                    feedback_id=f"ses:{notice.feedback_id}:{index}",
                    occurred_at=notice.occurred_at,
                    received_at=now,
                )
            )

    def _engagement(self, notice: EmailEngagement, intake: Intake, now: datetime) -> None:
        try:
            claim = verify_unsubscribe_token(self._signing_keys(), notice.ref or "")
        except InvalidTokenError:
            intake.dropped.append("unverifiable_ref")
            return
        if claim.channel != "email" or not notice.message_id:
            intake.dropped.append("unverifiable_ref" if claim.channel != "email" else "no_message_id")
            return
        intake.engagements.append(
            EngagementEvent(
                shop_id=claim.shop_id,
                customer=claim.customer,
                message=notice.message_id[:200],
                channel="email",
                action=notice.action,
                url=notice.url[:2048] if notice.url else None,
                source="ses-event",
                engagement_id=f"ses:{hashlib.sha256(notice.feedback_id.encode()).hexdigest()[:32]}",
                occurred_at=notice.occurred_at,
                received_at=now,
            )
        )

    def _sms(self, notice: SmsOptOut, intake: Intake, now: datetime) -> None:
        owners = self._phones.lookup(notice.sender)
        chosen = [owner for owner in owners if owner.origination == notice.recipient] or owners
        if not chosen:
            intake.dropped.append("unknown_phone")
            return
        intake.events.extend(
            _phone_event(owner, "sms", "sms_opt_out", notice.sender, f"sms:{notice.inbound_message_id}", notice, now)
            for owner in chosen
        )

    def _push(self, notice: PushEndpointChange, intake: Intake, now: datetime) -> None:
        attributes = self._endpoints.attributes(notice.endpoint_arn)
        if attributes is None:
            intake.dropped.append("endpoint_gone")
            return
        if notice.disabled is None and attributes.get("Enabled", "").lower() == "true":
            intake.ignored.append("endpoint_enabled")
            return
        owner = endpoint_owner(attributes.get("CustomUserData"))
        if owner is None or not attributes.get("Token"):
            intake.dropped.append("untraceable_endpoint")
            return
        shop_id, customer = owner
        intake.events.append(
            FeedbackEvent(
                shop_id=shop_id,
                customer=customer,
                channel="push",
                reason="push_endpoint_disabled",
                address=attributes["Token"],
                endpoint_arn=notice.endpoint_arn,
                source=SOURCES["push_endpoint_disabled"],
                feedback_id=f"push:{notice.notification_id}",
                occurred_at=notice.occurred_at,
                received_at=now,
            )
        )

    def _whatsapp(self, notice: WhatsAppInbound, intake: Intake, now: datetime) -> None:
        owners = self._phones.lookup(notice.sender)
        ids = set(notice.phone_number_ids)
        chosen = [o for o in owners if o.whatsapp and bare_phone_number_id(o.whatsapp) in ids] or owners
        if not chosen:
            intake.dropped.append("unknown_phone")
            return
        # Meta's wamid encodes the sender's number: only its digest becomes the (logged) feedback id.
        feedback_id = f"wa:{hashlib.sha256(notice.message_id.encode()).hexdigest()[:32]}"
        intake.events.extend(
            _phone_event(owner, "whatsapp", "whatsapp_inbound", notice.sender, feedback_id, notice, now)
            for owner in chosen
        )


def _phone_event(
    owner: PhoneOwner,
    channel: Channel,
    reason: FeedbackReason,
    phone: str,
    feedback_id: str,
    notice: SmsOptOut | WhatsAppInbound,
    now: datetime,
) -> FeedbackEvent:
    return FeedbackEvent(
        shop_id=owner.shop_id,
        customer=owner.customer,
        channel=channel,
        reason=reason,
        address=phone,
        source=SOURCES[reason],
        feedback_id=feedback_id,
        occurred_at=notice.occurred_at,
        received_at=now,
    )


def _instant(value: str | datetime, default: datetime) -> datetime:
    """The SNS envelope's ``Timestamp`` (ISO 8601 with ``Z``) as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return default
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
