"""In-memory adapters of every port in :mod:`shared.ports`, with the AWS adapters' semantics (architecture §5).

What the fast backtest (``nudge simulate``, ``nudge bench``) and the service tests run instead of DynamoDB, SQS,
Step Functions and the channel services: conditional writes and versions, FIFO group order, deduplication ids,
visibility timeouts, redrive to a dead-letter queue after ``maxReceiveCount``, timers that fire once per id. Items
keep the AWS adapters' encodings (the compressed customer state, the ledger's attributes), so whatever the AWS
adapter would refuse to write or fail to read, these refuse and fail the same way. ``tests/parity`` replays one
history through moto and through these and requires the same output.

Not shipped to Lambda (the layer holds ``shared/`` only).
"""

from infra.memory.cloud import MemoryCloud
from infra.memory.queues import MemoryQueue, ReceivedMessage
from infra.memory.stores import (
    MemoryCampaigns,
    MemoryCatalog,
    MemoryContacts,
    MemoryCustomers,
    MemoryInbox,
    MemoryLedger,
    MemoryOffers,
    MemoryOrderAggregates,
    MemoryPhoneBook,
    MemoryShops,
    MemoryWaitingLists,
)
from infra.memory.transports import MemoryTransports

__all__ = [
    "MemoryCampaigns",
    "MemoryCatalog",
    "MemoryCloud",
    "MemoryContacts",
    "MemoryCustomers",
    "MemoryInbox",
    "MemoryLedger",
    "MemoryOffers",
    "MemoryOrderAggregates",
    "MemoryPhoneBook",
    "MemoryQueue",
    "MemoryShops",
    "MemoryTransports",
    "MemoryWaitingLists",
    "ReceivedMessage",
]
