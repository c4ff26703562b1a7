"""Channel choice (CH1): which channels may carry a message *now*, in the order they are tried. Pure, no I/O.

A channel is a candidate when the customer's consent for it is in force at send time (for a double opt-in
confirmation: its grant still waits), the customer has not paused marketing nor switched the message's topic off
(the preference centre), nudge has a usable address for it (push token of a configured platform, email address,
phone number, WhatsApp number, installed app) that has not bounced or died, the shop has configured the channel, and
no time rule holds a marketing message back: the shop's quiet hours in the customer's time zone
(``contact_policy``), and on SMS the 08:00-21:00 window the US TCPA requires. Every channel that is not a
candidate says why, for the customer's timeline.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from shared.core.policy import next_open, open_at, zone_of
from shared.models.config import Channel, ShopConfig
from shared.models.messages import Address, OutboxMessage
from shared.models.nudge_events import CONFIRM_JOURNEY, TimerEvent
from shared.models.state import CustomerState

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True, slots=True)
class Skip:
    """A channel that will not carry this message, and why (no_consent, no_address, ...)."""

    channel: Channel
    reason: str


@dataclass(frozen=True, slots=True)
class Routing:
    """The candidates in the order they are tried, and the channels passed over."""

    candidates: list[Address] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def outcome_if_none(self) -> tuple[Literal["deferred", "suppressed"], str]:
        """Status and reason to record when no candidate is left: deferred for a time rule, else suppressed."""
        reasons = [skip.reason for skip in self.skipped]
        if "quiet_hours" in reasons:
            return "deferred", "quiet_hours"
        if not reasons or all(reason == "no_consent" for reason in reasons):
            return "suppressed", "no_consent"
        first_other = next(reason for reason in reasons if reason != "no_consent")
        return "suppressed", first_other


def channel_order(message: OutboxMessage, config: ShopConfig) -> list[Channel]:
    """The shop's preference order; a journey step that names channels narrows it to those, in the step's order."""
    if message.channels:
        return list(dict.fromkeys(message.channels))
    return list(config.channels.preference)


def route(state: CustomerState | None, message: OutboxMessage, config: ShopConfig, now: datetime) -> Routing:
    """Decide which channels may carry ``message`` for the customer in ``state`` at ``now``."""
    routing = Routing()
    for channel in channel_order(message, config):
        reason = _refusal(state, channel, message, config, now)
        if reason is not None:
            routing.skipped.append(Skip(channel, reason))
            continue
        assert state is not None
        address = address_for(state, channel, config, inbox_of(state, message))
        if address is None:
            routing.skipped.append(Skip(channel, "no_address"))
        else:
            routing.candidates.append(address)
    return routing


def _refusal(
    state: CustomerState | None, channel: Channel, message: OutboxMessage, config: ShopConfig, now: datetime
) -> str | None:
    if state is None or not _consented(state, channel, message, now):
        return "no_consent"
    if not message.transactional and state.paused(now):
        return "paused_by_customer"  # the preference centre's pause: marketing waits for nobody
    if not message.transactional and (message.topic or config.topic_of(message.journey)) in state.topics_off:
        return "topic_opted_out"
    if not config.channels.configured(channel):
        return "channel_not_configured"
    if not message.transactional and not open_at(config.contact_policy, channel, customer_zone(state, config), now):
        return "quiet_hours"
    return None


def _consented(state: CustomerState, channel: Channel, message: OutboxMessage, now: datetime) -> bool:
    """Consent in force; for a double opt-in confirmation, the grant it asks about still waits (not confirmed, not
    withdrawn, not lapsed): the one message a pending grant lets out."""
    if message.journey != CONFIRM_JOURNEY:
        return state.has_consent(channel)
    pending = state.pending(channel, now)
    asked = message.variables.get("confirm")
    return pending is not None and isinstance(asked, dict) and asked.get("pending") == pending.message_id


def inbox_of(state: CustomerState, message: OutboxMessage) -> str:
    """The customer key whose inbox the app reads: the known user once identified."""
    return f"u:{state.user_id}" if state.user_id else message.customer


def address_for(state: CustomerState, channel: Channel, config: ShopConfig, inbox: str) -> Address | None:
    """The customer's usable address on ``channel`` (``inbox``: the customer key of their in-app inbox), or None."""
    dead = set(state.undeliverable.get(channel, []))
    if channel == "push":
        platforms = config.channels.push.platform_applications if config.channels.push else {}
        for token in reversed(state.push_tokens):  # newest device first
            platform = _platform(token.platform)
            if platform in platforms and token.token not in dead:
                return Address(channel="push", value=token.token, platform=platform)
        return None
    if channel == "email":
        email = state.traits.get("email")
        return Address(channel="email", value=email) if isinstance(email, str) and email not in dead else None
    if channel in ("sms", "whatsapp"):
        number = state.traits.get("whatsapp") if channel == "whatsapp" else None
        number = number or state.traits.get("phone")
        if isinstance(number, str):
            number = re.sub(r"[\s().-]", "", number)
            if _E164.match(number) and number not in dead:
                return Address(channel=channel, value=number)
        return None
    # in_app: the app is installed (and not uninstalled since)
    app = state.app
    if app.installed_at and not (app.uninstalled_at and app.uninstalled_at >= app.installed_at):
        return Address(channel="in_app", value=inbox)
    return None


def _platform(device_type: str | None) -> str | None:
    kind = (device_type or "").lower()
    if kind in ("ios", "ipados", "apns"):
        return "ios"
    if kind in ("android", "fcm", "gcm"):
        return "android"
    return None


def customer_zone(state: CustomerState, config: ShopConfig) -> ZoneInfo:
    """The customer's time zone, else the shop's."""
    return zone_of(state.timezone, config.shop.timezone)


def reopens_at(state: CustomerState, config: ShopConfig, routing: Routing, now: datetime) -> datetime:
    """For a message every channel of which is in quiet hours now: the first moment one of them opens."""
    quiet = [skip.channel for skip in routing.skipped if skip.reason == "quiet_hours"]
    zone = customer_zone(state, config)
    return min(next_open(config.contact_policy, channel, zone, now) for channel in quiet)


def deferral_timer(message: OutboxMessage, until: datetime) -> TimerEvent:
    """The timer that brings a deferred message back at ``until`` (named by message and time: idempotent)."""
    digest = hashlib.sha256(f"{message.shop_id}\n{message.message_id}\n{until.isoformat()}".encode()).hexdigest()
    return TimerEvent(
        shop_id=message.shop_id,
        customer=message.customer,
        journey=message.journey,
        instance=f"deferred:{message.message_id}",
        step=message.step,
        timer_id=f"deferred-{digest[:40]}",
        due_at=until,
        message=message,
    )
