"""Signed tokens: an unsubscribe link nobody can forge, and the inbox token a shop's backend computes itself."""

from __future__ import annotations

import base64
import json

import pytest

from shared.core.tokens import (
    ConfirmClaim,
    InvalidTokenError,
    UnsubscribeClaim,
    inbox_token,
    issue_confirm_token,
    issue_preferences_token,
    issue_unsubscribe_token,
    verify_confirm_token,
    verify_inbox_token,
    verify_preferences_token,
    verify_unsubscribe_token,
)
from shared.core.webhooks import signature_header, verify, webhook_key

KEY = b"unsubscribe-key-2026-aaaaaaaaaaaa"
OLD_KEY = b"unsubscribe-key-2025-bbbbbbbbbbbb"
OTHER_KEY = b"someone-elses-key-cccccccccccccc"


def flip(token: str, index: int) -> str:
    """The token with one character replaced by another base64url character."""
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


# ---------------------------------------------------------------- unsubscribe tokens


def test_a_token_round_trips_to_the_shop_customer_and_channel():
    token = issue_unsubscribe_token(KEY, "demo", "u:ada@example.com", "email")

    assert verify_unsubscribe_token(KEY, token) == UnsubscribeClaim("demo", "u:ada@example.com", "email")


def test_a_token_is_url_safe_and_compact():
    token = issue_unsubscribe_token(KEY, "demo", "u:Ådå ünïcode/+?&=#", "sms")

    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert len(token) < 100
    assert verify_unsubscribe_token(KEY, token).customer == "u:Ådå ünïcode/+?&=#"


def test_the_signature_is_at_least_128_bits():
    mac = issue_unsubscribe_token(KEY, "demo", "u:ada", "email").split(".")[1]

    assert len(base64.urlsafe_b64decode(mac + "==")) * 8 >= 128


@pytest.mark.parametrize("position", [0, 5, -1, -5])
def test_any_changed_character_makes_the_token_invalid(position):
    token = issue_unsubscribe_token(KEY, "demo", "u:ada", "email")

    with pytest.raises(InvalidTokenError):
        verify_unsubscribe_token(KEY, flip(token, position))


def test_a_token_rewritten_for_another_customer_is_invalid():
    # Given a genuine token for ada, when someone re-encodes the ids for bob and keeps the signature
    _, mac = issue_unsubscribe_token(KEY, "demo", "u:ada", "email").split(".")
    forged_body = base64.urlsafe_b64encode(json.dumps(["demo", "u:bob", "email"]).encode()).rstrip(b"=").decode()

    # Then nudge refuses it
    with pytest.raises(InvalidTokenError):
        verify_unsubscribe_token(KEY, f"{forged_body}.{mac}")


def test_a_token_signed_with_another_key_is_invalid():
    token = issue_unsubscribe_token(OTHER_KEY, "demo", "u:ada", "email")

    with pytest.raises(InvalidTokenError):
        verify_unsubscribe_token(KEY, token)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-4],  # truncated signature
        lambda t: t.split(".")[0],  # no signature
        lambda t: t + ".extra",
        lambda t: t + "=",  # padding is not canonical
        lambda t: t.replace(".", ".!"),
        lambda t: "",
        lambda t: "." * 3,
        lambda t: t * 40,  # absurdly long
    ],
)
def test_truncated_or_malformed_tokens_are_invalid(mangle):
    token = issue_unsubscribe_token(KEY, "demo", "u:ada", "email")

    with pytest.raises(InvalidTokenError):
        verify_unsubscribe_token(KEY, mangle(token))


def test_tokens_issued_before_a_key_rotation_still_verify():
    # Given a token issued with last year's key
    old_token = issue_unsubscribe_token(OLD_KEY, "demo", "u:ada", "email")
    new_token = issue_unsubscribe_token(KEY, "demo", "u:bob", "push")

    # When both keys are accepted, the new one first
    keys = [KEY, OLD_KEY]

    # Then both old and new links work; once the old key is retired, the old link no longer does
    assert verify_unsubscribe_token(keys, old_token).customer == "u:ada"
    assert verify_unsubscribe_token(keys, new_token).channel == "push"
    with pytest.raises(InvalidTokenError):
        verify_unsubscribe_token([KEY], old_token)


def test_short_keys_are_refused_when_issuing():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        issue_unsubscribe_token(b"short", "demo", "u:ada", "email")


# ---------------------------------------------------------------- preference centre and confirmation tokens


def test_a_token_made_for_one_page_opens_no_other():
    # The same key signs every kind of link: the domain prefix keeps each token to its own page
    unsubscribe = issue_unsubscribe_token(KEY, "demo", "u:ada", "email")
    preferences = issue_preferences_token(KEY, "demo", "u:ada", "email")

    assert verify_preferences_token(KEY, preferences) == UnsubscribeClaim("demo", "u:ada", "email")
    with pytest.raises(InvalidTokenError):
        verify_preferences_token(KEY, unsubscribe)
    with pytest.raises(InvalidTokenError):
        verify_unsubscribe_token(KEY, preferences)
    with pytest.raises(InvalidTokenError):
        verify_confirm_token(KEY, preferences)


