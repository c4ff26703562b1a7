"""Mobile push through SNS: one platform endpoint per device token, one JSON message per platform.

``publish(TargetArn=<endpoint>, MessageStructure="json", Message=...)`` with a payload for each platform SNS may
deliver to (``APNS``, ``APNS_SANDBOX``, ``GCM`` in FCM v1 shape) and ``default``. Custom data (``promo_code``,
``deep_link``, nudge's message id) rides in every platform payload. APNs and FCM reject payloads over 4 KB, so each
platform payload is kept within 4,000 bytes: the body is shortened first, then the title, with an ellipsis; a
push is never sent over budget and never fails for its size.

Each endpoint carries ``CustomUserData`` = ``"<shop_id>\n<customer>"`` (``endpoint_user_data``): when SNS later
disables the endpoint (the app was uninstalled), its event names only the endpoint, and the feedback function reads
the owner back with ``GetEndpointAttributes`` (``EndpointReader``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from shared import aws
from shared.adapters.channels._aws import AWS_CALL_ERRORS, AwsFailure, AwsProvider
from shared.models.channels import PushPlatform, PushSettings, SendContext
from shared.models.messages import (
    Address,
    Content,
    DeliveryError,
    PermanentDeliveryError,
    Receipt,
    TransientDeliveryError,
)
from shared.models.vocabulary import Channel

PAYLOAD_BUDGET = 4000
ELLIPSIS = "…"
MESSAGE_ID_KEY = "nudge_message_id"
_ENDPOINT_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:endpoint/(APNS|APNS_SANDBOX|GCM)/[^/\s]+/[^/\s]+")
# FCM refuses these data keys; APNs reserves "aps".
_FCM_RESERVED = ("from", "notification", "message_type")
_FCM_RESERVED_PREFIXES = ("google", "gcm")

_PERMANENT = {
    "EndpointDisabled": "push_endpoint_disabled",
    "NotFound": "push_endpoint_disabled",
    # SNS answers a publish to a deleted or malformed endpoint with InvalidParameter ("No endpoint found").
    "InvalidParameter": "push_endpoint_invalid",
    "ParameterValueInvalid": "push_endpoint_invalid",
}
_THROTTLED = {"Throttled", "Throttling", "KMSThrottling"}

type _Build = Callable[[str, str, dict[str, str]], dict[str, Any]]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _size(value: Any) -> int:
    return len(_json(value).encode("utf-8"))


def custom_data(content: Content, message_id: str) -> dict[str, str]:
    """The key/value data the app receives with the push: the content's data, the deep link, nudge's message id."""
    data = dict(content.data)
    if content.url:
        data.setdefault("deep_link", content.url)
    if content.image_url:
        data.setdefault("image_url", content.image_url)
    data[MESSAGE_ID_KEY] = message_id
    return data


def apns_payload(title: str, body: str, data: dict[str, str], *, image: bool) -> dict[str, Any]:
    """An APNs payload: ``aps.alert`` with title and body, ``mutable-content`` for an image; data beside ``aps``."""
    alert = {"title": title, "body": body} if title else {"body": body}
    aps: dict[str, Any] = {"alert": alert}
    if image:
        aps["mutable-content"] = 1  # lets the app's notification service extension attach the image
    return {**data, "aps": aps}


def fcm_payload(title: str, body: str, data: dict[str, str], *, image_url: str | None) -> dict[str, Any]:
    """An FCM HTTP v1 message as SNS takes it (``fcmV1Message``): notification plus string-valued data."""
    notification = {"title": title, "body": body}
    if image_url:
        notification["image"] = image_url
    allowed = {
        key: value
        for key, value in data.items()
        if key not in _FCM_RESERVED and not key.lower().startswith(_FCM_RESERVED_PREFIXES)
    }
    return {"fcmV1Message": {"message": {"notification": notification, "data": allowed}}}


def _shorten(text: str, keep: int) -> str:
    return text[:keep].rstrip() + ELLIPSIS


def _longest(fits: Callable[[str], bool], text: str) -> str | None:
    """The longest ellipsis-shortened prefix of ``text`` that fits, or None if not even the ellipsis does."""
    low, high, best = 0, len(text) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if fits(_shorten(text, middle)):
            best, low = middle, middle + 1
        else:
            high = middle - 1
    return None if best is None else _shorten(text, best)


def fit(build: _Build, title: str, body: str, data: dict[str, str], budget: int = PAYLOAD_BUDGET) -> dict[str, Any]:
    """``build(title, body, data)`` within ``budget`` bytes of compact UTF-8 JSON.

    Shortens the body, then the title (each with an ellipsis). Custom data too large to leave room for any text
    loses its largest entries first (never nudge's message id). Never raises for size.
    """

    def fits(t: str, b: str, d: dict[str, str]) -> bool:
        return _size(build(t, b, d)) <= budget

    kept = dict(data)
    for key in sorted((k for k in data if k != MESSAGE_ID_KEY), key=lambda k: -len(k) - len(data[k])):
        if fits("", "", kept):
            break
        del kept[key]
    if fits(title, body, kept):
        return build(title, body, kept)
    if body and (shorter := _longest(lambda b: fits(title, b, kept), body)) is not None:
        return build(title, shorter, kept)
    if title and (shorter := _longest(lambda t: fits(t, "", kept), title)) is not None:
        return build(shorter, "", kept)
    return build("", "", kept)


def push_message(content: Content, message_id: str) -> str:
    """The SNS ``Message`` for ``MessageStructure="json"``: one JSON-string payload per platform plus ``default``."""
    data = custom_data(content, message_id)
    apns = fit(
        lambda t, b, d: apns_payload(t, b, d, image=content.image_url is not None), content.title, content.text, data
    )
    fcm = fit(lambda t, b, d: fcm_payload(t, b, d, image_url=content.image_url), content.title, content.text, data)
    default = content.text
    if len(default.encode("utf-8")) > PAYLOAD_BUDGET:
        default = _longest(lambda text: len(text.encode("utf-8")) <= PAYLOAD_BUDGET, default) or ""
    return _json({"default": default, "APNS": _json(apns), "APNS_SANDBOX": _json(apns), "GCM": _json(fcm)})


def publish_request(endpoint_arn: str, content: Content, message_id: str) -> dict[str, Any]:
    """The SNS Publish request that pushes ``content`` to one device endpoint."""
    return {"TargetArn": endpoint_arn, "MessageStructure": "json", "Message": push_message(content, message_id)}


def push_error(error: Exception) -> DeliveryError:
    """The delivery error for a failed SNS call (the one place SNS errors are read).

    A disabled, deleted or unknown endpoint is permanent (the device is gone: try the next channel). Throttling,
    SNS or network failures are transient. Everything else (a disabled platform application after an expired APNs
    certificate, missing permissions, KMS) is a configuration error: transient too, so it is retried and then lands
    in the dead-letter queue with its reason instead of silently moving every customer to another channel.
    """
    failure = AwsFailure.of(error)
    if failure.code in _PERMANENT:
        return PermanentDeliveryError(_PERMANENT[failure.code])
    if failure.code in _THROTTLED:
        return TransientDeliveryError("push_throttled")
    if failure.server_side:
        return TransientDeliveryError("push_unavailable")
    return TransientDeliveryError(f"push_config: {failure.code}")


class PushProvider(AwsProvider[PushSettings]):
    """Sends push notifications to SNS platform endpoints and registers device tokens as endpoints."""

    channel: Channel = "push"

    client_factory = staticmethod(aws.sns)

    def send(
        self, address: Address, content: Content, message_id: str, *, context: SendContext | None = None
    ) -> Receipt:
        """Publish ``content`` to the endpoint ARN in ``address.value``; raises a DeliveryError if SNS refuses."""
        if not _ENDPOINT_ARN.fullmatch(address.value):
            raise PermanentDeliveryError("push_endpoint_invalid")
        try:
            response = self.client.publish(**publish_request(address.value, content, message_id))
        except AWS_CALL_ERRORS as error:
            raise push_error(error) from error
        return Receipt(provider_message_id=response.get("MessageId"))

    def endpoint_for(self, platform_application_arn: str, token: str, custom_user_data: str | None = None) -> str:
        """The endpoint ARN for a device token, created if new and re-enabled if SNS had disabled it.

        Idempotent: the same token gives the same endpoint. SNS refuses to "create" an existing endpoint whose
        attributes differ (typically ``Enabled=false`` after a failed delivery, or other ``CustomUserData``) and names
        it only in the error message; reading the ARN from there is AWS's documented recovery, then the token is
        enabled again (the app just reported it, so it is current) and ``custom_user_data`` set.
        """
        request: dict[str, Any] = {"PlatformApplicationArn": platform_application_arn, "Token": token}
        attributes = {"Token": token, "Enabled": "true"}
        if custom_user_data is not None:
            request["CustomUserData"] = custom_user_data
            attributes["CustomUserData"] = custom_user_data
        try:
            return str(self.client.create_platform_endpoint(**request)["EndpointArn"])
        except AWS_CALL_ERRORS as error:
            existing = _existing_endpoint(error)
            if existing is None:
                raise push_error(error) from error
        try:
            self.client.set_endpoint_attributes(EndpointArn=existing, Attributes=attributes)
        except AWS_CALL_ERRORS as error:
            raise push_error(error) from error
        return existing

    def register_device(self, platform: PushPlatform, token: str, custom_user_data: str | None = None) -> str | None:
        """The endpoint ARN for a device token of ``platform`` in this shop's app; None if the shop has no app there.

        The router passes ``custom_user_data=endpoint_user_data(shop_id, customer)`` so a disabled endpoint can be
        traced back to its customer.
        """
        application = self.settings.platform_applications.get(platform)
        return None if application is None else self.endpoint_for(application, token, custom_user_data)

    def endpoint_enabled(self, endpoint_arn: str) -> bool:
        """Whether SNS still delivers to the endpoint (False once disabled or deleted)."""
        try:
            attributes = self.client.get_endpoint_attributes(EndpointArn=endpoint_arn)["Attributes"]
        except AWS_CALL_ERRORS as error:
            translated = push_error(error)
            if isinstance(translated, PermanentDeliveryError):
                return False
            raise translated from error
        return str(attributes.get("Enabled", "false")).lower() == "true"


_ALREADY_EXISTS = re.compile(r"Endpoint (arn:aws[a-z-]*:sns:\S+) already exists with the same [Tt]oken")


def _existing_endpoint(error: Exception) -> str | None:
    failure = AwsFailure.of(error)
    if failure.code != "InvalidParameter" or not hasattr(error, "response"):
        return None
    found = _ALREADY_EXISTS.search(str(error.response.get("Error", {}).get("Message", "")))
    return found.group(1) if found else None


def endpoint_user_data(shop_id: str, customer: str) -> str:
    """The ``CustomUserData`` of a customer's endpoint: ``"<shop_id>\\n<customer>"`` (SNS allows under 2 KB)."""
    return f"{shop_id}\n{customer}"


def endpoint_owner(custom_user_data: str | None) -> tuple[str, str] | None:
    """(shop_id, customer) from an endpoint's ``CustomUserData``; None when it is absent or not nudge's."""
    shop_id, separator, customer = (custom_user_data or "").partition("\n")
    if not separator or not shop_id or not customer or "\n" in customer:
        return None
    return shop_id, customer


class EndpointReader:
    """Reads SNS platform endpoints of any shop's app: the feedback function traces dead endpoints with it."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.sns()
        return self._client

    def attributes(self, endpoint_arn: str) -> dict[str, str] | None:
        """The endpoint's attributes (``Token``, ``Enabled``, ``CustomUserData``); None once SNS deleted it.

        Raises TransientDeliveryError when SNS cannot answer now (throttling, an outage, missing permission).
        """
        try:
            return dict(self.client.get_endpoint_attributes(EndpointArn=endpoint_arn)["Attributes"])
        except AWS_CALL_ERRORS as error:
            translated = push_error(error)
            if isinstance(translated, PermanentDeliveryError):
                return None
            raise translated from error
