"""The shop's catalogue (secret key): ``POST /v1/catalog`` upserts products, ``GET /v1/catalog/{id}`` shows one.

An upload is all or nothing: every product is checked (its attributes, and for a product nudge does not hold yet
the ones a message needs) before anything is written, and a refusal names each product and field. Each product is
then compared with what nudge held: unchanged ones are not written at all, and the changes the engine acts on
(availability, the effective price, quantity) are detected against the held product under the write's version
condition, so a concurrent upload of the same product makes this one read again and compare with what it wrote.

A product that comes back in stock (or arrives in stock) while customers wait for it starts its restock fan-out
(``shared.service.restock``), and the products whose effective price fell by at least the shop's threshold start one
price drop sweep (``shared.service.price_drop``), before they are written: if a write then fails, the upload is
refused and posted again. Each page of a fan-out, named after the products' new versions, waits for those versions
(a page that comes before the write is asked again later) and checks that the product is still in stock or still at
the lower price.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.adapters.catalog import HeldProduct, ProductConflictError
from shared.models.catalog import NEW_PRODUCT_NEEDS, WATCHED, CatalogUpload, Product, ProductUpdate
from shared.ports import Catalog, FanOuts, Shops, WaitingLists
from shared.service.bodies import field_errors
from shared.service.price_drop import price_drop_jobs, price_drops
from shared.service.restock import restock_job

WRITE_ATTEMPTS = 5  # reads and writes of one product that another upload keeps changing under it


class CatalogUploadError(Exception):
    """A catalogue upload that was refused; ``errors`` name each product and field (nothing was stored)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid catalogue upload")
        self.errors = errors


class ProductNotFoundError(Exception):
    """The shop's catalogue does not hold the product."""


def merged(held: Product | None, update: ProductUpdate, now: datetime) -> Product:
    """``held`` with the attributes ``update`` gives (a ``null`` removes an optional one); ValidationError names the
    attributes a new product lacks or a held one may not lose."""
    fields: dict[str, Any] = held.model_dump() if held is not None else {}
    given = update.model_dump(exclude_unset=True)
    fields.update(given)
    if fields.get("related") is None:
        fields["related"] = []
    fields["updated_at"] = held.updated_at if held is not None else now
    product = Product.model_validate(fields)
    if held is not None and _content(product) != _content(held):
        product.updated_at = now
    return product


def _content(product: Product) -> dict[str, Any]:
    return product.model_dump(exclude={"updated_at"})


def changes_of(held: Product, product: Product, now: datetime) -> list[dict[str, Any]]:
    """What changed of what the engine acts on: ``[{"id", "field", "from", "to"}]``."""
    before, after = held.watched(now), product.watched(now)
    return [
        {"id": product.id, "field": name, "from": before[name], "to": after[name]}
        for name in WATCHED
        if before[name] != after[name]
    ]


