"""The public API function: one-click unsubscribe (RFC 8058) and the in-app inbox a shop's app reads.

The handler is invoked the way API Gateway's HTTP API invokes it (payload format 2.0), with its wiring injected and
its clock set by the test. It runs on template.yaml in memory (the events FIFO queue, the shops and customers
tables, two signing keys); the tests marked ``on_aws`` run it also on the template in moto, built by the function's
own composition root from the environment the template gives it (the signing secret's two keys in Secrets Manager,
the tables built from template.yaml's key schema).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.public_api import handler
from functions.public_api.settings import PublicApiSettings
from functions.public_api.wiring import PublicApiWiring
from functions.public_api.wiring import on_aws as wiring_on_aws
from infra.memory import MemoryCloud
from infra.simulate import VirtualTimers
from shared import aws
from shared.adapters.channels.inbox import InboxStore
from shared.adapters.shops import ShopDirectory
from shared.core.tokens import UnsubscribeClaim, issue_unsubscribe_token, verify_preferences_token
from shared.models.config import ShopConfig
from shared.models.events import FeedbackEvent
from shared.models.messages import Content
from shared.service.public import UNSUBSCRIBE_RETRY_WINDOW, Unsubscribe
from tests.clocks import SetClock
from tests.integration.emulated import emulated_template
from tests.memory import QUIET, TEMPLATE

REGION = "eu-west-1"
NEW_KEY = b"current-signing-key-0123456789abcdef"
OLD_KEY = b"previous-signing-key-0123456789abcdef"
DEMO_SECRET = "demo-secret-key"
OTHER_SECRET = "other-secret-key"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass
class LambdaContext:
    function_name: str = "nudge-PublicApiFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:nudge-PublicApiFunction"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"


def shop(shop_id: str, write_key: str, secret_key: str) -> ShopConfig:
    return ShopConfig.model_validate(
        {"shop": {"id": shop_id, "name": shop_id.title(), "write_keys": [write_key], "secret_keys": [secret_key]}}
    )


@pytest.fixture
def now() -> SetClock:
    """The function's clock, set by the test: it says T0 until the test moves it."""
    return SetClock(T0)


@dataclass
class PublicApi:
    """The function with its wiring, and what a test reads around it: the events queue, the inbox."""

    wiring: PublicApiWiring
    queued: Callable[[], list[dict[str, Any]]]  # the events queue's messages (SQS's shape), left on the queue
    inbox: Any

    def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None
    ) -> dict[str, Any]:
        return handler.lambda_handler(http_event(method, path, headers, body), LambdaContext(), wiring=self.wiring)


def in_memory(now: SetClock) -> PublicApi:
    cloud = MemoryCloud(now, VirtualTimers(), template=TEMPLATE)
    cloud.shops.apply(shop("demo", "demo-write-key", DEMO_SECRET))
    cloud.shops.apply(shop("other", "other-write-key", OTHER_SECRET))
    keys = [NEW_KEY, OLD_KEY]
    wiring = dataclasses.replace(cloud.public_api_wiring(), unsubscribe=Unsubscribe(lambda: keys, cloud.events, now))
    return PublicApi(wiring, lambda: [message.as_sqs() for message in cloud.events], cloud.inbox)


@contextmanager
def on_aws(monkeypatch: pytest.MonkeyPatch, now: SetClock) -> Iterator[PublicApi]:
    """The template in moto, the demo and another shop in its shops table, the function's environment, and the
    wiring its composition root builds from it (with the test's clock)."""
    keys = f"{NEW_KEY.decode()}\n{OLD_KEY.decode()}"
    with emulated_template(monkeypatch, signing_keys=keys) as deployment:
        directory = ShopDirectory(deployment.physical["ShopsTable"])
        directory.apply(shop("demo", "demo-write-key", DEMO_SECRET))
        directory.apply(shop("other", "other-write-key", OTHER_SECRET))
        queue_url = deployment.physical["EventsQueue"]

        def queued() -> list[dict[str, Any]]:
            messages = aws.sqs().receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
            )
            return list(messages.get("Messages", []))

        wiring = wiring_on_aws(PublicApiSettings.from_environment(), now)
        yield PublicApi(wiring, queued, InboxStore(deployment.physical["CustomersTable"]))


@pytest.fixture
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, now: SetClock) -> Iterator[PublicApi]:
    """The function in memory; ``on_aws`` (indirect parameter ``"moto"``) on the template in moto."""
    if getattr(request, "param", "memory") == "memory":
        for name, value in QUIET.items():
            monkeypatch.setenv(name, value)
        yield in_memory(now)
    else:
        with on_aws(monkeypatch, now) as deployed:
            yield deployed


both = pytest.mark.parametrize("api", ["memory", "moto"], indirect=True)


