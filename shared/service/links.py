"""Links nudge puts into messages and the keys that sign them.

The unsubscribe link of every marketing email carries a signed token (``shared.core.tokens``), so the one-click POST
(which arrives without cookies or auth) needs no lookup and cannot be forged. The signing key is a Secrets Manager
secret the template creates; it is read through Powertools Parameters and cached for five minutes by the
``SigningSecret`` of each function's composition root.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from shared.core.tokens import issue_unsubscribe_token
from shared.models.vocabulary import Channel

if TYPE_CHECKING:
    from shared.models.config import ShopConfig
    from shared.models.messages import OutboxMessage

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

_SECRET_MAX_AGE = 300


def keys_of(value: str | bytes) -> list[bytes]:
    """The signing keys in a secret's value, newest first: one key per line (rotation adds a new first line)."""
    text = value if isinstance(value, str) else bytes(value).decode()
    return [line.strip().encode() for line in text.splitlines() if line.strip()]


class SigningSecret:
    """The signing keys of one Secrets Manager secret, cached five minutes (its own Powertools provider, made at
    first use, so each composition root has its own cache). Call it for the keys, newest first."""

    def __init__(self, secret_arn: str) -> None:
        self._arn = secret_arn
        self._provider: SecretsProvider | None = None

    def __call__(self) -> list[bytes]:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            from shared import aws

            self._provider = SecretsProvider(boto3_client=aws.client("secretsmanager"))
        value = self._provider.get(self._arn, max_age=_SECRET_MAX_AGE)
        assert isinstance(value, str | bytes), self._arn
        return keys_of(value)


def unsubscribe_path(token: str) -> str:
    return f"/u/{token}"


class Links:
    """Builds the per-message links for one deployment (its public base URL and signing secret)."""

    def __init__(self, public_base_url: str, signing_keys: Callable[[], Sequence[bytes]]) -> None:
        self._base = public_base_url.rstrip("/")
        self._signing_keys = signing_keys

    @property
    def signing_keys(self) -> Callable[[], Sequence[bytes]]:
        """The deployment's signing keys, newest first (webhook keys derive from them too)."""
        return self._signing_keys

    def for_message(self, message: OutboxMessage, config: ShopConfig, channel: Channel) -> Mapping[str, str]:
        """Template context additions for ``message`` on ``channel``: the unsubscribe URL of a marketing email."""
        if channel != "email":
            return {}
        key = self._signing_keys()[0]
        token = issue_unsubscribe_token(key, message.shop_id, message.customer, "email")
        # The same signed token names the customer in bounce and complaint notifications (X-Nudge-Ref header).
        links = {"feedback_ref": token}
        if not message.transactional:
            links["unsubscribe_url"] = self._base + unsubscribe_path(token)
        return links