class CatalogDesk:
    """What a shop's systems post about their products, and what they can read back."""

    def __init__(
        self,
        catalog: Catalog,
        clock: Callable[[], datetime],
        waiting: WaitingLists | None = None,
        fan_outs: FanOuts | None = None,
        shops: Shops | None = None,
    ) -> None:
        self._catalog = catalog
        self._clock = clock
        self._waiting = waiting
        self._fan_outs = fan_outs
        self._shops = shops

    def upsert(self, shop_id: str, body: Any) -> dict[str, Any]:
        """Store the body's products, all or nothing; CatalogUploadError names what is wrong."""
        try:
            upload = CatalogUpload.model_validate(body)
        except ValidationError as error:
            raise CatalogUploadError(field_errors(error)) from error
        _refuse_repeats(upload.products)
        now = self._clock()
        held = self._catalog.get(shop_id, [update.id for update in upload.products])
        products = _checked(upload.products, held, now)
        self._sweep_price_drops(shop_id, held, products, now)
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        changes: list[dict[str, Any]] = []
        for index, update in enumerate(upload.products):
            outcome, changed = self._store(shop_id, update, held.get(update.id), products[index], now)
            counts[outcome] += 1
            changes += changed
        return {"shop": shop_id, "received": len(upload.products), **counts, "changes": changes}

    def _store(
        self, shop_id: str, update: ProductUpdate, held: HeldProduct | None, product: Product, now: datetime
    ) -> tuple[str, list[dict[str, Any]]]:
        """Write one product over the held one, reading again while another upload changes it first."""
        for _ in range(WRITE_ATTEMPTS):
            if held is not None and _content(product) == _content(held.product):
                return "unchanged", []
            version = held.version if held is not None else 0
            if product.buyable() and (held is None or not held.product.buyable()):
                self._restock(shop_id, product.id, version + 1, now)
            try:
                self._catalog.put(shop_id, product, version)
            except ProductConflictError:
                held = self._catalog.get(shop_id, [update.id]).get(update.id)
                product = merged(held.product if held is not None else None, update, now)
                continue
            if held is None:
                return "created", []
            return "updated", changes_of(held.product, product, now)
        raise ProductConflictError(f"product {update.id!r} kept changing under {WRITE_ATTEMPTS} attempts to write it")

    def _restock(self, shop_id: str, product_id: str, version: int, now: datetime) -> None:
        """Start the product's restock fan-out if anyone waits for it."""
        if self._waiting is None or self._fan_outs is None:
            return
        waiters, _ = self._waiting.page(shop_id, product_id, 1, None)
        if waiters:
            self._fan_outs.start(restock_job(shop_id, product_id, version, now))

    def _sweep_price_drops(
        self, shop_id: str, held: dict[str, HeldProduct], products: list[Product], now: datetime
    ) -> None:
        """Start one sweep for the products whose price fell by the shop's threshold, if a journey acts on it."""
        config = self._shops.config(shop_id) if self._shops is not None else None
        if self._fan_outs is None or config is None:
            return
        drops = price_drops(config, held, products, now)
        versions = [held[drop.product_id].version + 1 for drop in drops]
        for job in price_drop_jobs(shop_id, drops, versions, now):
            self._fan_outs.start(job)

    def product(self, shop_id: str, product_id: str) -> dict[str, Any]:
        """The held product as JSON, with the price a customer pays now."""
        held = self._catalog.get(shop_id, [product_id]).get(product_id)
        if held is None:
            raise ProductNotFoundError(f"no product {product_id!r} in the catalogue of shop {shop_id!r}")
        view = held.product.model_dump(mode="json", exclude_none=True)
        view["effective_price"] = str(held.product.effective_price(self._clock()))
        return view


def _refuse_repeats(updates: list[ProductUpdate]) -> None:
    first: dict[str, int] = {}
    errors = []
    for index, update in enumerate(updates):
        if update.id in first:
            rule = f"each product once; {update.id!r} is also products.{first[update.id]}"
            errors.append({"field": f"products.{index}.id", "rule": rule})
        first.setdefault(update.id, index)
    if errors:
        raise CatalogUploadError(errors)


def _checked(updates: list[ProductUpdate], held: dict[str, HeldProduct], now: datetime) -> list[Product]:
    """Each update merged with its held product; CatalogUploadError naming every product that would not do."""
    products: list[Product] = []
    errors: list[dict[str, Any]] = []
    for index, update in enumerate(updates):
        before = held.get(update.id)
        try:
            products.append(merged(before.product if before is not None else None, update, now))
        except ValidationError as error:
            for problem in field_errors(error):
                name = problem["field"]
                if name in NEW_PRODUCT_NEEDS and before is None and problem["rule"] == "Field required":
                    problem["rule"] = "required for a product nudge does not hold yet"
                elif name in NEW_PRODUCT_NEEDS and name in update.model_fields_set:
                    problem["rule"] = "may not be removed (a message needs it)"
                errors.append({"field": f"products.{index}.{name}", "rule": problem["rule"]})
    if errors:
        raise CatalogUploadError(errors)
    return products
