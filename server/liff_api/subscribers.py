"""The subscriber-only area: posts and the priority-support button, for active subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, g
from sqlalchemy import func, select

from server.commerce.models import Customer, OrderLine, Product
from server.db import commit, db, utcnow
from server.errors import Forbidden
from server.i18n import normalise, translate
from server.membership import posts, support
from server.shops.models import Shop

from . import schemas

bp = Blueprint("subscribers", __name__, url_prefix="/subscribers")


class NotSubscriber(Forbidden):
    code = "not_subscriber"


def subscriber_active(shop: Shop, customer: Customer | None, *, now: datetime) -> bool:
    if customer is None:
        return False
    # The shop's subscriber rules live with the Shopify data (issue 3): contracts, selling-plan
    # orders and the merchant's subscriber tags.
    from server.commerce.subscriptions import subscription_status

    return bool(subscription_status(shop, customer, now=now).active)


def subscribe_url(shop: Shop) -> str:
    """Where to start a subscription: the best-selling subscribable product, else the catalogue."""
    handle = db.session.scalar(
        select(Product.handle)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .where(
            Product.shop_id == shop.id,
            Product.subscribable.is_(True),
            Product.status == "active",
            Product.deleted_at.is_(None),
            OrderLine.selling_plan_id.is_not(None),
        )
        .group_by(Product.id, Product.handle)
        .order_by(func.count().desc())
        .limit(1)
    )
    return schemas.storefront(shop, f"/products/{handle}" if handle else "/collections/all")


def _require_subscriber() -> None:
    now = utcnow()
    if g.member is None:
        raise NotSubscriber(
            "link your store account first",
            reason="not_linked",
            link_url=schemas.link_url(g.shop),
        )
    if not subscriber_active(g.shop, g.customer, now=now):
        raise NotSubscriber(
            "this area is for subscribers",
            reason="no_active_subscription",
            subscribe_url=subscribe_url(g.shop),
        )


@bp.get("/posts")
def list_posts() -> dict[str, Any]:
    _require_subscriber()
    items = posts.visible_posts(g.shop, g.member, now=utcnow())
    return {"posts": [schemas.post_out(p) for p in items]}


@bp.post("/priority-support")
def priority_support() -> tuple[dict[str, Any], int]:
    """Flag the conversation as priority and hand back the URL that opens the chat."""
    _require_subscriber()
    request = support.request_priority_support(g.shop, g.line_user, g.member, now=utcnow())
    commit()
    basic_id = g.channel.bot_basic_id
    locale = normalise(g.line_user.language) or "ja"
    text = translate("liff.priority_support.message", locale)
    chat_url = (
        f"https://line.me/R/oaMessage/{quote(basic_id, safe='@')}/?{quote(text, safe='')}"
        if basic_id
        else None
    )
    return {"request_id": request.id, "priority": True, "chat_url": chat_url}, 201
