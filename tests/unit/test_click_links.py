"""Tracked links (shared.service.links, shared.core.tokens): every web link of an e-mail, SMS or WhatsApp text leads
through the signed click redirect with the shop's UTM parameters; nudge's own links, app deep links and shops that
turn tracking off are left alone; the token only ever leads where nudge pointed it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shared.core.tokens import (
    ClickClaim,
    InvalidTokenError,
    issue_click_token,
    issue_unsubscribe_token,
    verify_click_token,
)
from shared.models.config import TrackingSettings
from shared.models.messages import Content, OutboxMessage
from shared.service.links import Links, with_utm
from tests.factories import followed, shop_config

KEY = b"click-signing-key-0123456789abcdef"
BASE = "https://nudge.example"
MESSAGE = OutboxMessage(
    message_id="cart_abandonment-3-0-abc",
    shop_id="demo",
    customer="u:ada",
    journey="cart_abandonment",
    step=0,
    template="cart_reminder",
    created_at=datetime(2026, 11, 2, tzinfo=UTC),
)
LINKS = Links(BASE, lambda: [KEY])


def tracked(channel: str, text: str, html: str | None = None, **config: object) -> Content:
    shop = shop_config({}).model_copy(update=config) if config else shop_config({})
    content = Content(channel=channel, locale="en", title="t", text=text, html=html)  # type: ignore[arg-type]
    return LINKS.tracked(content, MESSAGE, shop)


def test_a_text_link_leads_through_the_redirect_and_keeps_the_sentence_around_it():
    content = tracked("sms", "Your cart: https://shop.example/cart?c=1. Reply STOP to opt out")

    assert "https://shop.example" not in content.text
    assert content.text.startswith(f"Your cart: {BASE}/c/") and content.text.endswith(". Reply STOP to opt out")
    assert followed(content.text) == (
        "Your cart: https://shop.example/cart?c=1&utm_source=nudge&utm_medium=sms&utm_campaign=cart_abandonment"
        "&utm_content=cart_reminder. Reply STOP to opt out"
    )


def test_html_links_are_tracked_with_their_entities_read_and_images_left_alone():
    html = '<a href="https://shop.example/p?a=1&amp;b=2">Boots</a><img src="https://img.example/b.jpg">'

    content = tracked("email", "", html)

    assert content.html is not None and '<img src="https://img.example/b.jpg">' in content.html
    [token] = re.findall(r'href="https://nudge\.example/c/([^"]+)"', content.html)
    claim = verify_click_token([KEY], token)
    assert claim.url.startswith("https://shop.example/p?a=1&b=2&utm_source=nudge&utm_medium=email")
    assert (claim.shop_id, claim.customer, claim.message_id, claim.channel) == (
        "demo",
        "u:ada",
        MESSAGE.message_id,
        "email",
    )


def test_a_link_keeps_its_own_utm_parameters_and_its_fragment():
    url = with_utm(
        "https://shop.example/x?utm_source=mail#top",
        {"utm_source": "nudge", "utm_medium": "{channel}"},
        {"channel": "email", "journey": "j", "step": "0", "template": "t"},
    )

    assert url == "https://shop.example/x?utm_source=mail&utm_medium=email#top"


def test_nudges_own_links_and_shops_without_tracking_are_left_as_they_are():
    own = f"Unsubscribe: {BASE}/u/abc.def"
    off = tracked("email", "See https://shop.example/", tracking=TrackingSettings(clicks=False))

    assert tracked("email", own).text == own
    assert off.text == "See https://shop.example/"


def test_a_push_carries_its_message_id_for_the_app_to_report_taps_and_its_deep_link_stays():
    content = LINKS.tracked(
        Content(channel="push", locale="en", title="t", text="x", url="shop://cart"), MESSAGE, shop_config({})
    )

    assert content.data["nudge_message_id"] == MESSAGE.message_id and content.url == "shop://cart"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "shop://cart", "https://shop.example/a b", "//evil.example"])
def test_only_plain_web_links_are_ever_signed(url):
    with pytest.raises(ValueError):
        issue_click_token(KEY, ClickClaim("demo", "u:ada", "m", "email", url))


def test_a_link_too_long_for_a_token_goes_out_untracked():
    long_link = "https://shop.example/" + "a" * 2000

    assert tracked("email", f"Go {long_link}").text.startswith("Go https://shop.example/aaaa")


def test_an_unsubscribe_token_never_passes_as_a_click_token():
    unsubscribe = issue_unsubscribe_token(KEY, "demo", "u:ada", "email")

    with pytest.raises(InvalidTokenError):
        verify_click_token([KEY], unsubscribe)


def test_a_click_token_from_a_retired_key_still_verifies_during_a_rotation():
    token = issue_click_token(KEY, ClickClaim("demo", "u:ada", "m", "sms", "https://shop.example/"))

    assert verify_click_token([b"new-signing-key-0123456789abcdef", KEY], token).url == "https://shop.example/"
    with pytest.raises(InvalidTokenError):
        verify_click_token([b"new-signing-key-0123456789abcdef"], token)
