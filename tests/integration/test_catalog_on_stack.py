"""The catalogue on the local stack (moto, provisioned from template.yaml): a shop's system posts products to
``POST /v1/catalog`` with its secret key and reads one back; a broken upload is refused whole with the product and
field named; the write key or no key gets nothing. The upload rules in detail are tests/unit/test_catalog.py."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

from tests.integration.test_journeys import unique

SECRET = "fast-secret-key"


def call(stack, method: str, path: str, body: Any = None, key: str | None = SECRET) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.base_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def product(product_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": product_id,
        "title": "Trail runner",
        "link": f"https://shop.example/p/{product_id}",
        "image_link": f"https://shop.example/p/{product_id}.jpg",
        "price": "89.00 EUR",
        "availability": "out_of_stock",
        **fields,
    }


def test_a_shop_posts_products_reads_one_back_and_hears_what_changed(local_stack):
    shoe, sock = unique("shoe"), unique("sock")
    status, answer = call(local_stack, "POST", "/v1/catalog", {"products": [product(shoe), product(sock)]})
    assert (status, answer["created"], answer["changes"]) == (200, 2, [])

    restock = {"products": [{"id": shoe, "availability": "in_stock", "quantity": 3}, product(sock)]}
    status, answer = call(local_stack, "POST", "/v1/catalog", restock)

    assert status == 200
    assert (answer["shop"], answer["updated"], answer["unchanged"]) == ("fast", 1, 1)
    assert answer["changes"] == [
        {"id": shoe, "field": "availability", "from": "out_of_stock", "to": "in_stock"},
        {"id": shoe, "field": "quantity", "from": None, "to": 3},
    ]
    status, view = call(local_stack, "GET", f"/v1/catalog/{shoe}")
    assert (status, view["availability"], view["quantity"], view["effective_price"]) == (
        200,
        "in_stock",
        3,
        "89.00 EUR",
    )
    assert call(local_stack, "GET", "/v1/catalog") == (200, {"shop": "fast"})


def test_a_broken_upload_is_refused_whole_and_a_missing_product_is_a_404(local_stack):
    good, bad = unique("good"), unique("bad")
    status, answer = call(
        local_stack, "POST", "/v1/catalog", {"products": [product(good), product(bad, price="cheap")]}
    )

    assert status == 400
    assert [error["field"] for error in answer["errors"]] == ["products.1.price"]
    assert call(local_stack, "GET", f"/v1/catalog/{good}")[0] == 404  # nothing was stored
    status, answer = call(local_stack, "POST", "/v1/catalog", None)
    assert (status, answer["errors"][0]["field"]) == (400, "body")  # no body at all


def test_only_the_shops_secret_key_reaches_its_catalogue(local_stack):
    shoe = unique("shoe")
    assert call(local_stack, "POST", "/v1/catalog", {"products": [product(shoe)]}, key=None)[0] == 401
    assert call(local_stack, "POST", "/v1/catalog", {"products": [product(shoe)]}, key="fast-write-key")[0] == 401
    assert call(local_stack, "GET", f"/v1/catalog/{shoe}")[0] == 404


def test_nudge_catalog_import_posts_a_merchant_center_feed_and_refuses_another_shops_key(local_stack):
    import io
    from pathlib import Path

    from infra.catalog_cli import import_feed

    feed = Path(__file__).resolve().parents[1] / "data" / "feeds" / "products.tsv"
    said = io.StringIO()

    assert import_feed(feed, "fast", local_stack.base_url, SECRET, out=said, batch=2) == 0
    status, view = call(local_stack, "GET", "/v1/catalog/sku-1")
    assert (status, view["title"], view["price"], view["availability"]) == (
        200,
        "Trail Runner 2",
        "89.90 EUR",
        "in_stock",
    )
    assert "3 received" in said.getvalue().replace(",", "")

    other = io.StringIO()
    assert import_feed(feed, "demo", local_stack.base_url, SECRET, out=other) == 2  # the key is the fast shop's
    assert "fast" in other.getvalue()
