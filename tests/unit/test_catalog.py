"""The catalogue's upload rules (``POST /v1/catalog``'s service on the in-memory adapter): Merchant Center formats,
all-or-nothing refusals naming product and field, partial updates of held products, and the changes the engine acts
on (availability, effective price, quantity) detected against what nudge held. The HTTP route on the local stack is
tests/integration/test_catalog_on_stack.py."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from infra.memory import MemoryCatalog
from shared.adapters.catalog import ProductConflictError
from shared.models.catalog import UPLOAD_LIMIT, Money, Product
from shared.service.catalog import CatalogDesk, CatalogUploadError, ProductNotFoundError
from tests.clocks import SetClock

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SHOP = "fast"


def mug(**fields):
    return {
        "id": "mug-1",
        "title": "Enamel mug",
        "link": "https://shop.example/mug",
        "image_link": "https://shop.example/mug.jpg",
        "price": "12.50 EUR",
        "availability": "in_stock",
        **fields,
    }


@pytest.fixture
def clock():
    return SetClock(T0)


@pytest.fixture
def store():
    return MemoryCatalog()


@pytest.fixture
def desk(store, clock):
    return CatalogDesk(store, clock)


def refusal(desk, body) -> list[dict]:
    with pytest.raises(CatalogUploadError) as refused:
        desk.upsert(SHOP, body)
    return refused.value.errors


def test_a_product_in_merchant_center_attributes_is_kept_and_read_back_with_its_price_now(desk):
    answer = desk.upsert(SHOP, {"products": [mug(brand="Falcon", related=["saucer-1"], quantity=7)]})

    assert answer == {"shop": SHOP, "received": 1, "created": 1, "updated": 0, "unchanged": 0, "changes": []}
    view = desk.product(SHOP, "mug-1")
    assert view["title"] == "Enamel mug"
    assert view["price"] == "12.50 EUR"
    assert view["effective_price"] == "12.50 EUR"
    assert view["related"] == ["saucer-1"]
    assert view["quantity"] == 7
    with pytest.raises(ProductNotFoundError, match="no product 'cup-9'"):
        desk.product(SHOP, "cup-9")
    with pytest.raises(ProductNotFoundError):
        desk.product("other-shop", "mug-1")  # a shop sees its own catalogue only


def test_the_feeds_other_spellings_are_taken_as_merchant_center_takes_them(desk):
    desk.upsert(SHOP, {"products": [mug(price={"value": "8", "currency": "usd"}, availability="Out Of Stock")]})

    view = desk.product(SHOP, "mug-1")
    assert (view["price"], view["availability"]) == ("8.00 USD", "out_of_stock")


def test_a_price_keeps_every_decimal_it_was_given_and_one_spelling_per_amount(desk):
    desk.upsert(SHOP, {"products": [mug(price="1.005 KWD", link="HTTPS://shop.example/mug")]})
    assert desk.product(SHOP, "mug-1")["price"] == "1.005 KWD"
    assert desk.upsert(SHOP, {"products": [{"id": "mug-1", "price": "1.0050 KWD"}]})["unchanged"] == 1
    answer = desk.upsert(SHOP, {"products": [{"id": "mug-1", "price": "1.004 KWD"}]})
    assert answer["changes"] == [{"id": "mug-1", "field": "price", "from": "1.005 KWD", "to": "1.004 KWD"}]
    desk.upsert(SHOP, {"products": [{"id": "mug-1", "price": "1500 JPY"}]})
    assert desk.product(SHOP, "mug-1")["price"] == "1500.00 JPY"


def test_a_broken_product_refuses_the_whole_upload_naming_each_product_and_field(desk):
    body = {
        "products": [
            mug(id="ok-1"),
            mug(id="bad-1", price="12,50 EUR"),
            mug(id="bad-2", availability="soon", link="ftp://shop.example/x", colour="red"),
        ]
    }
    errors = refusal(desk, body)

    fields = sorted(error["field"] for error in errors)
    assert fields == ["products.1.price", "products.2.availability", "products.2.colour", "products.2.link"]
    assert any("ISO 4217" in error["rule"] for error in errors)
    with pytest.raises(ProductNotFoundError):
        desk.product(SHOP, "ok-1")  # all or nothing: the good one was not stored either


def test_limits_refuse_an_empty_or_oversized_upload_and_a_product_twice(desk):
    assert refusal(desk, {"products": []})[0]["field"] == "products"
    too_many = {"products": [mug(id=f"p-{n}") for n in range(UPLOAD_LIMIT + 1)]}
    assert refusal(desk, too_many)[0]["field"] == "products"
    twice = refusal(desk, {"products": [mug(), mug(title="Other")]})
    assert twice == [{"field": "products.1.id", "rule": "each product once; 'mug-1' is also products.0"}]
    assert refusal(desk, {"products": [mug(title="x" * 151)]})[0]["field"] == "products.0.title"
    assert refusal(desk, {"products": [mug(quantity=-1)]})[0]["field"] == "products.0.quantity"


def test_a_new_product_needs_what_a_message_shows_but_a_held_one_takes_a_stock_update_alone(desk):
    errors = refusal(desk, {"products": [{"id": "lamp-1", "availability": "in_stock"}]})
    assert {error["field"] for error in errors} == {"products.0.title", "products.0.link", "products.0.price"}
    assert all(error["rule"] == "required for a product nudge does not hold yet" for error in errors)

    desk.upsert(SHOP, {"products": [mug(quantity=3)]})
    answer = desk.upsert(SHOP, {"products": [{"id": "mug-1", "availability": "out_of_stock", "quantity": 0}]})

    assert answer["updated"] == 1
    view = desk.product(SHOP, "mug-1")
    assert (view["title"], view["availability"], view["quantity"]) == ("Enamel mug", "out_of_stock", 0)
    removed = refusal(desk, {"products": [{"id": "mug-1", "title": None}]})
    assert removed == [{"field": "products.0.title", "rule": "may not be removed (a message needs it)"}]


def test_a_null_removes_an_optional_attribute(desk):
    desk.upsert(SHOP, {"products": [mug(sale_price="9.99 EUR", related=["a"])]})
    desk.upsert(SHOP, {"products": [{"id": "mug-1", "sale_price": None, "related": None}]})

    view = desk.product(SHOP, "mug-1")
    assert "sale_price" not in view
    assert view["related"] == []
    assert view["effective_price"] == "12.50 EUR"


def test_changes_the_engine_acts_on_are_reported_once_and_an_identical_upload_writes_nothing(desk, store, clock):
    desk.upsert(SHOP, {"products": [mug(availability="out_of_stock", quantity=0), mug(id="cup-1", title="Cup")]})
    before = dict(store.items)

    same = desk.upsert(SHOP, {"products": [mug(availability="out_of_stock", quantity=0)]})
    assert (same["unchanged"], same["changes"]) == (1, [])
    assert store.items == before  # nothing written

    clock.at += timedelta(hours=1)
    restock = desk.upsert(SHOP, {"products": [mug(availability="in stock", quantity=12, price="10.00 EUR")]})
    assert restock["updated"] == 1
    assert restock["changes"] == [
        {"id": "mug-1", "field": "availability", "from": "out_of_stock", "to": "in_stock"},
        {"id": "mug-1", "field": "price", "from": "12.50 EUR", "to": "10.00 EUR"},
        {"id": "mug-1", "field": "quantity", "from": 0, "to": 12},
    ]
    again = desk.upsert(SHOP, {"products": [{"id": "mug-1", "availability": "in_stock"}]})
    assert again["changes"] == []  # the same restock posted again is not a second restock

    # A title change is stored but is not a change the engine acts on.
    retitled = desk.upsert(SHOP, {"products": [{"id": "mug-1", "title": "Enamel mug, blue"}]})
    assert (retitled["updated"], retitled["changes"]) == (1, [])
    assert desk.product(SHOP, "mug-1")["title"] == "Enamel mug, blue"


def test_the_effective_price_follows_the_sales_dates():
    product = Product.model_validate(
        mug(
            sale_price="9.99 EUR",
            sale_price_effective_date="2026-12-05T00:00+0100/2026-12-07",
            updated_at=T0,
        )
    )
    assert product.effective_price(T0) == Money(amount=Decimal("12.50"), currency="EUR")  # not yet
    assert str(product.effective_price(datetime(2026, 12, 4, 23, 30, tzinfo=UTC))) == "9.99 EUR"  # 00:30 at +0100
    assert str(product.effective_price(datetime(2026, 12, 7, 23, 59, 30, tzinfo=UTC))) == "9.99 EUR"  # last minute
    assert str(product.effective_price(datetime(2026, 12, 8, 0, 0, tzinfo=UTC))) == "12.50 EUR"  # over
    always = Product.model_validate(mug(sale_price="9.99 EUR", updated_at=T0))
    assert str(always.effective_price(T0)) == "9.99 EUR"  # no dates: the sale price applies
    elsewhere = Product.model_validate(mug(sale_price="9.99 USD", updated_at=T0))
    assert str(elsewhere.effective_price(T0)) == "12.50 EUR"  # another currency is not a lower price


def test_a_sale_start_given_to_the_second_is_kept_to_the_second():
    product = Product.model_validate(
        mug(sale_price="9.99 EUR", sale_price_effective_date="2026-12-05T10:15:30Z/2026-12-07", updated_at=T0)
    )
    start = datetime(2026, 12, 5, 10, 15, 30, tzinfo=UTC)
    assert str(product.effective_price(start - timedelta(seconds=1))) == "12.50 EUR"  # not 30 s early
    assert str(product.effective_price(start)) == "9.99 EUR"
    shown = product.model_dump(mode="json")["sale_price_effective_date"]
    assert shown == "2026-12-05T10:15:30+00:00/2026-12-07T23:59:00+00:00"


def test_a_sale_period_that_ends_before_it_starts_is_refused(desk):
    errors = refusal(desk, {"products": [mug(sale_price_effective_date="2026-12-07/2026-12-05")]})
    assert errors[0]["field"] == "products.0.sale_price_effective_date"
    assert "must end after it starts" in errors[0]["rule"]


class RacingCatalog(MemoryCatalog):
    """A catalogue where ``rival`` (another upload) runs once, between this upload's read and its write."""

    rival = None

    def put(self, shop_id, product, version):
        rival, self.rival = self.rival, None
        if rival is not None:
            rival()
        super().put(shop_id, product, version)


