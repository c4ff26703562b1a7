"""``nudge catalog import FILE --shop S --api URL --key K``: a shop's Google Merchant Center feed into its nudge
catalogue, through the same ``POST /v1/catalog`` a shop's own system would call (secret key), in requests of at most
``UPLOAD_LIMIT`` products.

The whole feed is read and checked first (``infra.catalog_feed``): a broken feed posts nothing. Then the key's shop
is asked for (``GET /v1/catalog``) and must be ``--shop``, so a key of another shop never writes. A refused request
stops the import and names each refused attribute by the feed's row or item; the requests before it are stored
(importing the feed again changes nothing for them: an unchanged product stays unchanged).
"""

import base64
import http.client
import json
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from infra.catalog_feed import Feed, FeedError, read_feed
from shared.models.catalog import UPLOAD_LIMIT, WATCHED

TIMEOUT = 60  # seconds per request: a batch of 500 products is read, compared and written in one


class KeysShop(BaseModel):
    """``GET /v1/catalog``: the shop whose catalogue the key writes."""

    shop: str


class Change(BaseModel):
    """A change the engine acts on: one product's availability, effective price or quantity."""

    id: str
    field: str


class Stored(BaseModel):
    """``POST /v1/catalog`` accepted: what became of the request's products."""

    shop: str
    received: int
    created: int
    updated: int
    unchanged: int
    changes: list[Change]


class FieldError(BaseModel):
    field: str
    rule: str


class Refusal(BaseModel):
    """``POST /v1/catalog`` refused (400): nothing of the request was stored."""

    message: str = ""
    errors: list[FieldError] = []


