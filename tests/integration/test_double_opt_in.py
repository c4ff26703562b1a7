"""Double opt-in on template.yaml in memory (``channels.email.double_opt_in``): a newsletter sign-up is a pending
grant that lets out exactly one message, the confirmation mail; its link's page changes nothing until its button is
pressed; then the consent is in force, recorded with how and when, and the welcome held for it goes out. An
unconfirmed grant lapses; a late, forged or repeated confirmation changes nothing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml

from shared.models.config import ShopConfig
from tests.factories import consent, identify, track
from tests.integration.test_journeys import SECRET, send, settle, unique
from tests.memory import FAST_CONFIG, MemoryStack

_CONFIRM_LINK = re.compile(r"https?://[^\s\"'<>]+(/confirm/[A-Za-z0-9_.-]+(?:\?lang=[a-z]+)?)")


def double_opt_in_config() -> ShopConfig:
    document = yaml.safe_load(FAST_CONFIG.read_text())
    document["channels"]["email"]["double_opt_in"] = True
    return ShopConfig.from_yaml(yaml.safe_dump(document))


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([double_opt_in_config()])


def subscribe(stack: MemoryStack, user: str, locale: str = "en-GB") -> None:
    context = {"locale": locale}
    signup = {"source": "footer-form", "notice_version": "privacy-2026-10"}
    send(
        stack,
        identify({"firstName": "Jo", "email": f"{user}@example.com"}, userId=user, context=context),
        track("Newsletter Subscribed", signup, userId=user, context=context),
    )


def customer(stack: MemoryStack, user: str) -> dict[str, Any]:
    status, body = stack.call("GET", f"/v1/customers/{user}", key=SECRET)
    assert status == 200, body
    return body


def confirm_path(stack: MemoryStack, user: str) -> str:
    (mail,) = [m for m in stack.emails_to(f"{user}@example.com") if "/confirm/" in str(m)]
    found = _CONFIRM_LINK.search(mail.get_body(("plain",)).get_content())
    assert found, "the confirmation mail carries its link"
    return found.group(1)


def test_a_sign_up_waits_for_its_confirmation_and_only_the_button_puts_it_in_force(stack):
    user = unique("doi")
    subscribe(stack, user)
    settle(stack, 5)

    # Pending: only the confirmation mail went out, as a transactional message; the welcome waits
    mails = stack.emails_to(f"{user}@example.com")
    assert [m["Subject"] for m in mails] == ["Please confirm your subscription to Fast Shop"]
    assert "List-Unsubscribe" not in mails[0]  # transactional: no unsubscribe, nothing to unsubscribe from yet
    before = customer(stack, user)
    assert before["consent"]["email"] is None
    (pending,) = before["consent_history"]
    assert pending["status"] == "pending" and pending["source"] == "footer-form"
    assert pending["expires_at"] is not None

    # The link's GET (a mail scanner's prefetch, or the customer's click) shows a button and changes nothing
    path = confirm_path(stack, user)
    page = stack.request("GET", path)
    assert page.status == 200 and '<form method="post">' in page.text and "Fast Shop" in page.text
    assert stack.request("HEAD", path).status == 200
    settle(stack, 5)
    assert customer(stack, user)["consent"]["email"] is None
    assert len(stack.emails_to(f"{user}@example.com")) == 1

    # The button confirms: in force, recorded with when and how; the held welcome goes out
    stack.clock.at += timedelta(minutes=3)
    clicked = stack.clock()
    assert stack.request("POST", path, "").status == 200
    settle(stack, 5)
    after = customer(stack, user)
    confirmed = after["consent"]["email"]
    assert confirmed["status"] == "granted" and confirmed["confirms"] == pending["message_id"]
    assert confirmed["confirmed_via"] == "confirm-link" and confirmed["requested_at"] == pending["at"]
    assert confirmed["at"] == clicked.isoformat().replace("+00:00", "Z")
    assert confirmed["source"] == "footer-form" and confirmed["notice_version"] == "privacy-2026-10"
    assert messages_of(stack, user)["welcome"] == "sent"


def messages_of(stack: MemoryStack, user: str) -> dict[str, str]:
    status, body = stack.call("GET", f"/v1/customers/{user}/messages", key=SECRET)
    assert status == 200
    return {m["template"]: m["status"] for m in body["messages"]}


@pytest.mark.parametrize("days", [2, 6])
def test_a_confirmation_days_later_is_welcomed_then_with_the_series_spaced_as_configured(stack, days):
    # Given a sign-up whose confirmation mail waits for days (the held welcome's trigger is a day old after one)
    user = unique("slow")
    subscribe(stack, user)
    settle(stack, 5)
    path = confirm_path(stack, user)

    # When the customer presses the button on day ``days``, within confirm_within (P7D)
    stack.clock.at += timedelta(days=days)
    clicked = stack.clock()
    assert stack.request("POST", path, "").status == 200
    stack.settle()  # the confirmation is applied at once
    settle(stack, 5)

    # Then the welcome goes out then, and its second step keeps its wait after it (fast shop: PT1S, then PT2S)
    status, body = stack.call("GET", f"/v1/customers/{user}/messages", key=SECRET)
    assert status == 200
    sent = {m["template"]: datetime.fromisoformat(m["at"]) for m in body["messages"] if m["status"] == "sent"}
    assert set(sent) == {"confirm_subscription", "welcome", "welcome_loyalty"}
    assert sent["welcome"] - clicked < timedelta(seconds=1)
    assert sent["welcome_loyalty"] - sent["welcome"] == timedelta(seconds=2)


def test_a_confirmation_after_the_deadline_is_refused_and_the_grant_lapses(stack):
    user = unique("late")
    subscribe(stack, user)
    settle(stack, 5)
    path = confirm_path(stack, user)

    stack.clock.at += timedelta(days=7, minutes=1)  # confirm_within: P7D by default
    page = stack.request("GET", path)
    posted = stack.request("POST", path, "")
    settle(stack, 5)

    assert page.status == 410 and "expired" in page.text
    assert posted.status == 410
    assert customer(stack, user)["consent"]["email"] is None
    assert messages_of(stack, user).get("welcome") != "sent"


def test_sign_ups_past_the_hourly_limit_get_no_confirmation_and_the_operator_hears_of_it(memory_stack, caplog):
    # Given a shop that sends at most two confirmation mails an hour
    document = yaml.safe_load(FAST_CONFIG.read_text())
    document["channels"]["email"] |= {"double_opt_in": True, "confirmations_per_hour": 2}
    stack = memory_stack([ShopConfig.from_yaml(yaml.safe_dump(document))])

    # When three addresses are signed up within the hour (a script filling in the public form, say)
    users = [unique("bombed") for _ in range(3)]
    for user in users:
        subscribe(stack, user)
    settle(stack, 5)

    # Then two confirmations go out, the third is suppressed with the reason, and the operator's alarm metric counts
    assert [len(stack.emails_to(f"{user}@example.com")) for user in users] == [1, 1, 0]
    status, body = stack.call("GET", f"/v1/customers/{users[2]}/messages", key=SECRET)
    assert status == 200
    [held] = [(m["status"], m["reason"]) for m in body["messages"] if m["template"] == "confirm_subscription"]
    assert held == ("suppressed", "confirmation_rate_limited")
    assert customer(stack, users[2])["consent_history"][-1]["status"] == "pending"  # nothing in force
    assert "double opt-in confirmations over the hourly limit" in [r.getMessage() for r in caplog.records]

    # And the next hour's sign-ups are confirmed again
    stack.clock.at += timedelta(hours=1)
    later = unique("later")
    subscribe(stack, later)
    settle(stack, 5)
    assert len(stack.emails_to(f"{later}@example.com")) == 1


def test_a_forged_or_tampered_confirmation_link_is_a_plain_404(stack):
    user = unique("forged")
    subscribe(stack, user)
    settle(stack, 5)
    path = confirm_path(stack, user)
    body, mac = path.removeprefix("/confirm/").split(".")

    tampered = f"/confirm/{body[:-2]}AA.{mac}"
    assert stack.request("GET", tampered).status == 404
    assert stack.request("POST", tampered, "").status == 404
    assert stack.request("POST", f"/confirm/{body}.{'A' * 22}", "").status == 404
    settle(stack, 5)
    assert customer(stack, user)["consent"]["email"] is None


def test_signing_up_again_the_same_day_sends_no_second_mail_and_consent_in_force_needs_none(stack):
    user = unique("again")
    subscribe(stack, user)
    subscribe(stack, user)  # the form submitted twice
    settle(stack, 5)
    assert len(stack.emails_to(f"{user}@example.com")) == 1

    stack.request("POST", confirm_path(stack, user), "")
    settle(stack, 5)
    send(stack, consent("email", userId=user))  # a grant while consent is in force: nothing to confirm
    settle(stack, 5)
    history = [c["status"] for c in customer(stack, user)["consent_history"]]
    assert history == ["pending", "granted", "granted"]
    assert sum("/confirm/" in str(m) for m in stack.emails_to(f"{user}@example.com")) == 1


def test_a_withdrawal_while_pending_voids_the_confirmation(stack):
    user = unique("changed-mind")
    subscribe(stack, user)
    settle(stack, 5)
    path = confirm_path(stack, user)
    stack.clock.at += timedelta(minutes=1)
    send(stack, track("Newsletter Unsubscribed", {"source": "footer-form"}, userId=user))

    stack.request("POST", path, "")
    settle(stack, 5)

    assert customer(stack, user)["consent"]["email"]["status"] == "withdrawn"
    assert messages_of(stack, user).get("welcome") != "sent"


def test_german_customers_get_the_confirmation_in_german(stack):
    user = unique("de")
    subscribe(stack, user, locale="de-AT")
    settle(stack, 5)
    (mail,) = stack.emails_to(f"{user}@example.com")
    assert mail["Subject"] == "Bitte bestätige deine Anmeldung bei Fast Shop"
    path = confirm_path(stack, user)
    assert path.endswith("?lang=de")
    page = stack.request("GET", path, headers={"accept-language": "en-US"})  # the customer's language wins
    assert '<html lang="de">' in page.text and "Ja, ich möchte E-Mails erhalten" in page.text
    assert stack.request("POST", path, "").text.count("Deine Anmeldung ist bestätigt.") == 1


def test_a_grant_the_shops_servers_confirmed_themselves_is_in_force_at_once_but_not_from_the_write_key(stack):
    imported, claimed = unique("imported"), unique("claimed")
    confirmed = {"source": "old-newsletter-tool", "notice_version": "v2", "confirmed_at": "2026-03-01T10:00:00Z"}
    for user, key in ((imported, SECRET), (claimed, "fast-write-key")):
        calls = [
            identify({"firstName": "Jo", "email": f"{user}@example.com"}, userId=user),
            track("Newsletter Subscribed", confirmed, userId=user),
        ]
        assert stack.post("/v1/batch", {"batch": calls}, key=key)[0] == 200
    stack.settle()
    settle(stack, 5)

    in_force = customer(stack, imported)["consent"]["email"]
    assert (in_force["status"], in_force["confirmed_via"], in_force["at"]) == (
        "granted",
        "shop",
        "2026-03-01T10:00:00Z",
    )
    assert not [m for m in stack.emails_to(f"{imported}@example.com") if "/confirm/" in str(m)]
    assert customer(stack, claimed)["consent"]["email"] is None  # a browser cannot claim a confirmation
    assert confirm_path(stack, claimed)


def test_sms_double_opt_in_texts_the_confirmation_link_and_the_button_puts_sms_consent_in_force(memory_stack):
    document = yaml.safe_load(FAST_CONFIG.read_text())
    document["channels"]["preference"] = ["sms", "email"]
    document["channels"]["sms"] = {"origination_identity": "pool-0123456789abcdef", "double_opt_in": True}
    stack = memory_stack([ShopConfig.from_yaml(yaml.safe_dump(document))])
    user, phone = unique("texted"), "+4915112345678"
    send(stack, identify({"firstName": "Jo", "phone": phone}, userId=user), consent("sms", userId=user))
    settle(stack, 5)

    (text,) = [s.request["MessageBody"] for s in stack.sent("sms", phone)]
    found = _CONFIRM_LINK.search(text)
    assert found and text.startswith("Fast Shop: please confirm") and "STOP" not in text  # transactional
    assert customer(stack, user)["consent"]["sms"] is None

    assert stack.request("POST", found.group(1), "").status == 200
    settle(stack, 5)

    confirmed = customer(stack, user)["consent"]["sms"]
    assert (confirmed["status"], confirmed["confirmed_via"]) == ("granted", "confirm-link")
