"""Property tests on the pure core: random histories of many customers, each event delivered 1-3 times.

The promises, as a customer would notice them: redelivery changes nothing they could see (state, messages); no
message reaches them twice; no message reaches them on a channel whose consent is not in force when it goes out,
including when they change their mind while a journey's timer is pending. ``tests/reliability/histories.py`` plays
the histories (``decide`` for every queued event, timers fired in time order, the pure ``route`` at send time).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.core.customer import decide
from shared.models.events import FeedbackEvent
from tests.factories import T0, accepted
from tests.reliability import figures
from tests.reliability.histories import DEMO, Redelivery, customers, play

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
seeds = st.integers(0, 2**32 - 1)


def _count(name: str, single, repeated) -> None:
    figures.add(
        name,
        examples=1,
        customers=len(single.states),
        queued_events=single.decisions,
        deliveries_with_copies=repeated.decisions,
        duplicates_ignored=repeated.duplicates_ignored,
        messages_due=len(single.sends),
        messages_sent=len(repeated.deliveries),
        outbox_copies_refused_by_ledger=repeated.ledger_refusals,
        suppressed_no_consent=repeated.suppressed["no_consent"],
        consent_changes_while_timer_pending=repeated.consent_changes_while_timer_pending,
    )


@PROPERTY
@given(histories=customers(), seed=seeds)
def test_delivering_every_event_one_to_three_times_changes_nothing_a_customer_could_notice(histories, seed):
    # Given many customers' histories, played once with single delivery
    once = play(histories)

    # When every queued event and outbox message is delivered 1-3 times (copies right after or up to 24 h late)
    repeated = play(histories, redelivery=Redelivery(seed))
    _count("properties: redelivery", once, repeated)

    # Then every customer ends in the same state, with the same messages decided and the same timers started
    assert repeated.states == once.states
    assert [m.message_id for m in repeated.sends] == [m.message_id for m in once.sends]
    assert repeated.timers_started == once.timers_started
    # and no message id is decided twice, nor let out twice by the send ledger
    assert [mid for mid, n in Counter(m.message_id for m in once.sends).items() if n > 1] == []
    assert repeated.sent_twice() == []
    assert {d.message_id for d in repeated.deliveries} == {d.message_id for d in once.deliveries}


@PROPERTY
@given(histories=customers(), seed=seeds)
def test_each_customer_is_decided_alone_whatever_the_other_customers_do(histories, seed):
    # Given many customers' histories, interleaved in one stream with redelivery
    together = play(histories, redelivery=Redelivery(seed))
    figures.add("properties: customers independent", examples=1, customers=len(histories))

    # Then each customer's state is what it would be if they were the shop's only customer
    for index in range(len(histories)):
        alone = play(histories, only=index)
        customer = next(iter(alone.states))
        assert together.states[customer] == alone.states[customer]


@PROPERTY
@given(histories=customers(), seed=seeds)
def test_no_message_goes_out_on_a_channel_whose_consent_is_not_in_force_at_send_time(histories, seed):
    # Given customers who grant and withdraw consent at random moments (also while a journey waits), unsubscribe,
    # reply STOP, complain; every event delivered 1-3 times
    outcome = play(histories, redelivery=Redelivery(seed))
    once = play(histories)
    _count("properties: consent at send time", once, outcome)

    # Then every message that went out used a channel whose latest consent choice (by event time) was a grant
    assert [d for d in outcome.deliveries if not d.allowed] == []


@PROPERTY
@given(histories=customers(late_consent=True, feedback=False), seed=seeds)
def test_consent_choices_that_arrive_late_still_decide_by_when_the_customer_made_them(histories, seed):
    # Given consent choices that may arrive up to 36 h after they were made (retries, offline apps, imports)
    outcome = play(histories, redelivery=Redelivery(seed))
    once = play(histories)
    _count("properties: late consent choices", once, outcome)

    # Then no message goes out against the customer's latest choice
    assert [d for d in outcome.deliveries if not d.allowed] == []


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def test_an_unsubscribe_click_counts_even_if_an_older_grant_arrives_after_it():
    def consent(status: str, made: float, arrives: float, number: int):
        properties = {"channel": "email", "status": status, "source": "prefs", "notice_version": "v1"}
        message = {
            "type": "track",
            "event": "Consent Updated",
            "properties": properties,
            "userId": "kim",
            "messageId": f"kim-{number}",
            "timestamp": (T0 + hours(made)).isoformat(),
        }
        return accepted(message, T0 + hours(arrives))

    unsubscribe = FeedbackEvent(
        shop_id="demo",
        customer="u:kim",
        channel="email",
        reason="unsubscribe_link",
        source="unsubscribe-link",
        feedback_id="click-1",
        occurred_at=T0 + hours(12),
        received_at=T0 + hours(12),
    )
    # Given a customer who granted email consent at 00:00 and withdrew it in their preferences at 10:00
    # When they also click the unsubscribe link at 12:00, and an 11:00 re-grant (sent from an offline app) arrives
    # at 13:00
    history = [
        (consent("granted", 0, 0, 1), 0),
        (consent("withdrawn", 10, 10, 2), 10),
        (unsubscribe, 12),
        (consent("granted", 11, 13, 3), 13),
    ]
    state = None
    for event, arrives in history:
        state = decide(state, event, T0 + hours(arrives), DEMO).state or state

    # Then the latest choice by event time (the 12:00 unsubscribe) is in force: no marketing email
    assert state is not None
    assert not state.has_consent("email")
