"""Merge pointers: one way to follow ``merged_into`` to the live record, with one hop limit for every reader."""

from __future__ import annotations

import itertools

import pytest

from shared.adapters.customers import MAX_MERGE_HOPS, CustomerStore, MergeChainError, StoredCustomer
from shared.models.state import CustomerState


class _Records(CustomerStore):
    """The store's pointer logic over records in memory (``load`` is the only read it makes)."""

    def __init__(self, records: list[StoredCustomer]) -> None:
        super().__init__("customers")
        self.records = {record.key: record for record in records}
        self.loads = 0

    def load(self, shop_id: str, key: str) -> StoredCustomer:
        self.loads += 1
        return self.records.get(key, StoredCustomer(shop_id=shop_id, key=key))


def chain(hops: int) -> _Records:
    """``a:0`` -> ``a:1`` -> ... -> ``u:live`` in ``hops`` pointers."""
    keys = [f"a:{i}" for i in range(hops)] + ["u:live"]
    records = [StoredCustomer("demo", key, merged_into=target) for key, target in itertools.pairwise(keys)]
    live = StoredCustomer("demo", "u:live", state=CustomerState(user_id="live"), version=3)
    return _Records([*records, live])


def test_a_record_without_a_pointer_is_its_own_live_record_and_costs_no_read():
    store = chain(0)
    record = store.records["u:live"]
    assert store.follow(record) is record and store.loads == 0


@pytest.mark.parametrize("hops", range(1, MAX_MERGE_HOPS + 1))
def test_pointers_lead_to_the_live_record_within_the_hop_limit(hops):
    store = chain(hops)
    assert store.follow(store.records["a:0"]).key == "u:live"
    assert store.loads == hops


def test_a_longer_chain_is_refused_after_the_hop_limit():
    store = chain(MAX_MERGE_HOPS + 1)
    with pytest.raises(MergeChainError, match="longer than"):
        store.follow(store.records["a:0"])
    assert store.loads == MAX_MERGE_HOPS


def test_a_pointer_cycle_ends_at_the_hop_limit():
    store = _Records(
        [StoredCustomer("demo", "a:x", merged_into="a:y"), StoredCustomer("demo", "a:y", merged_into="a:x")]
    )
    with pytest.raises(MergeChainError):
        store.follow(store.records["a:x"])
