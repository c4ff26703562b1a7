"""A shop's HTTP calls to the local stack, as plain as a tracking client makes them."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

WRITE_KEY = "demo-write-key"
SECRET_KEY = "demo-secret-key"


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def call(base_url: str, method: str, path: str, body: Any = None, key: str | None = WRITE_KEY) -> tuple[int, Any]:
    """Send one request; returns (status, parsed JSON body)."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(base_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", basic(key))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def post(base_url: str, path: str, body: Any, key: str | None = WRITE_KEY) -> tuple[int, Any]:
    return call(base_url, "POST", path, body, key)


def customer(base_url: str, customer_id: str, key: str = SECRET_KEY) -> tuple[int, Any]:
    return call(base_url, "GET", f"/v1/customers/{customer_id}", key=key)
