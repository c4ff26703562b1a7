"""Offer codes for the shop's checkout (secret key): check a code, upload a pool of codes, see what a pool has left.

``GET /v1/offers/{code}`` answers ``valid``, ``expired``, ``redeemed`` or ``unknown`` with the customer, discount and
expiry, so any checkout can refuse a code nudge did not hand out or that ran out. A static code (``offers:`` in the
shop's config) is valid for everyone, with no expiry of nudge's own.
"""

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.adapters.offers import UPLOAD_LIMIT, duplicates
from shared.models.vocabulary import OfferCode, PoolName
from shared.ports import Offers, Shops
from shared.service.bodies import field_errors

if TYPE_CHECKING:
    from shared.models.config import ShopConfig


class UploadError(Exception):
    """A pool upload that was refused; ``errors`` name each item and rule (nothing was stored)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid pool upload")
        self.errors = errors


class PoolUpload(BaseModel):
    """``POST /v1/offers/pools/{name}``: the codes to add."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    codes: Annotated[list[OfferCode], Field(min_length=1, max_length=UPLOAD_LIMIT)]


class OfferDesk:
    """What a checkout and the shop's operators ask about offer codes."""

    def __init__(self, offers: Offers, shops: Shops, clock: Callable[[], datetime]) -> None:
        self._offers = offers
        self._shops = shops
        self._clock = clock

    def lookup(self, shop_id: str, code: str) -> dict[str, Any]:
        """The code's state: handed out by nudge (to whom, until when, redeemed by which order), static, or unknown."""
        config = self._shops.config(shop_id)
        static = config.static_offer(code) if config is not None else None
        if static is not None and config is not None:
            return {
                "code": code,
                "status": "valid",
                "source": "static",
                "percent": _percent_of(config, static[0]),
                "customer": None,
                "expires_at": None,
            }
        offer = self._offers.find(shop_id, code)
        if offer is None:
            return {"code": code, "status": "unknown"}
        return {
            "code": code,
            "status": offer.status(self._clock()),
            "source": "pool" if offer.pool else "generated",
            "pool": offer.pool,
            "percent": offer.percent,
            "free_shipping": offer.free_shipping,
            "customer": offer.customer,
            "journey": offer.journey,
            "message_id": offer.message_id,
            "issued_at": offer.issued_at.isoformat(),
            "expires_at": offer.expires_at.isoformat(),
            "redeemed_at": offer.redeemed_at.isoformat() if offer.redeemed_at else None,
            "order_id": offer.order_id,
        }

    def upload(self, shop_id: str, pool: str, body: Any) -> dict[str, Any]:
        """Add the body's codes to ``pool``, all or nothing; UploadError names what is wrong."""
        try:
            name = _pool_names().validate_python(pool)
            upload = PoolUpload.model_validate(body)
        except ValidationError as error:
            raise UploadError(field_errors(error)) from error
        repeated = duplicates(upload.codes)
        if repeated:
            shown = ", ".join(repeated[:20]) + (f" and {len(repeated) - 20} more" if len(repeated) > 20 else "")
            raise UploadError([{"field": "codes", "rule": f"each code once; given more than once: {shown}"}])
        written = self._offers.upload(shop_id, name, upload.codes)
        return {"pool": name, "uploaded": written, "available": self._offers.available(shop_id, name)}

    def pool(self, shop_id: str, pool: str) -> dict[str, Any]:
        return {"pool": pool, "available": self._offers.available(shop_id, pool)}


def _percent_of(config: "ShopConfig", prefix: str) -> int | None:
    """The discount the shop's journeys give with the offer ``prefix`` (the first step that names it)."""
    for journey in config.journeys.values():
        for step in journey.steps:
            for offer in step.offers:
                if offer.prefix == prefix:
                    return offer.percent
    return None


@cache
def _pool_names() -> TypeAdapter[str]:
    return TypeAdapter(PoolName)  # built at the first upload, not at a cold start