class CatalogApiError(Exception):
    """The API could not be asked, answered with an error, or answered what nudge's API does not."""

    def __init__(self, message: str, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class CatalogApi:
    """``/v1/catalog`` of one deployment, with one shop's secret key."""

    def __init__(self, api: str, key: str) -> None:
        self.url = f"{api.rstrip('/')}/v1/catalog"
        self._auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()

    def shop(self) -> str:
        """The shop the key belongs to."""
        return self._parsed(KeysShop, self._call("GET")).shop

    def post(self, products: list[dict[str, Any]]) -> Stored:
        """Store the products (all or none); CatalogApiError with ``status`` 400 when they were refused."""
        return self._parsed(Stored, self._call("POST", {"products": products}))

    def _parsed[Answer: BaseModel](self, model: type[Answer], answer: Any) -> Answer:
        try:
            return model.model_validate(answer)
        except ValidationError as error:
            problem = error.errors(include_url=False)[0]
            where = ".".join(str(part) for part in problem["loc"]) or "the answer"
            raise CatalogApiError(
                f"{self.url} answered what nudge's API does not ({where}: {problem['msg']})"
            ) from error

    def _call(self, method: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json", "Authorization": self._auth},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            answer = error.read()
            raise CatalogApiError(_failure(method, self.url, error.code, answer), error.code, answer) from error
        except urllib.error.URLError as error:
            raise CatalogApiError(f"cannot reach {self.url}: {error.reason}") from error
        except TimeoutError as error:
            raise CatalogApiError(f"no answer from {self.url} within {TIMEOUT} s") from error
        except (OSError, http.client.HTTPException) as error:
            raise CatalogApiError(f"the connection to {self.url} failed: {error!r}") from error
        except ValueError as error:  # urllib's word for a URL it cannot use
            raise CatalogApiError(f"--api is not an http(s) URL: {error}") from error
        try:
            return json.loads(text)
        except ValueError as error:
            raise CatalogApiError(f"{method} {self.url} answered what is not JSON: {text[:200]!r}") from error


def _failure(method: str, url: str, status: int, answer: bytes) -> str:
    if status in (401, 403):
        return f"the key was refused ({status}): it is not a secret key of a shop in this deployment"
    if status == 404:
        return f"{method} {url} answered 404: is --api the stack's HTTP API (its ApiUrl output)?"
    return f"{method} {url} failed ({status}): {answer[:300].decode(errors='replace')}"


class Progress:
    """A bar redrawn on one line of a terminal; one plain line a batch elsewhere (a log, a CI job)."""

    def __init__(self, out: IO[str], total: int, width: int = 20) -> None:
        self._out = out
        self._total = total
        self._width = width
        self._terminal = out.isatty()
        if self._terminal:
            self.show(0)

    def show(self, done: int) -> None:
        if not self._terminal:
            print(f"{done:,}/{self._total:,} products posted", file=self._out, flush=True)
            return
        filled = self._width * done // self._total
        self._out.write(f"\r[{'#' * filled}{' ' * (self._width - filled)}] {done:,}/{self._total:,} products")
        self._out.flush()

    def close(self) -> None:
        if self._terminal:
            self._out.write("\n")
            self._out.flush()


def import_feed(
    path: Path, shop: str, api: str, key: str, out: IO[str] | None = None, batch: int = UPLOAD_LIMIT
) -> int:
    """Read and check the feed, check the key is ``shop``'s, post the products in batches of at most ``batch``;
    0 when every batch was stored, 2 when the feed, the key or a batch was refused (or the API could not be asked).
    """
    out = out or sys.stderr
    if not 1 <= batch <= UPLOAD_LIMIT:
        raise ValueError(f"batch must be 1 to {UPLOAD_LIMIT} products; got {batch}")
    try:
        feed = read_feed(path)
    except FeedError as error:
        print(error, file=out)
        return 2
    total = len(feed.products)
    print(f"{path}: {total:,} products ({feed.format} feed)", file=out)
    if feed.ignored:
        print(f"  ignored (nudge does not keep them): {', '.join(feed.ignored)}", file=out)
    catalog = CatalogApi(api, key)
    try:
        owner = catalog.shop()
    except CatalogApiError as error:
        print(f"{error}; nothing was posted", file=out)
        return 2
    if owner != shop:
        print(f"the key is a key of shop {owner!r}, not of {shop!r}; nothing was posted", file=out)
        return 2
    counts: Counter[str] = Counter()
    changes: Counter[str] = Counter()
    progress = Progress(out, total)
    for start in range(0, total, batch):
        products = feed.products[start : start + batch]
        try:
            stored = catalog.post(products)
        except CatalogApiError as error:
            progress.close()
            _refused(error, feed, start, len(products), out)
            return 2
        counts.update(received=stored.received, created=stored.created, updated=stored.updated)
        counts.update(unchanged=stored.unchanged)
        changes.update(change.field for change in stored.changes)
        progress.show(start + len(products))
    progress.close()
    print(_summary(shop, counts, changes), file=out)
    return 0


def _refused(error: CatalogApiError, feed: Feed, start: int, size: int, out: IO[str]) -> None:
    """Why the batch of products ``start`` to ``start + size`` was refused, each attribute named by its feed row."""
    products = f"products {start + 1:,} to {start + size:,} of {len(feed.products):,}"
    if error.status == 400:
        try:
            refusal = Refusal.model_validate_json(error.body)
        except ValidationError:
            refusal = Refusal(message=error.body[:300].decode(errors="replace"))
        print(f"refused (400): {products}: {refusal.message}", file=out)
        for problem in refusal.errors:
            print(f"  {_where(problem.field, feed, start)}: {problem.rule}", file=out)
    else:
        print(f"{error} (posting {products})", file=out)
    before = f"the {start:,} products before them were stored" if start else "no batch before it was stored"
    # A refusal (4xx) stores nothing of the batch; after a failure or a lost answer nobody here knows.
    if error.status is not None and 400 <= error.status < 500:
        this = "nothing of this batch was"
    else:
        this = "this batch may or may not have been"
    print(f"{before}; {this}. Import the feed again (once fixed): stored products come back unchanged", file=out)


def _where(field: str, feed: Feed, start: int) -> str:
    """``products.3.price`` of the batch from ``start``: ``row 14 (id sku-9), column price`` of the feed."""
    parts = field.split(".")
    if len(parts) < 2 or parts[0] != "products" or not parts[1].isdigit():
        return field
    index = start + int(parts[1])
    if index >= len(feed.places):
        return field
    attribute = parts[2] if len(parts) > 2 else None
    position = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
    return feed.places[index].describe(attribute, position)


def _summary(shop: str, counts: Counter[str], changes: Counter[str]) -> str:
    kinds = ", ".join(f"{name} {changes[name]:,}" for name in WATCHED if changes[name])
    return (
        f"shop {shop}: {counts['received']:,} received, {counts['created']:,} created, {counts['updated']:,} updated,"
        f" {counts['unchanged']:,} unchanged; changes the engine acts on: {changes.total():,}"
        + (f" ({kinds})" if kinds else "")
    )
