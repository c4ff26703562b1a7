"""Settings of the customer read API function."""

from shared.settings import FunctionSettings


class CustomerApiSettings(FunctionSettings):
    customers_table: str
    shops_table: str
    fan_out_state_machine_arn: str
