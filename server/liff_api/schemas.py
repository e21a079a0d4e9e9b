"""JSON shapes of the LIFF API. Money is in minor units with the shop's currency beside it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from server.coupons.models import Coupon, CouponOffer
from server.membership.models import PointsEntry, SubscriberPost, Tier
from server.shops.models import Shop


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def storefront(shop: Shop, path: str) -> str:
    return f"https://{shop.domain}{path}"


def link_url(shop: Shop) -> str:
    # The App Proxy page that starts ID linking (LINE Login), on the shop's own domain.
    return storefront(shop, "/apps/kizuna/link")


def use_url(shop: Shop, code: str) -> str:
    # Shopify applies /discount/<code> to the cart, then follows `redirect`.
    return storefront(shop, f"/discount/{quote(code, safe='')}?redirect=%2F")


def tier_out(tier: Tier | None) -> dict[str, Any] | None:
    if tier is None:
        return None
    return {
        "id": tier.id,
        "name": tier.name,
        "threshold": tier.threshold,
        "color": tier.color,
        "benefits": tier.benefits,
    }


def offer_out(offer: CouponOffer, *, claimed: bool = False) -> dict[str, Any]:
    return {
        "id": offer.id,
        "title": offer.title,
        "description": offer.description,
        "kind": offer.kind,
        "value": offer.value,
        "minimum_subtotal": offer.minimum_subtotal,
        "ends_at": iso(offer.ends_at),
        "valid_hours": offer.valid_hours,
        "claimable": offer.claimable and not claimed,
        "points_cost": offer.points_cost,
        "min_tier": offer.min_tier.name if offer.min_tier else None,
    }


def coupon_out(shop: Shop, coupon: Coupon, *, now: datetime) -> dict[str, Any]:
    state = coupon.state(now)
    shown = state in ("active", "used", "expired")
    return {
        "id": coupon.id,
        "offer_id": coupon.offer_id,
        "title": coupon.offer.title,
        "description": coupon.offer.description,
        "kind": coupon.offer.kind,
        "value": coupon.offer.value,
        "minimum_subtotal": coupon.offer.minimum_subtotal,
        "source": coupon.source,
        "state": state,
        "code": coupon.code if shown else None,
        "use_url": use_url(shop, coupon.code) if state == "active" else None,
        "issued_at": iso(coupon.issued_at),
        "valid_until": iso(coupon.valid_until),
        "used_at": iso(coupon.used_at),
    }


def entry_out(entry: PointsEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "delta": entry.delta,
        "kind": entry.kind,
        "note": entry.note,
        "at": iso(entry.created_at),
        "expires_at": iso(entry.expires_at),
    }


def post_out(post: SubscriberPost) -> dict[str, Any]:
    return {
        "id": post.id,
        "title": post.title,
        "body": post.body,
        "image_url": post.image_url,
        "published_at": iso(post.published_at),
        "min_tier": post.min_tier.name if post.min_tier else None,
    }
