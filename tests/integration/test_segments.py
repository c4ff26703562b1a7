"""Segments (IN3, IN8) through the API: ``GET /v1/segments/{name}/members`` pages through a shop's customers and
lists each member once, as of the moment of the request; bad parameters are refused naming the field.

On template.yaml in memory (``tests/memory.py``); ``nudge segment export`` against the local stack is in
test_segments_on_stack.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.models.config import ShopConfig
from tests.factories import T0, consent, identify, shop_config, track
from tests.integration.test_journeys import unique
from tests.memory import MemoryStack

WRITE, SECRET = "demo-write-key", "demo-secret-key"
SEGMENTS = {
    "dach_buyers": {"all": [{"trait": {"name": "country", "in": ["DE", "AT", "CH"]}}, {"orders": {"gte": 1}}]},
    "newsletter": {"consent": "email"},
    "active_week": {"active": {"within": "P7D"}},
    "at_risk": {"lifecycle": ["at_risk", "lapsed"]},
}


def shop() -> ShopConfig:
    base = shop_config({})
    return ShopConfig.model_validate({**base.model_dump(mode="json", exclude_unset=True), "segments": SEGMENTS})


@pytest.fixture
def stack(memory_stack) -> MemoryStack:
    return memory_stack([shop()])


def post(stack: MemoryStack, *messages: dict[str, Any]) -> None:
    status, answer = stack.post("/v1/batch", {"batch": list(messages)}, key=WRITE)
    assert status == 200, answer
    stack.settle()


def members(stack: MemoryStack, segment: str, limit: int = 1000) -> tuple[list[str], int]:
    """Every member's id, following the cursors, and how many pages that took."""
    found: list[str] = []
    after, pages = None, 0
    while True:
        query = f"?limit={limit}" + (f"&after={after}" if after else "")
        status, page = stack.call("GET", f"/v1/segments/{segment}/members{query}", key=SECRET)
        assert status == 200, page
        found += [member["customer_id"] for member in page["members"]]
        pages += 1
        after = page["next"]
        if after is None:
            return found, pages


def customer(user: str, country: str, *, orders: int = 0, email: bool = False) -> list[dict[str, Any]]:
    messages = [identify({"country": country, "email": f"{user}@example.com"}, userId=user)]
    if email:
        messages.append(consent("email", userId=user))
    messages += [track("Order Completed", {"order_id": unique("o"), "total": 20}, userId=user) for _ in range(orders)]
    return messages


def test_members_are_listed_once_across_pages_and_no_one_else(stack):
    dach = [unique("de") for _ in range(30)]
    post(stack, *(m for user in dach for m in customer(user, "DE", orders=1, email=True)))
    others = [unique("fr") for _ in range(25)]
    post(stack, *(m for user in others for m in customer(user, "FR", orders=1)))
    browsers = [unique("at") for _ in range(10)]
    post(stack, *(m for user in browsers for m in customer(user, "at")))  # in Austria, but no order

    found, pages = members(stack, "dach_buyers", limit=7)

    assert sorted(found) == sorted(dach)
    assert pages >= 65 // 7  # a page reads at most 7 customers
    assert sorted(members(stack, "newsletter")[0]) == sorted(dach)


def test_membership_follows_the_clock_without_anything_written(stack):
    user = unique("lately")
    post(stack, *customer(user, "DE", orders=1))
    assert user in members(stack, "active_week")[0] and user not in members(stack, "at_risk")[0]

    stack.clock.at = T0 + timedelta(days=8)
    assert user not in members(stack, "active_week")[0]
    stack.clock.at = T0 + timedelta(days=91)
    assert user in members(stack, "at_risk")[0]


def test_a_member_carries_the_addresses_an_audience_matches_on(stack):
    user = unique("anna")
    post(stack, *customer(user, "CH", orders=2), identify({"phone": "+41 79 123 45 67"}, userId=user))
    status, page = stack.call("GET", "/v1/segments/dach_buyers/members", key=SECRET)
    assert status == 200
    [member] = [m for m in page["members"] if m["customer_id"] == user]
    assert member == {"customer_id": user, "known": True, "email": f"{user}@example.com", "phone": "+41 79 123 45 67"}


@pytest.mark.parametrize(
    ("query", "field"),
    [("?limit=0", "limit"), ("?limit=lots", "limit"), ("?limit=5001", "limit"), ("?after=not-a-cursor", "after")],
)
def test_bad_paging_is_refused_naming_the_parameter(stack, query, field):
    status, answer = stack.call("GET", f"/v1/segments/newsletter/members{query}", key=SECRET)
    assert status == 400
    assert answer["errors"][0]["field"] == field


