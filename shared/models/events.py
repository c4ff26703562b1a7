"""What travels on the customer events queue: one envelope per change to one customer.

Every change to a customer's state goes through the FIFO queue with ``MessageGroupId`` = shop + customer, so one
writer applies a customer's events in order (architecture §1). A shop's Segment message is one ``kind``
(``SegmentEvent``, in ``shared.models.segment_events``); a timer come due and delivery feedback, which nudge makes
itself, are the others (``shared.models.nudge_events``). This module names them all; the Segment ones load when
first named, so that the channel router, which arms timers but never reads a Segment message, does not load the
Segment schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.lazy import lazy_names
from shared.models.nudge_events import EngagementEvent as EngagementEvent
from shared.models.nudge_events import FeedbackEvent as FeedbackEvent
from shared.models.nudge_events import FeedbackReason as FeedbackReason
from shared.models.nudge_events import TimerEvent as TimerEvent
from shared.models.nudge_events import as_utc as as_utc
from shared.models.nudge_events import customer_key as customer_key
from shared.models.nudge_events import deduplication_id as deduplication_id
from shared.models.nudge_events import group_id as group_id

if TYPE_CHECKING:
    from shared.models.segment_events import QueuedEvent as QueuedEvent
    from shared.models.segment_events import SegmentEvent as SegmentEvent

__getattr__ = lazy_names(__name__, dict.fromkeys(("SegmentEvent", "QueuedEvent"), "shared.models.segment_events"))
