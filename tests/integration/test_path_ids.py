"""Customer ids with any characters (``/``, ``#``, ``?``, ``%``, space, non-ASCII) are readable through every route
that names them in its path, on the local stack's HTTP API, which routes like API Gateway HTTP API (path decoded once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from shared.adapters.channels.inbox import InboxStore
from shared.models.messages import Content
from tests.factories import identify, product, track
from tests.integration.http import SECRET_KEY, WRITE_KEY, basic, post

ODD_IDS = ["anna/ü #1?%", "ä ö/ü?x=1&y#frag", "100%25 sure", "../v1/customers/x"]


def in_path(customer_id: str) -> str:
    """An id as a path segment: encoded twice, since API Gateway decodes the path once before it routes."""
    return quote(quote(customer_id, safe=""), safe="")


def get(base_url: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(base_url + path, method="GET", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def send(base_url: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(base_url + path, data=b"", method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def inbox_headers(customer_id: str) -> dict[str, str]:
    key = hashlib.sha256(SECRET_KEY.encode()).hexdigest().encode()
    token = hmac.new(key, f"demo\n{customer_id}".encode(), hashlib.sha256).hexdigest()
    return {"Authorization": basic(WRITE_KEY), "X-Nudge-Customer-Token": token}


@pytest.mark.parametrize("odd", ODD_IDS)
def test_a_customer_with_an_odd_id_is_read_back_by_support(local_stack, odd):
    # Given a customer whose id has path-breaking characters, tracked like any other
    base, user = local_stack.base_url, f"{odd}-{uuid.uuid4().hex[:6]}"
    assert post(base, "/v1/identify", identify({"firstName": "Anna"}, userId=user))[0] == 200
    assert post(base, "/v1/track", track("Product Added", product("p1", cart_id="c1"), userId=user))[0] == 200
    local_stack.wait_idle()
    support = {"Authorization": basic(SECRET_KEY)}

    # When support reads the profile and the messages
    status, profile = get(base, f"/v1/customers/{in_path(user)}", support)
    messages_status, messages = get(base, f"/v1/customers/{in_path(user)}/messages", support)

    # Then both find exactly that customer
    assert status == 200, profile
    assert (profile["customer_id"], profile["user_id"], profile["record"]) == (user, user, f"u:{user}")
    assert profile["traits"]["first_name"] == "Anna" and "c1" in profile["carts"]
    assert messages_status == 200 and messages["customer_id"] == user


def test_the_inbox_of_a_customer_with_an_odd_id_lists_and_marks_read(local_stack):
    # Given a message with an odd id in the inbox of a customer with an odd id
    base, user, message_id = local_stack.base_url, f"anna/ü #1?%-{uuid.uuid4().hex[:6]}", "m/1 #?%ü"
    content = Content(channel="in_app", locale="en", title="Hallo", text="Für dich")
    InboxStore(local_stack.resources["CustomersTable"]).deliver(
        "demo", f"u:{user}", message_id, content, datetime.now(UTC)
    )

    # When the app lists the inbox and marks the message read
    listed = get(base, f"/v1/inbox/{in_path(user)}", inbox_headers(user))
    read = send(base, "POST", f"/v1/inbox/{in_path(user)}/{in_path(message_id)}/read", inbox_headers(user))

    # Then the customer token made for the id itself is accepted, and the message is found by its own id
    assert listed[0] == 200, listed
    assert [m["message_id"] for m in listed[1]["messages"]] == [message_id]
    assert read == (200, {"message_id": message_id, "read": True})
    assert get(base, f"/v1/inbox/{in_path(user)}", inbox_headers(user))[1]["unread"] == 0


def test_an_id_encoded_once_with_a_slash_is_not_found_as_on_api_gateway(local_stack):
    # API Gateway decodes %2F before it routes: the path has one segment too many, no route matches
    status, body = get(
        local_stack.base_url, f"/v1/customers/{quote('anna/x', safe='')}", {"Authorization": basic(SECRET_KEY)}
    )
    assert (status, body) == (404, {"message": "Not Found"})


def test_a_plain_or_non_ascii_id_may_be_encoded_once(local_stack):
    base, user = local_stack.base_url, f"zoë-{uuid.uuid4().hex[:6]}"
    assert post(base, "/v1/identify", identify({}, userId=user))[0] == 200
    local_stack.wait_idle()
    support = {"Authorization": basic(SECRET_KEY)}

    assert get(base, f"/v1/customers/{quote(user, safe='')}", support)[1]["user_id"] == user
    assert get(base, f"/v1/customers/{in_path(user)}", support)[1]["user_id"] == user
