from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from server.commerce import services as commerce
from server.line import services as line

bp = Blueprint("shop", __name__)


@bp.get("/shop")
def show() -> dict[str, Any]:
    shop = g.shop
    return {
        "domain": shop.domain,
        "name": shop.name,
        "installed": shop.installed,
        "demo": shop.is_demo,
        "currency": shop.currency,
        "timezone": shop.timezone,
        "line": {"configured": False, "webhook_url": None},
        "backfill": None,
        "counts": {
            "customers": commerce.count_customers(shop),
            "orders": commerce.count_orders(shop),
            **line.friend_counts(shop),
        },
    }
