"""The template context: what a template may say about a customer, built from state and the outbox message.

``build_context`` is pure. Its values are small frozen views (not the pydantic state models, not dicts): templates
see exactly the fields below, a dict key can never shadow a method (``cart.items``), and the sandbox forbids
changing them. Everything that came from a tracking client (names, product data) is treated as untrusted text:
control characters removed, length capped, links kept only when they are http(s) — and, being data, it is never
parsed as a template.
"""

from __future__ import annotations

import math
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from shared.content.locales import canonical_locale
from shared.models.catalog import Stock
from shared.models.config import ShopConfig
from shared.models.messages import OutboxMessage
from shared.models.state import CartItem, CustomerState, OrderRef, ProductRef

MAX_PRODUCTS = 4
_NAME_LENGTH = 60
_TITLE_LENGTH = 120
_WEB_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_LINK = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)
_SCRIPT_SCHEMES = ("javascript:", "vbscript:", "data:", "file:")
# Where a tap or click lands for kinds about one thing; every other kind lands on the storefront.
_LANDING = {
    "cart_reminder": "cart",
    "cart_offer": "cart",
    "free_shipping_nudge": "cart",
    "browse_reminder": "product",
    "back_in_stock": "product",
    "price_drop": "product",
    "review_request": "review",
    "welcome_loyalty": "loyalty",
}


@dataclass(frozen=True, slots=True)
class CustomerView:
    """``customer``: the names may be None (anonymous visitors, shops that do not send them)."""

    first_name: str | None
    last_name: str | None
    locale: str | None
    orders_count: int


@dataclass(frozen=True, slots=True)
class ShopView:
    """``shop``: name, storefront URL (no trailing slash) and currency."""

    name: str
    url: str | None
    currency: str


@dataclass(frozen=True, slots=True)
class ItemView:
    """One cart line: ``line_total`` is price times quantity (None when the price is unknown)."""

    product_id: str
    name: str | None
    image_url: str | None
    price: float | None
    quantity: int
    url: str | None
    line_total: float | None


@dataclass(frozen=True, slots=True)
class CartView:
    """``cart``: a cart with at least one item; ``quantity`` counts pieces."""

    id: str
    items: tuple[ItemView, ...]
    total: float
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderView:
    """``order``: one recent order; ``at`` in the customer's time zone."""

    id: str
    amount: float
    at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class OfferView:
    """``offer`` / ``referral``: a code with a percent or an amount off, maybe with an expiry (customer's time zone)."""

    code: str | None
    percent: float | int | None
    amount: float | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProductView:
    """A product to show: recently viewed, wishlisted, recommended, back in stock, or cheaper (``previous_price``:
    what it cost before a price drop)."""

    product_id: str
    name: str | None
    image_url: str | None
    price: float | None
    url: str | None
    category: str | None
    previous_price: float | None = None
    # units left, when the catalogue says stock is low (its quantity at most the shop's low_stock)
    left: int | None = None


@dataclass(frozen=True, slots=True)
class FreeShippingView:
    """``free_shipping``: the shop's threshold and what is still missing from this cart."""

    threshold: float
    missing: float


@dataclass(frozen=True, slots=True)
class LinksView:
    """``links``: where the copy points; ``deep_link`` is where a tap on the push / in-app message lands."""

    shop_url: str | None
    cart_url: str | None
    deep_link: str | None
    review_url: str | None
    loyalty_url: str | None
    referral_url: str | None


@dataclass(frozen=True, slots=True)
class MessageView:
    """``message``: which outbox message is being rendered."""

    id: str
    kind: str
    journey: str
    step: int
    transactional: bool


