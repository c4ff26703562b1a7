"""A shop's Segment message as it travels on the customer events queue, and the union of every queued event.

Imported through ``shared.models.events`` when first named, so that what only makes timers or feedback does not
load the Segment schema.
"""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models.nudge_events import EngagementEvent, FeedbackEvent, TimerEvent, as_utc, customer_key, group_id
from shared.models.segment import Alias, Identify, SegmentMessage
from shared.models.vocabulary import KeyKind


class SegmentEvent(BaseModel):
    """A shop's Segment message, accepted by ingest: clock-corrected, stamped, authenticated to a shop."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: Literal["segment"] = "segment"
    shop_id: str
    received_at: datetime
    message: SegmentMessage
    authority: KeyKind = Field(
        default="write",
        description="which kind of shop key sent it: only a secret key (server-side) may merge two known customers; "
        "events queued before this field existed count as the public write key's",
    )

    @property
    def message_id(self) -> str:
        assert self.message.messageId is not None  # ingest assigns one to every message
        return self.message.messageId

    @property
    def occurred_at(self) -> datetime:
        """When it happened (the skew-corrected ``timestamp``)."""
        return as_utc(self.message.timestamp or self.received_at)

    @property
    def customer(self) -> str:
        return customer_key(self.message.userId, self.message.anonymousId)

    @property
    def merges(self) -> tuple[str, ...]:
        """Other customers this message says are the same person (identify with both ids, or alias)."""
        message = self.message
        if isinstance(message, Alias):
            # previousId may be an older user id or an anonymous id. Whether a known customer may be merged (only
            # with a secret key) is the updater's call: it knows which of the two records exists.
            candidates = (f"u:{message.previousId}", f"a:{message.previousId}")
            return tuple(c for c in candidates if c != self.customer)
        if isinstance(message, Identify) and message.userId and message.anonymousId:
            return (f"a:{message.anonymousId}",)
        return ()

    @property
    def group(self) -> str:
        return group_id(self.shop_id, self.customer)


QueuedEvent = Annotated[SegmentEvent | TimerEvent | FeedbackEvent | EngagementEvent, Field(discriminator="kind")]
