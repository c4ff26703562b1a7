"""What the catalogue says at send time about the products a message may show (the router reads it; the template
context, ``shared.content.context``, stays pure).

One read of at most ``CANDIDATES`` products per message that can show products: the one the message is about, the
journey's picks, the customer's wishlist and recent views (newest first) and the cart's items. A product the
catalogue holds out of stock is then never offered, prices are today's, and few units left make "only 3 left". For
the free-shipping nudge, products that would close the gap: complementary to the cart (``related`` in the
catalogue) or wanted before (wishlist, views), in stock, not in the cart or bought, at least the missing amount,
cheapest first; one more read.

Recommendations (IN4), ``recommended`` in every such message (and the cross-sell's products when the journey picked
none): what was bought together with the message's products (the order's, the cart's, the one it is about), their
complementary products (``related``), the best-sellers of the last 30 days in the categories the customer cares
about and in the whole shop, and what they viewed lately; never what they own or have in the cart, never out of
stock (or unknown to the catalogue), never the product the message is about. A few reads, no scan.
"""

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.adapters.recommendations import ALL
from shared.models.catalog import Product, Stock
from shared.models.messages import OutboxMessage
from shared.models.state import Cart, CustomerState
from shared.ports import Catalog, OrderAggregates

CANDIDATES = 24  # products a message's read asks for (one BatchGetItem)
PICKS = 4  # products the free-shipping nudge suggests, and recommendations a message carries
BEST_SELLER_DAYS = 30
CROSS_SELL = "cross_sell"
# Message kinds that show products other than the cart's items.
SHOWS_PRODUCTS = frozenset(
    {"browse_reminder", "cross_sell", "back_in_stock", "price_drop", "free_shipping_nudge", "reactivation"}
)
FREE_SHIPPING = "free_shipping_nudge"


def candidates(state: CustomerState | None, message: OutboxMessage) -> list[str]:
    """The products ``message`` may show, most likely first (at most ``CANDIDATES``)."""
    variables = message.variables
    ids: list[str] = []
    if isinstance(variables.get("product_id"), str):
        ids.append(variables["product_id"])
    product = variables.get("product")
    if isinstance(product, Mapping) and isinstance(product.get("product_id"), str):
        ids.append(product["product_id"])
    for given in variables.get("products") or []:
        if isinstance(given, Mapping) and isinstance(given.get("product_id"), str):
            ids.append(given["product_id"])
    if state is not None:
        cart = _cart(state, variables)
        ids += [item.product_id for item in cart.items] if cart is not None else []
        seen = sorted([*state.wishlist, *state.viewed], key=lambda ref: ref.at, reverse=True)
        ids += [ref.product_id for ref in seen]
    return list(dict.fromkeys(ids))[:CANDIDATES]