def build_context(
    state: CustomerState | None,
    message: OutboxMessage,
    config: ShopConfig,
    extra: Mapping[str, Any] | None = None,
    stock: Mapping[str, Stock] | None = None,
) -> dict[str, Any]:
    """The template context for ``message`` to the customer in ``state`` (pure: no I/O, no clock).

    ``stock`` is what the catalogue said at send time of the products the message may show (the router reads it):
    a product it holds out of stock is never offered, its price is the price now, and a product of which at most
    the shop's ``catalog.low_stock`` units are left carries ``left`` (and makes ``low_stock`` true when it is the
    message's product).

    Keys: ``customer``, ``shop``, ``cart``, ``order``, ``offer``, ``referral``, ``products``, ``product``,
    ``recommended`` (the router's recommendations: bought together, complementary, best-sellers, recently viewed),
    ``categories``, ``free_shipping``, ``low_stock``, ``links``, ``image_url`` (the picture for push and in-app),
    ``message``, ``unsubscribe_url``, ``preferences_url``, ``confirm_url``, ``variables``
    (the message's variables as given), then whatever ``extra`` adds or replaces (the router passes
    ``unsubscribe_url`` for email, ``preferences_url`` for marketing, ``confirm_url`` for a double opt-in mail).
    Absent things are None (or empty), so a template can test for them. A customer nudge knows nothing about
    (``state`` None) gets the shop's generic copy.
    """
    state = state if state is not None else CustomerState()
    variables = message.variables
    zone = _zone(state.timezone) or ZoneInfo(config.shop.timezone)
    shop_url = config.shop.url.rstrip("/") if config.shop.url else None
    cart = _cart(state, variables, shop_url)
    categories = _categories(state, variables.get("categories"))
    shelf = _Shelf(stock or {}, config.catalog.low_stock)
    products = _products(state, variables.get("products"), cart, categories, shop_url, shelf)
    product = _featured(state, variables, products, shop_url, shelf)
    links = _links(message.template, variables, config, shop_url, cart, product)
    # The picture of what the message is about: the cart's first item for cart messages, else the product.
    pictured: list[ItemView | ProductView] = [*cart.items] if cart and _LANDING.get(message.template) == "cart" else []
    pictured += [*([product] if product else []), *products, *(cart.items if cart else ())]
    context: dict[str, Any] = {
        "customer": CustomerView(
            first_name=_first_name(state.traits),
            last_name=_text(state.traits.get("last_name") or state.traits.get("lastName"), _NAME_LENGTH),
            locale=canonical_locale(state.locale),
            orders_count=state.orders.count,
        ),
        "shop": ShopView(name=config.shop.name, url=shop_url, currency=config.shop.currency),
        "cart": cart,
        "order": _order(state.orders.recent, variables.get("order_id"), zone),
        "offer": _offer(variables.get("offer"), zone),
        "referral": _offer(variables.get("referral"), zone),
        "products": products,
        "product": product,
        "recommended": _unique(
            (_product(raw, shop_url) for raw in variables.get("recommended") or [] if isinstance(raw, Mapping)),
            {product.product_id} if product is not None else set(),
            shelf,
        ),
        "categories": categories,
        "free_shipping": _free_shipping(variables, cart),
        "low_stock": bool(variables.get("low_stock")) or (product is not None and product.left is not None),
        "links": links,
        "image_url": next((thing.image_url for thing in pictured if thing.image_url), None),
        "message": MessageView(
            id=message.message_id,
            kind=message.template,
            journey=message.journey,
            step=message.step,
            transactional=message.transactional,
        ),
        "unsubscribe_url": None,
        "preferences_url": None,
        "confirm_url": None,
        "variables": dict(variables),
    }
    context.update(extra or {})
    return context


def _text(value: object, limit: int) -> str | None:
    """Untrusted text as one clean line: no control characters (no header or SMS injection), at most ``limit``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    printable = "".join(char if unicodedata.category(char)[0] != "C" else " " for char in value)
    cleaned = " ".join(printable.split())[:limit].strip()
    return cleaned or None


def _first_name(traits: Mapping[str, Any]) -> str | None:
    first = _text(traits.get("first_name") or traits.get("firstName"), _NAME_LENGTH)
    if first:
        return first
    full = _text(traits.get("name"), _NAME_LENGTH)
    return full.split()[0] if full else None


def _web_url(value: object, base: str | None) -> str | None:
    """An http(s) URL from a tracking client, or None; a site-relative path is joined to the storefront URL."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if base and value.startswith("/") and not value.startswith("//"):
        value = base + value
    return value if _WEB_URL.match(value) and len(value) <= 2000 else None


def _link(value: object, base: str | None) -> str | None:
    """A link from the journey's variables: http(s) or an app scheme (``shop://cart``), never a script scheme.

    A path (a journey step's ``deep_link: /offers/{offer_code}``) is joined to the storefront URL, so the same link
    works in an email and, as a universal link, in the app.
    """
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value.startswith("/") and not value.startswith("//"):
        value = base + value if base else ""
    if not _LINK.match(value) or len(value) > 2000:
        return None
    return None if value.lower().startswith(_SCRIPT_SCHEMES) else value


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _datetime(value: object, zone: tzinfo) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    # Naive times in variables are UTC, as everywhere in nudge; show them in the customer's zone.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone)


