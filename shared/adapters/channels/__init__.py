"""Channel providers: one adapter per channel behind one port, ``ChannelProvider``.

``send`` answers a Receipt or raises ``PermanentDeliveryError`` (the address will never work: the router tries the
next channel) or ``TransientDeliveryError`` (throttling, an outage or a configuration error: retry, then the
dead-letter queue). Reasons are short and PII-free. Each adapter builds its boto3 request in a pure function and
reads AWS errors in one function (``push_error``, ``email_error``, ``sms_error``, ``whatsapp_error``,
``inbox_error``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared import clock as wall_clock
from shared.lazy import lazy_names

if TYPE_CHECKING:
    from shared.adapters.channels.email import EmailProvider
    from shared.adapters.channels.inbox import InAppProvider, InboxStore
    from shared.adapters.channels.push import PushProvider
    from shared.adapters.channels.sms import SmsProvider
    from shared.adapters.channels.whatsapp import WhatsAppProvider
    from shared.models.channels import SendContext
    from shared.models.config import Channel, ChannelSettings
    from shared.models.messages import Address, Content, Receipt

# Each adapter loads when it is first named, so a function that uses one channel (the public API's inbox, the
# feedback function's push endpoints) loads that one only.
_MODULES = {
    "EmailProvider": "shared.adapters.channels.email",
    "InAppProvider": "shared.adapters.channels.inbox",
    "InboxStore": "shared.adapters.channels.inbox",
    "PushProvider": "shared.adapters.channels.push",
    "SmsProvider": "shared.adapters.channels.sms",
    "WhatsAppProvider": "shared.adapters.channels.whatsapp",
    "SendContext": "shared.models.channels",
}

__getattr__ = lazy_names(__name__, _MODULES)


if TYPE_CHECKING:
    from shared.ports import Inbox

__all__ = [
    "ChannelProvider",
    "EmailProvider",
    "InAppProvider",
    "InboxStore",
    "PushProvider",
    "SendContext",
    "SmsProvider",
    "WhatsAppProvider",
    "providers_for",
]


class ChannelProvider(Protocol):
    """Delivers one rendered message to one address of its channel."""

    @property
    def channel(self) -> Channel:
        """The channel this provider delivers on."""
        ...

    def send(
        self, address: Address, content: Content, message_id: str, *, context: SendContext | None = None
    ) -> Receipt:
        """Deliver ``content`` to ``address``; ``message_id`` is nudge's deterministic id, carried for feedback.

        ``context`` is what the router knows about this message (transactional, unsubscribe URL, WhatsApp window).
        Raises PermanentDeliveryError or TransientDeliveryError.
        """
        ...


def providers_for(
    shop_id: str,
    settings: ChannelSettings,
    *,
    inbox: Inbox | None = None,
    clock: Callable[[], datetime] = wall_clock.now,
    clients: Mapping[Channel, Any] | None = None,
) -> dict[Channel, ChannelProvider]:
    """The providers of every channel the shop has configured (in-app: whenever an inbox store is given).

    Providers share the process-wide AWS clients, so building them per message is cheap; ``clients`` gives some
    channels another client (the in-memory transports of the fast backtest).
    """
    from shared.adapters.channels.email import EmailProvider
    from shared.adapters.channels.inbox import InAppProvider
    from shared.adapters.channels.push import PushProvider
    from shared.adapters.channels.sms import SmsProvider
    from shared.adapters.channels.whatsapp import WhatsAppProvider
    from shared.models.channels import InAppSettings

    clients = clients or {}
    providers: dict[Channel, ChannelProvider] = {}
    if settings.push:
        providers["push"] = PushProvider(settings.push, clients.get("push"))
    if settings.email:
        providers["email"] = EmailProvider(settings.email, clients.get("email"))
    if settings.sms:
        providers["sms"] = SmsProvider(settings.sms, clients.get("sms"))
    if settings.whatsapp:
        providers["whatsapp"] = WhatsAppProvider(settings.whatsapp, clients.get("whatsapp"))
    if inbox is not None:
        retention = (settings.in_app or InAppSettings()).retention
        providers["in_app"] = InAppProvider(inbox, shop_id, retention=retention, clock=clock)
    return providers
