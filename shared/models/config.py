"""Shop configuration: one validated YAML document per shop (shop settings, channels, journeys).

Keys may be written in the clear (``demo-write-key``) or already hashed (``sha256:<hex>``); nudge only ever stores
the hash, so a config repository does not have to hold live keys either.
"""

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shared.models.channels import EmailSettings, InAppSettings, PushSettings, SmsSettings, WhatsAppSettings
from shared.models.content import TemplateSettings
from shared.models.journeys import Journeys
from shared.models.vocabulary import CHANNELS as CHANNELS
from shared.models.vocabulary import KEY_HASH_PREFIX as KEY_HASH_PREFIX
from shared.models.vocabulary import Channel as Channel
from shared.models.vocabulary import KeyKind as KeyKind
from shared.models.vocabulary import TimeZoneName as TimeZoneName
from shared.models.vocabulary import hash_key as hash_key


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive ISO 8601 duration such as PT1H or P3D")
    return value


Duration = Annotated[timedelta, AfterValidator(_positive)]
ApiKey = Annotated[str, Field(min_length=8, max_length=200)]


def _origin(value: str) -> str:
    # Browsers send Origin as scheme://host[:port], lower-case, without a path; a config may add a trailing slash.
    origin = value.strip().rstrip("/").lower()
    if origin != "*" and not re.fullmatch(r"https?://[a-z0-9.\-\[\]:]+", origin):
        raise ValueError("must be '*' or an origin such as https://shop.example or http://127.0.0.1:8000 (no path)")
    return origin


Origin = Annotated[str, Field(max_length=300), AfterValidator(_origin)]


class _Strict(BaseModel):
    # A typo in a config key is an error, never silently ignored.
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class ShopSettings(_Strict):
    """Who the shop is and how it is reached."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="lower-case letters, digits and '-'")
    name: str = Field(min_length=1, max_length=200)
    write_keys: list[ApiKey] = Field(min_length=1, description="public keys the shop's tracking clients send")
    secret_keys: list[ApiKey] = Field(min_length=1, description="private keys for the support read API")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    default_locale: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    timezone: TimeZoneName = "UTC"
    url: str | None = Field(
        default=None,
        pattern=r"^https://\S+$",
        max_length=2000,
        description="the storefront's base URL; messages link back to the cart and products from it",
    )

    allowed_origins: list[Origin] = Field(
        default_factory=list,
        description="web origins (scheme://host[:port]) whose pages may send events from the browser; '*' for any",
    )

    @field_validator("write_keys", "secret_keys")
    @classmethod
    def _store_hashed(cls, keys: list[str]) -> list[str]:
        hashed = [key if key.startswith(KEY_HASH_PREFIX) else hash_key(key) for key in keys]
        if len(set(hashed)) != len(hashed):
            raise ValueError("keys must be unique")
        return hashed


class ChannelSettings(_Strict):
    """Channel policy: the order in which permitted channels are tried, and each channel's provider settings."""

    preference: list[Channel] = Field(default_factory=lambda: list(CHANNELS), min_length=1)
    push: PushSettings | None = None
    email: EmailSettings | None = None
    sms: SmsSettings | None = None
    whatsapp: WhatsAppSettings | None = None
    in_app: InAppSettings | None = None

    @field_validator("preference")
    @classmethod
    def _unique(cls, preference: list[Channel]) -> list[Channel]:
        if len(set(preference)) != len(preference):
            raise ValueError("each channel may appear once")
        return preference

    def configured(self, channel: Channel) -> bool:
        """Whether the router can send on ``channel``: its provider settings are given (the inbox needs none)."""
        return channel == "in_app" or getattr(self, channel) is not None


# What the router needs under ``channels:`` to send on a channel, for messages that say what is missing.
PROVIDER_SETTINGS: dict[Channel, str] = {
    "push": "channels.push.platform_applications (an SNS platform application ARN per platform)",
    "email": "channels.email.from_address (a verified SES identity)",
    "sms": "channels.sms.origination_identity (an End User Messaging SMS phone number, pool or sender id)",
    "whatsapp": "channels.whatsapp.phone_number_id (an End User Messaging Social WhatsApp number)",
    "in_app": "nothing",
}


class ShopConfig(_Strict):
    """The whole per-shop configuration document."""

    shop: ShopSettings
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    journeys: Journeys = Field(default_factory=dict, description="journey name -> journey (presets applied)")
    templates: TemplateSettings = Field(default_factory=TemplateSettings)

    def channel_warnings(self) -> list[str]:
        """Every channel the shop prefers (or a journey step names) that it cannot send on, with its path and the
        missing setting: each message routed there would be suppressed as ``channel_not_configured``."""
        named: list[tuple[str, Channel]] = [
            (f"channels.preference[{index}]", channel) for index, channel in enumerate(self.channels.preference)
        ]
        for name, journey in self.journeys.items():
            for step_index, step in enumerate(journey.steps):
                for index, channel in enumerate(step.channels or ()):
                    named.append((f"journeys.{name}.steps[{step_index}].channels[{index}]", channel))
        return [
            f"{path}: {channel} has no provider settings, so nothing is ever sent on it (suppressed as "
            f"channel_not_configured); set {PROVIDER_SETTINGS[channel]}"
            for path, channel in named
            if not self.channels.configured(channel)
        ]

    @classmethod
    def from_yaml(cls, text: str) -> Self:
        """Parse and validate a YAML document (raises pydantic.ValidationError or yaml.YAMLError)."""
        import yaml  # only configs read from YAML need it: not on a handler's import

        document: Any = yaml.safe_load(text)
        return cls.model_validate(document)

    @classmethod
    def from_yaml_file(cls, path: str | Path) -> Self:
        """Parse and validate the YAML file at ``path``."""
        return cls.from_yaml(Path(path).read_text(encoding="utf-8"))
