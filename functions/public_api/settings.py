"""Settings of the public API function (one-click unsubscribe, in-app inbox)."""

from shared.settings import FunctionSettings


class PublicApiSettings(FunctionSettings):
    customers_table: str
    shops_table: str
    events_queue_url: str
    signing_secret_arn: str
