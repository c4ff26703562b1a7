"""What every channel adapter needs to read a failed AWS call before translating it into a delivery error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

# Everything an AWS call can raise that is about the call, not about our code: service errors, and the network
# failing before an answer came (connect/read timeouts, a closed connection) after botocore's own retries.
AWS_CALL_ERRORS: tuple[type[Exception], ...] = (ClientError, ConnectionError, HTTPClientError)


@dataclass(frozen=True, slots=True)
class AwsFailure:
    """A failed AWS call, reduced to what decides permanent vs transient: never the message text."""

    code: str | None
    status: int
    reason: str | None = None
    fields: tuple[str, ...] = ()

    @classmethod
    def of(cls, error: Exception) -> AwsFailure:
        """Read ``error`` (one of AWS_CALL_ERRORS); a network failure has no code and counts as a 503."""
        if not isinstance(error, ClientError):
            return cls(code=None, status=503)
        response: Any = error.response
        fields = tuple(str(field.get("Name", "")) for field in response.get("Fields", []) or [])
        return cls(
            code=str(response.get("Error", {}).get("Code", "")) or None,
            status=int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0),
            reason=response.get("Reason"),
            fields=fields,
        )

    @property
    def server_side(self) -> bool:
        """AWS (or the network) failed, or asked us to slow down: worth retrying as it is."""
        return self.code is None or self.status >= 500 or self.status == 429


class AwsProvider[SettingsT]:
    """The base of the AWS channel providers: the shop's settings for the channel, and the service's client, made on
    first use from ``client_factory`` unless one is passed (tests pass stubbed clients)."""

    client_factory: Callable[[], Any]

    def __init__(self, settings: SettingsT, client: Any | None = None) -> None:
        self.settings = settings
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = type(self).client_factory()
        return self._client
