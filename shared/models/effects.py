"""Effects: what a decision asks the world to do. The core returns them; the updater carries them out.

The updater carries out the effects before it saves the new state; every effect is idempotent (a timer's
execution name and an outbox message's id are deterministic), so deciding the event again after a lost save or a
crash repeats them harmlessly, where saving first could lose them for good.
"""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from shared.models.events import TimerEvent
from shared.models.messages import OutboxMessage


class StartTimer(BaseModel):
    """Start a timer execution named ``event.timer_id`` that puts ``event`` into the FIFO queue at ``event.due_at``."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    event: TimerEvent


class Send(BaseModel):
    """Put ``message`` on the outbox; the channel router delivers it (consent is checked again at send time)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    message: OutboxMessage


class RedeemOffer(BaseModel):
    """An order used ``code``: if it is an offer code nudge handed out, record it redeemed (once; the first order
    wins). Any other coupon (the shop's own) changes nothing."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    shop_id: str
    code: str
    customer: str
    order_id: str
    at: datetime


class WatchProduct(BaseModel):
    """Put the customer on the list of those waiting for ``product_id`` until ``until`` (a restock fans out to that
    list). ``if_out_of_stock``: only if the catalogue holds the product out of stock now (a wishlist or cart add);
    else always (an explicit "notify me")."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    shop_id: str
    product_id: str
    customer: str
    since: datetime
    until: datetime
    if_out_of_stock: bool


class OrderLine(BaseModel):
    """One product line of a completed order, for the shop's recommendations."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    product_id: str
    category: str | None = None
    quantity: int = 1


class RecordOrder(BaseModel):
    """Count a completed order (once) in the shop's aggregates: bought together, best-sellers of its day."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    shop_id: str
    day: date
    lines: tuple[OrderLine, ...]


class OrderPosition(BaseModel):
    """Where a customer's orders place them in the shop's distribution (RFM): how many, how much, the last day."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    count: int = 0
    revenue: float = 0.0
    last_day: date | None = None


class MoveCustomer(BaseModel):
    """The customer's orders changed (an order, a refund): move them in the shop's distribution, once.

    ``gap_days`` is the days since their previous order, for a repeat order later than every earlier one."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    shop_id: str
    before: OrderPosition
    after: OrderPosition
    gap_days: int | None = None


class CreditOrder(BaseModel):
    """Credit ``order_id`` to the message ``message`` (sent to ``recipient``) with ``revenue`` on the message's ledger
    record; ``revenue`` None takes the credit back (the order was cancelled or refunded)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    shop_id: str
    recipient: str
    message: str
    order_id: str
    revenue: float | None


class Tally(BaseModel):
    """Add ``counts`` to the shop's report counters of ``day``, in the row of ``journey`` (a journey or a campaign),
    ``step`` (None: the journey as a whole), ``variant`` (a step's variant, ``holdout``; for the journey as a whole
    the group, ``treatment`` or ``holdout``) and ``channel``: ``entered``, ``held_out``, ``converted``, ``revenue``.
    Counters are not idempotent: the updater adds them after the save that made the decision."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    shop_id: str
    day: date
    journey: str
    step: int | None = None
    variant: str | None = None
    channel: str | None = None
    counts: dict[str, float]


class CountChurn(BaseModel):
    """Add ``months`` to the shop's monthly churn counters: for each UTC month (``YYYY-MM``), what each counter moves
    by (``shared/core/churn.py``). Counters are not idempotent: the updater adds them after the save that made the
    change."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    shop_id: str
    months: dict[str, dict[str, float]]


type Effect = (
    StartTimer | Send | RedeemOffer | WatchProduct | RecordOrder | MoveCustomer | CreditOrder | Tally | CountChurn
)
