"""Message content (CH7): what a customer reads, in which language, and what a shop's broken template does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.content import (
    TemplateMissingError,
    TemplateRenderError,
    build_context,
    render,
    render_message,
    shipped_kinds,
    validate_templates,
)
from shared.content.sample import SAMPLE_EXTRA, sample_message, sample_state
from shared.models.config import CHANNELS, ShopConfig
from shared.models.content import ChannelTemplates
from shared.models.messages import OutboxMessage
from shared.models.state import Cart, CartItem, CustomerState, OrderRef, Orders

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
UNSUBSCRIBE = "https://nudge.example.com/u/token-123"
KINDS = [
    "cart_reminder",
    "cart_offer",
    "browse_reminder",
    "welcome",
    "welcome_loyalty",
    "order_thank_you",
    "review_request",
    "cross_sell",
    "repeat_thank_you",
    "repeat_offer",
    "reactivation",
    "reactivation_offer",
    "back_in_stock",
    "price_drop",
    "free_shipping_nudge",
    "birthday",
    "occasion",
    "nurture_guide",
    "nurture_story",
    "nurture_first_order",
]
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")


def config(**templates: Any) -> ShopConfig:
    return ShopConfig.model_validate(
        {
            "shop": {
                "id": "demo",
                "name": "Demo Shop",
                "write_keys": ["demo-write-key"],
                "secret_keys": ["demo-secret-key"],
                "url": "https://shop.example.com",
                "default_locale": templates.pop("default_locale", "en"),
            },
            "templates": templates,
        }
    )


def customer(locale: str | None = "en", **traits: Any) -> CustomerState:
    """A customer with a two-item cart ``c1``."""
    return CustomerState(
        user_id="u1",
        traits=traits,
        locale=locale,
        carts={
            "c1": Cart(
                items=[
                    CartItem(
                        product_id="sku-1",
                        name="Merino Crew Sweater",
                        price=59.9,
                        image_url="https://img.example.com/sweater.jpg",
                        url="https://shop.example.com/p/sweater",
                    ),
                    CartItem(
                        product_id="sku-2",
                        name="Trail Socks",
                        price=14.95,
                        quantity=2,
                        image_url="https://img.example.com/socks.jpg",
                    ),
                ],
                updated_at=T0,
            )
        },
    )


def message(kind: str = "cart_reminder", transactional: bool = False, **variables: Any) -> OutboxMessage:
    return OutboxMessage(
        message_id=f"m-{kind}",
        shop_id="demo",
        customer="u:u1",
        journey="j",
        step=0,
        template=kind,
        variables={"cart_id": "c1", **variables},
        transactional=transactional,
        created_at=T0,
    )


def send(channel: Any, state: CustomerState, msg: OutboxMessage | None = None, shop: ShopConfig | None = None):
    return render_message(state, msg or message(), channel, shop or config(), {"unsubscribe_url": UNSUBSCRIBE})


def gsm7_segments(text: str) -> int:
    if all(char in GSM7 or char in GSM7_EXTENDED for char in text):
        units = sum(2 if char in GSM7_EXTENDED else 1 for char in text)
        return 1 if units <= 160 else -(-units // 153)
    return 1 if len(text) <= 70 else -(-len(text) // 67)


# ---------------------------------------------------------------- language


def test_a_german_customer_gets_german_copy():
    # Given a customer whose app reports German
    state = customer("de-DE", first_name="Anna")
    # When the cart reminder email is rendered
    content = send("email", state)
    # Then subject, text and HTML are German, with German money
    assert content.locale == "de"
    assert content.title == "Anna, dein Warenkorb wartet auf dich"
    assert "59,90 €" in content.text and "Summe: 89,80 €" in content.text
    assert 'lang="de"' in (content.html or "") and "Zurück zum Warenkorb" in (content.html or "")


def test_austrian_german_falls_back_to_german():
    # Given a customer in de-AT (no Austrian templates exist)
    state = customer("de-AT")
    # When a push is rendered
    content = send("push", state)
    # Then the German template is used
    assert content.locale == "de"
    assert content.title == "Noch unentschlossen?"


@pytest.mark.parametrize(("default_locale", "expected"), [("de", "de"), ("fr", "en")], ids=["shop-default", "then-en"])
def test_an_unknown_locale_falls_back_to_the_shop_default_then_english(default_locale, expected):
    # Given a Portuguese-speaking customer and a shop whose default is German (or French, which nudge lacks)
    shop = config(default_locale=default_locale)
    # When an SMS is rendered
    content = send("sms", customer("pt-BR"), shop=shop)
    # Then the shop's default language is used when it exists, English otherwise
    assert content.locale == expected
    assert ("STOP zum Abmelden" if expected == "de" else "Reply STOP to opt out") in content.text


def test_money_follows_the_language_and_the_shop_currency():
    # Given a shop selling in pounds
    shop = config()
    shop = shop.model_copy(update={"shop": shop.shop.model_copy(update={"currency": "GBP"})})
    # When English and German customers get the in-app message
    english = send("in_app", customer("en"), shop=shop)
    german = send("in_app", customer("de"), shop=shop)
    # Then each reads the total in their own notation
    assert "£89.80" in english.text
    assert "89,80 £" in german.text


# ---------------------------------------------------------------- what the customer reads


def test_cart_reminder_email_names_each_item_with_image_and_price_and_links_to_the_cart():
    # Given a customer with two items in the cart
    state = customer("en", first_name="Anna")
    # When the cart reminder email is rendered
    content = send("email", state)
    # Then the HTML shows each item's name, image and price and links back to the cart, with an unsubscribe footer
    html = content.html or ""
    for name, image, price in [
        ("Merino Crew Sweater", "https://img.example.com/sweater.jpg", "€59.90"),
        ("Trail Socks", "https://img.example.com/socks.jpg", "€14.95"),
    ]:
        assert name in html and f'src="{image}"' in html and price in html
        assert name in content.text and price in content.text
    assert 'href="https://shop.example.com/cart"' in html
    assert f'href="{UNSUBSCRIBE}"' in html and UNSUBSCRIBE in content.text


def test_subject_has_the_first_name_when_known_and_reads_well_when_not():
    # Given one customer with a name (as "name" only) and one without
    named = customer("en", name="Anna Berger")
    anonymous = customer("en")
    # When the cart reminder email is rendered for both
    with_name = send("email", named)
    without = send("email", anonymous)
    # Then the first name leads the subject, and without it the subject is a clean sentence
    assert with_name.title == "Anna, you left something in your cart"
    assert without.title == "You left something in your cart"
    assert without.text.startswith("Hi there,")


def test_push_carries_the_offer_code_and_deep_link_as_custom_data_and_the_item_image():
    # Given a cart offer step with a code
    msg = message("cart_offer", offer={"code": "CART10", "percent": 10, "expires_at": T0 + timedelta(days=2)})
    # When the push is rendered
    content = send("push", customer("en"), msg)
    # Then the app can apply the code on tap and shows the cart's first item
    assert content.data["promo_code"] == "CART10"
    assert content.data["deep_link"] == content.url == "https://shop.example.com/cart"
    assert content.image_url == "https://img.example.com/sweater.jpg"
    assert content.title == "10% off your cart"
    assert len((content.title + content.text).encode()) < 400


def test_marketing_sms_ends_with_the_stop_instruction_and_transactional_does_not():
    # Given the same cart reminder, once as marketing and once as transactional
    marketing = send("sms", customer("en"), message(transactional=False))
    transactional = send("sms", customer("en"), message(transactional=True))
    german = send("sms", customer("de"), message(transactional=False))
    # Then only the marketing SMS tells the customer how to opt out, in their language
    assert marketing.text.endswith("Reply STOP to opt out")
    assert german.text.endswith("STOP zum Abmelden")
    assert "STOP" not in transactional.text
    assert marketing.title == ""


def test_whatsapp_uses_the_shops_approved_template_in_the_customers_language():
    # Given a shop with an approved Meta template for cart reminders, in English and German
    shop = config(
        whatsapp={
            "cart_reminder": {
                "name": "cart_reminder_v2",
                "language": "en",
                "languages": {"de": "de"},
                "parameters": ["{{ customer.first_name or 'there' }}", "{{ cart.total | money }}"],
            }
        }
    )
    # When a German customer's WhatsApp message is rendered
    content = send("whatsapp", customer("de-AT", first_name="Anna"), shop=shop)
    # Then the template carries the German translation and the rendered parameters; free-form text is there too
    assert content.whatsapp_template is not None
    assert content.whatsapp_template.name == "cart_reminder_v2"
    assert content.whatsapp_template.language == "de"
    assert content.whatsapp_template.parameters == ["Anna", "89,80 €"]
    assert "Warenkorb" in content.text


def test_a_kind_sent_only_as_an_approved_whatsapp_template_needs_no_free_form_text():
    # Given a shop kind that exists only as a Meta template
    shop = config(
        whatsapp={"order_shipped": {"name": "order_shipped", "language": "en", "parameters": ["{{ order.id }}"]}}
    )
    state = CustomerState(locale="en", orders=Orders(recent=[OrderRef(order_id="1001", amount=5, at=T0)]))
    # When it is rendered for WhatsApp, and when the config is validated
    content = send("whatsapp", state, message("order_shipped", order_id="1001"), shop)
    # Then the template carries the order number and nothing is reported
    assert content.whatsapp_template is not None and content.whatsapp_template.parameters == ["1001"]
    assert content.text == ""
    assert validate_templates(shop) == []


# ---------------------------------------------------------------- injection


def test_html_part_escapes_a_script_in_a_trait():
    # Given a customer who typed a script tag as first name
    state = customer("en", first_name="<script>alert(1)</script>")
    # When the email is rendered
    content = send("email", state)
    # Then the HTML shows it as text, never as markup
    assert "<script>" not in (content.html or "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (content.html or "")


def test_a_template_expression_in_a_trait_renders_literally():
    # Given a customer whose first name is a template expression
    state = customer("en", first_name="{{ ''.__class__ }}")
    # When push, SMS and email are rendered
    push, sms, email = (send(channel, state) for channel in ("push", "sms", "email"))
    # Then it is printed as typed: data is never evaluated
    assert "{{ ''.__class__ }}" in sms.text and email.title.startswith("{{ ''.__class__ }}")
    assert "class 'str'" not in sms.text + email.text + (email.html or "") + push.text


def test_a_dunder_in_an_override_is_refused_and_reported_not_executed():
    # Given a shop override that tries to climb out of the sandbox
    shop = config(overrides={"cart_reminder": {"en": {"sms": {"text": "{{ ''.__class__.__mro__ }}"}}}})
    # When the config is validated, and when the message would be sent
    problems = validate_templates(shop)
    # Then validation names the override, and rendering raises a domain error instead of leaking the class tree
    assert any(p.startswith("templates.overrides.cart_reminder.en.sms.text: access to attribute") for p in problems)
    with pytest.raises(TemplateRenderError) as caught:
        send("sms", customer("en"), shop=shop)
    assert "cart_reminder" in str(caught.value) and "sms" in str(caught.value)


def test_a_runaway_expression_in_an_override_is_refused():
    # Given an override that would build a gigabyte string
    shop = config(overrides={"welcome": {"en": {"push": {"text": "{{ 'x' * 1000000000 }}"}}}})
    # When the config is validated
    problems = validate_templates(shop)
    # Then it is a reported problem, not an out-of-memory Lambda
    assert any(p.startswith("templates.overrides.welcome.en.push.text: repetition longer than") for p in problems)


# ---------------------------------------------------------------- shop overrides and validation


def test_an_override_wins_over_the_shipped_part_and_keeps_the_others():
    # Given a shop that rewrote only the German email subject
    shop = config(overrides={"cart_reminder": {"de": {"email": {"title": "{{ shop.name }}: Noch da!"}}}})
    # When a German customer's email is rendered
    content = send("email", customer("de"), shop=shop)
    # Then the subject is the shop's, text and HTML are still the shipped German ones
    assert content.title == "Demo Shop: Noch da!"
    assert "Summe: 89,80 €" in content.text


def test_a_broken_override_is_reported_by_validate_templates_with_its_path():
    # Given an override with a misspelt variable
    shop = config(overrides={"cart_reminder": {"de": {"email": {"title": "{{ customer.frist_name }}, hallo"}}}})
    # When the config is validated
    problems = validate_templates(shop)
    # Then the problem line says where and what
    assert "templates.overrides.cart_reminder.de.email.title: 'customer' has no attribute 'frist_name'" in problems


def test_a_syntax_error_and_a_missing_part_are_reported():
    # Given a new French locale with a syntax error in the push text and an email without HTML
    shop = config(
        overrides={
            "welcome": {
                "fr": {
                    "push": {"title": "Bienvenue", "text": "{{ shop.name "},
                    "email": {"title": "Bienvenue", "text": "Bonjour"},
                }
            }
        }
    )
    # When the config is validated
    problems = validate_templates(shop)
    # Then both are reported with their paths
    assert any(p.startswith("templates.overrides.welcome.fr.push.text: syntax error on line 1") for p in problems)
    assert (
        "templates.overrides.welcome.fr.email.html: no html part, and no shipped 'fr' template to take it from"
        in problems
    )


def test_shipped_templates_and_a_good_override_validate_clean():
    # Given the shipped templates plus a correct override and a journey using a shipped kind
    shop = config(overrides={"birthday": {"de": {"sms": {"text": "Alles Gute, {{ customer.first_name or 'du' }}!"}}}})
    # When the config is validated
    # Then there is nothing to report
    assert validate_templates(shop) == []


def test_a_journey_step_naming_a_kind_without_templates_is_reported():
    # Given a journey whose step names a template nobody wrote
    shop = ShopConfig.model_validate(
        {
            **config().model_dump(exclude={"templates"}),
            "journeys": {"cart_abandonment": {"steps": [{"wait": "PT1H", "template": "cart_remindr"}]}},
        }
    )
    # When the config is validated
    problems = validate_templates(shop)
    # Then the step is named
    assert problems[0].startswith("journeys.cart_abandonment.steps.0.template: no template 'cart_remindr'")


def test_an_unknown_kind_is_a_named_domain_error():
    # Given no template for a kind
    context = build_context(customer("de"), message("black_friday"), config())
    # When it is rendered
    with pytest.raises(TemplateMissingError) as caught:
        render("black_friday", "push", "de", context, config())
    # Then the error says which kind, channel and locale
    assert "black_friday / push / de" in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "where", "rule"),
    [
        ({"cart_reminder": {"en": {"fax": {"text": "x"}}}}, "templates.overrides.cart_reminder.en.fax", "Extra"),
        ({"cart_reminder": {"en": {"sms": {"title": "x"}}}}, "templates.overrides.cart_reminder.en.sms.title", "Extra"),
        ({"cart_reminder": {"en": {"push": {"html": "x"}}}}, "templates.overrides.cart_reminder.en.push.html", "Extra"),
        (
            {"cart_reminder": {"en": {"email": {"subject": "x"}}}},
            "templates.overrides.cart_reminder.en.email.subject",
            "Extra",
        ),
        ({"Cart Reminder": {"en": {}}}, "templates.overrides.Cart Reminder.[key]", "pattern"),
    ],
)
def test_override_shapes_are_strict(overrides, where, rule):
    # Given an override with an unknown channel, a part its channel lacks, or a bad kind name
    # When the config is parsed
    with pytest.raises(ValidationError) as caught:
        config(overrides=overrides)
    # Then the mistake is reported at its path
    found = [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]
    assert any(path == where and rule in msg for path, msg in found), found


def test_override_channels_are_exactly_the_channels():
    # Given the override model  When its fields are listed  Then they are the channels nudge knows
    assert tuple(ChannelTemplates.model_fields) == CHANNELS


# ---------------------------------------------------------------- every shipped template


def test_every_message_kind_is_shipped():
    assert set(KINDS) <= shipped_kinds()


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_shipped_template_renders_for_the_sample_customer(kind, channel, locale):
    # Given the sample customer (two-item cart, an order, an offer), with and without a name
    shop = config()
    for named in (True, False):
        context = build_context(sample_state(locale, named), sample_message(kind), shop, SAMPLE_EXTRA)
        # When the kind is rendered for the channel in the locale
        content = render(kind, channel, locale, context, shop)
        # Then it is in that language, says something, and fits the channel
        assert content.locale == locale
        assert content.text and "None" not in content.text + content.title
        if channel in ("push", "in_app"):
            assert content.title and len(content.title) <= 65
            assert len((content.title + content.text).encode()) <= 400
        if channel == "email":
            assert content.title and content.html and SAMPLE_EXTRA["unsubscribe_url"] in content.html
            assert ("Anna" in content.title) == named
        if channel == "sms":
            assert gsm7_segments(content.text) <= 2, content.text
        if channel in ("sms", "whatsapp"):
            assert content.title == ""


@pytest.mark.parametrize(
    ("locale", "occasion", "expected"),
    [
        ("en", {"name": "public_holiday", "date": "2026-10-03", "title": "German Unity Day"}, "German Unity Day"),
        ("de", {"name": "public_holiday", "date": "2026-10-03", "title": "German Unity Day"}, "German Unity Day"),
        ("en", {"name": "mothers_day", "date": "2026-05-10", "title": "Mother's Day"}, "Mother's Day"),
        ("de", {"name": "mothers_day", "date": "2026-05-10", "title": "Mother's Day"}, "Muttertag"),
    ],
    ids=["en-holiday", "de-holiday", "en-mothers-day", "de-mothers-day"],
)
def test_an_occasion_greeting_names_the_occasion_in_subject_and_push_title(locale, occasion, expected):
    # Given an occasion journey's message for a public holiday (its calendar title) or Mother's Day
    state = customer(locale, first_name="Anna")
    msg = message("occasion", occasion=occasion)
    # When the email and the push are rendered
    email, push = send("email", state, msg), send("push", state, msg)
    # Then both name the occasion: a holiday by its title, a known occasion in the customer's language
    assert email.locale == push.locale == locale
    assert expected in email.title and "Anna" in email.title
    assert expected in push.title
    assert expected in email.text and UNSUBSCRIBE in (email.html or "")


@pytest.mark.parametrize("locale", ["en", "de"])
def test_an_occasion_greeting_without_an_occasion_is_a_generic_greeting(locale):
    # Given an occasion message whose variables carry no occasion
    state = customer(locale, first_name="Anna")
    # When every channel is rendered
    for channel in CHANNELS:
        content = send(channel, state, message("occasion"))
        # Then it still greets, from the shop
        assert content.text and "Demo Shop" in content.title + content.text
