"""Admin API for coupon offers: create, edit, preview, and how each one performs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, g, request

from server.coupons import services
from server.coupons.models import CouponOffer
from server.db import commit
from server.errors import Invalid

bp = Blueprint("coupon_offers", __name__, url_prefix="/coupons")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid("send a JSON object")
    return data


def _offer_out(offer: CouponOffer, stats: services.OfferStats | None = None) -> dict[str, Any]:
    stats = stats or services.offer_stats(g.shop, [offer.id])[offer.id]
    return {
        "id": offer.id,
        "title": offer.title,
        "description": offer.description,
        "kind": offer.kind,
        "value": offer.value,
        "minimum_subtotal": offer.minimum_subtotal,
        "starts_at": _iso(offer.starts_at),
        "ends_at": _iso(offer.ends_at),
        "valid_hours": offer.valid_hours,
        "claimable": offer.claimable,
        "min_tier_id": offer.min_tier_id,
        "min_tier": offer.min_tier.name if offer.min_tier else None,
        "points_cost": offer.points_cost,
        "issue_on_link": offer.issue_on_link,
        "max_issued": offer.max_issued,
        "active": offer.active,
        "stats": {"issued": stats.issued, "used": stats.used, "revenue": stats.revenue},
    }


@bp.get("/offers")
def index() -> dict[str, Any]:
    offers = services.list_offers(g.shop)
    stats = services.offer_stats(g.shop, [o.id for o in offers])
    return {"currency": g.shop.currency, "offers": [_offer_out(o, stats[o.id]) for o in offers]}


@bp.post("/offers/preview")
def preview() -> dict[str, Any]:
    """Validate without saving; the page shows the coupon as customers will see it."""
    clean = services.validate_offer(g.shop, _body())
    return {
        "offer": {**clean, "starts_at": _iso(clean["starts_at"]), "ends_at": _iso(clean["ends_at"])}
    }


@bp.post("/offers")
def create() -> tuple[dict[str, Any], int]:
    offer = services.save_offer(g.shop, _body())
    commit()
    return _offer_out(offer), 201


@bp.get("/offers/<int:offer_id>")
def show(offer_id: int) -> dict[str, Any]:
    return _offer_out(services.get_offer(g.shop, offer_id))


@bp.put("/offers/<int:offer_id>")
def update(offer_id: int) -> dict[str, Any]:
    offer = services.save_offer(g.shop, _body(), services.get_offer(g.shop, offer_id))
    commit()
    return _offer_out(offer)
