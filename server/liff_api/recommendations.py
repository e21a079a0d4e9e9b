"""Products for me: the recommender's list when available, the shop's best sellers until then."""

from __future__ import annotations

import importlib
import time
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, g, request
from sqlalchemy import func, select

from server.commerce.models import Order, OrderLine, Product
from server.db import db, utcnow
from server.shops.models import Shop

from . import schemas

bp = Blueprint("recommendations", __name__, url_prefix="/recommendations")

POPULAR_WINDOW = timedelta(days=180)
_CACHE_SECONDS = 600.0
_popular_cache: dict[int, tuple[float, list[int]]] = {}


def popular_product_ids(shop: Shop, *, now: datetime, limit: int) -> list[int]:
    """Best sellers by units over the last 180 days (cached per shop for ten minutes)."""
    cached = _popular_cache.get(shop.id)
    if cached and time.monotonic() - cached[0] < _CACHE_SECONDS and len(cached[1]) >= limit:
        return cached[1][:limit]
    ids: list[int] = [
        i
        for i in db.session.scalars(
            select(OrderLine.product_id)
            .join(Order, Order.id == OrderLine.order_id)
            .join(Product, Product.id == OrderLine.product_id)
            .where(
                Order.shop_id == shop.id,
                Order.processed_at > now - POPULAR_WINDOW,
                Order.cancelled_at.is_(None),
                Product.status == "active",
                Product.deleted_at.is_(None),
            )
            .group_by(OrderLine.product_id)
            .order_by(func.sum(OrderLine.quantity).desc(), OrderLine.product_id)
            .limit(max(limit, 12))
        )
        if i is not None
    ]
    _popular_cache[shop.id] = (time.monotonic(), ids)
    return ids[:limit]


def _personal(shop: Shop, limit: int) -> list[Any] | None:
    # The recommendations issue provides serving.recommend_for; until then, None.
    try:
        serving = importlib.import_module("server.recommendations.serving")
    except ModuleNotFoundError:
        return None
    recommend_for = getattr(serving, "recommend_for", None)
    if recommend_for is None or g.customer is None:
        return None
    return list(recommend_for(shop, g.customer, limit))


@bp.get("")
def index() -> dict[str, Any]:
    shop, now = g.shop, utcnow()
    limit = min(max(request.args.get("limit", default=8, type=int) or 8, 1), 24)
    source = "personal"
    picked = _personal(shop, limit)
    if not picked:
        source = "popular"
        picked = popular_product_ids(shop, now=now, limit=limit)
    ids = [p if isinstance(p, int) else getattr(p, "id", None) for p in picked]
    products = {
        p.id: p
        for p in db.session.scalars(
            Product.for_shop(shop).where(Product.id.in_([i for i in ids if i is not None]))
        )
    }
    items = []
    for product_id in ids:
        product = products.get(product_id) if product_id is not None else None
        if product is None or not product.published:
            continue
        variant = next((v for v in product.variants if v.available), None) or (
            product.variants[0] if product.variants else None
        )
        items.append(
            {
                "id": product.id,
                "title": product.title,
                "image_url": product.image_url,
                "price": variant.price if variant else None,
                "url": schemas.storefront(shop, f"/products/{product.handle}"),
                "subscribable": product.subscribable,
            }
        )
    return {"source": source, "currency": shop.currency, "products": items}
