"""Channel provider settings in the shop's YAML, and the providers the router gets from them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from shared.adapters.channels import EmailProvider, InAppProvider, InboxStore, PushProvider, providers_for
from shared.models.config import ShopConfig

SHOP = """
shop:
  id: demo
  name: Demo Shop
  write_keys: [demo-write-key]
  secret_keys: [demo-secret-key]
"""

CHANNELS = """
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
    retention: P14D
"""


def test_the_documented_channels_section_parses():
    channels = ShopConfig.from_yaml(SHOP + CHANNELS).channels

    assert channels.push is not None and channels.push.platform_applications["android"].endswith("/GCM/demo-android")
    assert channels.email is not None and channels.email.from_name == "Demo Shop"
    assert channels.sms is not None and channels.sms.configuration_set == "nudge-demo"
    assert channels.whatsapp is not None and channels.whatsapp.meta_api_version == "v20.0"
    assert channels.in_app is not None and channels.in_app.retention == timedelta(days=14)


def test_a_config_without_provider_settings_stays_valid():
    config = ShopConfig.from_yaml(SHOP + "channels:\n  preference: [email, sms]\n")

    assert config.channels.email is None
    assert config.channels.preference == ["email", "sms"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (("hello@demo-shop.example", "hello at demo-shop"), "channels.email.from_address"),
        (("app/APNS/demo-ios", "app/GCM/demo-ios"), "channels.push"),
        (("phone-number-id-0123", "number-0123"), "channels.whatsapp.phone_number_id"),
        (("retention: P14D", "retention: PT0S"), "channels.in_app.retention"),
        (
            ("configuration_set: nudge-demo\n  sms", "configuraton_set: nudge-demo\n  sms"),
            "channels.email.configuraton_set",
        ),
    ],
)
def test_provider_mistakes_are_reported_with_their_path(change, path):
    with pytest.raises(ValidationError) as caught:
        ShopConfig.from_yaml(SHOP + CHANNELS.replace(*change))

    assert any(".".join(map(str, error["loc"])) == path for error in caught.value.errors()), caught.value.errors()


def test_the_router_gets_a_provider_for_each_configured_channel_only():
    channels = ShopConfig.from_yaml(SHOP + "channels:\n  email:\n    from_address: hello@demo-shop.example\n").channels

    providers = providers_for("demo", channels, inbox=InboxStore("customers"))

    assert set(providers) == {"email", "in_app"}
    assert isinstance(providers["email"], EmailProvider)
    assert isinstance(providers["in_app"], InAppProvider)
    assert all(channel == provider.channel for channel, provider in providers.items())
    assert not any(isinstance(provider, PushProvider) for provider in providers.values())