def test_an_unknown_segment_is_404_and_the_write_key_reads_nothing(stack):
    status, answer = stack.call("GET", "/v1/segments/vips/members", key=SECRET)
    assert status == 404 and "dach_buyers" in answer["message"]  # names the segments the shop has
    assert stack.call("GET", "/v1/segments/newsletter/members", key=WRITE)[0] == 401


def journey_log(stack: MemoryStack, user: str) -> list[tuple[str, str, str]]:
    status, body = stack.call("GET", f"/v1/customers/{user}/messages", key=SECRET)
    assert status == 200, body
    return [(entry["journey"], entry["outcome"], entry["reason"]) for entry in body["journey_log"]]


def test_a_journey_whose_entry_names_a_segment_takes_only_its_members(memory_stack):
    document = shop_config({}).model_dump(mode="json", exclude_unset=True)
    document["channels"]["email"] = {"from_address": "hello@shop.example"}
    document["journeys"] = {"post_purchase": {"entry": {"segment": "big_spenders"}}}
    document["segments"] = {"big_spenders": {"rfm": {"monetary": {"gte": 5}}}}
    stack = memory_stack([ShopConfig.model_validate(document)])
    # The shop's buyers so far: twenty, spending 10 to 200
    earlier = [order(unique("earlier"), 10 * (n + 1)) for n in range(20)]
    post(stack, *earlier)
    stack.clock.at = T0 + timedelta(minutes=6)  # an updater rereads the shop's distribution every 5 minutes

    big, small = unique("big"), unique("small")
    post(stack, *customer(big, "DE", email=True), order(big, 900))
    post(stack, *customer(small, "DE", email=True), order(small, 15))

    assert journey_log(stack, big) == [("post_purchase", "entered", "Order Completed")]
    assert journey_log(stack, small) == [("post_purchase", "not_entered", "not in segment big_spenders")]
    stack.run_timers(until=stack.clock() + timedelta(minutes=10))
    assert [m.to for m in stack.sent("email")] == [f"{big}@example.com"]  # the thank-you, to the big spender only


def order(user: str, total: float) -> dict[str, Any]:
    return track("Order Completed", {"order_id": unique("o"), "total": total}, userId=user)


def test_a_journey_cannot_name_a_segment_the_shop_does_not_have():
    with pytest.raises(ValueError, match=r"journeys.post_purchase.entry.segment: no segment 'vips'"):
        shop_config({"post_purchase": {"entry": {"segment": "vips"}}})


def test_segments_on_who_completed_a_journey_and_who_ordered_while_in_it(memory_stack):
    from tests.factories import boots, shopper
    from tests.memory import FAST_CONFIG

    document = ShopConfig.from_yaml_file(FAST_CONFIG).model_dump(mode="json", exclude_unset=True)
    document["segments"] = {
        "cart_converted": {"journey": {"name": "cart_abandonment", "outcome": "converted"}},
        "cart_completed": {"journey": {"name": "cart_abandonment", "outcome": "completed", "within": "P1D"}},
        "cart_entered": {"journey": {"name": "cart_abandonment"}},
    }
    stack = memory_stack([ShopConfig.model_validate(document)])
    write = "fast-write-key"
    bought, ignored, browsed = unique("bought"), unique("ignored"), unique("browsed")
    for user in (bought, ignored):
        status, _ = stack.post(
            "/v1/batch", {"batch": [*shopper(user, "email"), track("Product Added", boots(), userId=user)]}, key=write
        )
        assert status == 200
    stack.post("/v1/batch", {"batch": shopper(browsed, "email")}, key=write)
    stack.settle()
    stack.run_timers(until=stack.clock() + timedelta(seconds=3))  # the reminder went out to both
    order = track("Order Completed", {"order_id": unique("o"), "total": 99, "cart_id": "c1"}, userId=bought)
    assert stack.post("/v1/track", order, key=write)[0] == 200
    stack.settle()
    stack.run_timers(until=stack.clock() + timedelta(seconds=5))  # the other one gets the offer too: completed

    def listed(segment: str) -> set[str]:
        status, page = stack.call("GET", f"/v1/segments/{segment}/members", key="fast-secret-key")
        assert status == 200, page
        return {member["customer_id"] for member in page["members"]}

    assert listed("cart_entered") >= {bought, ignored} and browsed not in listed("cart_entered")
    assert bought in listed("cart_converted") and not {ignored, browsed} & listed("cart_converted")
    assert ignored in listed("cart_completed") and not {bought, browsed} & listed("cart_completed")
    stack.clock.at += timedelta(days=2)
    assert ignored not in listed("cart_completed")  # completed, but not within a day
