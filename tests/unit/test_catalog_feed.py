"""``nudge catalog import``: a Merchant Center feed (text, RSS 2.0, Atom) read into the products nudge keeps, every
broken row named before anything is posted, and the import's batches, progress and refusals.

The HTTP side runs against a small stand-in of ``/v1/catalog`` (``http.server`` in a thread, answering as the API
does); the real API is tested end-to-end with the customer API's own tests.
"""

import io
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from infra.catalog_cli import import_feed
from infra.catalog_feed import FeedError, read_feed
from infra.cli import main

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
TEXT, RSS, ATOM = FEEDS / "products.tsv", FEEDS / "products.rss.xml", FEEDS / "products.atom.xml"

TRAIL_RUNNER = {
    "id": "sku-1",
    "title": "Trail Runner 2",
    "description": 'A light trail shoe.\nWith a "rock plate".',
    "link": "https://shop.example/p/sku-1",
    "image_link": "https://shop.example/i/sku-1.jpg",
    "price": "89.90 EUR",
    "sale_price": "79.90 EUR",
    "sale_price_effective_date": "2026-12-01T00:00+0100/2026-12-08T00:00+0100",
    "availability": "in_stock",
    "product_type": "Shoes > Trail",
    "brand": "Nordpfad",
    "item_group_id": "trail-runner-2",
    "quantity": 12,
    "related": ["sku-2", "sku-3"],
}
SOCKS = {
    "id": "sku-2",
    "title": 'Socks "merino",\t3 pairs',
    "link": "https://shop.example/p/sku-2",
    "price": "19.00 EUR",
    "availability": "out_of_stock",
    "brand": "Nordpfad",
    "quantity": 0,
}
GAITERS = {
    "id": "sku-3",
    "title": "Gaiters",
    "description": "Keep the scree out.",
    "link": "https://shop.example/p/sku-3",
    "price": "24.50 EUR",
    "availability": "preorder",
    "related": ["sku-1"],
}


