"""``nudge offers upload FILE --pool NAME``: a shop's list of discount codes into one of its pools, through the same
``POST /v1/offers/pools/{name}`` a shop's own system would call (secret key), in requests of at most 10,000 codes.

FILE holds one code a line; a CSV's first column is taken, and a header line (``code``) and blank lines are skipped.
A refused request stops the upload and says why (the requests before it are stored: uploading the file again
changes nothing for them, a free code stays one code).
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from shared.adapters.offers import UPLOAD_LIMIT


def read_codes(path: Path) -> list[str]:
    codes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        code = line.split(",", 1)[0].strip().strip('"')
        if code and code.lower() != "code":
            codes.append(code)
    return codes


def upload(path: Path, pool: str, api: str, key: str, out: Any = sys.stderr) -> int:
    """Post the file's codes; 0 when every request was accepted, 2 when one was refused."""
    codes = read_codes(path)
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    done = 0
    for start in range(0, len(codes), UPLOAD_LIMIT):
        chunk = codes[start : start + UPLOAD_LIMIT]
        request = urllib.request.Request(
            f"{api.rstrip('/')}/v1/offers/pools/{pool}",
            data=json.dumps({"codes": chunk}).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": auth},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            print(f"refused ({error.code}) after {done} of {len(codes)} codes: {error.read().decode()}", file=out)
            return 2
        done += len(chunk)
        print(f"{done}/{len(codes)} codes uploaded; pool {pool} has {answer['available']} free", file=out)
    return 0


def webhook_keys(shop_id: str, secret_arn: str, out: Any = sys.stdout) -> int:
    """Print the shop's webhook keys, newest first: what its endpoint verifies ``Nudge-Signature`` with (the
    deployment's signing secret, ``SigningSecretArn``, is read with the caller's AWS credentials)."""
    from shared.service.links import SigningSecret
    from shared.service.webhooks import OfferWebhooks

    for key in OfferWebhooks(SigningSecret(secret_arn)).keys_for(shop_id):
        print(key.decode(), file=out)
    return 0
