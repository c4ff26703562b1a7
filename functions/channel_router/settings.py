"""Settings of the channel router function."""

from shared.settings import FunctionSettings


class ChannelRouterSettings(FunctionSettings):
    customers_table: str
    shops_table: str
    outbox_queue_url: str
    outbox_dlq_url: str
    events_queue_url: str
    timer_state_machine_arn: str
    outbox_max_receives: int = 5
    public_base_url: str
    signing_secret_arn: str
