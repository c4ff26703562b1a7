"""What a web page's analytics.js needs from nudge besides ingest: CORS answers and the settings document.

The ingest function answers CORS itself (not API Gateway's ``CorsConfiguration``, which is one static origin list per
API and answers preflights before any function runs), so each shop's ``allowed_origins`` decide:

- a preflight carries no write key, so it is allowed when *any* shop allows the origin;
- the request itself (and the settings document) is answered with ``Access-Control-Allow-Origin`` only when the
  authenticated shop allows the origin, and refused with 403 otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# analytics.js sends Authorization (the write key), Content-Type (text/plain, or application/json when a shop sets
# it), X-Retry-Count on retries; compressing clients add Content-Encoding.
ACCEPTED_REQUEST_HEADERS = ("authorization", "content-type", "content-encoding", "x-retry-count")
ALLOWED_METHODS = "POST, GET, OPTIONS"
PREFLIGHT_MAX_AGE = 7200  # seconds; Chromium caps it at 7200, Firefox at 86400
ANY_ORIGIN = "*"


def allows(allowed: Iterable[str], origin: str) -> bool:
    """Whether an origin list (from ``allowed_origins``) admits the ``Origin`` header's value."""
    allowed = frozenset(allowed)
    return ANY_ORIGIN in allowed or origin.strip().rstrip("/").lower() in allowed


def allow_origin_headers(origin: str) -> dict[str, str]:
    """The headers that let the page at ``origin`` read a response (the origin echoed, never ``*``)."""
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


@dataclass(frozen=True, slots=True)
class PreflightAnswer:
    """The answer to an ``OPTIONS`` preflight: 204 with CORS headers, or 403 with a message and none."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""


def preflight(origin: str | None, requested_headers: str | None, origins_of_any_shop: Iterable[str]) -> PreflightAnswer:
    """Answer a CORS preflight for an ingest path.

    Only the acceptable requested headers are echoed, so a page asking for another one fails in its own browser.
    No ``Access-Control-Allow-Credentials``: analytics.js sends no cookies cross-origin (its fetch uses the default
    ``credentials: same-origin``), and the write key travels in the Authorization header and the body.
    """
    if not origin:
        return PreflightAnswer(204)  # not a CORS preflight: nothing to allow
    if not allows(origins_of_any_shop, origin):
        return PreflightAnswer(403, message=f"origin {origin} is not in any shop's allowed_origins")
    requested = [name.strip().lower() for name in (requested_headers or "").split(",") if name.strip()]
    echoed = [name for name in requested if name in ACCEPTED_REQUEST_HEADERS]
    headers = {
        **allow_origin_headers(origin),
        "Access-Control-Allow-Methods": ALLOWED_METHODS,
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE),
    }
    if echoed:
        headers["Access-Control-Allow-Headers"] = ", ".join(echoed)
    return PreflightAnswer(204, headers)


def request_scheme(forwarded_proto: str | None, host: str) -> str:
    """The scheme the client used: API Gateway says so in X-Forwarded-Proto; loopback without it is plain HTTP."""
    if forwarded_proto:
        return forwarded_proto.split(",")[0].strip().lower()
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return "http" if hostname in ("127.0.0.1", "localhost", "[::1]") else "https"


def settings_document(write_key: str, host: str, scheme: str) -> dict[str, Any]:
    """The settings analytics.js loads from ``{cdnURL}/v1/projects/{writeKey}/settings``, pointing it at nudge.

    ``Segment.io`` is the only integration, so every event goes to ``{scheme}://{host}/v1/{t,i,p,s,g,a}`` (or ``/b``
    with the batching strategy); no destination, plugin or middleware is loaded from elsewhere, and the SDK's own
    metrics are off (``sampleRate: 0``), so no request leaves for Segment's hosts.
    """
    return {
        "integrations": {"Segment.io": {"apiKey": write_key, "apiHost": f"{host}/v1", "protocol": scheme}},
        "plugins": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "remotePlugins": [],
        "legacyVideoPluginsEnabled": False,
    }
