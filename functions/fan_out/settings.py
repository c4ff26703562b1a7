"""Settings of the fan-out function."""

from shared.settings import FunctionSettings


class FanOutSettings(FunctionSettings):
    customers_table: str
    shops_table: str
    events_queue_url: str
    fan_out_state_machine_arn: str
