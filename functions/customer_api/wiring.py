"""The support read API's composition root: its object graph on AWS, built once per execution environment."""

from __future__ import annotations

from dataclasses import dataclass

from functions.customer_api.settings import CustomerApiSettings
from shared.ports import Ledger
from shared.service.customers import CustomerReader


@dataclass(frozen=True, slots=True)
class CustomerApiWiring:
    """The customer reader (keys, merge pointers) and the send ledger."""

    reader: CustomerReader
    ledger: Ledger


def on_aws(settings: CustomerApiSettings) -> CustomerApiWiring:
    """The customers and shops tables, as the template names them."""
    from shared.adapters.customers import CustomerStore
    from shared.adapters.ledger import SendLedger
    from shared.adapters.shops import ShopDirectory

    reader = CustomerReader(CustomerStore(settings.customers_table), ShopDirectory(settings.shops_table))
    return CustomerApiWiring(reader, SendLedger(settings.customers_table))


def from_environment() -> CustomerApiWiring:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(CustomerApiSettings.from_environment())
