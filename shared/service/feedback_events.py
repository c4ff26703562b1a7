"""A feedback event on its way to the state updater: the FIFO entry that carries it."""

from __future__ import annotations

from shared.adapters.queue import FifoEntry
from shared.models.nudge_events import FeedbackEvent, deduplication_id


def feedback_entry(event: FeedbackEvent) -> FifoEntry:
    """The FIFO message of a feedback event: the customer's group, deduplicated per shop and feedback id."""
    return FifoEntry(event.group, deduplication_id(event.shop_id, event.message_id), event.model_dump_json())
