"""A customer state is written only if it loads again, and one that does not load says which record and why."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime

import pytest

from shared.adapters.customers import StoredCustomer, UnloadableStateError, decode_state, encode_state, put_request
from shared.models.state import Cart, CartItem, CustomerState, Orders

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_a_state_with_an_infinite_revenue_is_never_written():
    # Given what price 1e308 x quantity 2 made of a customer before amounts had a bound
    state = CustomerState(user_id="u1", orders=Orders(count=1, revenue=float("inf")))

    with pytest.raises(UnloadableStateError) as refused:
        put_request(StoredCustomer("demo", "u:u1", version=3), state, T0)

    assert "orders.revenue" in str(refused.value) and "would not load again" in str(refused.value)


def test_the_largest_accepted_values_are_written_and_load_again():
    cart = Cart(items=[CartItem(product_id=f"p{i}", price=1e9, quantity=100_000) for i in range(2500)], updated_at=T0)
    state = CustomerState(user_id="u1", carts={"c1": cart}, orders=Orders(count=1, revenue=1e9), traits={"x": 1.7e308})

    document = encode_state(state)

    assert decode_state({"pk": {"S": "demo#u:u1"}, "docz": {"B": document}}) == state
    assert state.carts["c1"].value == 2.5e17


def test_a_stored_state_that_does_not_load_names_the_record_and_the_field():
    # Given the item the old updater wrote: the infinite revenue serialized as null
    broken = json.dumps({"user_id": "u1", "orders": {"count": 1, "revenue": None}}).encode()
    item = {"pk": {"S": "demo#u:u1"}, "docz": {"B": zlib.compress(broken)}}

    with pytest.raises(UnloadableStateError) as refused:
        decode_state(item)

    assert "demo#u:u1" in str(refused.value) and "orders.revenue" in str(refused.value)
    with pytest.raises(UnloadableStateError, match="not zlib data"):
        decode_state({"pk": {"S": "demo#u:u1"}, "docz": {"B": b"garbage"}})
