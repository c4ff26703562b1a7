"""Shop configuration: what a shop may write, and what nudge refuses with the path of the mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.models.config import ShopConfig, hash_key

BASE = """
shop:
  id: demo
  name: Demo Shop
  write_keys: [demo-write-key]
  secret_keys: [demo-secret-key]
  currency: EUR
  default_locale: en
  timezone: Europe/Berlin
channels:
  preference: [push, whatsapp, email, sms]
journeys:
  cart_abandonment:
    steps:
      - {wait: PT1H, template: cart_reminder}
"""


def errors_of(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        ShopConfig.from_yaml(text)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


def test_the_documented_shape_parses_and_keeps_only_key_hashes():
    config = ShopConfig.from_yaml(BASE)
    assert config.shop.write_keys == [hash_key("demo-write-key")]
    assert "demo-secret-key" not in config.model_dump_json()
    assert config.journeys["cart_abandonment"].steps[0].wait.total_seconds() == 3600


def test_hashed_keys_are_accepted_as_they_are():
    config = ShopConfig.from_yaml(BASE.replace("[demo-write-key]", f"[{hash_key('demo-write-key')}]"))
    assert config.shop.write_keys == [hash_key("demo-write-key")]


@pytest.mark.parametrize(
    ("change", "path", "rule"),
    [
        (("timezone: Europe/Berlin", "timezone: Mars/Olympus"), "shop.timezone", "unknown IANA time zone"),
        (("whatsapp, email", "whatsapp, fax"), "channels.preference.2", "Input should be"),
        (("push, whatsapp", "push, push"), "channels.preference", "each channel may appear once"),
        (("wait: PT1H", "wait: -PT1H"), "journeys.cart_abandonment.steps.0.wait", "must not be negative"),
        (("currency: EUR", "currency: euro"), "shop.currency", "should match pattern"),
        (("name: Demo Shop", "nmae: Demo Shop"), "shop.nmae", "Extra inputs are not permitted"),
    ],
)
def test_mistakes_are_reported_with_their_path(change, path, rule):
    found = errors_of(BASE.replace(*change))
    assert any(where == path and rule in message for where, message in found), found


def test_every_preferred_or_step_channel_without_provider_settings_is_warned_with_its_path():
    # Given a shop preferring five channels, configuring only email, and a step asking for SMS and the inbox
    config = ShopConfig.from_yaml(
        BASE.replace(
            "  preference: [push, whatsapp, email, sms]",
            "  preference: [push, whatsapp, email, sms, in_app]\n  email: {from_address: hello@shop.example}",
        ).replace("template: cart_reminder}", "template: cart_reminder, channels: [sms, in_app]}")
    )

    warnings = config.channel_warnings()

    # Then each channel it cannot send on is named with its path and the missing setting; email and in_app are fine
    assert [w.split(":", 1)[0] for w in warnings] == [
        "channels.preference[0]",
        "channels.preference[1]",
        "channels.preference[3]",
        "journeys.cart_abandonment.steps[0].channels[0]",
    ]
    assert "set channels.push.platform_applications" in warnings[0]
    assert "set channels.sms.origination_identity" in warnings[2]
    assert all("channel_not_configured" in w for w in warnings)


def test_a_shop_that_can_send_on_every_channel_it_names_has_no_warnings():
    assert ShopConfig.from_yaml_file(Path(__file__).parents[2] / "events" / "demo-shop.yaml").channel_warnings() == []


@pytest.mark.parametrize(
    ("offers", "path", "rule"),
    [
        ("{CART: {static: CART10, pool: cart}}", "offers.CART", "exactly one of static"),
        ("{CART: {pool: cart, webhook: 'https://shop.example/c'}}", "offers.CART", "exactly one of static"),
        ("{CART: {}}", "offers.CART", "exactly one of static"),
        ("{CART: {static: 'ten off'}}", "offers.CART.static", "should match pattern"),
        ("{CART: {pool: Cart Codes}}", "offers.CART.pool", "should match pattern"),
        ("{cart: {pool: cart}}", "offers.cart.[key]", "should match pattern"),
        ("{CART: {webhook: 'http://shop.example/codes'}}", "offers.CART.webhook", "must be an ASCII https:// URL"),
    ],
)
def test_an_offer_source_that_cannot_work_is_reported_with_its_path(offers, path, rule):
    found = errors_of(BASE + f"offers: {offers}\n")
    assert any(where == path and rule in message for where, message in found), found


def test_offers_name_a_static_code_or_a_pool_per_offer_prefix():
    config = ShopConfig.from_yaml(BASE + "offers: {CART: {static: CART10}, WELCOME: {pool: welcome-codes}}\n")
    assert config.static_offer("CART10") == ("CART", config.offers["CART"])
    assert config.static_offer("WELCOME10") is None
    assert config.offers["WELCOME"].pool == "welcome-codes"
