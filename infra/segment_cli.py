"""``nudge segment export NAME --api URL --key K [--format csv|jsonl] [--hashed] [--output FILE]``: every member of a
shop's segment, for a retargeting audience (Meta custom audiences, Google Customer Match, ...), through the same
``GET /v1/segments/{name}/members`` a shop's own system would call (secret key), following its cursors to the end.

``--hashed`` writes what the ad platforms match on instead of the addresses: the SHA-256 hex of the e-mail address
trimmed and lower-cased, and of the phone number in E.164 with only its digits and the leading ``+``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Any

TIMEOUT = 60  # seconds per page
FIELDS = ("customer_id", "known", "email", "phone")


def normalized_email(email: str) -> str:
    return email.strip().lower()


def normalized_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"+{digits}" if digits else ""


def hashed(member: dict[str, Any]) -> dict[str, Any]:
    """The member with e-mail and phone as the SHA-256 hex ad platforms match on (empty when unknown)."""

    def digest(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest() if value else ""

    email, phone = member.get("email"), member.get("phone")
    return {
        **member,
        "email": digest(normalized_email(email)) if isinstance(email, str) else "",
        "phone": digest(normalized_phone(phone)) if isinstance(phone, str) else "",
    }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else value


def pages(api: str, key: str, segment: str, limit: int) -> Any:
    """Each page of the segment's members, following ``next`` until the segment is done."""
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    name = urllib.parse.quote(urllib.parse.quote(segment, safe=""), safe="")
    after: str | None = None
    while True:
        query = urllib.parse.urlencode({"limit": limit, **({"after": after} if after else {})})
        request = urllib.request.Request(f"{api.rstrip('/')}/v1/segments/{name}/members?{query}")
        request.add_header("authorization", auth)
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            page = json.load(response)
        yield page
        after = page.get("next")
        if not after:
            return


def export(
    segment: str, api: str, key: str, output_format: str, hash_addresses: bool, output: Path | None, limit: int = 1000
) -> int:
    """Write every member of ``segment``; 0 when done, 1 when the API refused (its answer on stderr)."""
    stream: IO[str] = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    members = read = 0
    try:
        writer = csv.DictWriter(stream, fieldnames=FIELDS) if output_format == "csv" else None
        if writer is not None:
            writer.writeheader()
        for page in pages(api, key, segment, limit):
            read += int(page.get("customers_read", 0))
            for member in page["members"]:
                row = hashed(member) if hash_addresses else member
                row = {field: row.get(field) for field in FIELDS}
                if writer is not None:
                    writer.writerow({field: _cell(value) for field, value in row.items()})
                else:
                    stream.write(json.dumps(row) + "\n")
                members += 1
    except urllib.error.HTTPError as error:
        print(f"segment export: {error.code} {error.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"segment export: cannot reach {api}: {error.reason}", file=sys.stderr)
        return 1
    finally:
        if output:
            stream.close()
    print(f"segment {segment}: {members} members of {read} customers read", file=sys.stderr)
    return 0
