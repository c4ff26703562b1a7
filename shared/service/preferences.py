"""The customer's own pages: the preference centre (``/p/{token}``) and the double opt-in confirmation
(``/confirm/{token}``). Both answer signed links of nudge's messages: the HMAC in the token is the authorisation, so
neither needs a login, a cookie or a lookup of who the customer is.

Preference centre: ``GET`` shows the customer's channels (those the shop sends on and nudge has an address for, with
their consent now), the shop's topics (``topics:``, switched on unless the customer switched them off) and a pause of
all marketing for 30 days, in the customer's language (en or de: their locale, else the browser's, else the shop's).
``POST`` (the page's form) puts one ``preferences_changed`` feedback event, source ``preference_centre``, on the
customer's FIFO group: the decision core changes their consent (``shared.core.preferences``), never this function.
Only what the page showed can change: unknown channels or topics in a forged form are ignored.

Confirmation: ``GET`` shows a page with one button, and changes nothing: mail providers' link scanners fetch every
link of a mail, and a scanner's fetch must not confirm a subscription on someone's behalf (that is what double
opt-in proves). The button's ``POST`` enqueues ``consent_confirmed``. A link past its expiry (signed into it) is
answered 410 with a page that says so.

Every page escapes everything it shows (shop names, topic labels, addresses are never markup) and is sent with
``PAGE_HEADERS`` (no caching, no indexing, no referrer, a CSP without scripts, forms only to this origin).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from shared.core.tokens import ConfirmClaim, UnsubscribeClaim, verify_confirm_token, verify_preferences_token
from shared.models.nudge_events import FeedbackEvent, PreferenceChange
from shared.models.vocabulary import CHANNELS, Channel
from shared.ports import CustomerRecords, EventQueue, Shops
from shared.service.feedback_events import feedback_entry
from shared.service.public import SignedLinks, customer_feedback

PAUSE = timedelta(days=30)
SOURCE = "preference_centre"
Language = Literal["en", "de"]
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
    "fieldset{border:1px solid #d4d4d8;border-radius:6px;margin:0 0 1rem;padding:.5rem 1rem}"
    "label{display:block;margin:.4rem 0}small{color:#52525b;display:block;margin-left:1.6rem}"
    "button{font:inherit;padding:.5rem 1.25rem}"
)
_WORDS: dict[Language, dict[str, str]] = {
    "en": {
        "title": "Your preferences",
        "intro": "Choose what {shop} may send you.",
        "channels": "How we may reach you",
        "topics": "What you hear about",
        "pause": "Pause all marketing messages for 30 days",
        "paused": "Marketing messages are paused until {until}.",
        "resume": "Resume them now",
        "save": "Save",
        "waiting": "waiting for your confirmation: see the mail we sent you",
        "orders": "Messages about your orders are not affected.",
        "saved_title": "Saved",
        "saved": "Your choices are saved; they take effect within a minute.",
        "nobody": "We hold no preferences for you.",
        "confirm_title": "Confirm your subscription",
        "confirm": "Do you want to receive emails from {shop}?",
        "confirm_button": "Yes, subscribe me",
        "confirmed_title": "Thank you",
        "confirmed": "Your subscription is confirmed.",
        "expired_title": "This link has expired",
        "expired": "Please sign up again to get a new confirmation mail.",
        "email": "Email",
        "sms": "Text messages (SMS)",
        "push": "Push notifications",
        "whatsapp": "WhatsApp",
        "in_app": "Messages in our app",
    },
    "de": {
        "title": "Deine Einstellungen",
        "intro": "Wähle, was {shop} dir schicken darf.",
        "channels": "Wie wir dich erreichen dürfen",
        "topics": "Worüber du von uns hörst",
        "pause": "Alle Werbenachrichten für 30 Tage pausieren",
        "paused": "Werbenachrichten sind pausiert bis {until}.",
        "resume": "Jetzt wieder aufnehmen",
        "save": "Speichern",
        "waiting": "wartet auf deine Bestätigung: siehe die E-Mail, die wir dir geschickt haben",
        "orders": "Nachrichten zu deinen Bestellungen sind davon nicht betroffen.",
        "saved_title": "Gespeichert",
        "saved": "Deine Auswahl ist gespeichert; sie gilt innerhalb einer Minute.",
        "nobody": "Wir haben keine Einstellungen von dir gespeichert.",
        "confirm_title": "Anmeldung bestätigen",
        "confirm": "Möchtest du E-Mails von {shop} erhalten?",
        "confirm_button": "Ja, ich möchte E-Mails erhalten",
        "confirmed_title": "Danke",
        "confirmed": "Deine Anmeldung ist bestätigt.",
        "expired_title": "Dieser Link ist abgelaufen",
        "expired": "Bitte melde dich noch einmal an, dann schicken wir dir eine neue Bestätigung.",
        "email": "E-Mail",
        "sms": "SMS",
        "push": "Push-Benachrichtigungen",
        "whatsapp": "WhatsApp",
        "in_app": "Nachrichten in unserer App",
    },
}


class ExpiredLinkError(Exception):
    """A confirmation link past its expiry; carries the page that says so."""

    def __init__(self, page: str) -> None:
        super().__init__("the confirmation link has expired")
        self.page = page


def language(*candidates: str | None) -> Language:
    """The first of ``candidates`` (a locale like ``de-AT``, or an Accept-Language header) nudge speaks; else en."""
    for candidate in candidates:
        for part in (candidate or "").split(","):
            tag = part.split(";")[0].strip().lower()[:2]
            if tag in _WORDS:
                return tag
    return "en"


def _page(lang: Language, title: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n<meta name="robots" content="noindex">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _box(name: str, value: str, label: str, checked: bool, note: str = "") -> str:
    mark = " checked" if checked else ""
    small = f"<small>{html.escape(note)}</small>" if note else ""
    return (
        f'<label><input type="checkbox" name="{name}" value="{html.escape(value)}"{mark}> {html.escape(label)}</label>'
        f"{small}"
    )


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{name}" value="{html.escape(value)}">'


@dataclass(frozen=True, slots=True)
class _Shown:
    """What the page shows one customer: channels (with consent now, and whether a grant waits), topics (on/off)."""

    shop_name: str
    lang: Language
    channels: list[tuple[Channel, bool, bool]]
    topics: list[tuple[str, str, str, bool]]
    paused_until: datetime | None


class PreferenceCentre(SignedLinks):
    """The preference centre of one deployment: reads the customer's state to show it, enqueues what they save."""

    def __init__(
        self,
        signing_keys: Callable[[], Sequence[bytes]],
        queue: EventQueue,
        clock: Callable[[], datetime],
        shops: Shops,
        customers: CustomerRecords,
    ) -> None:
        super().__init__(signing_keys, queue, clock)
        self._shops = shops
        self._customers = customers

    def claim(self, token: str) -> UnsubscribeClaim:
        """Who the token is about; raises InvalidTokenError for a forged, tampered or malformed token."""
        return verify_preferences_token(self._signing_keys(), token)

    def page(self, token: str, accept_language: str | None = None) -> str:
        """The page for a GET: the customer's channels, topics and pause as they are now; changes nothing."""
        shown = self._shown(self.claim(token), accept_language)
        if shown is None:
            return _nobody(accept_language)
        return _page(shown.lang, _WORDS[shown.lang]["title"], _form(shown))

    def save(
        self, token: str, form: Mapping[str, list[str]], accept_language: str | None = None
    ) -> tuple[FeedbackEvent | None, str]:
        """Enqueue what the form changes (None when nudge holds nothing about the customer) and the page to answer."""
        claim = self.claim(token)
        shown = self._shown(claim, accept_language)
        if shown is None:
            return None, _nobody(accept_language)
        now = self._clock()
        change = _change(shown, form, now)
        digest = hashlib.sha256(f"{token}\n{change.model_dump_json()}".encode()).hexdigest()[:32]
        window = int(now.timestamp()) // 600  # the same form sent twice within ten minutes is one change
        event = customer_feedback(
            claim, "preferences_changed", SOURCE, f"preferences:{digest}:{window}", now, preferences=change
        )
        self._queue.send([feedback_entry(event)])
        words = _WORDS[shown.lang]
        body = f"<p>{html.escape(words['saved'])}</p>\n<p><small>{html.escape(words['orders'])}</small></p>"
        return event, _page(shown.lang, words["saved_title"], body)

    def _shown(self, claim: UnsubscribeClaim, accept_language: str | None) -> _Shown | None:
        from shared.adapters.customers import MergeChainError
        from shared.core.routing import address_for

        config = self._shops.config(claim.shop_id)
        if config is None:
            return None
        try:
            state = self._customers.follow(self._customers.load(claim.shop_id, claim.customer)).state
        except MergeChainError:
            return None
        if state is None:
            return None
        lang = language(state.locale, accept_language, config.shop.default_locale)
        now = self._clock()
        channels = [
            (channel, state.has_consent(channel), state.pending(channel, now) is not None)
            for channel in CHANNELS
            if config.channels.configured(channel)
            and (channel == claim.channel or address_for(state, channel, config, claim.customer) is not None)
        ]
        topics = [
            (name, *topic.text(lang, config.shop.default_locale[:2]), name not in state.topics_off)
            for name, topic in config.topics.items()
        ]
        paused = state.paused_until if state.paused(now) else None
        return _Shown(config.shop.name, lang, channels, topics, paused)


