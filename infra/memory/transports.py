"""The channel services in memory: what the channel providers' boto3 clients would reach (SES v2 ``SendEmail``,
SNS mobile push endpoints and ``Publish``, End User Messaging SMS ``SendTextMessage`` and Social
``SendWhatsAppMessage``).

The providers themselves (``shared.adapters.channels``) are the real ones: they build their requests, check their
limits and translate errors as in AWS; only the transport under them is in memory. Every accepted request is kept
in ``sent``; a number or address registered with ``reject`` is refused with the service's own error code, which the
provider translates as it would AWS's (so fallback to the next channel runs as in the cloud).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shared.models.config import Channel


@dataclass(frozen=True, slots=True)
class Sent:
    """One request a channel service accepted."""

    channel: Channel
    to: str
    request: dict[str, Any]
    message_id: str


@dataclass
class MemoryTransports:
    """The four channel services; ``clients()`` is what ``providers_for(..., clients=...)`` takes."""

    sent: list[Sent] = field(default_factory=list)  # every accepted request, unless ``keep_sent`` is off
    endpoints: dict[str, dict[str, str]] = field(default_factory=dict)  # endpoint ARN -> attributes
    keep_sent: bool = True  # off: only counted (a long backtest need not hold every e-mail it sent)
    accepted: Counter[Channel] = field(default_factory=Counter)  # requests accepted, by channel
    _rejections: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def clients(self) -> dict[Channel, Any]:
        return {"email": _Email(self), "push": _Sns(self), "sms": _Sms(self), "whatsapp": _WhatsApp(self)}

    def reject(self, to: str, code: str, message: str = "", status: int = 400, **members: Any) -> None:
        """Refuse every request to ``to`` (an address, a number or an endpoint ARN) with the error ``code``, its HTTP
        ``status`` and the error's own members (End User Messaging's ``ValidationException`` names the invalid
        ``Fields`` and a ``Reason``), as botocore raises the service's answer."""
        self._rejections[to] = {
            "Error": {"Code": code, "Message": message or code},
            "ResponseMetadata": {"HTTPStatusCode": status},
            **members,
        }

    def _accept(self, channel: Channel, to: str, operation: str, request: dict[str, Any]) -> str:
        rejection = self._rejections.get(to)
        if rejection is not None:
            raise ClientError(rejection, operation)  # type: ignore[arg-type]
        message_id = f"{channel}-{next(self._ids)}"
        self.accepted[channel] += 1
        if self.keep_sent:
            self.sent.append(Sent(channel, to, request, message_id))
        return message_id

    def next_id(self) -> int:
        return int(next(self._ids))


class _Email:
    def __init__(self, transports: MemoryTransports) -> None:
        self._t = transports

    def send_email(self, **request: Any) -> dict[str, Any]:
        to = request["Destination"]["ToAddresses"][0]
        return {"MessageId": self._t._accept("email", to, "SendEmail", request)}


class _Sms:
    def __init__(self, transports: MemoryTransports) -> None:
        self._t = transports

    def send_text_message(self, **request: Any) -> dict[str, Any]:
        return {"MessageId": self._t._accept("sms", request["DestinationPhoneNumber"], "SendTextMessage", request)}


class _WhatsApp:
    def __init__(self, transports: MemoryTransports) -> None:
        self._t = transports

    def send_whatsapp_message(self, **request: Any) -> dict[str, Any]:
        to = str(json.loads(request["message"]).get("to", ""))
        return {"messageId": self._t._accept("whatsapp", to, "SendWhatsAppMessage", request)}


class _Sns:
    """Platform endpoints as SNS keeps them: one per (application, token); creating it again with other attributes
    is refused naming the existing ARN (the provider recovers from that as in AWS)."""

    def __init__(self, transports: MemoryTransports) -> None:
        self._t = transports

    def create_platform_endpoint(self, **request: Any) -> dict[str, Any]:
        application, token = request["PlatformApplicationArn"], request["Token"]
        wanted = {
            "Token": token,
            "Enabled": "true",
            **({"CustomUserData": request["CustomUserData"]} if "CustomUserData" in request else {}),
        }
        for arn, attributes in self._t.endpoints.items():
            if arn.startswith(application.replace(":app/", ":endpoint/")) and attributes["Token"] == token:
                if attributes != wanted:
                    message = (
                        f"Invalid parameter: Token Reason: Endpoint {arn} already exists with the same Token, "
                        "but different attributes."
                    )
                    raise ClientError(
                        {"Error": {"Code": "InvalidParameter", "Message": message}}, "CreatePlatformEndpoint"
                    )
                return {"EndpointArn": arn}
        arn = f"{application.replace(':app/', ':endpoint/')}/{self._t.next_id():08d}-0000-4000-8000-000000000000"
        self._t.endpoints[arn] = wanted
        return {"EndpointArn": arn}

    def set_endpoint_attributes(self, EndpointArn: str, Attributes: dict[str, str]) -> dict[str, Any]:
        self._endpoint(EndpointArn, "SetEndpointAttributes").update(Attributes)
        return {}

    def get_endpoint_attributes(self, EndpointArn: str) -> dict[str, Any]:
        return {"Attributes": dict(self._endpoint(EndpointArn, "GetEndpointAttributes"))}

    def publish(self, **request: Any) -> dict[str, Any]:
        arn = request["TargetArn"]
        if self._endpoint(arn, "Publish").get("Enabled") != "true":
            raise ClientError({"Error": {"Code": "EndpointDisabled", "Message": "Endpoint is disabled"}}, "Publish")
        return {"MessageId": self._t._accept("push", arn, "Publish", request)}

    def _endpoint(self, arn: str, operation: str) -> dict[str, str]:
        attributes = self._t.endpoints.get(arn)
        if attributes is None:
            raise ClientError({"Error": {"Code": "NotFound", "Message": "Endpoint does not exist"}}, operation)
        return attributes