def http_event(
    method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event; a form body arrives base64-encoded, as API Gateway sends it."""
    encoded = body is not None and (headers or {}).get("content-type", "").startswith("application/x-www-form")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abc123.execute-api.eu-west-1.amazonaws.com", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "Mozilla/5.0",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "02/Nov/2026:09:00:00 +0000",
            "timeEpoch": 1793610000000,
        },
        "body": base64.b64encode(body.encode()).decode() if encoded and body is not None else body,
        "isBase64Encoded": encoded,
    }


def one_click(api: PublicApi, token: str) -> dict[str, Any]:
    """What a mail client sends for RFC 8058 one-click: a form POST without cookies or auth."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    return api.call("POST", f"/u/{token}", form, "List-Unsubscribe=One-Click")


def token_for(customer: str = "u:ada", key: bytes = NEW_KEY, channel: str = "email") -> str:
    return issue_unsubscribe_token(key, "demo", customer, channel)


# ---------------------------------------------------------------- unsubscribe


def test_the_unsubscribe_page_asks_and_changes_nothing(api):
    # Given a marketing email's unsubscribe link, prefetched by a link scanner
    response = api.call("GET", f"/u/{token_for()}")

    # Then it shows an English page whose button posts one-click to the same URL
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/html")
    page = response["body"]
    assert '<html lang="en">' in page
    assert '<form method="post">' in page
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page
    assert response["headers"]["Cache-Control"] == "no-store"
    # And it offers Ada's preference centre, to hear less rather than nothing
    (preferences,) = re.findall(r'<a href="\.\./p/([^"]+)">choose what you receive</a>', page)
    assert verify_preferences_token([NEW_KEY], preferences) == UnsubscribeClaim("demo", "u:ada", "email")
    # And nobody is unsubscribed
    assert api.queued() == []


@both
def test_one_click_unsubscribes_with_one_event_on_the_customers_group_and_answers_200(api):
    # When the mail client posts one-click
    response = one_click(api, token_for())

    # Then it answers 200 (never a redirect) and enqueues exactly one unsubscribe for Ada
    assert response["statusCode"] == 200
    assert "unsubscribed" in response["body"]
    (message,) = api.queued()
    event = FeedbackEvent.model_validate_json(message["Body"])
    assert (event.shop_id, event.customer, event.channel) == ("demo", "u:ada", "email")
    assert (event.reason, event.source) == ("unsubscribe_link", "unsubscribe-link")
    assert message["Attributes"]["MessageGroupId"] == "demo#u:ada"


@pytest.mark.parametrize("hour", [3, 6, 23])
def test_a_retried_click_is_one_event_at_any_hour(api, now, hour):
    # Given a one-click unsubscribe, at night, early in the morning or just before midnight
    token = token_for()
    first = T0.replace(hour=hour, minute=51)
    now.at = first
    assert one_click(api, token)["statusCode"] == 200
    # When the button is pressed too, seconds later
    now.at = first + timedelta(seconds=8)
    assert api.call("POST", f"/u/{token}")["statusCode"] == 200  # the page's button, no body at all

    # Then the customer's group gets one event
    (message,) = api.queued()
    assert FeedbackEvent.model_validate_json(message["Body"]).occurred_at == first


def test_a_click_after_the_retry_window_is_a_new_event_even_on_the_same_day(api, now):
    # Given Ada unsubscribed in the morning (and, say, consented again since)
    token = token_for()
    assert one_click(api, token)["statusCode"] == 200
    # When she clicks the link again later that day
    now.at = T0 + 2 * UNSUBSCRIBE_RETRY_WINDOW
    assert one_click(api, token)["statusCode"] == 200

    # Then that is a second unsubscribe, not a duplicate of the first
    events = [FeedbackEvent.model_validate_json(m["Body"]) for m in api.queued()]
    assert sorted(e.occurred_at for e in events) == [T0, T0 + 2 * UNSUBSCRIBE_RETRY_WINDOW]
    assert len({e.feedback_id for e in events}) == 2


@both
def test_a_link_signed_with_the_previous_key_still_unsubscribes(api):
    assert one_click(api, token_for(key=OLD_KEY))["statusCode"] == 200
    assert len(api.queued()) == 1


def tampered(token: str) -> str:
    _, mac = token.split(".")
    payload = base64.urlsafe_b64encode(
        json.dumps(["demo", "u:someone-else", "email"], separators=(",", ":")).encode()
    ).decode()
    return f"{payload.rstrip('=')}.{mac}"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(token_for(key=b"an-attackers-own-key-0123456789"), id="forged"),
        pytest.param(tampered(token_for()), id="tampered"),
        pytest.param(token_for()[:-2], id="truncated"),
        pytest.param("not-a-token", id="malformed"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_forged_or_tampered_link_is_a_plain_404_and_changes_nothing(api, token, method):
    response = api.call(method, f"/u/{token}", {"content-type": "application/x-www-form-urlencoded"}, "x=y")

    assert response["statusCode"] == 404
    assert response["headers"]["Content-Type"] == "text/plain"
    assert response["body"] == "Not Found"
    assert api.queued() == []


# ---------------------------------------------------------------- inbox


def customer_token(customer_id: str, secret_key: str = DEMO_SECRET, shop_id: str = "demo") -> str:
    """The shop backend's recipe: HMAC-SHA256(hex SHA-256 of a secret key, shop_id + "\\n" + customer_id), hex."""
    key = hashlib.sha256(secret_key.encode()).hexdigest().encode()
    return hmac.new(key, f"{shop_id}\n{customer_id}".encode(), hashlib.sha256).hexdigest()


def app_headers(customer_id: str, write_key: str = "demo-write-key", **overrides: str) -> dict[str, str]:
    basic = base64.b64encode(f"{write_key}:".encode()).decode()
    return {
        "authorization": f"Basic {basic}",
        "x-nudge-customer-token": customer_token(customer_id),
        **overrides,
    }


def deliver(api: PublicApi, customer_id: str, message_id: str, title: str, at: datetime) -> None:
    content = Content(channel="in_app", locale="en", title=title, text=f"{title}!", url="demo://cart")
    api.inbox.deliver("demo", f"u:{customer_id}", message_id, content, at)


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


@both
def test_the_app_lists_its_customers_inbox_newest_first_with_the_unread_count(api):
    # Given two messages in Ada's inbox, the older one read
    deliver(api, "ada", "m-1", "Welcome", T0 - timedelta(hours=2))
    deliver(api, "ada", "m-2", "Your cart", T0 - timedelta(hours=1))
    api.call("POST", "/v1/inbox/ada/m-1/read", app_headers("ada"))

    # When the app asks with the write key and Ada's customer token
    response = api.call("GET", "/v1/inbox/ada", app_headers("ada"))

    # Then it sees both, newest first, and one unread
    assert response["statusCode"] == 200
    body = body_of(response)
    assert [(m["message_id"], m["title"], m["read"]) for m in body["messages"]] == [
        ("m-2", "Your cart", False),
        ("m-1", "Welcome", True),
    ]
    assert body["unread"] == 1


def test_the_write_key_may_come_in_its_own_header(api):
    headers = {"x-nudge-write-key": "demo-write-key", "x-nudge-customer-token": customer_token("ada")}
    assert api.call("GET", "/v1/inbox/ada", headers)["statusCode"] == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(app_headers("ada", **{"x-nudge-customer-token": customer_token("bob")}), id="another-customer"),
        pytest.param(
            app_headers("ada", **{"x-nudge-customer-token": customer_token("ada", OTHER_SECRET, "other")}),
            id="other-shops-token",
        ),
        pytest.param(app_headers("ada", write_key="other-write-key"), id="other-shops-write-key"),
        pytest.param(app_headers("ada", write_key=DEMO_SECRET), id="secret-key-instead-of-write-key"),
        pytest.param({"x-nudge-customer-token": customer_token("ada")}, id="no-write-key"),
        pytest.param({"authorization": app_headers("ada")["authorization"]}, id="no-customer-token"),
        pytest.param(app_headers("ada", **{"x-nudge-customer-token": "0" * 64}), id="made-up-token"),
    ],
)
def test_without_the_right_keys_the_inbox_stays_closed(api, headers):
    deliver(api, "ada", "m-1", "Welcome", T0)

    assert api.call("GET", "/v1/inbox/ada", headers)["statusCode"] == 401
    assert api.call("POST", "/v1/inbox/ada/m-1/read", headers)["statusCode"] == 401


def test_marking_a_message_read_sticks(api, now):
    deliver(api, "ada", "m-1", "Welcome", T0)

    response = api.call("POST", "/v1/inbox/ada/m-1/read", app_headers("ada"))

    assert (response["statusCode"], body_of(response)) == (200, {"message_id": "m-1", "read": True})
    listed = body_of(api.call("GET", "/v1/inbox/ada", app_headers("ada")))
    assert (listed["messages"][0]["read"], listed["unread"]) == (True, 0)
    first_read = listed["messages"][0]["read_at"]
    now.at = T0 + timedelta(minutes=5)
    api.call("POST", "/v1/inbox/ada/m-1/read", app_headers("ada"))  # reading again keeps the first read time
    assert body_of(api.call("GET", "/v1/inbox/ada", app_headers("ada")))["messages"][0]["read_at"] == first_read


def test_marking_an_unknown_message_read_is_404(api):
    response = api.call("POST", "/v1/inbox/ada/m-404/read", app_headers("ada"))
    assert response["statusCode"] == 404


def test_an_empty_inbox_is_empty_not_an_error(api):
    assert body_of(api.call("GET", "/v1/inbox/new-customer", app_headers("new-customer"))) == {
        "messages": [],
        "unread": 0,
    }
