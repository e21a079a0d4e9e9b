"""Coupons in LINE: what I can claim, what I have, claiming, and exchanging points."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request
from sqlalchemy import select

from server.coupons import services
from server.coupons.models import Coupon, CouponSource
from server.db import commit, db, utcnow
from server.errors import BadRequest

from . import schemas
from .membership import NotLinked

bp = Blueprint("coupons", __name__, url_prefix="/coupons")


def _member() -> Any:
    if g.member is None:
        raise NotLinked("link your store account to get coupons")
    return g.member


@bp.get("")
def index() -> dict[str, Any]:
    member, now = _member(), utcnow()
    claimed = set(
        db.session.scalars(
            select(Coupon.offer_id).where(
                Coupon.member_id == member.id, Coupon.source == CouponSource.CLAIM
            )
        )
    )
    return {
        "points_balance": member.points_balance,
        "available": [
            schemas.offer_out(o, claimed=o.id in claimed)
            for o in services.offers_for_member(g.shop, member, now=now)
        ],
        "mine": [
            schemas.coupon_out(g.shop, c, now=now) for c in services.member_coupons(g.shop, member)
        ],
    }


@bp.post("/<int:offer_id>/claim")
def claim(offer_id: int) -> tuple[dict[str, Any], int]:
    member, now = _member(), utcnow()
    existed = services.find_coupon(g.shop, f"claim:{offer_id}:{member.id}") is not None
    coupon = services.claim_coupon(g.shop, member, offer_id, now=now)
    commit()  # then the discount-code task leaves for the worker
    db.session.refresh(coupon)
    return schemas.coupon_out(g.shop, coupon, now=now), 200 if existed else 201


@bp.post("/<int:offer_id>/exchange")
def exchange(offer_id: int) -> tuple[dict[str, Any], int]:
    member, now = _member(), utcnow()
    body = request.get_json(silent=True) or {}
    request_id = str(body.get("request_id") or "").strip()
    if not 8 <= len(request_id) <= 40:
        raise BadRequest("request_id (8 to 40 characters, one per tap) is required")
    coupon = services.exchange_points(g.shop, member, offer_id, request_id=request_id, now=now)
    commit()
    db.session.refresh(coupon)
    return schemas.coupon_out(g.shop, coupon, now=now), 201


@bp.get("/mine/<int:coupon_id>")
def show(coupon_id: int) -> dict[str, Any]:
    coupon = services.get_member_coupon(g.shop, _member(), coupon_id)
    return schemas.coupon_out(g.shop, coupon, now=utcnow())
