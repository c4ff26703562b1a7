"""WhatsApp through AWS End User Messaging Social (boto3 ``socialmessaging``, ``SendWhatsAppMessage``).

The ``message`` is a Meta Cloud API message object as JSON bytes. WhatsApp allows free-form text only inside the
24-hour customer-service window (opened when the *customer* last wrote); outside it only a Meta-approved template.
The caller knows the window (it sees the customer's inbound messages) and says so in
``SendContext.whatsapp_window_open``; it defaults to closed. Not in moto: tested with botocore's Stubber.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared import aws
from shared.adapters.channels._aws import AWS_CALL_ERRORS, AwsFailure, AwsProvider
from shared.models.channels import E164, SendContext, WhatsAppSettings
from shared.models.config import Channel
from shared.models.messages import (
    Address,
    Content,
    DeliveryError,
    PermanentDeliveryError,
    Receipt,
    TransientDeliveryError,
)

_E164 = re.compile(E164)
_CALLBACK_DATA_MAX = 512
_TRANSIENT = {
    "ThrottledRequestException": "whatsapp_throttled",
    "InternalServiceException": "whatsapp_unavailable",
    "DependencyException": "whatsapp_unavailable",  # Meta did not answer
    "LimitExceededException": "whatsapp_limit_exceeded",
}


def whatsapp_message(phone_number: str, content: Content, message_id: str, *, window_open: bool) -> dict[str, Any]:
    """The Meta Cloud API message: free-form text inside the window, else the approved template.

    ``biz_opaque_callback_data`` carries nudge's message id back in Meta's delivery status events.

    Raises PermanentDeliveryError("whatsapp_no_approved_template") outside the window without a template, so the
    router moves on to the next channel.
    """
    base = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": phone_number,
        "biz_opaque_callback_data": message_id[:_CALLBACK_DATA_MAX],
    }
    if window_open and content.text.strip():
        text = {"preview_url": "https://" in content.text, "body": content.text}
        return {**base, "type": "text", "text": text}
    template = content.whatsapp_template
    if template is None:
        raise PermanentDeliveryError("whatsapp_no_approved_template")
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if template.parameters:
        parameters = [{"type": "text", "text": value} for value in template.parameters]
        body["components"] = [{"type": "body", "parameters": parameters}]
    return {**base, "type": "template", "template": body}


def whatsapp_request(
    settings: WhatsAppSettings, phone_number: str, content: Content, message_id: str, *, window_open: bool
) -> dict[str, Any]:
    """The SendWhatsAppMessage request for one message."""
    message = whatsapp_message(phone_number, content, message_id, window_open=window_open)
    return {
        "originationPhoneNumberId": settings.phone_number_id,
        "message": json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        "metaApiVersion": settings.meta_api_version,
    }


def whatsapp_error(error: Exception) -> DeliveryError:
    """The delivery error for a failed SendWhatsAppMessage (the one place its errors are read).

    ``InvalidParametersException`` is Meta refusing the message's parameters. The message object is built and
    unit-tested here and the recipient is the only per-customer parameter, so it is read as a number WhatsApp will
    not take: permanent, ``invalid_whatsapp_number`` (AWS gives no structured field saying which parameter; a
    template whose parameters no longer match its approved version would show up the same way, per message, in
    the send ledger). Throttling, internal and Meta dependency failures are transient. ``ValidationException``
    (AWS's own checks of the phone number id, API version, size), access denied (by AWS or Meta) and an unknown
    phone number id are configuration errors: transient, so they end in the dead-letter queue with their reason.
    """
    failure = AwsFailure.of(error)
    if failure.code == "InvalidParametersException":
        return PermanentDeliveryError("invalid_whatsapp_number")
    if failure.code in _TRANSIENT:
        return TransientDeliveryError(_TRANSIENT[failure.code])
    if failure.server_side:
        return TransientDeliveryError("whatsapp_unavailable")
    return TransientDeliveryError(f"whatsapp_config: {failure.code}")


class WhatsAppProvider(AwsProvider[WhatsAppSettings]):
    """Sends WhatsApp messages from the shop's linked business phone number."""

    channel: Channel = "whatsapp"

    client_factory = staticmethod(aws.social_messaging)

    def send(
        self, address: Address, content: Content, message_id: str, *, context: SendContext | None = None
    ) -> Receipt:
        """Send to the E.164 number in ``address.value``; raises a DeliveryError if it cannot go out.

        Free-form ``content.text`` if ``context.whatsapp_window_open``, else ``content.whatsapp_template``.
        """
        if not _E164.fullmatch(address.value):
            raise PermanentDeliveryError("invalid_whatsapp_number")
        window_open = context.whatsapp_window_open if context else False
        request = whatsapp_request(self.settings, address.value, content, message_id, window_open=window_open)
        try:
            response = self.client.send_whatsapp_message(**request)
        except AWS_CALL_ERRORS as error:
            raise whatsapp_error(error) from error
        kind = json.loads(request["message"])["type"]
        return Receipt(provider_message_id=response.get("messageId"), details={"kind": kind})
