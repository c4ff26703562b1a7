"""SMS through AWS End User Messaging SMS (boto3 ``pinpoint-sms-voice-v2``, ``SendTextMessage``).

Not in moto: the request shape and every modelled error are tested with botocore's Stubber against the real
service model.
"""

from __future__ import annotations

import re
from typing import Any

from shared import aws
from shared.adapters.channels._aws import AWS_CALL_ERRORS, AwsFailure, AwsProvider
from shared.core.sms import segments
from shared.models.channels import E164, SendContext, SmsSettings
from shared.models.config import Channel
from shared.models.messages import (
    Address,
    Content,
    DeliveryError,
    PermanentDeliveryError,
    Receipt,
    TransientDeliveryError,
)

MESSAGE_ID_CONTEXT_KEY = "nudge_message_id"
MAX_BODY_CHARACTERS = 1600
_E164 = re.compile(E164)
_CONTEXT_VALUE_MAX = 800

# ValidationException reasons that say the destination cannot be reached from this account (country blocked or
# not enabled, no identity for that country): permanent for this number, so the router tries the next channel.
_UNREACHABLE_DESTINATION = {
    "COUNTRY_NOT_ENABLED",
    "DESTINATION_COUNTRY_BLOCKED",
    "INTERNATIONAL_SENDING_NOT_SUPPORTED",
    "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY",
}
# ConflictException reasons about this destination number.
_CONFLICT_PERMANENT = {
    "DESTINATION_PHONE_NUMBER_OPTED_OUT": "sms_opted_out",
    "DESTINATION_PHONE_NUMBER_BLOCKED_BY_PROTECT_NUMBER_OVERRIDE": "sms_destination_blocked",
    "DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION": "sms_destination_blocked",
}
_TRANSIENT = {
    "ThrottlingException": "sms_throttled",
    "InternalServerException": "sms_unavailable",
    "ServiceQuotaExceededException": "sms_quota_exceeded",
}


def sms_request(
    settings: SmsSettings, phone_number: str, content: Content, message_id: str, *, transactional: bool
) -> dict[str, Any]:
    """The SendTextMessage request for one message; raises ValueError for an empty or over-long body."""
    if not content.text.strip() or len(content.text) > MAX_BODY_CHARACTERS:
        raise ValueError(f"an SMS body must have 1 to {MAX_BODY_CHARACTERS} characters")
    request: dict[str, Any] = {
        "DestinationPhoneNumber": phone_number,
        "OriginationIdentity": settings.origination_identity,
        "MessageBody": content.text,
        "MessageType": "TRANSACTIONAL" if transactional else "PROMOTIONAL",
        "Context": {MESSAGE_ID_CONTEXT_KEY: message_id.strip()[:_CONTEXT_VALUE_MAX]},
    }
    if settings.configuration_set:
        request["ConfigurationSetName"] = settings.configuration_set
    return request


def sms_error(error: Exception) -> DeliveryError:
    """The delivery error for a failed SendTextMessage (the one place End User Messaging SMS errors are read).

    Permanent (try the next channel): a ValidationException naming ``DestinationPhoneNumber`` (invalid number) or
    saying the destination country is not reachable; a ConflictException because the number opted out or is
    blocked by a protect configuration. Transient: throttling, internal errors, service quotas (e.g. the monthly
    spend limit) — and every configuration error (access denied, unknown origination identity or configuration set,
    sandbox number not verified, other validation failures), so they end in the dead-letter queue with their reason.
    """
    failure = AwsFailure.of(error)
    if failure.code == "ValidationException":
        if "DestinationPhoneNumber" in failure.fields:
            return PermanentDeliveryError("invalid_phone_number")
        if failure.reason in _UNREACHABLE_DESTINATION:
            return PermanentDeliveryError("sms_destination_unreachable")
        return TransientDeliveryError(f"sms_invalid_request: {failure.reason}")
    if failure.code == "ConflictException" and failure.reason in _CONFLICT_PERMANENT:
        return PermanentDeliveryError(_CONFLICT_PERMANENT[failure.reason])
    if failure.code in _TRANSIENT:
        reason = _TRANSIENT[failure.code]
        return TransientDeliveryError(f"{reason}: {failure.reason}" if failure.reason else reason)
    if failure.server_side:
        return TransientDeliveryError("sms_unavailable")
    detail = f"{failure.code}: {failure.reason}" if failure.reason else str(failure.code)
    return TransientDeliveryError(f"sms_config: {detail}")


class SmsProvider(AwsProvider[SmsSettings]):
    """Sends text messages from the shop's origination identity."""

    channel: Channel = "sms"

    client_factory = staticmethod(aws.sms_voice_v2)

    def send(
        self, address: Address, content: Content, message_id: str, *, context: SendContext | None = None
    ) -> Receipt:
        """Text ``content.text`` to the E.164 number in ``address.value``; raises a DeliveryError if refused.

        ``context.transactional`` sends it as TRANSACTIONAL, otherwise PROMOTIONAL. The receipt records the
        segments and encoding (what the message costs).
        """
        if not _E164.fullmatch(address.value):
            raise PermanentDeliveryError("invalid_phone_number")
        transactional = context.transactional if context else False
        request = sms_request(self.settings, address.value, content, message_id, transactional=transactional)
        try:
            response = self.client.send_text_message(**request)
        except AWS_CALL_ERRORS as error:
            raise sms_error(error) from error
        counted = segments(content.text)
        return Receipt(
            provider_message_id=response.get("MessageId"),
            details={
                "segments": counted.segments,
                "encoding": counted.encoding,
                "message_type": request["MessageType"],
            },
        )
