"""Channel provider settings (per shop, under ``channels:`` in the shop's YAML) and what providers exchange.

A channel whose settings are absent is simply not configured for the shop: the router skips it. Example::

    channels:
      preference: [push, whatsapp, email, sms, in_app]
      push:
        platform_applications:
          ios: arn:aws:sns:eu-west-1:123456789012:app/APNS/demo-ios
          android: arn:aws:sns:eu-west-1:123456789012:app/GCM/demo-android
      email:
        from_address: hello@demo-shop.example
        from_name: Demo Shop
        configuration_set: nudge-demo
      sms:
        origination_identity: pool-0123456789abcdef0123456789abcdef
        configuration_set: nudge-demo
      whatsapp:
        phone_number_id: phone-number-id-0123456789abcdef0123456789abcdef
      in_app:
        retention: P30D

This module imports nothing from the rest of ``shared.models`` (``config`` imports it).
"""

from datetime import datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field, model_validator

PushPlatform = Literal["ios", "android"]

# SNS platform application ARN: arn:<partition>:sns:<region>:<account>:app/<APNS|APNS_SANDBOX|GCM>/<name>
_PLATFORM_APPLICATION_ARN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:app/(APNS|APNS_SANDBOX|GCM)/[A-Za-z0-9_.-]+$"
_SNS_PLATFORMS: dict[PushPlatform, tuple[str, ...]] = {"ios": ("APNS", "APNS_SANDBOX"), "android": ("GCM",)}
# Deliberately conservative: one addr-spec, no display name, no whitespace or header-breaking characters.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_ADDRESS = rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$"
E164 = r"^\+[1-9]\d{1,14}$"
# A signed token (base64url and dots) that fits one header line next to "X-Nudge-Ref: ".
FEEDBACK_REF = r"^[A-Za-z0-9_.-]{1,960}$"


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive ISO 8601 duration such as P30D")
    return value


# The local stack serves its links on the loopback interface over plain HTTP; nothing else may be http.
_LOOPBACK_HTTP = ("http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/")


def _https(url: str) -> str:
    secure = url.startswith("https://") or url.startswith(_LOOPBACK_HTTP)
    if not secure or not url.isascii() or any(c.isspace() or c in '<>"' for c in url):
        raise ValueError("must be an ASCII https:// URL without spaces, quotes or angle brackets")
    return url


HttpsUrl = Annotated[str, AfterValidator(_https)]


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class PushSettings(_Strict):
    """SNS mobile push: one platform application per device platform (``ios`` -> APNs, ``android`` -> FCM)."""

    platform_applications: dict[PushPlatform, Annotated[str, Field(pattern=_PLATFORM_APPLICATION_ARN)]] = Field(
        min_length=1, description="SNS platform application ARN per platform"
    )

    @model_validator(mode="after")
    def _platform_matches_application(self) -> Self:
        for platform, arn in self.platform_applications.items():
            sns_platform = arn.split(":app/", 1)[1].split("/", 1)[0]
            if sns_platform not in _SNS_PLATFORMS[platform]:
                raise ValueError(
                    f"{platform} needs a platform application of type {' or '.join(_SNS_PLATFORMS[platform])}"
                )
        return self


class _DoubleOptIn(_Strict):
    """A channel whose consent may need the customer's confirmation (``shared.core.preferences``)."""

    double_opt_in: bool = Field(
        default=False,
        description="a grant of consent waits, pending, for the button behind the confirmation message's link",
    )
    confirm_within: timedelta = Field(
        default=timedelta(days=7),
        gt=timedelta(0),
        le=timedelta(days=30),
        description="double opt-in: an unconfirmed grant lapses this long after it was asked for",
    )
    confirmations_per_hour: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="double opt-in: at most this many confirmation messages an hour on this channel; the ones past "
        "it are suppressed (confirmation_rate_limited), so that a script signing strangers up through the public "
        "sign-up cannot have the shop mail them by the thousand (list bombing)",
    )


class EmailSettings(_DoubleOptIn):
    """SES v2 sender: a verified identity (address or domain) and, optionally, a configuration set for events."""

    from_address: str = Field(pattern=EMAIL_ADDRESS)
    from_name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\r\n]+$")
    reply_to: str | None = Field(default=None, pattern=EMAIL_ADDRESS)
    configuration_set: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


class SmsSettings(_DoubleOptIn):
    """AWS End User Messaging SMS: who the message comes from (phone number, pool, sender id or their ARN)."""

    origination_identity: str = Field(pattern=r"^[A-Za-z0-9_:/+-]{1,256}$")
    configuration_set: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_:/-]{1,256}$")


class WhatsAppSettings(_Strict):
    """AWS End User Messaging Social: the linked WhatsApp business phone number and the Meta API version."""

    phone_number_id: str = Field(pattern=r"^(phone-number-id-[0-9A-Za-z]+|arn:[^\s]+:phone-number-id/[0-9A-Za-z]+)$")
    meta_api_version: str = Field(default="v20.0", pattern=r"^v\d+\.\d+$")


class InAppSettings(_Strict):
    """The in-app inbox needs no provider account; only how long a message stays in the inbox."""

    retention: Annotated[timedelta, AfterValidator(_positive)] = timedelta(days=30)


class SendContext(_Strict):
    """What the router knows about one message beyond its address and content; each provider reads its part.

    - ``transactional``: SMS ``MessageType`` TRANSACTIONAL (else PROMOTIONAL); email may then omit one-click
      unsubscribe (RFC 8058 applies to bulk mail only).
    - ``unsubscribe_url``: the per-message one-click unsubscribe URL (``https://.../u/<token>``) for email's
      ``List-Unsubscribe``; required for non-transactional email.
    - ``whatsapp_window_open``: the customer wrote to the shop on WhatsApp within the last 24 h, so free-form text
      is allowed; otherwise only an approved template may be sent. Defaults to closed, the safe assumption.
    - ``feedback_ref``: email only, a signed reference to (shop, customer) that SES hands back in its bounce and
      complaint notifications (``mail.headers``) as the ``X-Nudge-Ref`` header; the router passes
      ``issue_unsubscribe_token(key, shop_id, customer, "email")``. Signed, so a forged notification names nobody.
      URL-safe characters only, and short enough to stay on one header line (RFC 5322: 998 characters).
    """

    transactional: bool = False
    unsubscribe_url: HttpsUrl | None = None
    whatsapp_window_open: bool = False
    feedback_ref: str | None = Field(default=None, pattern=FEEDBACK_REF)


class InboxItem(_Strict):
    """One message in a customer's in-app inbox, as the shop's app shows it."""

    message_id: str
    title: str
    text: str
    image_url: str | None = None
    url: str | None = None
    data: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    read_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def read(self) -> bool:
        """Whether the customer has opened the message."""
        return self.read_at is not None
