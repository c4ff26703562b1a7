"""Merge pointers: one way to follow ``merged_into`` to the live record, with one hop limit for every reader."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from infra.memory import MemoryCustomers
from shared.adapters.customers import MAX_MERGE_HOPS, MergeChainError, StoredCustomer, put_request
from shared.models.state import CustomerState

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class CountedRecords(MemoryCustomers):
    """Customer records in memory (as the customers table holds them), counting the loads that follow pointers."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    def load(self, shop_id: str, key: str) -> StoredCustomer:
        self.loads += 1
        return super().load(shop_id, key)

    def lies(self, key: str, state: CustomerState | None = None, merged_into: str | None = None) -> StoredCustomer:
        """The record ``key`` as it lies in the table (a pointer when ``merged_into``); what a reader holds of it."""
        item = put_request(StoredCustomer("demo", key), state, T0, merged_into=merged_into)["Item"]
        self.items[item["pk"]["S"]] = item
        return StoredCustomer("demo", key, state=state, version=1, merged_into=merged_into)


def chain(hops: int) -> tuple[CountedRecords, StoredCustomer]:
    """``a:0`` -> ``a:1`` -> ... -> ``u:live`` in ``hops`` pointers; the records and the first as read."""
    records = CountedRecords()
    keys = [f"a:{i}" for i in range(hops)] + ["u:live"]
    first = records.lies("u:live", CustomerState(user_id="live"))
    for key, target in reversed(list(itertools.pairwise(keys))):
        first = records.lies(key, merged_into=target)
    return records, first


def test_a_record_without_a_pointer_is_its_own_live_record_and_costs_no_read():
    records, live = chain(0)
    assert records.follow(live) is live and records.loads == 0


@pytest.mark.parametrize("hops", range(1, MAX_MERGE_HOPS + 1))
def test_pointers_lead_to_the_live_record_within_the_hop_limit(hops):
    records, first = chain(hops)
    assert records.follow(first).key == "u:live"
    assert records.loads == hops


def test_a_longer_chain_is_refused_after_the_hop_limit():
    records, first = chain(MAX_MERGE_HOPS + 1)
    with pytest.raises(MergeChainError, match="longer than"):
        records.follow(first)
    assert records.loads == MAX_MERGE_HOPS


def test_a_pointer_cycle_ends_at_the_hop_limit():
    records = CountedRecords()
    first = records.lies("a:x", merged_into="a:y")
    records.lies("a:y", merged_into="a:x")
    with pytest.raises(MergeChainError):
        records.follow(first)