def test_an_upload_that_loses_a_race_reads_again_and_compares_with_what_the_other_wrote(clock):
    store = RacingCatalog()
    desk = CatalogDesk(store, clock)
    desk.upsert(SHOP, {"products": [mug(availability="out_of_stock")]})
    restock = {"products": [{"id": "mug-1", "availability": "in_stock"}]}
    rival_answers = []
    store.rival = lambda: rival_answers.append(CatalogDesk(store, clock).upsert(SHOP, restock))

    answer = desk.upsert(SHOP, {"products": [{"id": "mug-1", "availability": "in_stock", "quantity": 4}]})

    # The restock was the rival's, reported once by it; this upload only changed the quantity, and says so.
    assert [change["field"] for change in rival_answers[0]["changes"]] == ["availability"]
    assert answer["changes"] == [{"id": "mug-1", "field": "quantity", "from": None, "to": 4}]
    view = desk.product(SHOP, "mug-1")
    assert (view["availability"], view["quantity"]) == ("in_stock", 4)


def test_a_write_on_a_stale_version_is_refused_by_the_store(store):
    product = Product.model_validate(mug(updated_at=T0))
    store.put(SHOP, product, 0)
    with pytest.raises(ProductConflictError):
        store.put(SHOP, product, 0)
    store.put(SHOP, product, 1)
    assert store.get(SHOP, ["mug-1"])["mug-1"].version == 2
