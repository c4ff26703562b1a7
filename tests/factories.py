"""Builders for test inputs: Segment messages as a shop's client sends them, and accepted events."""

from __future__ import annotations

import base64
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from shared.models.config import ShopConfig
from shared.models.events import SegmentEvent
from shared.models.segment import SegmentMessage

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)
_messages: TypeAdapter[Any] = TypeAdapter(SegmentMessage)


def shop_config(journeys: dict[str, Any]) -> ShopConfig:
    """The demo shop with these journeys (a preset's name with ``{}`` runs the preset as shipped)."""
    return ShopConfig.model_validate(
        {
            "shop": {
                "id": "demo",
                "name": "Demo Shop",
                "write_keys": ["demo-write-key"],
                "secret_keys": ["demo-secret-key"],
                "timezone": "Europe/Berlin",
            },
            "channels": {"preference": ["push", "whatsapp", "email", "sms"]},
            "journeys": journeys,
        }
    )


DEMO_CONFIG = shop_config({"cart_abandonment": {"steps": [{"wait": "PT1H", "template": "cart_reminder"}]}})


def product(product_id: str = "sku-1", **extra: Any) -> dict[str, Any]:
    return {"product_id": product_id, "name": f"Product {product_id}", "price": 10.0, **extra}


def track(event: str, properties: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A track call as JSON; userId 'u1' unless another id is given."""
    if "userId" not in fields and "anonymousId" not in fields:
        fields["userId"] = "u1"
    return {"type": "track", "event": event, "properties": properties or {}, "messageId": f"m{next(_ids)}", **fields}


def identify(traits: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    if "userId" not in fields and "anonymousId" not in fields:
        fields["userId"] = "u1"
    return {"type": "identify", "traits": traits or {}, "messageId": f"m{next(_ids)}", **fields}


def consent(channel: str, status: str = "granted", source: str = "signup-form", **fields: Any) -> dict[str, Any]:
    properties = {"channel": channel, "status": status, "source": source, "notice_version": "v3"}
    return track("Consent Updated", properties, **fields)


def accepted(message: dict[str, Any], at: datetime = T0, shop_id: str = "demo") -> SegmentEvent:
    """The event ingest would enqueue for ``message`` received at ``at`` (timestamp = at unless given)."""
    message = {"timestamp": at.isoformat(), **message}
    return SegmentEvent(shop_id=shop_id, received_at=at, message=_messages.validate_python(message))


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def customer_batch(
    user: str,
    traits: dict[str, Any],
    consents: list[str],
    *,
    zone: str,
    locale: str = "en-GB",
    device_token: str | None = None,
    cart: bool = True,
) -> list[dict[str, Any]]:
    """What a shop's tracking client sends to create a customer: identify, consents, a cart, maybe the app."""
    context = {"locale": locale, "timezone": zone}
    batch = [identify(traits, userId=user, context=context)]
    batch += [consent(channel, userId=user) for channel in consents]
    if cart:
        boots = product(
            "boots", name="Trail Boots", price=120.0, cart_id="c1", image_url="https://img.example/boots.jpg"
        )
        batch.append(track("Product Added", boots, userId=user))
    if device_token:
        device = {"device": {"token": device_token, "type": "android"}}
        batch.append(track("Application Installed", {}, userId=user, context={**context, **device}))
    return batch


def shopper(user: str, *channels: str) -> list[dict[str, Any]]:
    """A customer named Jo with an e-mail address, who consents to ``channels``."""
    return [identify({"firstName": "Jo", "email": f"{user}@example.com"}, userId=user)] + [
        consent(channel, userId=user) for channel in channels
    ]


def boots(cart: str = "c1") -> dict[str, Any]:
    """A pair of boots put into cart ``cart``."""
    return product("boots", name="Boots", price=99.0, cart_id=cart, image_url="https://img.example/boots.jpg")


_CLICK_LINK = re.compile(r"https?://[^\s\"'<>]+/c/([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+")


def followed(text: str) -> str:
    """``text`` with every tracked link (``/c/{token}``) replaced by the target its token signs, as a reader who
    follows it lands (the signature is the redirect's to check; here the target is read)."""

    def target(match: re.Match[str]) -> str:
        body = match.group(1)
        _, _, _, _, url = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return str(url)

    return _CLICK_LINK.sub(target, text)