def test_a_confirmation_token_carries_its_expiry_under_the_signature():
    claim = ConfirmClaim("demo", "u:ada", "email", "m-signup-1", 1_800_000_000)
    token = issue_confirm_token(KEY, claim)

    assert verify_confirm_token(KEY, token) == claim
    body, mac = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload[-1] = "1900000000"  # a later expiry, written in by hand
    forged = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidTokenError):
        verify_confirm_token(KEY, f"{forged}.{mac}")


def test_preference_and_confirmation_links_survive_a_key_rotation():
    preferences = issue_preferences_token(OLD_KEY, "demo", "u:ada", "sms")
    confirm = issue_confirm_token(OLD_KEY, ConfirmClaim("demo", "u:ada", "email", "m1", 1_800_000_000))

    assert verify_preferences_token([KEY, OLD_KEY], preferences).channel == "sms"
    assert verify_confirm_token([KEY, OLD_KEY], confirm).pending == "m1"
    with pytest.raises(InvalidTokenError):
        verify_preferences_token([KEY, OTHER_KEY], preferences)


# ---------------------------------------------------------------- inbox tokens

INBOX_KEY = b"shop-inbox-secret-2026"


def test_the_inbox_token_matches_the_documented_recipe_computed_elsewhere():
    # Given the value computed independently:
    #   printf 'demo\nada-42' | openssl dgst -sha256 -hmac 'shop-inbox-secret-2026'
    expected = "c92d0e857ebac7808a6b8cee226c0919453ea744d4a64e905a68077c257b8603"

    assert inbox_token(INBOX_KEY, "demo", "ada-42") == expected
    assert verify_inbox_token([INBOX_KEY], "demo", "ada-42", expected)


def test_an_inbox_token_opens_only_its_own_customer_in_its_own_shop():
    token = inbox_token(INBOX_KEY, "demo", "ada-42")

    assert not verify_inbox_token(INBOX_KEY, "demo", "bob-7", token)
    assert not verify_inbox_token(INBOX_KEY, "other-shop", "ada-42", token)
    assert not verify_inbox_token(OTHER_KEY, "demo", "ada-42", token)


def test_a_tampered_or_truncated_inbox_token_is_refused():
    token = inbox_token(INBOX_KEY, "demo", "ada-42")

    tampered = token[:10] + ("1" if token[10] != "1" else "2") + token[11:]

    assert not verify_inbox_token(INBOX_KEY, "demo", "ada-42", tampered)
    assert not verify_inbox_token(INBOX_KEY, "demo", "ada-42", token[:-1])
    assert not verify_inbox_token(INBOX_KEY, "demo", "ada-42", "")


def test_inbox_tokens_survive_a_key_rotation():
    old = inbox_token(OLD_KEY, "demo", "ada-42")

    assert verify_inbox_token([INBOX_KEY, OLD_KEY], "demo", "ada-42", old)
    assert not verify_inbox_token([INBOX_KEY], "demo", "ada-42", old)


# ---------------------------------------------------------------- offer webhooks (Stripe-style signatures)


def test_a_webhook_signature_verifies_with_the_shops_key_and_only_for_that_body():
    key = webhook_key(b"deployment-key", "demo")
    body = b'{"code":"CARTABC"}'
    header = signature_header([key], body, 1_800_000_000)

    assert verify(key, header, body, now=1_800_000_100)
    assert not verify(key, header, b'{"code":"CARTXYZ"}', now=1_800_000_100)  # the body was changed
    assert not verify(webhook_key(b"deployment-key", "other-shop"), header, body, now=1_800_000_100)
    assert not verify(key, "v1=" + header.split("v1=")[1], body, now=1_800_000_100)  # no timestamp
    assert not verify(key, "garbage", body, now=1_800_000_100)


def test_a_captured_webhook_request_replayed_after_five_minutes_is_refused():
    key = webhook_key(b"deployment-key", "demo")
    header = signature_header([key], b"{}", 1_800_000_000)
    assert verify(key, header, b"{}", now=1_800_000_300)
    assert not verify(key, header, b"{}", now=1_800_000_301)
    assert not verify(key, header, b"{}", now=1_799_999_699)  # from the future, beyond the tolerance


def test_during_a_key_rotation_the_shops_previous_key_still_verifies():
    new, old = webhook_key(b"new-deployment-key", "demo"), webhook_key(b"old-deployment-key", "demo")
    header = signature_header([new, old], b"{}", 1_800_000_000)
    assert verify(old, header, b"{}", now=1_800_000_000) and verify(new, header, b"{}", now=1_800_000_000)
