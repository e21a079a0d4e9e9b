"""Catalogue and history helpers for the recommendation tests: products that can be sold
(one variant with a price), orders with lines, hand-stored lists, and composed lists read
slot by slot."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

from server.commerce.models import Customer, Order, Product
from server.db import db
from server.recommendations.models import CustomerRecommendation, RecommendationModel
from server.recommendations.production import KINDS, Lists
from server.shops.models import Shop
from tests.factories.commerce import (
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    ProductVariantFactory,
)


def sellable(
    shop: Shop,
    title: str,
    *,
    price: int = 3000,
    available: bool = True,
    consumable: bool = True,
    usage_days: int | None = None,
    status: str = "active",
    image: bool = True,
) -> Product:
    product = ProductFactory(
        shop=shop,
        title=title,
        status=status,
        consumable=consumable,
        usage_days=usage_days,
        image_url=f"https://cdn.shopify.com/s/files/{title.encode().hex()[:12]}.jpg"
        if image
        else None,
    )
    ProductVariantFactory(product=product, price=price, available=available)
    return product


def bought(
    customer: Customer,
    products: list[Product] | Product,
    *,
    at: datetime,
    quantity: int = 1,
    selling_plan_id: int | None = None,
    cancelled: bool = False,
) -> Order:
    items = products if isinstance(products, list) else [products]
    order = OrderFactory(
        customer=customer,
        processed_at=at,
        cancelled_at=at if cancelled else None,
        is_subscription=selling_plan_id is not None,
    )
    for product in items:
        OrderLineFactory(
            order=order,
            product_id=product.id,
            title=product.title,
            quantity=quantity,
            selling_plan_id=selling_plan_id,
        )
    return order


def stored_list(
    shop: Shop, customer: Customer, items: list[dict[str, Any]], *, at: datetime
) -> CustomerRecommendation:
    row = CustomerRecommendation(
        shop_id=shop.id, customer_id=customer.id, items=items, computed_at=at
    )
    db.session.add(row)
    db.session.flush()
    return row


def stored_model(shop: Shop, *, popular: dict[str, list[int]], at: datetime) -> RecommendationModel:
    model = RecommendationModel(
        shop_id=shop.id, algorithm="hybrid", params={}, trained_at=at, as_of=at, popular=popular
    )
    db.session.add(model)
    db.session.flush()
    return model


class Entry(NamedTuple):
    """One slot of a composed list (production.Lists), as the tests read it."""

    item: int
    kind: str  # reorder | discovery | popular
    anchor: int | None = None  # discovery: the customer's product that led here
    last: float | None = None  # reorder: last purchase, days since 1970
    due: float | None = None  # reorder: predicted run-out, days since 1970


def entries(lists: Lists, row: int) -> list[Entry]:
    out = []
    for slot in np.flatnonzero(lists.items[row] >= 0).tolist():
        anchor, last, due = (
            int(lists.anchors[row, slot]),
            float(lists.last[row, slot]),
            float(lists.due[row, slot]),
        )
        out.append(
            Entry(
                int(lists.items[row, slot]),
                KINDS[lists.kinds[row, slot]],
                None if anchor < 0 else anchor,
                None if np.isnan(last) else last,
                None if np.isnan(due) else due,
            )
        )
    return out
