"""Links nudge puts into messages and the keys that sign them.

Every marketing message's context has ``preferences_url``, the customer's signed link to the preference centre
(``/p/{token}``; every e-mail's footer shows it); a double opt-in mail has ``confirm_url`` (``/confirm/{token}``).
The unsubscribe link of every marketing email carries a signed token (``shared.core.tokens``), so the one-click POST
(which arrives without cookies or auth) needs no lookup and cannot be forged. The signing key is a Secrets Manager
secret the template creates; it is read through Powertools Parameters and cached for five minutes by the
``SigningSecret`` of each function's composition root.

Every web link of an e-mail, SMS or WhatsApp text leads through the click redirect ``/c/{token}`` (the shop's
``tracking.clicks``, on by default): the token signs the message, the customer and the target (with the shop's UTM
parameters), so the redirect records the click without a lookup and goes nowhere nudge did not point it. A push
carries its message id in its data instead (``nudge_message_id``): the app reports the tap.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared.core.tokens import (
    ClickClaim,
    ConfirmClaim,
    issue_click_token,
    issue_confirm_token,
    issue_preferences_token,
    issue_unsubscribe_token,
)
from shared.models.nudge_events import CONFIRM_JOURNEY, PUSH_MESSAGE_ID
from shared.models.vocabulary import Channel

if TYPE_CHECKING:
    from shared.models.config import ShopConfig
    from shared.models.messages import Content, OutboxMessage

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

_SECRET_MAX_AGE = 300


def keys_of(value: str | bytes) -> list[bytes]:
    """The signing keys in a secret's value, newest first: one key per line (rotation adds a new first line)."""
    text = value if isinstance(value, str) else bytes(value).decode()
    return [line.strip().encode() for line in text.splitlines() if line.strip()]


class SigningSecret:
    """The signing keys of one Secrets Manager secret, cached five minutes (its own Powertools provider, made at
    first use, so each composition root has its own cache). Call it for the keys, newest first."""

    def __init__(self, secret_arn: str) -> None:
        self._arn = secret_arn
        self._provider: SecretsProvider | None = None

    def __call__(self) -> list[bytes]:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            from shared import aws

            self._provider = SecretsProvider(boto3_client=aws.client("secretsmanager"))
        value = self._provider.get(self._arn, max_age=_SECRET_MAX_AGE)
        assert isinstance(value, str | bytes), self._arn
        return keys_of(value)


def unsubscribe_path(token: str) -> str:
    return f"/u/{token}"


def click_path(token: str) -> str:
    return f"/c/{token}"


def preferences_path(token: str) -> str:
    return f"/p/{token}"


def confirm_path(token: str) -> str:
    return f"/confirm/{token}"


_HREF = re.compile(r'href="(https?://[^"]+)"', re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}"  # ends a sentence around a link in text, never the link itself
_TRACKED_CHANNELS: frozenset[Channel] = frozenset({"email", "sms", "whatsapp"})


def with_utm(url: str, utm: Mapping[str, str], fields: Mapping[str, str]) -> str:
    """``url`` with the ``utm`` parameters it does not carry already (``{channel}`` etc. filled in from ``fields``)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {name for name, _ in query}
    added = [(name, value.format(**fields)) for name, value in utm.items() if name not in present]
    if not added:
        return url
    return urlunsplit(parts._replace(query=urlencode([*query, *added])))


def _wrap_text(text: str, wrap: Callable[[str], str]) -> str:
    def one(match: re.Match[str]) -> str:
        found = match.group(0)
        link = found.rstrip(_TRAILING)
        return wrap(link) + found[len(link) :]

    return _TEXT_URL.sub(one, text)


def _wrap_html(markup: str, wrap: Callable[[str], str]) -> str:
    return _HREF.sub(lambda match: f'href="{html.escape(wrap(html.unescape(match.group(1))))}"', markup)


class Links:
    """Builds the per-message links for one deployment (its public base URL and signing secret)."""

    def __init__(self, public_base_url: str, signing_keys: Callable[[], Sequence[bytes]]) -> None:
        self._base = public_base_url.rstrip("/")
        self._signing_keys = signing_keys

    @property
    def signing_keys(self) -> Callable[[], Sequence[bytes]]:
        """The deployment's signing keys, newest first (webhook keys derive from them too)."""
        return self._signing_keys

    def tracked(self, content: Content, message: OutboxMessage, config: ShopConfig) -> Content:
        """``content`` as it goes out: a push carries its message id (the app reports taps with it); with the shop's
        ``tracking.clicks`` every web link of an e-mail, SMS or WhatsApp text leads through the signed redirect, with
        the shop's UTM parameters added. nudge's own links (unsubscribe) stay as they are."""
        if content.channel == "push":
            return content.model_copy(update={"data": {**content.data, PUSH_MESSAGE_ID: message.message_id}})
        if not config.tracking.clicks or content.channel not in _TRACKED_CHANNELS:
            return content
        key = self._signing_keys()[0]
        fields = {
            "channel": content.channel,
            "journey": message.journey,
            "step": str(message.step),
            "template": message.template,
        }

        def wrap(url: str) -> str:
            if url.startswith(self._base + "/"):
                return url
            target = with_utm(url, config.tracking.utm, fields)
            claim = ClickClaim(message.shop_id, message.customer, message.message_id, content.channel, target)
            try:
                return self._base + click_path(issue_click_token(key, claim))
            except ValueError:  # too long to sign into a link: it goes out as it is (with its UTM parameters)
                return target

        update = {"text": _wrap_text(content.text, wrap)}
        if content.html is not None:
            update["html"] = _wrap_html(content.html, wrap)
        return content.model_copy(update=update)

    def for_message(self, message: OutboxMessage, config: ShopConfig, channel: Channel) -> Mapping[str, str]:
        """Template context additions for ``message`` on ``channel``: the preference centre's URL of a marketing
        message, the unsubscribe URL of a marketing email, the confirmation URL of a double opt-in mail."""
        key = self._signing_keys()[0]
        links: dict[str, str] = {}
        if not message.transactional:
            token = issue_preferences_token(key, message.shop_id, message.customer, channel)
            links["preferences_url"] = self._base + preferences_path(token)
        if message.journey == CONFIRM_JOURNEY and isinstance(asked := message.variables.get("confirm"), dict):
            expires = datetime.fromisoformat(str(asked["expires_at"]))
            claim = ConfirmClaim(
                message.shop_id, message.customer, channel, str(asked["pending"]), int(expires.timestamp())
            )
            page = self._base + confirm_path(issue_confirm_token(key, claim))
            # the page speaks the customer's language (unsigned: it changes nothing but the words)
            locale = asked.get("locale")
            links["confirm_url"] = f"{page}?{urlencode({'lang': locale[:2]})}" if isinstance(locale, str) else page
        if channel != "email":
            return links
        token = issue_unsubscribe_token(key, message.shop_id, message.customer, "email")
        # The same signed token names the customer in bounce and complaint notifications (X-Nudge-Ref header).
        links["feedback_ref"] = token
        if not message.transactional:
            links["unsubscribe_url"] = self._base + unsubscribe_path(token)
        return links
