"""``HEAD /u/{token}``: mail providers' link scanners probe the unsubscribe link; the answer is GET's, without a body,
and nobody is unsubscribed."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid

from shared.core.tokens import issue_unsubscribe_token
from shared.service.links import SigningSecret
from tests.factories import consent, identify
from tests.integration.http import customer, post

VARYING = {"date", "content-length"}  # per response, or the body's length (a HEAD answer has none)


def fetch(base_url: str, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(base_url + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def same_headers(first: dict[str, str], second: dict[str, str]) -> bool:
    return {k: v for k, v in first.items() if k not in VARYING} == {k: v for k, v in second.items() if k not in VARYING}


def test_a_head_probe_of_the_unsubscribe_link_answers_like_get_without_a_body_and_unsubscribes_nobody(local_stack):
    # Given a customer who agreed to e-mail, and the unsubscribe link of their e-mails
    base, user = local_stack.base_url, f"probe-{uuid.uuid4().hex[:8]}"
    batch = [identify({"email": f"{user}@example.com"}, userId=user), consent("email", userId=user)]
    assert post(base, "/v1/batch", {"batch": batch})[0] == 200
    local_stack.wait_idle()
    key = SigningSecret(local_stack.resources["SigningSecret"])()[0]
    path = f"/u/{issue_unsubscribe_token(key, 'demo', f'u:{user}', 'email')}"

    # When a link scanner probes it with HEAD (and then reads the page with GET)
    head = fetch(base, "HEAD", path)
    get = fetch(base, "GET", path)
    local_stack.wait_idle()

    # Then HEAD has GET's status and headers, no body, and the customer still agrees to e-mail
    assert head[0] == get[0] == 200
    assert same_headers(head[1], get[1]) and head[1]["content-type"].startswith("text/html")
    assert head[2] == b"" and b"<form" in get[2]
    assert customer(base, user)[1]["consent"]["email"]["status"] == "granted"


def test_a_head_probe_of_a_forged_link_is_the_same_404_as_get(local_stack):
    path = "/u/not-a-real-token"
    head, get = fetch(local_stack.base_url, "HEAD", path), fetch(local_stack.base_url, "GET", path)

    assert head[0] == get[0] == 404
    assert same_headers(head[1], get[1]) and head[2] == b""
