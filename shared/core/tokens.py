"""Signed tokens: one-click unsubscribe links and the in-app inbox's customer proof. Pure (stdlib only).

Unsubscribe token (nudge issues and verifies it; nobody else needs to reproduce it)::

    payload = UTF-8 JSON array [shop_id, customer, channel], compact (no spaces)
    body    = base64url(payload) without "=" padding
    mac     = first 16 bytes (128 bits) of HMAC-SHA256(key, "nudge-unsubscribe-v1." + body)
    token   = body + "." + base64url(mac) without padding

It carries the ids, so the unsubscribe endpoint needs no lookup, and the MAC makes it unforgeable: RFC 8058's
one-click POST arrives without cookies or auth. The domain prefix keeps a MAC made for another purpose with the same
key from ever validating here. Tokens do not expire (unsubscribe links must keep working); rotate keys to retire
them: verify accepts several keys (the new one first), issue uses the newest.

Click token (``/c/{token}``, every tracked link of a message): the same recipe with the domain prefix
``nudge-click-v1.`` and the payload ``[shop_id, customer, message_id, channel, url]``. The target is inside the MAC,
so the redirect goes only where nudge itself pointed it (never an open redirect), and only to http(s) URLs.

Preference centre token (``/p/{token}``, in every marketing message): the unsubscribe recipe with the domain prefix
``nudge-preferences-v1.``. Confirmation token (``/confirm/{token}``, the double opt-in mail): domain
``nudge-confirm-v1.``, payload ``[shop_id, customer, channel, pending_message_id, expires_epoch]``; the expiry is
inside the MAC.

Inbox token (the shop's backend signs it, so its app can read its customer's inbox): see ``inbox_token``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

from shared.models.vocabulary import CHANNELS, Channel

_UNSUBSCRIBE_DOMAIN = b"nudge-unsubscribe-v1."
_CLICK_DOMAIN = b"nudge-click-v1."
_PREFERENCES_DOMAIN = b"nudge-preferences-v1."
_CONFIRM_DOMAIN = b"nudge-confirm-v1."
_MAC_BYTES = 16
_MIN_KEY_BYTES = 16
_MAX_TOKEN_CHARS = 2048


class InvalidTokenError(Exception):
    """The token is forged, tampered with, truncated or malformed (the reason is never shown to the caller)."""


@dataclass(frozen=True, slots=True)
class UnsubscribeClaim:
    """Who asked to stop receiving what: the ids an unsubscribe token carries."""

    shop_id: str
    customer: str
    channel: Channel


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict base64url without padding: the encoding of the result must be exactly ``text`` (no malleability)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise InvalidTokenError("not base64url") from error
    if _b64encode(raw) != text:  # rejects stray characters, padding and non-canonical trailing bits
        raise InvalidTokenError("not canonical base64url")
    return raw


def _keys(keys: bytes | Iterable[bytes]) -> list[bytes]:
    found = [keys] if isinstance(keys, bytes) else list(keys)
    if not found or any(len(key) < _MIN_KEY_BYTES for key in found):
        raise ValueError(f"signing keys must be at least {_MIN_KEY_BYTES} bytes")
    return found


def _mac(domain: bytes, key: bytes, body: str) -> bytes:
    return hmac.new(key, domain + body.encode("ascii"), hashlib.sha256).digest()[:_MAC_BYTES]


def _issue(domain: bytes, key: bytes, payload: list[str]) -> str:
    (signing_key,) = _keys(key)
    body = _b64encode(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return f"{body}.{_b64encode(_mac(domain, signing_key, body))}"


def _verify(domain: bytes, keys: bytes | Iterable[bytes], token: str) -> object:
    """The payload inside ``token`` if any of ``keys`` signed it for ``domain``; raises InvalidTokenError otherwise.
    Every key still accepted during a rotation is tried; the comparison is constant-time for each."""
    candidates = _keys(keys)
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
        raise InvalidTokenError("malformed")
    body, mac_text = token.split(".")
    mac = _b64decode(mac_text)
    if len(mac) != _MAC_BYTES:
        raise InvalidTokenError("truncated")
    if not any(hmac.compare_digest(_mac(domain, key, body), mac) for key in candidates):
        raise InvalidTokenError("bad signature")
    try:
        return json.loads(_b64decode(body).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:  # only reachable with a leaked key
        raise InvalidTokenError("malformed payload") from error


def _issue_customer_token(domain: bytes, key: bytes, shop_id: str, customer: str, channel: Channel) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return _issue(domain, key, [shop_id, customer, channel])


def _verify_customer_token(domain: bytes, keys: bytes | Iterable[bytes], token: str) -> UnsubscribeClaim:
    match _verify(domain, keys, token):
        case [str(shop_id), str(customer), str(channel)] if channel in CHANNELS:
            return UnsubscribeClaim(shop_id=shop_id, customer=customer, channel=channel)
    raise InvalidTokenError("malformed payload")


def issue_unsubscribe_token(key: bytes, shop_id: str, customer: str, channel: Channel) -> str:
    """A URL-safe token that proves nudge issued an unsubscribe link for this shop, customer and channel."""
    return _issue_customer_token(_UNSUBSCRIBE_DOMAIN, key, shop_id, customer, channel)


def verify_unsubscribe_token(keys: bytes | Iterable[bytes], token: str) -> UnsubscribeClaim:
    """The claim inside ``token`` if any of ``keys`` signed it; raises InvalidTokenError otherwise.

    Pass every key still accepted during a rotation; the comparison is constant-time for each.
    """
    return _verify_customer_token(_UNSUBSCRIBE_DOMAIN, keys, token)


def issue_preferences_token(key: bytes, shop_id: str, customer: str, channel: Channel) -> str:
    """The token of a preference centre link (``/p/{token}``): the customer, and the channel the message that
    carried it went out on (the customer holds that address). It does not expire, like the unsubscribe link."""
    return _issue_customer_token(_PREFERENCES_DOMAIN, key, shop_id, customer, channel)


def verify_preferences_token(keys: bytes | Iterable[bytes], token: str) -> UnsubscribeClaim:
    """The customer and channel inside a preference centre token; raises InvalidTokenError otherwise."""
    return _verify_customer_token(_PREFERENCES_DOMAIN, keys, token)


@dataclass(frozen=True, slots=True)
class ConfirmClaim:
    """A double opt-in confirmation link: whose pending grant (its message id) on which channel, valid until when
    (epoch seconds, signed with the rest: an expired link cannot be made young again)."""

    shop_id: str
    customer: str
    channel: Channel
    pending: str
    expires_at: int


def issue_confirm_token(key: bytes, claim: ConfirmClaim) -> str:
    """The token of a confirmation link (``/confirm/{token}``)."""
    if claim.channel not in CHANNELS:
        raise ValueError(f"unknown channel {claim.channel!r}")
    payload = [claim.shop_id, claim.customer, claim.channel, claim.pending, str(claim.expires_at)]
    return _issue(_CONFIRM_DOMAIN, key, payload)


def verify_confirm_token(keys: bytes | Iterable[bytes], token: str) -> ConfirmClaim:
    """The claim inside a confirmation token if any of ``keys`` signed it; raises InvalidTokenError otherwise
    (whether it expired is the caller's to judge, by its clock)."""
    match _verify(_CONFIRM_DOMAIN, keys, token):
        case [str(shop_id), str(customer), str(channel), str(pending), str(expires)] if (
            channel in CHANNELS and expires.isdigit()
        ):
            return ConfirmClaim(shop_id, customer, channel, pending, int(expires))
    raise InvalidTokenError("malformed payload")


@dataclass(frozen=True, slots=True)
class ClickClaim:
    """A tracked link: the message it was in, the customer it went to, and where it leads."""

    shop_id: str
    customer: str
    message_id: str
    channel: Channel
    url: str


def _web_url(url: str) -> bool:
    return url.startswith(("https://", "http://")) and not any(ord(c) < 0x21 or c in '\\<>"' for c in url)


def issue_click_token(key: bytes, claim: ClickClaim) -> str:
    """The token of a tracked link (``/c/{token}``); ValueError for anything but an http(s) URL, or one too long."""
    if not _web_url(claim.url) or claim.channel not in CHANNELS:
        raise ValueError("only an http(s) link on a known channel is tracked")
    token = _issue(_CLICK_DOMAIN, key, [claim.shop_id, claim.customer, claim.message_id, claim.channel, claim.url])
    if len(token) > _MAX_TOKEN_CHARS:
        raise ValueError(f"the link is too long to track (a token of {len(token)} characters)")
    return token


def verify_click_token(keys: bytes | Iterable[bytes], token: str) -> ClickClaim:
    """The tracked link inside ``token`` if any of ``keys`` signed it; raises InvalidTokenError otherwise."""
    match _verify(_CLICK_DOMAIN, keys, token):
        case [str(shop_id), str(customer), str(message_id), str(channel), str(url)] if channel in CHANNELS and _web_url(
            url
        ):
            return ClickClaim(shop_id=shop_id, customer=customer, message_id=message_id, channel=channel, url=url)
    raise InvalidTokenError("malformed payload")


def inbox_token(key: bytes, shop_id: str, customer_id: str) -> str:
    """The token a shop's backend gives its app so the app may read that customer's in-app inbox.

    Recipe (reproducible in any language)::

        token = lowercase hex( HMAC-SHA256( key, UTF-8( shop_id + "\\n" + customer_id ) ) )

    ``key`` is the lower-case hex SHA-256 of one of the shop's secret keys, as its 64 ASCII bytes: exactly what the
    shop configuration stores after ``sha256:`` in ``secret_keys``, so nudge verifies without a clear secret
    (``shared.service.public.customer_token_keys``). ``shop_id`` is the nudge shop id (``demo``) and ``customer_id``
    the shop's own user id, exactly as its tracking calls send it as ``userId`` (not nudge's ``u:`` key). "\\n" is a
    single line feed (0x0A). For example, in Node.js::

        const key = crypto.createHash("sha256").update(secretKey).digest("hex")
        crypto.createHmac("sha256", key).update(`${shopId}\\n${customerId}`, "utf8").digest("hex")

    and in PHP ``hash_hmac('sha256', $shopId . "\\n" . $customerId, hash('sha256', $secretKey))``.
    """
    (signing_key,) = _keys(key)
    message = f"{shop_id}\n{customer_id}".encode()
    return hmac.new(signing_key, message, hashlib.sha256).hexdigest()


def verify_inbox_token(keys: bytes | Iterable[bytes], shop_id: str, customer_id: str, token: str) -> bool:
    """Whether ``token`` is ``inbox_token`` of this shop and customer under any of ``keys`` (constant-time)."""
    candidates = _keys(keys)
    if not isinstance(token, str) or len(token) != 2 * hashlib.sha256().digest_size:
        return False
    presented = token.lower().encode("ascii", errors="replace")
    return any(
        hmac.compare_digest(inbox_token(key, shop_id, customer_id).encode("ascii"), presented) for key in candidates
    )
