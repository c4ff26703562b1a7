"""Links nudge puts into messages and the keys that sign them.

The unsubscribe link of every marketing email carries a signed token (``shared.core.tokens``), so the one-click POST
(which arrives without cookies or auth) needs no lookup and cannot be forged. The signing key is a Secrets Manager
secret the template creates; it is read through Powertools Parameters and cached for five minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities import parameters

from shared.core.tokens import issue_unsubscribe_token
from shared.models.vocabulary import Channel

if TYPE_CHECKING:
    from shared.models.config import ShopConfig
    from shared.models.messages import OutboxMessage

_SECRET_MAX_AGE = 300


def signing_keys(secret_arn: str) -> list[bytes]:
    """The signing keys, newest first: the secret's value, one key per line (rotation appends a new first line)."""
    value = parameters.get_secret(secret_arn, max_age=_SECRET_MAX_AGE)
    text = value if isinstance(value, str) else bytes(value).decode()
    return [line.strip().encode() for line in text.splitlines() if line.strip()]


def unsubscribe_path(token: str) -> str:
    return f"/u/{token}"


class Links:
    """Builds the per-message links for one deployment (its public base URL and signing secret)."""

    def __init__(self, public_base_url: str, secret_arn: str) -> None:
        self._base = public_base_url.rstrip("/")
        self._secret_arn = secret_arn

    def for_message(self, message: OutboxMessage, config: ShopConfig, channel: Channel) -> Mapping[str, Any]:
        """Template context additions for ``message`` on ``channel``: the unsubscribe URL of a marketing email."""
        if channel != "email":
            return {}
        key = signing_keys(self._secret_arn)[0]
        token = issue_unsubscribe_token(key, message.shop_id, message.customer, "email")
        # The same signed token names the customer in bounce and complaint notifications (X-Nudge-Ref header).
        links: dict[str, Any] = {"feedback_ref": token}
        if not message.transactional:
            links["unsubscribe_url"] = self._base + unsubscribe_path(token)
        return links
