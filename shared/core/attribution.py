"""Engagement with nudge's messages, and the one message an order is credited to (EX2). Pure.

Engagement reaches a customer's FIFO group two ways: as nudge's own ``EngagementEvent`` (a click through the
redirect, an SES open or delivery, an in-app read) and as the app's ``Push Notification Tapped`` / ``Received``
(the Segment mobile spec's names), whose ``nudge_message_id`` property is the id the push carried in its data. An
open, tap, read or click becomes a :class:`Touch` in the state (the latest few); a delivery or receipt only marks
the message's ledger record.

An order is credited to at most one message, by the first rule that finds one:

1. ``coupon``: the order's coupon is an offer code nudge handed out: the message that carried it (whoever it went
   to: a code passed on still earned the order);
2. ``click``: the last message clicked within its channel's click window before the order;
3. ``open``: the last message opened, tapped or read within its channel's (shorter) open window.

The credit stays on the order; a cancellation, or a refund of the whole order, takes it back, a partial refund
lowers the revenue credited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared.models.nudge_events import OPENS, PUSH_MESSAGE_ID, EngagementAction, EngagementEvent
from shared.models.segment import Track
from shared.models.state import MAX_TOUCHES, Credit, CustomerState, Touch
from shared.models.vocabulary import Channel

if TYPE_CHECKING:
    from shared.models.config import AttributionSettings
    from shared.models.events import SegmentEvent

PUSH_EVENTS: dict[str, EngagementAction] = {
    "Push Notification Tapped": "tapped",
    "Push Notification Received": "received",
}
# The engagement score's name for each touch (``insights.engagement.points``).
POINTS_NAME: dict[tuple[Channel, EngagementAction], str] = {
    ("email", "opened"): "Email Opened",
    ("email", "clicked"): "Email Link Clicked",
    ("sms", "clicked"): "Message Link Clicked",
    ("whatsapp", "clicked"): "Message Link Clicked",
    ("in_app", "read"): "In-App Message Read",
}


@dataclass(frozen=True, slots=True)
class Engaged:
    """What one event says the customer did with one message: the message's ledger key, channel and action."""

    recipient: str
    message: str
    channel: Channel
    action: EngagementAction
    at: datetime


@dataclass(frozen=True, slots=True)
class CouponIssue:
    """The offer code an order used, as nudge handed it out: the message that carried it, and to whom."""

    code: str
    message: str
    recipient: str


def engaged(event: EngagementEvent | SegmentEvent) -> Engaged | None:
    """The engagement ``event`` reports, or None (any other event; a push event without nudge's message id)."""
    if isinstance(event, EngagementEvent):
        return Engaged(event.customer, event.message, event.channel, event.action, event.occurred_at)
    message = event.message
    if not isinstance(message, Track) or message.event not in PUSH_EVENTS:
        return None
    message_id = message.properties.get(PUSH_MESSAGE_ID)
    if not isinstance(message_id, str) or not 0 < len(message_id) <= 200:
        return None
    return Engaged(event.customer, message_id, "push", PUSH_EVENTS[message.event], event.occurred_at)


def remember(state: CustomerState, engagement: Engaged) -> bool:
    """Keep an open, tap, read or click among the state's latest touches; whether it was one (a delivery or receipt
    is kept on the message's ledger record only)."""
    if engagement.action in ("delivered", "received"):
        return False
    touch = Touch(
        int(engagement.at.timestamp()), engagement.message, engagement.channel, engagement.action, engagement.recipient
    )
    state.touches = sorted({*state.touches, touch}, key=lambda t: (t.at, t.message))[-MAX_TOUCHES:]
    return True


def credit(
    touches: list[Touch], at: datetime, coupon: CouponIssue | None, settings: AttributionSettings
) -> Credit | None:
    """The message an order placed at ``at`` is credited to, by the first rule that finds one; None if none does."""
    if coupon is not None:
        return Credit(message=coupon.message, recipient=coupon.recipient, rule="coupon")
    moment = int(at.timestamp())
    for rule, actions, window in (("click", {"clicked"}, 0), ("open", OPENS, 1)):
        within = [
            touch
            for touch in touches
            if touch.action in actions
            and 0 <= moment - touch.at <= settings.windows(touch.channel)[window].total_seconds()
        ]
        if within:
            last = max(within, key=lambda t: t.at)
            return Credit(
                message=last.message,
                recipient=last.recipient,
                rule="click" if rule == "click" else "open",
                channel=last.channel,
                touched_at=datetime.fromtimestamp(last.at, at.tzinfo),
            )
    return None
