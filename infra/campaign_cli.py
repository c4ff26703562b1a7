"""``nudge campaign create FILE | show ID | cancel ID --api URL --key K``: the campaign API (``/v1/campaigns``) from
a terminal, with a shop's secret key. ``create`` posts a JSON file (``-`` reads standard input); each prints the
campaign as the API answers it (status and progress) and exits 0, or prints the refusal and exits 1.

``nudge dates run [--day D] --api URL --key K``: sweep a day's birthdays and occasions again
(``POST /v1/date-sweeps``), e.g. a day the daily schedule missed.

``nudge customer show|timeline|export|erase ID --api URL --key K [--output FILE]``: what support reads of one
customer (``GET /v1/customers/{id}``, its timeline, its export: everything held about them, docs/PRIVACY.md), and
erasing them (``DELETE /v1/customers/{id}``)."""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT = 30


def api_json(api: str, key: str, method: str, path: str, body: Any = None) -> Any:
    """One request to the stack's API with a shop key (HTTP Basic); the JSON it answered. urllib's errors propagate."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{api.rstrip('/')}{path}", data=data, method=method)
    request.add_header("authorization", "Basic " + base64.b64encode(f"{key}:".encode()).decode())
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.load(response)


def path_id(value: str) -> str:
    """An id in a path, percent-encoded twice (API Gateway decodes the path once before it routes)."""
    return urllib.parse.quote(urllib.parse.quote(value, safe=""), safe="")


def _call(
    api: str, key: str, method: str, path: str, body: Any = None, name: str = "campaign", output: Path | None = None
) -> int:
    """Print what the API answered (or write it to ``output``); 0, or 1 with the refusal on stderr."""
    try:
        text = json.dumps(api_json(api, key, method, path, body), indent=2, ensure_ascii=False)
        if output is None:
            print(text)
        else:
            output.write_text(text + "\n", encoding="utf-8")
        return 0
    except urllib.error.HTTPError as error:
        print(f"{name}: {error.code} {error.read().decode(errors='replace')}", file=sys.stderr)
    except urllib.error.URLError as error:
        print(f"{name}: cannot reach {api}: {error.reason}", file=sys.stderr)
    return 1


def run(action: str, target: str, api: str, key: str) -> int:
    if action == "create":
        text = sys.stdin.read() if target == "-" else Path(target).read_text(encoding="utf-8")
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            print(f"campaign: {target} is not JSON: {error}", file=sys.stderr)
            return 1
        return _call(api, key, "POST", "/v1/campaigns", body)
    path = f"/v1/campaigns/{path_id(target)}"
    return _call(api, key, "GET" if action == "show" else "DELETE", path)


CUSTOMER_PATHS = {"show": "", "timeline": "/timeline", "export": "/export", "erase": ""}


def customer(action: str, customer_id: str, api: str, key: str, output: Path | None = None) -> int:
    """Print (or write to ``output``) what support reads of one customer: the profile, the timeline, the export;
    or erase the customer (GDPR Art. 17) and print what was erased."""
    path = f"/v1/customers/{path_id(customer_id)}{CUSTOMER_PATHS[action]}"
    method = "DELETE" if action == "erase" else "GET"
    return _call(api, key, method, path, name=f"customer {action}", output=output)


def sweep_dates(day: str | None, api: str, key: str) -> int:
    """Start the shop's date sweep of ``day`` (default: the next UTC day); prints the job."""
    return _call(api, key, "POST", "/v1/date-sweeps", {"day": day} if day else {}, name="dates")
