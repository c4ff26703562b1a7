"""Consent the customer gives, confirms or changes themselves: double opt-in and the preference centre. Pure, no I/O.

Double opt-in (``channels.email.double_opt_in``, ``channels.sms.double_opt_in``): a grant of consent on such a
channel (``Newsletter Subscribed`` for e-mail, or ``Consent Updated`` with status granted) is recorded ``pending``,
never in force, and the decision asks the router for a transactional confirmation on that channel
(:func:`confirmation_requests`). Only the button behind its signed link (``/confirm/{token}``, a ``consent_confirmed``
feedback event) puts the consent in force, as a ``granted`` record that names the pending one (``confirms``), how
(``confirmed_via``) and when it was asked (``requested_at``). An unconfirmed grant lapses at its ``expires_at``
(``confirm_within``, 7 days by default). A grant while consent is in force needs no new confirmation; one while a
confirmation waits sends a new one at most once a day (``RESEND_AFTER``), so a form submitted over and over with
someone's address cannot flood them. The shop's own servers may say they confirmed a grant themselves
(``confirmed_at``, secret key only: ``shared.core.customer``); it is in force at once.

Preference centre (``/p/{token}``, a ``preferences_changed`` feedback event with source ``preference_centre``): each
channel switched off is a withdrawal; each switched on a grant, which on a double opt-in channel waits for its
confirmation too, unless the page was reached from a message on that very channel (the customer holds that
address). Topics switched off join ``topics_off``; a pause holds back all marketing until ``paused_until``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from shared.models.config import ShopConfig
from shared.models.effects import Send
from shared.models.events import FeedbackEvent, as_utc
from shared.models.messages import OutboxMessage
from shared.models.nudge_events import CONFIRM_JOURNEY, CONFIRM_TEMPLATE
from shared.models.state import ConsentRecord, CustomerState

RESEND_AFTER = timedelta(hours=24)
PREFERENCE_CENTRE_NOTICE = "preference-centre"  # the notice a grant in the preference centre was given under


def record_consent(state: CustomerState, record: ConsentRecord, config: ShopConfig, *, proven: bool = False) -> str:
    """Append ``record`` to the (append-only) consent history; a grant on a double opt-in channel without consent in
    force goes in as ``pending`` (``proven``: the customer showed they hold the address, no confirmation needed).
    Returns a note for the timeline."""
    channel = record.channel
    window = config.channels.double_opt_in(channel)
    if record.status == "granted" and window is not None and not proven and not state.has_consent(channel):
        waiting = state.pending(channel, record.recorded_at)
        if waiting is not None and record.recorded_at - waiting.recorded_at < RESEND_AFTER:
            return f"{channel} consent already waits for its confirmation: nothing recorded"
        record = record.model_copy(update={"status": "pending", "expires_at": record.recorded_at + window})
    state.consents = sorted([*state.consents, record], key=lambda r: r.at)
    return f"{channel} consent {record.status} ({record.source})"


def confirmation_requests(
    state: CustomerState, message_id: str, shop_id: str, customer: str, now: datetime
) -> list[Send]:
    """The confirmation mails the event ``message_id`` asked for: one per grant it left pending."""
    return [
        Send(message=confirmation_message(record, shop_id, customer, now, state.locale))
        for record in state.consents
        if record.status == "pending" and record.message_id == message_id
    ]


def confirmation_message(
    record: ConsentRecord, shop_id: str, customer: str, now: datetime, locale: str | None = None
) -> OutboxMessage:
    """The transactional message asking the customer to confirm the pending grant ``record`` (one per grant); the
    customer's ``locale`` rides along for the language of the confirmation page."""
    assert record.expires_at is not None
    digest = hashlib.sha256(f"{customer}\n{record.message_id}".encode()).hexdigest()[:24]
    asked = {"pending": record.message_id, "expires_at": as_utc(record.expires_at).isoformat()}
    return OutboxMessage(
        message_id=f"confirm-{digest}",
        shop_id=shop_id,
        customer=customer,
        journey=CONFIRM_JOURNEY,
        step=0,
        template=CONFIRM_TEMPLATE,
        channels=[record.channel],
        variables={"confirm": {**asked, "locale": locale} if locale else asked},
        transactional=True,
        created_at=now,
    )


def confirm(state: CustomerState, event: FeedbackEvent) -> str:
    """Put the pending grant ``event.confirms`` in force, if it still waits; a note says what happened."""
    channel = event.channel
    asked = (r for r in state.consents if r.status == "pending" and r.channel == channel)
    pending = next((r for r in asked if r.message_id == event.confirms), None)
    if pending is None:
        return f"consent_confirmed: no pending {channel} grant {event.confirms}: nothing recorded"
    if any(r.confirms == pending.message_id for r in state.consents):
        return f"consent_confirmed: {channel} grant already confirmed"
    at = as_utc(event.occurred_at)
    if pending.expires_at is not None and at > pending.expires_at:
        return f"consent_confirmed: the {channel} grant lapsed at {pending.expires_at.isoformat()}: nothing recorded"
    in_force = state.consent(channel)
    if in_force is not None and in_force.at > pending.at:
        return f"consent_confirmed: {channel} consent was {in_force.status} after it was asked for: nothing recorded"
    record = ConsentRecord(
        channel=channel,
        status="granted",
        source=pending.source,
        notice_version=pending.notice_version,
        evidence=pending.evidence,
        at=at,
        recorded_at=as_utc(event.received_at),
        message_id=event.message_id,
        confirms=pending.message_id,
        confirmed_via=event.source,
        requested_at=pending.at,
    )
    state.consents = sorted([*state.consents, record], key=lambda r: r.at)
    return f"consent_confirmed: {channel} consent granted ({event.source})"


def change(state: CustomerState, event: FeedbackEvent, config: ShopConfig) -> list[str]:
    """Apply what the customer saved in the preference centre; notes for the timeline."""
    saved = event.preferences
    if saved is None:
        return ["preferences_changed without preferences: nothing to do"]
    at, received = as_utc(event.occurred_at), as_utc(event.received_at)
    notes = []
    for channel, on in saved.channels.items():
        waiting = state.pending(channel, received) is not None
        if on == state.has_consent(channel) and not (waiting and not on):
            continue
        record = ConsentRecord(
            channel=channel,
            status="granted" if on else "withdrawn",
            source=event.source,
            notice_version=PREFERENCE_CENTRE_NOTICE,
            evidence=event.feedback_id,
            at=at,
            recorded_at=received,
            message_id=event.message_id,
        )
        notes.append(record_consent(state, record, config, proven=channel == event.channel))
    off = set(state.topics_off)
    for topic, on in saved.topics.items():
        if topic in config.topics:
            (off.discard if on else off.add)(topic)
    if off != set(state.topics_off):
        state.topics_off = sorted(off)
        notes.append(f"topics off: {', '.join(state.topics_off) or 'none'}")
    if saved.resume and state.paused_until is not None:
        state.paused_until = None
        notes.append("marketing resumed")
    elif saved.pause_until is not None:
        state.paused_until = as_utc(saved.pause_until)
        notes.append(f"marketing paused until {state.paused_until.isoformat()}")
    return notes or ["preferences saved: nothing changed"]