class Shelf:
    """Reads the catalogue for a message about to be rendered."""

    def __init__(self, catalog: Catalog, clock: Callable[[], datetime], orders: OrderAggregates | None = None) -> None:
        self._catalog = catalog
        self._clock = clock
        self._orders = orders

    def look(
        self, message: OutboxMessage, state: CustomerState | None, threshold: float | None
    ) -> tuple[dict[str, Stock], OutboxMessage]:
        """The stock of what ``message`` may show, and the message to render (with the free-shipping picks)."""
        if message.template not in SHOWS_PRODUCTS:
            return {}, message
        now = self._clock()
        held = self._catalog.get(message.shop_id, candidates(state, message))
        stock = {product_id: found.product.stock(now) for product_id, found in held.items()}
        recommended = self._recommend(message, state, held_products(held), now, stock)
        if recommended:
            variables = {**message.variables, "recommended": recommended}
            if message.template == CROSS_SELL and not message.variables.get("products"):
                variables["products"] = recommended
            message = message.model_copy(update={"variables": variables})
        if message.template != FREE_SHIPPING or threshold is None or state is None:
            return stock, message
        cart = _cart(state, message.variables)
        if cart is None:
            return stock, message
        picks = self._closing(message, state, cart, threshold - cart.value, stock, now)
        if not picks:
            return stock, message
        return stock, message.model_copy(update={"variables": {**message.variables, "products": picks}})

    def _closing(
        self,
        message: OutboxMessage,
        state: CustomerState,
        cart: Cart,
        missing: float,
        stock: dict[str, Stock],
        now: datetime,
    ) -> list[dict[str, Any]]:
        """Products that would close the free-shipping gap of ``missing``: in stock, not owned, cheapest first."""
        if missing <= 0:
            return []
        owned = {item.product_id for item in cart.items} | set(state.orders.products_bought)
        related = [rid for item in cart.items if item.product_id in stock for rid in stock[item.product_id].related]
        wanted = [ref.product_id for ref in sorted([*state.wishlist, *state.viewed], key=lambda r: r.at, reverse=True)]
        ids = [pid for pid in dict.fromkeys([*related, *wanted]) if pid not in owned][:CANDIDATES]
        found = self._catalog.get(message.shop_id, ids)
        fitting = []
        for product_id in ids:
            held = found.get(product_id)
            if held is None or not held.product.buyable():
                continue
            price = float(held.product.effective_price(now).amount)
            if price >= missing:
                fitting.append((price, _pick(held.product, now)))
                stock[product_id] = held.product.stock(now)
        return [pick for _, pick in sorted(fitting, key=lambda pair: pair[0])[:PICKS]]

    def _recommend(
        self,
        message: OutboxMessage,
        state: CustomerState | None,
        held: dict[str, Product],
        now: datetime,
        stock: dict[str, Stock],
    ) -> list[dict[str, Any]]:
        """Up to ``PICKS`` products to recommend with ``message``, best first (their stock added to ``stock``)."""
        variables = message.variables
        about = {
            pid for pid in (variables.get("product_id"), (variables.get("product") or {}).get("product_id")) if pid
        }
        cart = _cart(state, variables) if state is not None else None
        owned = set(state.orders.products_bought) if state is not None else set()
        owned |= {item.product_id for item in cart.items} if cart is not None else set()
        anchors = [*about, *(item.product_id for item in cart.items)] if cart is not None else [*about]
        if message.template == CROSS_SELL and state is not None:
            anchors += state.orders.products_bought[-5:]  # what they just bought
        scores: dict[str, float] = {}
        if self._orders is not None and anchors:
            for product_id, together in self._orders.bought_with(message.shop_id, anchors).items():
                scores[product_id] = scores.get(product_id, 0.0) + 3 * together
        for anchor in anchors:
            if anchor in held:
                for related in held[anchor].related:
                    scores[related] = scores.get(related, 0.0) + 5
        categories = _categories_of(state, [held[a] for a in anchors if a in held])
        if self._orders is not None:
            since = (now - timedelta(days=BEST_SELLER_DAYS)).date()
            for weight, category in [*((1.0, c) for c in categories[:2]), (0.5, ALL)]:
                for product_id, units in self._orders.best_sellers(message.shop_id, category, since).most_common(10):
                    scores[product_id] = scores.get(product_id, 0.0) + weight * min(units, 10)
        if state is not None:
            for rank, ref in enumerate(sorted(state.viewed, key=lambda r: r.at, reverse=True)[:6]):
                scores[ref.product_id] = scores.get(ref.product_id, 0.0) + 2 - rank * 0.2
        best_first = sorted(scores, key=lambda pid: (-scores[pid], pid))
        ranked = [pid for pid in best_first if pid not in owned and pid not in about][:CANDIDATES]
        if not ranked:
            return []
        # The candidates' read above holds many of them already (recent views): read only the others.
        found = held | held_products(self._catalog.get(message.shop_id, [p for p in ranked if p not in held]))
        picks = []
        for product_id in ranked:
            product = found.get(product_id)
            if product is not None and product.buyable():
                picks.append(_pick(product, now))
                stock[product_id] = product.stock(now)
            if len(picks) == PICKS:
                break
        return picks


def held_products(held: Mapping[str, Any]) -> dict[str, Product]:
    return {product_id: found.product for product_id, found in held.items()}


def _categories_of(state: CustomerState | None, anchors: list[Product]) -> list[str]:
    """The categories a customer cares about: the anchors' (the catalogue's product_type, its last level), then
    what they bought."""
    found = [product.category for product in anchors if product.category]
    if state is not None:
        found += list(reversed(state.orders.categories_bought[-3:]))
    return list(dict.fromkeys(found))


def _pick(product: Product, now: datetime) -> dict[str, Any]:
    price = float(product.effective_price(now).amount)
    pick: dict[str, Any] = {"product_id": product.id, "name": product.title, "price": price, "url": product.link}
    if product.image_link:
        pick["image_url"] = product.image_link
    return pick


def _cart(state: CustomerState, variables: Mapping[str, Any]) -> Cart | None:
    cart_id = variables.get("cart_id")
    if isinstance(cart_id, str):
        return state.carts.get(cart_id)
    carts = [cart for cart in state.carts.values() if cart.items]
    return max(carts, key=lambda cart: cart.updated_at, default=None)
