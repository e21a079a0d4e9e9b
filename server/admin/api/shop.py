"""GET /api/admin/shop: the current shop, its LINE connection and its history import."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g

from server.commerce import services as commerce
from server.db import db
from server.line import services as line
from server.line.models import LineChannel
from server.shopify import backfill

from .shopify_data import run_json

bp = Blueprint("shop", __name__)


@bp.get("/shop")
def show() -> dict[str, Any]:
    shop = g.shop
    channel = db.session.scalar(LineChannel.for_shop(shop))
    return {
        "domain": shop.domain,
        "name": shop.name,
        "installed": shop.installed,
        "demo": shop.is_demo,
        "currency": shop.currency,
        "timezone": shop.timezone,
        "scopes": [s for s in shop.scopes.split(",") if s],
        "line": {
            "configured": bool(channel and channel.messaging_configured),
            "webhook_url": (
                f"{current_app.config['APP_URL'].rstrip('/')}/line/webhook/{channel.channel_key}"
                if channel is not None
                else None
            ),
            "webhook_verified": bool(channel and channel.webhook_verified_at),
            "liff_id": channel.liff_id if channel is not None else None,
        },
        "backfill": run_json(backfill.current_run(shop)),
        "counts": {
            "customers": commerce.count_customers(shop),
            "orders": commerce.count_orders(shop),
            **line.friend_counts(shop),
        },
    }
