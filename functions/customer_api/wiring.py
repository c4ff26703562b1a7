"""The support read API's composition root: its object graph on AWS, built once per execution environment."""

from __future__ import annotations

from dataclasses import dataclass

from functions.customer_api.settings import CustomerApiSettings
from shared.ports import Ledger
from shared.service.catalog import CatalogDesk
from shared.service.customers import CustomerReader
from shared.service.offers import OfferDesk


@dataclass(frozen=True, slots=True)
class CustomerApiWiring:
    """The customer reader (keys, merge pointers), the send ledger, the offer codes and the catalogue."""

    reader: CustomerReader
    ledger: Ledger
    offers: OfferDesk
    catalog: CatalogDesk


def on_aws(settings: CustomerApiSettings) -> CustomerApiWiring:
    """The customers and shops tables, as the template names them, and the wall clock."""
    from shared import clock
    from shared.adapters.catalog import CatalogStore
    from shared.adapters.customers import CustomerStore
    from shared.adapters.ledger import SendLedger
    from shared.adapters.offers import OfferStore
    from shared.adapters.shops import ShopDirectory

    shops = ShopDirectory(settings.shops_table)
    reader = CustomerReader(CustomerStore(settings.customers_table), shops)
    offers = OfferDesk(OfferStore(settings.customers_table), shops, clock.now)
    catalog = CatalogDesk(CatalogStore(settings.customers_table), clock.now)
    return CustomerApiWiring(reader, SendLedger(settings.customers_table), offers, catalog)


def from_environment() -> CustomerApiWiring:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(CustomerApiSettings.from_environment())