def _snapshot(raw: object) -> list[CartItem]:
    """Cart items as the journey copied them into the message (``variables.items``), the valid ones."""
    items: list[CartItem] = []
    for entry in raw if isinstance(raw, list) else []:
        try:
            items.append(CartItem.model_validate(entry))
        except ValidationError:
            continue
    return items


def _cart(state: CustomerState, variables: Mapping[str, Any], shop_url: str | None) -> CartView | None:
    """The cart the message is about; without a ``cart_id``, the customer's most recently changed non-empty cart.

    When the state no longer has the named cart, the items the journey copied into the message stand in. An empty
    or vanished cart is None: a cart reminder then fails to render rather than remind of nothing.
    """
    cart_id = variables.get("cart_id")
    chosen: tuple[str, list[CartItem]] | None = None
    if isinstance(cart_id, str):
        found = state.carts.get(cart_id)
        chosen = (cart_id, found.items if found is not None else _snapshot(variables.get("items")))
    else:
        candidates = [(key, cart) for key, cart in state.carts.items() if cart.items]
        latest = max(candidates, key=lambda pair: pair[1].updated_at, default=None)
        chosen = (latest[0], latest[1].items) if latest else None
    if chosen is None or not chosen[1]:
        return None
    key, lines = chosen
    items = tuple(
        ItemView(
            product_id=item.product_id,
            name=_text(item.name, _TITLE_LENGTH),
            image_url=_web_url(item.image_url, shop_url),
            price=item.price,
            quantity=item.quantity,
            url=_web_url(item.url, shop_url),
            line_total=None if item.price is None else _amount(item.price * item.quantity),
        )
        for item in lines
    )
    total = sum((item.price or 0.0) * item.quantity for item in lines)
    return CartView(id=key, items=items, total=_amount(total), quantity=sum(item.quantity for item in lines))


def _amount(value: float) -> float:
    """``value`` to the cent; a sum beyond a float (prices stored before amounts had a bound) as the largest one, so
    the message still renders."""
    return round(value, 2) if math.isfinite(value) else sys.float_info.max


def _order(recent: list[OrderRef], order_id: object, zone: tzinfo) -> OrderView | None:
    """The order named by ``order_id``, else the latest one."""
    if isinstance(order_id, str):
        found = next((order for order in recent if order.order_id == order_id), None)
    else:
        found = max(recent, key=lambda order: order.at, default=None)
    if found is None:
        return None
    return OrderView(id=found.order_id, amount=found.amount, at=found.at.astimezone(zone), status=found.status)


def _offer(raw: object, zone: tzinfo) -> OfferView | None:
    """An offer given as a bare code (``"WELCOME10"``) or as ``{code, percent, amount, expires_at}``."""
    if isinstance(raw, str):
        code = _text(raw, 64)
        return OfferView(code=code, percent=None, amount=None, expires_at=None) if code else None
    if not isinstance(raw, Mapping):
        return None
    percent = _number(raw.get("percent"))
    offer = OfferView(
        code=_text(raw.get("code"), 64),
        percent=int(percent) if percent is not None and percent.is_integer() else percent,
        amount=_number(raw.get("amount")),
        expires_at=_datetime(raw.get("expires_at"), zone),
    )
    return offer if offer.code or offer.percent or offer.amount else None


def _product(raw: ProductRef | Mapping[str, Any], shop_url: str | None) -> ProductView | None:
    fields: Mapping[str, Any] = raw._asdict() if isinstance(raw, ProductRef) else raw
    product_id = _text(fields.get("product_id") or fields.get("id") or fields.get("sku"), 200)
    if product_id is None:
        return None
    return ProductView(
        product_id=product_id,
        name=_text(fields.get("name"), _TITLE_LENGTH),
        image_url=_web_url(fields.get("image_url"), shop_url),
        price=_number(fields.get("price")),
        url=_web_url(fields.get("url"), shop_url),
        category=_text(fields.get("category"), _TITLE_LENGTH),
        previous_price=_number(fields.get("previous_price")),
    )


@dataclass(frozen=True, slots=True)
class _Shelf:
    """The catalogue's word at send time on the products a message may show."""

    stock: Mapping[str, Stock]
    low: int

    def sold_out(self, product: ProductView) -> bool:
        known = self.stock.get(product.product_id)
        return known is not None and not known.available

    def now(self, product: ProductView) -> ProductView:
        """``product`` with the catalogue's price now and, when few are left, how many."""
        known = self.stock.get(product.product_id)
        if known is None:
            return product
        left = known.quantity if known.quantity is not None and 0 < known.quantity <= self.low else None
        price = known.price if known.price is not None else product.price
        return replace(product, price=price, left=left)


