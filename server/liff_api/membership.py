"""The membership card: who I am, my tier and progress, my points and their history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from server.coupons import services as coupons
from server.db import utcnow
from server.errors import Forbidden
from server.membership import services as membership

from . import schemas
from .subscribers import subscriber_active

bp = Blueprint("membership", __name__)


class NotLinked(Forbidden):
    code = "not_linked"


@bp.get("/me")
def me() -> dict[str, Any]:
    shop, member, now = g.shop, g.member, utcnow()
    claims = g.claims
    settings = membership.get_settings(shop)
    body: dict[str, Any] = {
        "linked": member is not None,
        "shop": {"name": shop.name, "domain": shop.domain},
        "currency": shop.currency,
        "profile": {
            "name": claims.get("name") or g.line_user.display_name or "",
            "picture": claims.get("picture") or g.line_user.picture_url,
        },
        "member_number": None,
        "tier": None,
        "points": None,
        "subscriber": {"active": False},
        "link": {
            "url": schemas.link_url(shop),
            # The linking feature grants this once per customer (LINE channel settings).
            "bonus_points": g.channel.link_incentive_points,
        },
    }
    if member is None:
        # The incentive is the reason to link; members do not need it (one query saved).
        body["link"]["coupons"] = [o.title for o in coupons.link_incentive_offers(shop, now=now)]
        return body
    tiers = membership.list_tiers(shop)
    progress = membership.progress_for(tiers, member.qualifying_spend)
    expiring = membership.next_expiry(member, now=now)
    body.update(
        {
            "member_number": member.member_number,
            "member_since": schemas.iso(member.joined_at),
            "customer_name": member.customer.display_name,
            "tier": schemas.tier_out(member.tier),
            "next_tier": (
                {**(schemas.tier_out(progress.next_tier) or {}), "remaining": progress.remaining}
                if progress.next_tier
                else None
            ),
            "progress": round(progress.fraction, 4),
            "spend": member.qualifying_spend,
            "tier_window": settings.tier_window,
            "tiers": [schemas.tier_out(t) for t in tiers],
            "points": {
                "balance": member.points_balance,
                "expiring": (
                    {"points": expiring[0], "at": schemas.iso(expiring[1])} if expiring else None
                ),
                "earn_points_per_100": settings.earn_points_per_100,
            },
            "subscriber": {"active": subscriber_active(shop, member.customer, now=now)},
        }
    )
    return body


@bp.get("/points")
def points() -> dict[str, Any]:
    member = g.member
    if member is None:
        raise NotLinked("link your store account to collect points")
    limit = min(max(request.args.get("limit", default=50, type=int) or 50, 1), 200)
    return {
        "balance": member.points_balance,
        "entries": [schemas.entry_out(e) for e in membership.history(member, limit=limit)],
    }
