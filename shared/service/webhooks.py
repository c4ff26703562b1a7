"""Registering a code nudge made with the shop's own system before the message carrying it goes out: a signed POST
(``shared.core.webhooks``) to the URL the shop's ``offers:`` names. A 2xx answer is the shop's acknowledgement; a
4xx means the shop refused the code (the message is dropped with that reason); anything else (5xx, a timeout, no
connection) is transient: the router leaves the message pending and SQS brings it back with backoff, and after the
last attempt it is parked in the dead-letter queue with the reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime

from shared.adapters.offers import IssuedOffer
from shared.core.webhooks import HEADER, signature_header, webhook_key
from shared.models.messages import PermanentDeliveryError, TransientDeliveryError

TIMEOUT_SECONDS = 5
Post = Callable[[str, bytes, dict[str, str]], int]  # url, body, headers -> HTTP status (raises OSError if none)


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import http.client  # only a router that announces a code loads the HTTP client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except http.client.HTTPException as error:  # a broken answer (cut off, garbled): no answer, as a timeout is
        raise OSError(f"{type(error).__name__}: {error}") from error


class OfferWebhooks:
    """Announces codes to shops, signed with each shop's webhook key (derived from the deployment's signing keys)."""

    def __init__(self, signing_keys: Callable[[], Sequence[bytes]], post: Post = http_post) -> None:
        self._signing_keys = signing_keys
        self._post = post

    def keys_for(self, shop_id: str) -> list[bytes]:
        """The shop's webhook keys, newest first (what ``nudge offers webhook-key`` shows the shop)."""
        return [webhook_key(key, shop_id) for key in self._signing_keys()]

    def announce(self, url: str, offer: IssuedOffer, now: datetime) -> None:
        """POST the code; returns once the shop acknowledged it. PermanentDeliveryError if the shop refused it,
        TransientDeliveryError if it did not answer (try again later)."""
        body = json.dumps(
            {
                "type": "offer.code_created",
                "shop_id": offer.shop_id,
                "code": offer.code,
                "customer": offer.customer,
                "percent": offer.percent,
                "expires_at": offer.expires_at.isoformat(),
                "message_id": offer.message_id,
                "journey": offer.journey,
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            HEADER: signature_header(self.keys_for(offer.shop_id), body, int(now.timestamp())),
        }
        try:
            status = self._post(url, body, headers)
        except (OSError, ValueError) as error:  # no connection, a timeout, a TLS failure
            raise TransientDeliveryError(f"offer_webhook_unreachable: {type(error).__name__}") from error
        if 200 <= status < 300:
            return
        if 400 <= status < 500 and status not in (408, 429):
            raise PermanentDeliveryError(f"offer_refused_by_shop: HTTP {status}")
        raise TransientDeliveryError(f"offer_webhook_failed: HTTP {status}")
