"""Outgoing messages: what a journey puts on the outbox, what a template renders, what the send ledger records.

The contract between the decision core (which decides *that* a message is due), the content renderer (which decides
*what* it says, per channel and locale) and the channel router (which decides *where* it goes, at send time).
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models.vocabulary import Channel

# The ledger's statuses: ``pending`` while a channel is in flight or after a transient failure; the others are final
# except ``deferred`` (a time rule holds the message back; it goes out again later).
LedgerStatus = Literal["pending", "deferred", "sent", "suppressed", "failed"]
FINAL_STATUSES: frozenset[LedgerStatus] = frozenset({"sent", "suppressed", "failed"})
OFFER_CODE_PLACEHOLDER = "{offer_code}"  # a pool's code, in a message's offer and deep link until the router takes one
AttemptOutcome = Literal["sent", "permanent_failure", "transient_failure", "skipped"]


class _Frozen(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")


class SavedAs(_Frozen):
    """The customer record a decision is saved to, and the version that save writes."""

    key: str = Field(description="the record's customer key (after merges)")
    version: int = Field(ge=1)


class OutboxMessage(_Frozen):
    """A message that is due: the router chooses the channel, renders and sends it (once).

    ``message_id`` is deterministic (journey instance + step), so a redelivered or re-decided message is the same
    message and the send ledger lets it out once. ``cause`` only says which event led to it, for the logs and
    traces; it takes no part in the message's identity.
    """

    message_id: str = Field(min_length=1, max_length=200)
    shop_id: str
    customer: str = Field(description="customer key, 'u:<userId>' or 'a:<anonymousId>'")
    journey: str
    step: int = Field(ge=0)
    template: str = Field(description="message kind: the template family, e.g. cart_reminder")
    channels: list[Channel] | None = Field(default=None, description="narrows the shop's preference for this step")
    variables: dict[str, Any] = Field(default_factory=dict, description="cart_id, order_id, offer code, ...")
    transactional: bool = False
    created_at: datetime
    variant: str | None = Field(default=None, description="the step's A/B variant this customer gets, if it has any")
    topic: str | None = Field(default=None, description="the shop's topic (journey's or campaign's), if it has one")
    cause: str | None = Field(
        default=None,
        description="the id of the event that caused it (a Segment messageId, or the id of the timer's or feedback's "
        "event when nothing came before): the correlation id of its delivery's logs and traces (docs/OPERATIONS.md)",
    )
    saved_as: SavedAs | None = Field(
        default=None,
        description="the customer record and version the decision that sent it saves (the updater sends first, "
        "then saves): the router routes on that version or a later one, never on the state before it; None when "
        "no save follows (a campaign's message, a decision that changed no state)",
    )


class WhatsAppTemplate(_Frozen):
    """A Meta-approved WhatsApp template (required outside the 24 h customer-service window)."""

    name: str
    language: str
    parameters: list[str] = Field(default_factory=list, description="body {{1}}, {{2}}, ... in order")


class Content(_Frozen):
    """A message rendered for one channel and locale; every adapter reads the fields its channel has."""

    channel: Channel
    locale: str
    title: str = Field(description="email subject, push/in-app title; empty for SMS and WhatsApp")
    text: str = Field(description="plain-text body (email text part, push body, SMS, WhatsApp free-form text)")
    html: str | None = Field(default=None, description="email HTML part")
    image_url: str | None = None
    url: str | None = Field(default=None, description="deep link or landing page")
    data: dict[str, str] = Field(default_factory=dict, description="push custom data, e.g. promo_code")
    whatsapp_template: WhatsAppTemplate | None = None


class Address(_Frozen):
    """Where one channel reaches the customer: push endpoint/token, email address, phone number, inbox id."""

    channel: Channel
    value: str
    platform: str | None = Field(default=None, description="push: ios or android")


class Receipt(_Frozen):
    """What a provider answered for an accepted message."""

    provider_message_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict, description="e.g. SMS segments and encoding")


class DeliveryError(Exception):
    """A provider did not take the message; ``reason`` is short and safe to show to support (no PII)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentDeliveryError(DeliveryError):
    """The address will never work (dead push endpoint, invalid number, hard bounce): try the next channel."""


class TransientDeliveryError(DeliveryError):
    """Throttling or a provider outage: retry later (SQS redelivery), the same channel."""


class _Stored(BaseModel):
    """A record read back from the ledger: attributes it does not know (older or newer writers) are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Attempt(_Stored):
    """One channel tried for one message (the ledger keeps them as JSON in ``attempts``)."""

    channel: Channel
    outcome: AttemptOutcome
    reason: str | None = None
    at: datetime

    def as_json(self) -> dict[str, str | None]:
        return {"channel": self.channel, "outcome": self.outcome, "reason": self.reason, "at": self.at.isoformat()}


class LedgerEntry(_Stored):
    """A message as the send ledger knows it."""

    message_id: str
    status: LedgerStatus
    journey: str = ""
    step: int = 0
    template: str = ""
    variant: str | None = None
    channel: Channel | None = None
    reason: str | None = None
    title: str | None = None
    in_flight: Channel | None = None
    lease_until: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict, description="the provider's receipt; skipped channels")
    delivered_at: datetime | None = None
    opened_at: datetime | None = Field(default=None, description="first opened, tapped, read or clicked")
    clicked_at: datetime | None = None
    clicks: int = 0
    credits: dict[str, float] = Field(default_factory=dict, description="order id -> revenue credited to it")

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def view(self) -> dict[str, Any]:
        """The JSON support sees."""
        return {
            "message_id": self.message_id,
            "journey": self.journey,
            "step": self.step,
            "template": self.template,
            "variant": self.variant,
            "channel": self.channel,
            "status": self.status,
            "reason": self.reason,
            "title": self.title,
            "at": self.updated_at.isoformat() if self.updated_at else None,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "attempts": [attempt.as_json() for attempt in self.attempts],
            "details": self.details,
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "clicked_at": self.clicked_at.isoformat() if self.clicked_at else None,
            "clicks": self.clicks,
            "credits": self.credits,
        }
