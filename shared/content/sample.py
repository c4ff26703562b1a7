"""The sample customer every template is rendered against before a config is accepted.

Realistic on purpose — a cart with two items, a recent order, an offer with an expiry, a referral code, viewed and
wishlisted products — so a template that would break on a real customer breaks here, at ``nudge config validate``,
and not when a message is due. The same customer exists once with a name and once without (anonymous visitors,
shops that send no names), because "Hi {{ customer.first_name }}" must read well for both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.models.messages import OutboxMessage
from shared.models.state import Cart, CartItem, CustomerState, OrderRef, Orders, ProductRef

SAMPLE_TIME = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SAMPLE_EXTRA: dict[str, Any] = {
    "unsubscribe_url": "https://nudge.example.com/u/sample-token",
    "preferences_url": "https://nudge.example.com/p/sample-token",
    "confirm_url": "https://nudge.example.com/confirm/sample-token",
}
_IMAGES = "https://images.example.com"


def sample_state(locale: str, named: bool = True) -> CustomerState:
    """A customer speaking ``locale`` with a two-item cart, one order, recent views and a wishlist."""
    earlier = SAMPLE_TIME - timedelta(hours=3)
    return CustomerState(
        user_id="sample-customer",
        traits={"first_name": "Anna", "last_name": "Berger"} if named else {},
        locale=locale,
        timezone="Europe/Vienna",
        carts={
            "sample-cart": Cart(
                items=[
                    CartItem(
                        product_id="sku-sweater",
                        name="Merino Crew Sweater",
                        price=59.90,
                        quantity=1,
                        image_url=f"{_IMAGES}/merino-crew-sweater.jpg",
                        url="https://shop.example.com/products/merino-crew-sweater",
                    ),
                    CartItem(
                        product_id="sku-socks",
                        name="Trail Running Socks",
                        price=14.95,
                        quantity=2,
                        image_url=f"{_IMAGES}/trail-running-socks.jpg",
                        url="https://shop.example.com/products/trail-running-socks",
                    ),
                ],
                updated_at=earlier,
            )
        },
        viewed=[
            ProductRef(
                product_id="sku-weekender",
                name="Canvas Weekender Bag",
                price=79.00,
                category="Bags",
                image_url=f"{_IMAGES}/canvas-weekender-bag.jpg",
                url="https://shop.example.com/products/canvas-weekender-bag",
                at=earlier,
            ),
            ProductRef(
                product_id="sku-cardholder",
                name="Leather Card Holder",
                price=24.90,
                category="Accessories",
                image_url=f"{_IMAGES}/leather-card-holder.jpg",
                url="https://shop.example.com/products/leather-card-holder",
                at=earlier - timedelta(hours=1),
            ),
        ],
        wishlist=[
            ProductRef(
                product_id="sku-beanie",
                name="Alpaca Beanie",
                price=29.90,
                category="Knitwear",
                image_url=f"{_IMAGES}/alpaca-beanie.jpg",
                url="https://shop.example.com/products/alpaca-beanie",
                at=earlier - timedelta(days=2),
            )
        ],
        orders=Orders(
            count=1,
            revenue=129.00,
            first_order_at=SAMPLE_TIME - timedelta(days=10),
            last_order_at=SAMPLE_TIME - timedelta(days=10),
            recent=[OrderRef(order_id="1001", amount=129.00, at=SAMPLE_TIME - timedelta(days=10))],
            products_bought=["sku-jacket"],
            categories_bought=["Knitwear"],
        ),
    )


def sample_message(kind: str, transactional: bool = False) -> OutboxMessage:
    """An outbox message of ``kind`` carrying every variable a journey may pass."""
    return OutboxMessage(
        message_id=f"sample-{kind}",
        shop_id="sample",
        customer="u:sample-customer",
        journey="sample",
        step=0,
        template=kind,
        variables={
            "cart_id": "sample-cart",
            "order_id": "1001",
            "product_id": "sku-beanie",
            "offer": {"code": "THANKS15", "percent": 15, "expires_at": SAMPLE_TIME + timedelta(days=2)},
            "referral": {"code": "FRIEND-ANNA", "amount": 10},
            "free_shipping_threshold": 100,
            "low_stock": True,
        },
        transactional=transactional,
        created_at=SAMPLE_TIME,
    )