def _nobody(accept_language: str | None) -> str:
    """The page for a customer nudge holds nothing about (erased, or never stored): nothing to show or change."""
    lang = language(accept_language)
    return _page(lang, _WORDS[lang]["title"], f"<p>{html.escape(_WORDS[lang]['nobody'])}</p>")


def _form(shown: _Shown) -> str:
    """The preference centre's form: a checkbox per channel and topic, the pause (or its end), one button."""
    words = _WORDS[shown.lang]
    parts = [f"<p>{html.escape(words['intro'].format(shop=shown.shop_name))}</p>", '<form method="post">']
    if shown.channels:
        parts.append(f"<fieldset><legend>{html.escape(words['channels'])}</legend>")
        for channel, on, waiting in shown.channels:
            parts.append(_hidden("shown_channel", channel))
            parts.append(_box("channel", channel, words[channel], on, words["waiting"] if waiting else ""))
        parts.append("</fieldset>")
    if shown.topics:
        parts.append(f"<fieldset><legend>{html.escape(words['topics'])}</legend>")
        for name, label, description, on in shown.topics:
            parts.append(_hidden("shown_topic", name))
            parts.append(_box("topic", name, label, on, description))
        parts.append("</fieldset>")
    if shown.paused_until is not None:
        until = shown.paused_until.astimezone(UTC).strftime("%Y-%m-%d")
        parts.append(f"<p>{html.escape(words['paused'].format(until=until))}</p>")
        parts.append(_box("resume", "1", words["resume"], False))
    else:
        parts.append(_box("pause", "30", words["pause"], False))
    parts.append(f'<p><button type="submit">{html.escape(words["save"])}</button></p>\n</form>')
    parts.append(f"<p><small>{html.escape(words['orders'])}</small></p>")
    return "\n".join(parts)


