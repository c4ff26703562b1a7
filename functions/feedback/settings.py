"""Settings of the delivery feedback function."""

from shared.settings import FunctionSettings


class FeedbackSettings(FunctionSettings):
    customers_table: str
    events_queue_url: str
    signing_secret_arn: str