def _unique(
    products: Iterable[ProductView | None], exclude: set[str], shelf: _Shelf | None = None
) -> tuple[ProductView, ...]:
    chosen: list[ProductView] = []
    for product in products:
        if product is None or product.product_id in exclude:
            continue
        if shelf is not None and shelf.sold_out(product):
            continue  # never offer what cannot be bought
        exclude.add(product.product_id)
        chosen.append(shelf.now(product) if shelf is not None else product)
        if len(chosen) == MAX_PRODUCTS:
            break
    return tuple(chosen)


def _categories(state: CustomerState, given: object) -> tuple[str, ...]:
    """The categories the message is about: the order's (``variables.categories``), else all the customer bought."""
    source = given if isinstance(given, list) else state.orders.categories_bought
    return tuple(text for value in source if (text := _text(value, _TITLE_LENGTH)))


def _products(
    state: CustomerState,
    given: object,
    cart: CartView | None,
    categories: tuple[str, ...],
    shop_url: str | None,
    shelf: _Shelf | None = None,
) -> tuple[ProductView, ...]:
    """The journey's picks (``variables.products``), else the wishlist and recent views.

    Derived picks come from the categories the message is about first (complementary to an order), newest first,
    and leave out what the customer already bought or has in the cart: never offer what they own.
    """
    if isinstance(given, list):
        return _unique((_product(raw, shop_url) for raw in given if isinstance(raw, Mapping)), set(), shelf)
    owned = set(state.orders.products_bought)
    if cart is not None:
        owned.update(item.product_id for item in cart.items)
    wanted = set(categories)
    seen = sorted([*state.wishlist, *state.viewed], key=lambda ref: ref.at, reverse=True)
    seen.sort(key=lambda ref: ref.category not in wanted)  # stable: recency stays within each group
    return _unique((_product(ref, shop_url) for ref in seen), owned, shelf)


def _featured(
    state: CustomerState,
    variables: Mapping[str, Any],
    products: tuple[ProductView, ...],
    shop_url: str | None,
    shelf: _Shelf | None = None,
) -> ProductView | None:
    """``product``: the one the message is about (``variables.product`` / ``product_id``), else the first pick."""
    given = variables.get("product")
    found: ProductView | None = None
    if isinstance(given, Mapping):
        found = _product(given, shop_url)
    elif isinstance(product_id := variables.get("product_id"), str):
        known = [*products, *(_product(ref, shop_url) for ref in (*state.wishlist, *state.viewed))]
        found = next((product for product in known if product and product.product_id == product_id), None)
    else:
        return products[0] if products else None
    return shelf.now(found) if found is not None and shelf is not None else found


def _free_shipping(variables: Mapping[str, Any], cart: CartView | None) -> FreeShippingView | None:
    threshold = _number(variables.get("free_shipping_threshold"))
    if threshold is None:
        return None
    missing = _number(variables.get("free_shipping_missing"))
    if missing is None:
        if cart is None:
            return None
        missing = threshold - cart.total
    return FreeShippingView(threshold=threshold, missing=round(max(missing, 0.0), 2))


def _links(
    kind: str,
    variables: Mapping[str, Any],
    config: ShopConfig,
    shop_url: str | None,
    cart: CartView | None,
    product: ProductView | None,
) -> LinksView:
    """Each link: the step's variable, else the shop's configured page, else a page of the storefront."""
    shop_links = config.templates.links
    storefront_cart = f"{shop_url}/cart" if shop_url else None
    cart_url = _link(variables.get("cart_url"), shop_url) or shop_links.cart or storefront_cart
    review_url = _link(variables.get("review_url"), shop_url) or shop_links.review or shop_url
    loyalty_url = _link(variables.get("loyalty_url"), shop_url) or shop_links.loyalty or shop_url
    referral_url = _link(variables.get("referral_url"), shop_url) or shop_links.referral or shop_url
    landing = {
        "cart": cart_url if cart else None,
        "product": product.url if product else None,
        "review": review_url,
        "loyalty": loyalty_url,
    }.get(_LANDING.get(kind, ""))
    return LinksView(
        shop_url=shop_url,
        cart_url=cart_url,
        deep_link=_link(variables.get("deep_link"), shop_url) or landing or shop_url,
        review_url=review_url,
        loyalty_url=loyalty_url,
        referral_url=referral_url,
    )
