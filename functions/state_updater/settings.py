"""Settings of the state-updater function."""

from shared.settings import FunctionSettings


class StateUpdaterSettings(FunctionSettings):
    customers_table: str
    shops_table: str
    events_dlq_url: str
    outbox_queue_url: str
    timer_state_machine_arn: str
    events_max_receives: int = 5  # the events queue's redrive maxReceiveCount
