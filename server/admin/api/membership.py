"""Admin API for the membership programme: rules, tiers, members, and the subscriber posts."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, g, request
from sqlalchemy import func, or_, select

from server.commerce.models import Customer, Order
from server.coupons import services as coupons
from server.db import commit, db, utcnow
from server.errors import Conflict, Invalid, NotFound
from server.line.models import LineUser
from server.membership import posts, services, support
from server.membership.models import Member, SubscriberPost, Tier, TierWindow
from server.membership.tasks import backfill_members

bp = Blueprint("membership", __name__, url_prefix="/membership")

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
PAGE_SIZE = 50


def _body() -> Mapping[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid("send a JSON object")
    return data


def _int(data: Mapping[str, Any], name: str, errors: dict[str, str], lo: int, hi: int) -> int:
    value = data.get(name)
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors[name] = f"a whole number from {lo} to {hi}"
        return lo
    if not lo <= number <= hi:
        errors[name] = f"a whole number from {lo} to {hi}"
    return number


def _fail(errors: dict[str, str], what: str) -> None:
    if errors:
        raise Invalid(f"{what}: " + "; ".join(f"{k} {v}" for k, v in errors.items()), fields=errors)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# -- rules --------------------------------------------------------------------------------------


def _settings_out() -> dict[str, Any]:
    s = services.get_settings(g.shop)
    return {
        "tier_window": s.tier_window,
        "earn_points_per_100": s.earn_points_per_100,
        "points_expiry_months": s.points_expiry_months,
        "currency": g.shop.currency,
    }


@bp.get("/settings")
def show_settings() -> dict[str, Any]:
    return _settings_out()


@bp.put("/settings")
def update_settings() -> dict[str, Any]:
    data = _body()
    errors: dict[str, str] = {}
    window = data.get("tier_window")
    if window not in {w.value for w in TierWindow}:
        errors["tier_window"] = "rolling_12_months or lifetime"
    values = {
        "earn_points_per_100": _int(data, "earn_points_per_100", errors, 0, 100),
        "points_expiry_months": _int(data, "points_expiry_months", errors, 0, 120),
    }
    _fail(errors, "the points rules have problems")
    services.save_settings(g.shop, tier_window=str(window), **values)
    commit()
    return _settings_out()


# -- tiers --------------------------------------------------------------------------------------


def _tier_out(tier: Tier, counts: Mapping[int, int]) -> dict[str, Any]:
    return {
        "id": tier.id,
        "name": tier.name,
        "threshold": tier.threshold,
        "benefits": tier.benefits,
        "color": tier.color,
        "members": counts.get(tier.id, 0),
    }


def _tier_counts() -> dict[int, int]:
    rows = db.session.execute(
        select(Member.tier_id, func.count())
        .where(Member.shop_id == g.shop.id, Member.tier_id.is_not(None))
        .group_by(Member.tier_id)
    )
    return {int(tier_id or 0): int(n) for tier_id, n in rows}


@bp.get("/tiers")
def list_tiers() -> dict[str, Any]:
    counts = _tier_counts()
    members = db.session.scalar(
        select(func.count()).select_from(Member).where(Member.shop_id == g.shop.id)
    )
    return {
        "currency": g.shop.currency,
        "members": int(members or 0),
        "tiers": [_tier_out(t, counts) for t in services.list_tiers(g.shop)],
    }


def _clean_tier(data: Mapping[str, Any], tier: Tier | None) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = "is required"
    elif len(name) > 64:
        errors["name"] = "is at most 64 characters"
    threshold = _int(data, "threshold", errors, 0, 10**12)
    color = str(data.get("color") or "#8a8f98").strip()
    if not COLOR.match(color):
        errors["color"] = "is a colour like #c9a227"
    benefits = str(data.get("benefits") or "").strip()
    if len(benefits) > 500:
        errors["benefits"] = "is at most 500 characters"
    others = [t for t in services.list_tiers(g.shop) if tier is None or t.id != tier.id]
    if any(t.name == name for t in others):
        errors["name"] = "is already used by another tier"
    if "threshold" not in errors and any(t.threshold == threshold for t in others):
        errors["threshold"] = "is already used by another tier"
    _fail(errors, "the tier has problems")
    return {"name": name, "threshold": threshold, "color": color, "benefits": benefits}


@bp.post("/tiers")
def create_tier() -> tuple[dict[str, Any], int]:
    tier = Tier(shop_id=g.shop.id, **_clean_tier(_body(), None))
    db.session.add(tier)
    db.session.flush()
    services.refresh_all_tiers(g.shop, now=utcnow())
    commit()
    return _tier_out(tier, _tier_counts()), 201


@bp.put("/tiers/<int:tier_id>")
def update_tier(tier_id: int) -> dict[str, Any]:
    tier = services.get_tier(g.shop, tier_id)
    for name, value in _clean_tier(_body(), tier).items():
        setattr(tier, name, value)
    db.session.flush()
    services.refresh_all_tiers(g.shop, now=utcnow())
    commit()
    return _tier_out(tier, _tier_counts())


@bp.delete("/tiers/<int:tier_id>")
def delete_tier(tier_id: int) -> tuple[str, int]:
    tier = services.get_tier(g.shop, tier_id)
    db.session.delete(tier)
    db.session.flush()
    services.refresh_all_tiers(g.shop, now=utcnow())
    commit()
    return "", 204


# -- members ------------------------------------------------------------------------------------


def _member_row(member: Member) -> dict[str, Any]:
    customer = member.customer
    return {
        "id": member.id,
        "member_number": member.member_number,
        "name": customer.display_name,
        "email": customer.email,
        "tier": member.tier.name if member.tier else None,
        "tier_color": member.tier.color if member.tier else None,
        "spend": member.qualifying_spend,
        "points": member.points_balance,
        "joined_at": _iso(member.joined_at),
    }


@bp.get("/members")
def list_members() -> dict[str, Any]:
    q = (request.args.get("q") or "").strip()
    page = max(request.args.get("page", default=1, type=int) or 1, 1)
    query = Member.for_shop(g.shop).join(Customer, Customer.id == Member.customer_id)
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        conditions = [
            Customer.email.ilike(like),
            Customer.first_name.ilike(like),
            Customer.last_name.ilike(like),
            (func.coalesce(Customer.last_name, "") + func.coalesce(Customer.first_name, "")).ilike(
                like.replace(" ", "").replace("　", "")
            ),
        ]
        # Only a query that is a number (spaces and hyphens allowed, as people copy them)
        # searches member numbers: the digits inside an e-mail address or a name are not one.
        if re.fullmatch(r"[\d\s\-－ー]+", q):
            digits = re.sub(r"\D", "", q)
            conditions.append(Member.member_number.like(f"%{digits}%"))
        query = query.where(or_(*conditions))
    tier_id = request.args.get("tier", type=int)
    if tier_id:
        query = query.where(Member.tier_id == tier_id)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    members = db.session.scalars(
        query.order_by(Member.qualifying_spend.desc(), Member.id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    customers = db.session.scalar(
        select(func.count()).select_from(Customer).where(Customer.shop_id == g.shop.id)
    )
    return {
        "currency": g.shop.currency,
        "total": int(total or 0),
        "customers": int(customers or 0),
        "page": page,
        "pages": max(1, -(-int(total or 0) // PAGE_SIZE)),
        "members": [_member_row(m) for m in members],
    }


@bp.post("/members/backfill")
def backfill() -> tuple[dict[str, Any], int]:
    """Enrol every customer who has ordered (a programme started on an existing shop)."""
    backfill_members(g.shop.id)
    return {"queued": True}, 202


@bp.get("/members/<int:member_id>")
def show_member(member_id: int) -> dict[str, Any]:
    shop, now = g.shop, utcnow()
    member = services.get_member(shop, member_id)
    customer = member.customer
    line_user = db.session.scalar(
        select(LineUser).where(LineUser.shop_id == shop.id, LineUser.customer_id == customer.id)
    )
    progress = services.progress_for(services.list_tiers(shop), member.qualifying_spend)
    orders = db.session.scalars(
        Order.for_shop(shop)
        .where(Order.customer_id == customer.id)
        .order_by(Order.processed_at.desc())
        .limit(10)
    ).all()
    expiring = services.next_expiry(member, now=now)
    return {
        **_member_row(member),
        "currency": shop.currency,
        "shopify_customer_id": customer.shopify_id,
        "next_tier": progress.next_tier.name if progress.next_tier else None,
        "remaining": progress.remaining,
        "expiring": {"points": expiring[0], "at": _iso(expiring[1])} if expiring else None,
        "line": {
            "linked": line_user is not None,
            "display_name": line_user.display_name if line_user else None,
            "following": line_user.following if line_user else False,
            "priority_support": bool(line_user and support.is_priority(shop, line_user.id)),
        },
        "ledger": [
            {
                "id": e.id,
                "delta": e.delta,
                "kind": e.kind,
                "note": e.note,
                "at": _iso(e.created_at),
                "expires_at": _iso(e.expires_at),
            }
            for e in services.history(member, limit=100)
        ],
        "coupons": [
            {
                "id": c.id,
                "title": c.offer.title,
                "code": c.code,
                "source": c.source,
                "state": c.state(now),
                "issued_at": _iso(c.issued_at),
                "valid_until": _iso(c.valid_until),
                "order_total": c.order_total,
            }
            for c in coupons.member_coupons(shop, member)
        ],
        "orders": [
            {
                "id": o.id,
                "name": o.name,
                "processed_at": _iso(o.processed_at),
                "total": o.total_price,
                "refunded": o.total_refunded,
                "cancelled": o.cancelled,
                "discount_codes": o.discount_codes,
            }
            for o in orders
        ],
    }


@bp.post("/members/<int:member_id>/points")
def adjust_points(member_id: int) -> tuple[dict[str, Any], int]:
    member = services.get_member(g.shop, member_id)
    data = _body()
    errors: dict[str, str] = {}
    points = _int(data, "points", errors, -1_000_000, 1_000_000)
    if "points" not in errors and points == 0:
        errors["points"] = "must not be 0"
    note = str(data.get("note") or "").strip()
    if not note:
        errors["note"] = "is required (the customer sees it in the history)"
    _fail(errors, "the adjustment has problems")
    if points < 0 and member.points_balance < -points:
        raise Conflict(
            f"the member has {member.points_balance} points; a balance never goes below zero",
            fields={"points": "is more than the balance"},
        )
    key = f"adjust:{g.staff_id}:{secrets.token_hex(8)}"
    services.adjust_points(g.shop, member, points, key=key, note=note, now=utcnow())
    commit()
    return {"points": member.points_balance}, 201


# -- subscriber posts ---------------------------------------------------------------------------


def _post_out(post: SubscriberPost) -> dict[str, Any]:
    now = utcnow()
    status = (
        "draft"
        if post.published_at is None
        else ("scheduled" if post.published_at > now else "published")
    )
    return {
        "id": post.id,
        "title": post.title,
        "body": post.body,
        "image_url": post.image_url,
        "published_at": _iso(post.published_at),
        "min_tier_id": post.min_tier_id,
        "min_tier": post.min_tier.name if post.min_tier else None,
        "status": status,
    }


def _clean_post(data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    title = str(data.get("title") or "").strip()
    if not title:
        errors["title"] = "is required"
    elif len(title) > 120:
        errors["title"] = "is at most 120 characters"
    body = str(data.get("body") or "").strip()
    if len(body) > 10_000:
        errors["body"] = "is at most 10,000 characters"
    image_url = str(data.get("image_url") or "").strip() or None
    if image_url and (not image_url.startswith("https://") or len(image_url) > 2000):
        errors["image_url"] = "must be an https:// address"
    published_at = None
    raw = data.get("published_at")
    if raw not in (None, ""):
        try:
            published_at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            errors["published_at"] = "is a date and time (ISO 8601)"
        else:
            if published_at.tzinfo is None:
                errors["published_at"] = "needs a time zone offset"
                published_at = None
    tier_id = data.get("min_tier_id")
    if tier_id in (None, ""):
        tier_id = None
    else:
        try:
            tier_id = services.get_tier(g.shop, int(tier_id)).id
        except (TypeError, ValueError, NotFound):
            errors["min_tier_id"] = "is not one of this shop's tiers"
            tier_id = None
    _fail(errors, "the post has problems")
    return {
        "title": title,
        "body": body,
        "image_url": image_url,
        "published_at": published_at,
        "min_tier_id": tier_id,
    }


@bp.get("/posts")
def list_posts() -> dict[str, Any]:
    return {"posts": [_post_out(p) for p in posts.list_posts(g.shop)]}


@bp.post("/posts/preview")
def preview_post() -> dict[str, Any]:
    """Validate without saving, and say who would see it (members at or above the tier)."""
    clean = _clean_post(_body())
    audience = select(func.count()).select_from(Member).where(Member.shop_id == g.shop.id)
    if clean["min_tier_id"]:
        tier = services.get_tier(g.shop, clean["min_tier_id"])
        audience = audience.join(Tier, Tier.id == Member.tier_id).where(
            Tier.threshold >= tier.threshold
        )
    return {
        "post": {
            **clean,
            "published_at": _iso(clean["published_at"]),
            "min_tier": (
                services.get_tier(g.shop, clean["min_tier_id"]).name
                if clean["min_tier_id"]
                else None
            ),
        },
        "members_reached": int(db.session.scalar(audience) or 0),
    }


@bp.post("/posts")
def create_post() -> tuple[dict[str, Any], int]:
    post = SubscriberPost(shop_id=g.shop.id, **_clean_post(_body()))
    db.session.add(post)
    commit()
    return _post_out(post), 201


@bp.get("/posts/<int:post_id>")
def show_post(post_id: int) -> dict[str, Any]:
    return _post_out(posts.get_post(g.shop, post_id))


@bp.put("/posts/<int:post_id>")
def update_post(post_id: int) -> dict[str, Any]:
    post = posts.get_post(g.shop, post_id)
    for name, value in _clean_post(_body()).items():
        setattr(post, name, value)
    commit()
    return _post_out(post)


@bp.delete("/posts/<int:post_id>")
def delete_post(post_id: int) -> tuple[str, int]:
    db.session.delete(posts.get_post(g.shop, post_id))
    commit()
    return "", 204
