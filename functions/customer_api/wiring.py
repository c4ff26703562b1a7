"""The support read API's composition root: its object graph on AWS, built once per execution environment."""

from __future__ import annotations

from dataclasses import dataclass

from functions.customer_api.settings import CustomerApiSettings
from shared.ports import Erasure, FanOuts, Inbox, Ledger
from shared.service.campaigns import CampaignDesk
from shared.service.catalog import CatalogDesk
from shared.service.churn import ChurnDesk
from shared.service.customers import CustomerReader
from shared.service.dates import DateSweeps
from shared.service.offers import OfferDesk
from shared.service.reports import JourneyReports
from shared.service.segments import SegmentDesk


@dataclass(frozen=True, slots=True)
class CustomerApiWiring:
    """The customer reader (keys, merge pointers), the send ledger, the offer codes, the catalogue, the segments and
    the campaigns, the date sweeps a shop runs again, the churn report and the journey report."""

    reader: CustomerReader
    ledger: Ledger
    offers: OfferDesk
    catalog: CatalogDesk
    segments: SegmentDesk
    campaigns: CampaignDesk
    dates: DateSweeps
    churn: ChurnDesk
    reports: JourneyReports
    inbox: Inbox
    erasure: Erasure


def on_aws(settings: CustomerApiSettings, fan_outs: FanOuts | None = None) -> CustomerApiWiring:
    """The customers and shops tables and the fan-out state machine, as the template names them, and the clock
    (``shared.clock``); ``fan_outs`` replaces the state machine (``nudge simulate --emulator moto`` runs it in
    virtual time)."""
    from shared import clock
    from shared.adapters.campaigns import CampaignStore
    from shared.adapters.catalog import CatalogStore, WaitingList
    from shared.adapters.channels.inbox import InboxStore
    from shared.adapters.customers import CustomerStore
    from shared.adapters.erasure import CustomerErasure
    from shared.adapters.fan_out import StepFunctionsFanOuts
    from shared.adapters.ledger import SendLedger
    from shared.adapters.offers import OfferStore
    from shared.adapters.recommendations import OrderAggregates
    from shared.adapters.reports import ReportCounters
    from shared.adapters.shops import ShopDirectory

    shops = ShopDirectory(settings.shops_table)
    customers, orders = CustomerStore(settings.customers_table), OrderAggregates(settings.customers_table)
    reader = CustomerReader(customers, shops, orders, clock.now)
    offers = OfferDesk(OfferStore(settings.customers_table), shops, clock.now)
    fan_outs = fan_outs if fan_outs is not None else StepFunctionsFanOuts(settings.fan_out_state_machine_arn)
    catalog = CatalogDesk(
        CatalogStore(settings.customers_table), clock.now, WaitingList(settings.customers_table), fan_outs, shops
    )
    segments = SegmentDesk(customers, shops, orders, clock.now)
    campaigns = CampaignDesk(CampaignStore(settings.customers_table), shops, fan_outs, clock.now)
    dates = DateSweeps(shops, fan_outs, clock.now)
    ledger = SendLedger(settings.customers_table)
    churn = ChurnDesk(orders, shops, clock.now)
    reports = JourneyReports(ReportCounters(settings.customers_table), clock.now)
    inbox = InboxStore(settings.customers_table)
    erasure = CustomerErasure(settings.customers_table)
    return CustomerApiWiring(
        reader,
        ledger,
        offers,
        catalog,
        segments,
        campaigns,
        dates,
        churn=churn,
        reports=reports,
        inbox=inbox,
        erasure=erasure,
    )


def from_environment() -> CustomerApiWiring:
    """The wiring a Lambda execution environment builds at its first invocation."""
    return on_aws(CustomerApiSettings.from_environment())
