"""The in-memory send ledger keeps what the table's time to live keeps: a backtest of years holds the ledger's
retention (400 days), not every message it ever sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from infra.memory.stores import MemoryLedger
from shared.adapters.ledger import RETENTION
from shared.models.messages import OutboxMessage

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def message(message_id: str) -> OutboxMessage:
    return OutboxMessage(
        message_id=message_id,
        shop_id="demo",
        customer="u:c1",
        journey="cart_abandonment",
        step=0,
        template="cart_reminder",
        created_at=T0,
    )


def test_a_message_is_forgotten_after_the_retention_and_one_written_again_later_is_kept_longer():
    ledger = MemoryLedger()
    old, revisited = message("m-old"), message("m-revisited")
    # Given two messages sent on the first day, one of them written again (its outcome) 100 days later
    ledger.start(old, "email", [], T0)
    ledger.close(old, "sent", T0, channel="email", in_flight="email")
    ledger.start(revisited, "email", [], T0)
    ledger.close(revisited, "sent", T0 + timedelta(days=100), channel="email", in_flight="email")

    # When the ledger is written a day past the first one's retention
    ledger.start(message("m-new"), "email", [], T0 + RETENTION + timedelta(days=1))

    # Then the first is gone, as the table's time to live removes it; the one written later is still there
    assert ledger.find(old) is None
    assert ledger.find(revisited) is not None and ledger.find(revisited).status == "sent"  # type: ignore[union-attr]
    assert ledger.find(message("m-new")) is not None


def test_within_the_retention_nothing_is_forgotten():
    ledger = MemoryLedger()
    first = message("m-first")
    ledger.start(first, "email", [], T0)
    ledger.start(message("m-later"), "email", [], T0 + RETENTION - timedelta(seconds=1))
    assert ledger.find(first) is not None
