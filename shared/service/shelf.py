"""What the catalogue says at send time about the products a message may show (the router reads it; the template
context, ``shared.content.context``, stays pure).

One read of at most ``CANDIDATES`` products per message that can show products: the one the message is about, the
journey's picks, the customer's wishlist and recent views (newest first) and the cart's items. A product the
catalogue holds out of stock is then never offered, prices are today's, and few units left make "only 3 left". For
the free-shipping nudge, products that would close the gap: complementary to the cart (``related`` in the
catalogue) or wanted before (wishlist, views), in stock, not in the cart or bought, at least the missing amount,
cheapest first; one more read.
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from shared.models.catalog import Stock
from shared.models.messages import OutboxMessage
from shared.models.state import Cart, CustomerState
from shared.ports import Catalog

CANDIDATES = 24  # products a message's read asks for (one BatchGetItem)
PICKS = 4  # products the free-shipping nudge suggests
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

    def __init__(self, catalog: Catalog, clock: Callable[[], datetime]) -> None:
        self._catalog = catalog
        self._clock = clock

    def look(
        self, message: OutboxMessage, state: CustomerState | None, threshold: float | None
    ) -> tuple[dict[str, Stock], OutboxMessage]:
        """The stock of what ``message`` may show, and the message to render (with the free-shipping picks)."""
        if message.template not in SHOWS_PRODUCTS:
            return {}, message
        now = self._clock()
        held = self._catalog.get(message.shop_id, candidates(state, message))
        stock = {product_id: found.product.stock(now) for product_id, found in held.items()}
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
                product = held.product
                fitting.append(
                    (
                        price,
                        {
                            "product_id": product.id,
                            "name": product.title,
                            "price": price,
                            "url": product.link,
                            "image_url": product.image_link,
                        },
                    )
                )
                stock[product_id] = product.stock(now)
        return [pick for _, pick in sorted(fitting, key=lambda pair: pair[0])[:PICKS]]


def _cart(state: CustomerState, variables: Mapping[str, Any]) -> Cart | None:
    cart_id = variables.get("cart_id")
    if isinstance(cart_id, str):
        return state.carts.get(cart_id)
    carts = [cart for cart in state.carts.values() if cart.items]
    return max(carts, key=lambda cart: cart.updated_at, default=None)