def _change(shown: _Shown, form: Mapping[str, list[str]], now: datetime) -> PreferenceChange:
    """What the submitted form changes, read against what the page showed (anything else in it is ignored)."""
    channels = {channel for channel, _, _ in shown.channels}
    topics = {name for name, *_ in shown.topics}
    chosen_channels = set(form.get("channel", []))
    chosen_topics = set(form.get("topic", []))
    return PreferenceChange(
        channels={c: c in chosen_channels for c in CHANNELS if c in channels and c in form.get("shown_channel", [])},
        topics={t: t in chosen_topics for t in sorted(topics) if t in form.get("shown_topic", [])},
        pause_until=now + PAUSE if "30" in form.get("pause", []) else None,
        resume="1" in form.get("resume", []),
    )


class Confirmations(SignedLinks):
    """Double opt-in confirmation links: a page with a button, and the confirmation it enqueues."""

    def __init__(
        self,
        signing_keys: Callable[[], Sequence[bytes]],
        queue: EventQueue,
        clock: Callable[[], datetime],
        shops: Shops,
    ) -> None:
        super().__init__(signing_keys, queue, clock)
        self._shops = shops

    def claim(self, token: str, accept_language: str | None = None) -> ConfirmClaim:
        """Whose pending grant the token confirms; InvalidTokenError if forged, ExpiredLinkError if too late."""
        claim = verify_confirm_token(self._signing_keys(), token)
        if self._clock().timestamp() > claim.expires_at:
            lang = language(accept_language)
            words = _WORDS[lang]
            raise ExpiredLinkError(_page(lang, words["expired_title"], f"<p>{html.escape(words['expired'])}</p>"))
        return claim

    def page(self, token: str, accept_language: str | None = None) -> str:
        """The page for a GET: one button that confirms (a POST); changes nothing."""
        claim = self.claim(token, accept_language)
        config = self._shops.config(claim.shop_id)
        lang = language(accept_language, config.shop.default_locale if config is not None else None)
        words = _WORDS[lang]
        shop_name = config.shop.name if config is not None else claim.shop_id
        body = (
            f"<p>{html.escape(words['confirm'].format(shop=shop_name))}</p>\n"
            f'<form method="post">\n<button type="submit">{html.escape(words["confirm_button"])}</button>\n</form>'
        )
        return _page(lang, words["confirm_title"], body)

    def confirm(self, token: str, accept_language: str | None = None) -> tuple[FeedbackEvent, str]:
        """Enqueue the confirmation of a POST; the event and the page to answer with."""
        claim = self.claim(token, accept_language)
        now = self._clock()
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        event = customer_feedback(
            claim, "consent_confirmed", "confirm-link", f"confirm:{digest}", now, confirms=claim.pending
        )
        self._queue.send([feedback_entry(event)])
        lang = language(accept_language)
        words = _WORDS[lang]
        return event, _page(lang, words["confirmed_title"], f"<p>{html.escape(words['confirmed'])}</p>")
