"""``POST /v1/offers/decide`` (J13, IN6): the offer a customer on an exit-intent, cart or checkout page should see now.

Called from the shop's pages or app with the write key and the customer token the inbox uses (the customer can only
ask about themselves). One DynamoDB read (the customer's state; the shop's keys and configuration are cached per
container); the decision is ``shared.core.decisions``. A new offer is recorded twice, neither on the read path's
critical state: its code for the checkout (``GET /v1/offers/{code}``), and an ``Offer Shown`` event into the
customer's FIFO group, which the state updater applies like any event (so "at most one per period" holds through the
one writer of the state). Asking again before that event is applied (two tabs) gives the same offer: its code is
derived from the customer and the period.
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.adapters.offers import IssuedOffer
from shared.adapters.queue import FifoEntry
from shared.models.nudge_events import deduplication_id
from shared.models.state import OFFER_SHOWN, ShownOffer
from shared.ports import CustomerRecords, EventQueue, Offers, Shops
from shared.service.bodies import field_errors

DECISION_JOURNEY = "offer_decision"  # how a decided code names its origin for the checkout and support


class DecideRequest(BaseModel):
    """The body: who is asking (the shop's userId, whose customer token the request carries) and where."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    customer_id: str = Field(min_length=1, max_length=200)
    placement: Literal["exit_intent", "cart", "checkout"]


class DecideRequestError(Exception):
    """A body that is not a decide request; ``errors`` name each field and rule."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid decide request")
        self.errors = errors


class NoOfferDecisionsError(Exception):
    """The shop configured no ``offer_decisions``."""


class OfferDecider:
    """Decides, records and answers."""

    def __init__(
        self,
        authenticate: Callable[[Mapping[str, str], str], str],
        shops: Shops,
        customers: CustomerRecords,
        offers: Offers,
        events: EventQueue,
        clock: Callable[[], datetime],
    ) -> None:
        self._authenticate = authenticate
        self._shops = shops
        self._customers = customers
        self._offers = offers
        self._events = events
        self._clock = clock

    def decide(self, headers: Mapping[str, str], body: Any) -> dict[str, Any]:
        """The decision for the body's customer; raises DecideRequestError, InboxAccessDeniedError (no valid write
        key and customer token) or NoOfferDecisionsError."""
        try:
            request = DecideRequest.model_validate(body)
        except ValidationError as error:
            raise DecideRequestError(field_errors(error)) from error
        shop_id = self._authenticate(headers, request.customer_id)
        config = self._shops.config(shop_id)
        if config is None or config.offer_decisions is None:
            raise NoOfferDecisionsError(f"shop {shop_id!r} has no offer_decisions in its configuration")
        from shared.core.decisions import decide_offer  # the shop's config schema is loaded by now anyway

        now = self._clock()
        customer = f"u:{request.customer_id}"
        record = self._customers.load(shop_id, customer)  # the one read
        decision = decide_offer(record.state, config, customer, now)
        offer = decision.offer
        if offer is not None and not decision.repeat:
            if offer.code is not None and offer.expires_at is not None:  # made by nudge (static: no expiry)
                self._offers.issue(
                    IssuedOffer(
                        shop_id=shop_id,
                        code=offer.code,
                        customer=customer,
                        message_id=f"decide:{offer.code}",
                        journey=DECISION_JOURNEY,
                        percent=offer.percent or 0,
                        free_shipping=offer.free_shipping,
                        expires_at=offer.expires_at,
                        issued_at=now,
                    )
                )
            self._events.send([_shown_entry(shop_id, request.customer_id, offer, decision.period, now)])
        return {"placement": request.placement, **decision.view()}


def _shown_entry(shop_id: str, user_id: str, offer: ShownOffer, period: int, now: datetime) -> FifoEntry:
    """The ``Offer Shown`` event, as the shop's servers would send it (secret key: the write key cannot claim one),
    one per customer and ``once_per`` window (two tabs at once record it once)."""
    from shared.models.events import SegmentEvent

    message_id = f"offer-shown-{period}"
    event = SegmentEvent.model_validate(
        {
            "shop_id": shop_id,
            "received_at": now,
            "authority": "secret",
            "message": {
                "type": "track",
                "event": OFFER_SHOWN,
                "userId": user_id,
                "messageId": message_id,
                "timestamp": now,
                "properties": offer.model_dump(mode="json", exclude={"at"}),
            },
        }
    )
    return FifoEntry(event.group, deduplication_id(shop_id, message_id), event.model_dump_json())