def edited(tmp_path: Path, feed: Path, *replacements: tuple[str, str], name: str | None = None) -> Path:
    """A copy of a fixture feed with each (old, new) replaced once."""
    text = feed.read_bytes().decode("utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / (name or feed.name)
    path.write_bytes(text.encode("utf-8"))
    return path


def refused(path: Path) -> FeedError:
    with pytest.raises(FeedError) as caught:
        read_feed(path)
    return caught.value


# --- reading -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", [TEXT, RSS, ATOM], ids=["text", "rss", "atom"])
def test_a_text_an_rss_and_an_atom_feed_give_the_same_products(feed: Path) -> None:
    products = read_feed(feed).products

    assert products == [TRAIL_RUNNER, SOCKS, GAITERS]


def test_the_text_header_may_carry_a_bom_g_prefixes_spaces_and_capitals() -> None:
    # Given the fixture's header: a UTF-8 byte order mark, "g:id", " Title ", "G:Description", "Availability"
    assert TEXT.read_bytes().startswith(b"\xef\xbb\xbfg:id\t Title \tG:Description\t")

    feed = read_feed(TEXT)

    assert feed.format == "text"
    assert [product["id"] for product in feed.products] == ["sku-1", "sku-2", "sku-3"]
    assert feed.products[0]["title"] == "Trail Runner 2" and feed.products[0]["availability"] == "in_stock"


@pytest.mark.parametrize(
    ("feed", "ignored"),
    [
        (TEXT, ["gtin", "condition", "shipping"]),
        (RSS, ["gtin", "condition", "shipping"]),
        (ATOM, ["gtin", "condition", "shipping", "atom:id", "atom:updated"]),
    ],
    ids=["text", "rss", "atom"],
)
def test_attributes_nudge_does_not_keep_are_named_once_and_skipped(feed: Path, ignored: list[str]) -> None:
    read = read_feed(feed)

    assert read.ignored == ignored
    # the shipping price inside <g:shipping> is not the product's price
    assert read.products[0]["price"] == "89.90 EUR"


def test_quoted_cells_keep_their_tabs_line_breaks_and_doubled_quotes() -> None:
    trail_runner, socks, _ = read_feed(TEXT).products

    assert trail_runner["description"] == 'A light trail shoe.\nWith a "rock plate".'
    assert socks["title"] == 'Socks "merino",\t3 pairs'


def test_an_empty_cell_is_not_given_so_nudge_keeps_what_it_holds() -> None:
    socks = read_feed(TEXT).products[1]

    assert "description" not in socks and "image_link" not in socks and "related" not in socks


def test_an_inventory_feed_without_titles_or_prices_is_read(tmp_path: Path) -> None:
    path = tmp_path / "stock.tsv"
    path.write_text("id\tavailability\tquantity\nsku-1\tin stock\t3\nsku-2\tout of stock\t0\n", encoding="utf-8")

    assert read_feed(path).products == [
        {"id": "sku-1", "availability": "in_stock", "quantity": 3},
        {"id": "sku-2", "availability": "out_of_stock", "quantity": 0},
    ]


def test_the_format_is_told_by_the_content_not_the_name(tmp_path: Path) -> None:
    rss_as_text = tmp_path / "products.txt"
    rss_as_text.write_bytes(b"\xef\xbb\xbf\n  " + RSS.read_bytes())  # a BOM and blank space before the declaration
    text_as_xml = tmp_path / "products.xml"
    text_as_xml.write_bytes(TEXT.read_bytes())

    assert read_feed(rss_as_text).format == "RSS 2.0"
    assert read_feed(rss_as_text).products == [TRAIL_RUNNER, SOCKS, GAITERS]
    assert read_feed(text_as_xml).format == "text"


# --- refusing ----------------------------------------------------------------------------------------------------


def test_broken_rows_are_named_by_line_and_column_and_all_are_listed(tmp_path: Path) -> None:
    # Given sku-1's description spanning lines 2 and 3, so sku-2 is on line 4 and sku-3 on line 5
    path = edited(tmp_path, TEXT, ("\tout_of_stock\t", "\tsold out\t"), ("24.50 EUR", "12,50"))

    error = refused(path)

    assert error.total == 2
    assert error.problems == [
        "row 4 (id sku-2), column Availability: must be one of in_stock, out_of_stock, preorder, backorder; "
        "got 'sold_out'",
        "row 5 (id sku-3), column g:price: must be an amount and an ISO 4217 currency, e.g. \"15.00 USD\"; got '12,50'",
    ]
    assert "nothing was imported" in str(error)


def test_a_broken_rss_item_is_named_by_its_ordinal_and_element(tmp_path: Path) -> None:
    path = edited(tmp_path, RSS, ("<g:price>24.50 EUR</g:price>", "<g:price>12,50</g:price>"))

    assert refused(path).problems == [
        'item 3 (id sku-3), element g:price: must be an amount and an ISO 4217 currency, e.g. "15.00 USD"; '
        "got '12,50'"
    ]


def test_a_broken_atom_entry_is_named_by_its_ordinal_and_element(tmp_path: Path) -> None:
    path = edited(tmp_path, ATOM, ("<g:quantity>0</g:quantity>", "<g:quantity>ten</g:quantity>"))

    assert refused(path).problems == [
        "entry 2 (id sku-2), element g:quantity: Input should be a valid integer, unable to parse string as an "
        "integer; got 'ten'"
    ]


def test_an_attribute_given_twice_in_an_item_is_refused(tmp_path: Path) -> None:
    path = edited(tmp_path, RSS, ("<title>Gaiters</title>", "<title>Gaiters</title><g:title>Gamaschen</g:title>"))

    assert refused(path).problems == [
        "item 3 (id sku-3), element g:title: given twice (an attribute once an item; only related repeats)"
    ]


def test_twenty_problems_are_listed_and_the_rest_counted(tmp_path: Path) -> None:
    path = tmp_path / "prices.tsv"
    path.write_text("id\tprice\n" + "".join(f"sku-{n}\t12,50\n" for n in range(25)), encoding="utf-8")

    error = refused(path)

    lines = str(error).splitlines()
    assert lines[0] == f"{path}: 25 problem(s); nothing was imported"
    assert len(lines) == 1 + 20 + 1 and lines[-1] == "  and 5 more"
    assert lines[1].startswith("  row 2 (id sku-0), column price:") and lines[20].startswith("  row 21 (id sku-19),")


def test_the_same_id_twice_is_refused_naming_both_rows(tmp_path: Path) -> None:
    path = edited(tmp_path, TEXT, ("sku-3\tGaiters", "sku-1\tGaiters"))

    assert refused(path).problems == ["row 5 (id sku-1): the same id as row 2; a feed holds each product once"]


def test_a_row_without_an_id_is_refused(tmp_path: Path) -> None:
    path = edited(tmp_path, TEXT, ("sku-3\tGaiters", "\tGaiters"))

    assert refused(path).problems == ["row 5, column g:id: missing"]


def test_an_unclosed_quote_is_refused_at_its_row(tmp_path: Path) -> None:
    path = edited(tmp_path, TEXT, ("\tGaiters\t", '\t"Gaiters\t'))

    (problem,) = refused(path).problems
    assert problem.startswith("row 5: ") and "closing quote" in problem


def test_a_comma_separated_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text("id,title,price\nsku-1,Shoe,10.00 EUR\n", encoding="utf-8")

    assert refused(path).problems == [
        "line 1: the header has no id column (the header holds commas: a Merchant Center text feed is tab separated)"
    ]


def test_xml_that_is_not_well_formed_is_refused_with_its_line(tmp_path: Path) -> None:
    path = edited(tmp_path, RSS, ("<g:price>19.00 EUR</g:price>", "<g:price>19.00 EUR</price>"))

    (problem,) = refused(path).problems
    assert problem.startswith("not well-formed XML at line 35, column ")


def test_xml_that_is_no_feed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "page.xml"
    path.write_text("<html><body>products</body></html>", encoding="utf-8")

    assert refused(path).problems == ["the root element is <html>: an XML feed is RSS 2.0 (<rss>) or Atom (<feed>)"]


# --- importing ---------------------------------------------------------------------------------------------------


@dataclass
class CatalogStandIn:
    """Answers ``/v1/catalog`` as nudge's API does: the key's shop, and each POST stored against ``held`` (or the
    status and body of ``answers`` for that POST, counted from 1)."""

    keys: dict[str, str]
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    posted: list[list[dict[str, Any]]] = field(default_factory=list)
    requests: int = 0
    url: str = ""

    def shop(self, authorization: str) -> str | None:
        import base64

        key = base64.b64decode(authorization.removeprefix("Basic ")).decode().removesuffix(":")
        return self.keys.get(key)

    def store(self, products: list[dict[str, Any]]) -> dict[str, Any]:
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        changes = []
        for product in products:
            before = self.held.get(product["id"])
            after = {**(before or {}), **product}
            if before is None:
                counts["created"] += 1
            elif after == before:
                counts["unchanged"] += 1
            else:
                counts["updated"] += 1
                changes += [
                    {"id": product["id"], "field": name, "from": before.get(name), "to": after.get(name)}
                    for name in ("availability", "price", "quantity")
                    if before.get(name) != after.get(name)
                ]
            self.held[product["id"]] = after
        return {"received": len(products), **counts, "changes": changes}


@pytest.fixture
def api() -> Iterator[CatalogStandIn]:
    stand_in = CatalogStandIn(keys={"sk-nordpfad": "nordpfad", "sk-other": "other-shop"})

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            stand_in.requests += 1
            shop = stand_in.shop(self.headers.get("Authorization", ""))
            self.answer(200, {"shop": shop}) if shop else self.answer(401, {"message": "Unauthorized"})

        def do_POST(self) -> None:
            stand_in.requests += 1
            shop = stand_in.shop(self.headers.get("Authorization", ""))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if shop is None:
                return self.answer(401, {"message": "Unauthorized"})
            stand_in.posted.append(body["products"])
            status, answer = stand_in.answers.get(len(stand_in.posted), (200, {}))
            if status != 200:
                return self.answer(status, answer)
            self.answer(200, {"shop": shop, **stand_in.store(body["products"])})

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_feed_is_posted_in_batches_with_a_line_per_batch_and_a_summary(api: CatalogStandIn) -> None:
    # Given nudge holds the socks as the feed has them and the trail runner at another price
    api.held = {"sku-1": {**TRAIL_RUNNER, "price": "99.90 EUR"}, "sku-2": dict(SOCKS)}
    out = io.StringIO()

    status = import_feed(TEXT, "nordpfad", api.url, "sk-nordpfad", out=out, batch=2)

    assert status == 0
    assert [len(products) for products in api.posted] == [2, 1]
    assert api.posted[0][0] == TRAIL_RUNNER
    assert out.getvalue().splitlines() == [
        f"{TEXT}: 3 products (text feed)",
        "  ignored (nudge does not keep them): gtin, condition, shipping",
        "2/3 products posted",
        "3/3 products posted",
        "shop nordpfad: 3 received, 1 created, 1 updated, 1 unchanged; changes the engine acts on: 1 (price 1)",
    ]


def test_on_a_terminal_one_bar_is_redrawn(api: CatalogStandIn, tmp_path: Path) -> None:
    path = tmp_path / "big.tsv"
    rows = "".join(f"sku-{n}\tin stock\t{n % 7}\n" for n in range(2000))
    path.write_text("id\tavailability\tquantity\n" + rows, encoding="utf-8")
    out = Terminal()

    assert import_feed(path, "nordpfad", api.url, "sk-nordpfad", out=out) == 0

    assert [len(products) for products in api.posted] == [500, 500, 500, 500]
    text = out.getvalue()
    assert "\r[##########          ] 1,000/2,000 products" in text
    bar, summary = text.rstrip("\n").split("\n")[-2:]
    assert bar.endswith("\r[####################] 2,000/2,000 products")
    assert bar.count("\r") == 5  # drawn at 0 and after each of the four batches, on one line
    assert summary.startswith("shop nordpfad: 2,000 received, 2,000 created,")


def test_a_refused_batch_stops_the_import_and_names_the_feed_rows(api: CatalogStandIn) -> None:
    api.answers[2] = (
        400,
        {
            "message": "invalid catalogue upload",
            "errors": [{"field": "products.0.price", "rule": "Value error, not a price nudge takes"}],
        },
    )
    out = io.StringIO()

    status = import_feed(TEXT, "nordpfad", api.url, "sk-nordpfad", out=out, batch=2)

    assert status == 2
    text = out.getvalue()
    assert "refused (400): products 3 to 3 of 3: invalid catalogue upload" in text
    assert "  row 5 (id sku-3), column g:price: Value error, not a price nudge takes" in text
    assert "the 2 products before them were stored; nothing of this batch was." in text
    assert "shop nordpfad:" not in text


def test_a_required_attribute_the_row_lacks_is_named_by_its_column(api: CatalogStandIn, tmp_path: Path) -> None:
    path = tmp_path / "stock.tsv"
    path.write_text("id\tavailability\nsku-9\tin stock\n", encoding="utf-8")
    rule = "required for a product nudge does not hold yet"
    errors = [{"field": "products.0.title", "rule": rule}]
    api.answers[1] = (400, {"message": "invalid catalogue upload", "errors": errors})
    out = io.StringIO()

    assert import_feed(path, "nordpfad", api.url, "sk-nordpfad", out=out) == 2

    assert f"  row 2 (id sku-9), column title: {rule}" in out.getvalue()
    assert "no batch before it was stored; nothing of this batch was." in out.getvalue()


def test_a_key_of_another_shop_writes_nothing(api: CatalogStandIn) -> None:
    out = io.StringIO()

    assert import_feed(TEXT, "nordpfad", api.url, "sk-other", out=out) == 2

    assert "the key is a key of shop 'other-shop', not of 'nordpfad'; nothing was posted" in out.getvalue()
    assert api.posted == []


def test_a_wrong_key_is_told_without_a_traceback(api: CatalogStandIn) -> None:
    out = io.StringIO()

    assert import_feed(TEXT, "nordpfad", api.url, "sk-wrong", out=out) == 2

    assert "the key was refused (401)" in out.getvalue() and "Traceback" not in out.getvalue()
    assert api.posted == []


def test_a_broken_feed_asks_the_api_nothing(api: CatalogStandIn, tmp_path: Path) -> None:
    out = io.StringIO()
    path = edited(tmp_path, TEXT, ("24.50 EUR", "12,50"))

    assert import_feed(path, "nordpfad", api.url, "sk-nordpfad", out=out) == 2

    assert "row 5 (id sku-3), column g:price" in out.getvalue()
    assert api.requests == 0


def test_an_api_failure_mid_import_says_what_was_stored(api: CatalogStandIn) -> None:
    api.answers[2] = (502, {"message": "Internal server error"})
    out = io.StringIO()

    assert import_feed(TEXT, "nordpfad", api.url, "sk-nordpfad", out=out, batch=2) == 2

    assert f"POST {api.url}/v1/catalog failed (502)" in out.getvalue()
    assert "the 2 products before them were stored; this batch may or may not have been." in out.getvalue()


def test_an_api_that_cannot_be_reached_is_told_without_a_traceback() -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = io.StringIO()

    assert import_feed(TEXT, "nordpfad", f"http://127.0.0.1:{port}", "sk-nordpfad", out=out) == 2

    assert f"cannot reach http://127.0.0.1:{port}/v1/catalog" in out.getvalue()
    assert "nothing was posted" in out.getvalue()


def test_nudge_catalog_import_runs_the_import(api: CatalogStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["catalog", "import", str(RSS), "--shop", "nordpfad", "--api", api.url, "--key", "sk-nordpfad"])

    assert status == 0
    assert [product["id"] for product in api.posted[0]] == ["sku-1", "sku-2", "sku-3"]
    assert "shop nordpfad: 3 received, 3 created, 0 updated, 0 unchanged" in capsys.readouterr().err
