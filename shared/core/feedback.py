"""Delivery feedback applied to a customer's state: bounces, complaints, opt-outs, dead push tokens. Pure, no I/O.

``apply_feedback`` is what the decision core calls for a ``FeedbackEvent`` (after its messageId dedupe). What each
reason does:

==========================  =========================================================================================
``hard_bounce``             the address joins ``undeliverable[channel]`` (the router never tries it again)
``invalid_address``         the same, for numbers SMS / WhatsApp say cannot receive
``complaint``               email consent withdrawn (source e.g. ``ses-complaint``) and the address undeliverable
``sms_opt_out``             SMS consent withdrawn (source ``sms-reply-stop``): STOP and the other opt-out keywords
``unsubscribe_link``        consent for the token's channel (email) withdrawn (source ``unsubscribe-link``)
``push_endpoint_disabled``  the device token joins ``undeliverable["push"]``
``push_endpoint_registered``  the token's SNS endpoint ARN is cached on its ``PushToken``
``whatsapp_inbound``        ``whatsapp_inbound_at`` moves forward (the 24 h customer-service window)
==========================  =========================================================================================

Idempotent in effect: applying the same feedback twice leaves the state as applying it once. A withdrawal is
appended to the (append-only) consent history only when it changes the decision in force, so the audit trail shows
every change and no noise: a second STOP, a complaint after an unsubscribe, or a late complaint about a mail sent
before the customer consented again records nothing new (a timeline note says why).
"""

from __future__ import annotations

from datetime import datetime

from shared.models.config import Channel
from shared.models.events import FeedbackEvent, as_utc
from shared.models.state import ConsentRecord, CustomerState, PushToken

MAX_UNDELIVERABLE = 10  # per channel: the newest dead addresses; older ones are long gone from the profile too
NOTICE_VERSION_NOT_APPLICABLE = "n/a"  # a withdrawal shows the customer no notice

_WITHDRAWALS: dict[str, Channel | None] = {
    "complaint": "email",
    "sms_opt_out": "sms",
    "unsubscribe_link": None,  # the channel the signed token names (email)
}
_DEFAULT_SOURCES = {
    "complaint": "ses-complaint",
    "sms_opt_out": "sms-reply-stop",
    "unsubscribe_link": "unsubscribe-link",
}


def apply_feedback(state: CustomerState, event: FeedbackEvent) -> list[str]:
    """Apply ``event`` to ``state`` in place; returns notes for the customer's timeline (no addresses in them)."""
    reason = event.reason
    notes: list[str] = []
    if reason in _WITHDRAWALS:
        notes.append(_withdraw(state, event, _WITHDRAWALS[reason] or event.channel))
    if reason in ("hard_bounce", "invalid_address", "complaint"):
        notes.append(_mark_undeliverable(state, event.channel, event.address, reason))
    elif reason == "push_endpoint_disabled":
        notes.append(_mark_undeliverable(state, "push", _stored_token(state, event), reason))
    elif reason == "push_endpoint_registered":
        notes.append(_cache_endpoint(state, event))
    elif reason == "whatsapp_inbound":
        notes.append(_whatsapp_inbound(state, as_utc(event.occurred_at)))
    return notes


def _withdraw(state: CustomerState, event: FeedbackEvent, channel: Channel) -> str:
    record = ConsentRecord(
        channel=channel,
        status="withdrawn",
        source=event.source or _DEFAULT_SOURCES[event.reason],
        notice_version=NOTICE_VERSION_NOT_APPLICABLE,
        evidence=event.feedback_id,
        at=as_utc(event.occurred_at),
        recorded_at=as_utc(event.received_at),
        message_id=event.message_id,
    )
    # Skip only when a decision at or after this one is already on record (it wins either way). "Already withdrawn"
    # is not enough: an older grant may still arrive and would then be in force over a withdrawal we dropped.
    later = [r for r in state.consents if r.channel == channel and r.status != "pending" and r.at >= record.at]
    if later:
        newest = max(later, key=lambda r: r.at)
        already = "already withdrawn" if newest.status == "withdrawn" else "granted again later"
        return f"{event.reason}: {channel} consent {already}, nothing recorded"
    state.consents = sorted([*state.consents, record], key=lambda r: r.at)
    return f"{event.reason}: {channel} consent withdrawn ({record.source})"


def _mark_undeliverable(state: CustomerState, channel: Channel, address: str | None, reason: str) -> str:
    if not address:
        return f"{reason} on {channel} without an address: nothing marked"
    dead = state.undeliverable.get(channel, [])
    if address in dead:
        return f"{reason} on {channel}: address already undeliverable"
    state.undeliverable = {**state.undeliverable, channel: [*dead, address][-MAX_UNDELIVERABLE:]}
    return f"{reason} on {channel}: address marked undeliverable"


def _matching_token(state: CustomerState, event: FeedbackEvent) -> PushToken | None:
    """The customer's token the event is about: by endpoint ARN, else by token (SNS lower-cases iOS tokens)."""
    if event.endpoint_arn:
        for token in state.push_tokens:
            if token.endpoint_arn == event.endpoint_arn:
                return token
    if event.address:
        exact = [token for token in state.push_tokens if token.token == event.address]
        folded = [token for token in state.push_tokens if token.token.lower() == event.address.lower()]
        if exact or folded:
            return (exact or folded)[-1]  # the newest registration of that token
    return None


def _stored_token(state: CustomerState, event: FeedbackEvent) -> str | None:
    """The token exactly as the state holds it (the router compares exactly), else as the event names it."""
    found = _matching_token(state, event)
    return found.token if found else event.address


def _cache_endpoint(state: CustomerState, event: FeedbackEvent) -> str:
    found = _matching_token(state, event)
    if found is None or not event.endpoint_arn:
        return "push_endpoint_registered: no such device token, nothing cached"
    if found.endpoint_arn == event.endpoint_arn:
        return "push_endpoint_registered: endpoint already cached"
    state.push_tokens = [
        token.model_copy(update={"endpoint_arn": event.endpoint_arn}) if token is found else token
        for token in state.push_tokens
    ]
    return "push_endpoint_registered: endpoint cached"


def _whatsapp_inbound(state: CustomerState, at: datetime) -> str:
    if state.whatsapp_inbound_at is not None and state.whatsapp_inbound_at >= at:
        return "whatsapp_inbound: an as recent message was already seen"
    state.whatsapp_inbound_at = at
    return "whatsapp_inbound: 24 h WhatsApp window opened"


def push_endpoint_registered(
    shop_id: str, customer: str, token: str, endpoint_arn: str, now: datetime
) -> FeedbackEvent:
    """The event the router enqueues after registering an SNS endpoint, so the next send skips the registration."""
    return FeedbackEvent(
        shop_id=shop_id,
        customer=customer,
        channel="push",
        reason="push_endpoint_registered",
        address=token,
        endpoint_arn=endpoint_arn,
        source="channel-router",
        feedback_id=f"push-endpoint:{endpoint_arn}",
        occurred_at=now,
        received_at=now,
    )
