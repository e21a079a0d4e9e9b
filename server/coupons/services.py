"""Offers, issuing coupons (claim, scenario, link incentive, points exchange) and redemptions.

Services flush and never commit. Issuing adds a pending Coupon and enqueues the Shopify
discount-code creation for after the commit (`tasks.create_discount_code`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.commerce.models import Customer, Order
from server.db import db
from server.errors import Conflict, Invalid, NotFound
from server.jobs import enqueue_after_commit
from server.line.models import LineUser
from server.membership import services as membership
from server.membership.models import Member, Tier
from server.shops.models import Shop

from .models import Coupon, CouponOffer, CouponSource, CouponStatus, DiscountKind

log = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till


class OfferClosed(Conflict):
    code = "offer_closed"


class NotEligible(Conflict):
    code = "not_eligible"


class OfferExhausted(Conflict):
    code = "offer_exhausted"


# -- offers -------------------------------------------------------------------------------------


def list_offers(shop: Shop) -> list[CouponOffer]:
    return list(
        db.session.scalars(
            CouponOffer.for_shop(shop).order_by(CouponOffer.active.desc(), CouponOffer.id.desc())
        )
    )


def get_offer(shop: Shop, offer_id: int) -> CouponOffer:
    offer = db.session.scalar(CouponOffer.for_shop(shop).where(CouponOffer.id == offer_id))
    if offer is None:
        raise NotFound(f"offer {offer_id} not found")
    return offer


OFFER_FIELDS = (
    "title",
    "description",
    "kind",
    "value",
    "minimum_subtotal",
    "starts_at",
    "ends_at",
    "valid_hours",
    "claimable",
    "min_tier_id",
    "points_cost",
    "issue_on_link",
    "max_issued",
    "active",
)


def validate_offer(shop: Shop, data: Mapping[str, Any]) -> dict[str, Any]:
    """Check an offer's fields; raise Invalid naming every problem (field → message)."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    title = str(data.get("title") or "").strip()
    if not title:
        errors["title"] = "required"
    elif len(title) > 120:
        errors["title"] = "at most 120 characters"
    clean["title"] = title
    clean["description"] = str(data.get("description") or "").strip()[:2000]
    kind = data.get("kind")
    if kind not in {k.value for k in DiscountKind}:
        errors["kind"] = "one of percentage, fixed_amount, free_shipping"
    clean["kind"] = kind
    value = _int_or_none(data.get("value"))
    if kind == DiscountKind.PERCENTAGE and (value is None or not 1 <= value <= 100):
        errors["value"] = "a percentage from 1 to 100"
    elif kind == DiscountKind.FIXED_AMOUNT and (value is None or value < 1):
        errors["value"] = "an amount of at least 1"
    clean["value"] = 0 if kind == DiscountKind.FREE_SHIPPING else (value or 0)
    minimum = _int_or_none(data.get("minimum_subtotal"))
    if minimum is not None and minimum < 0:
        errors["minimum_subtotal"] = "0 or more"
    clean["minimum_subtotal"] = minimum or 0
    for name in ("starts_at", "ends_at"):
        clean[name] = _datetime_or_none(data.get(name), name, errors)
    if clean["starts_at"] and clean["ends_at"] and clean["ends_at"] <= clean["starts_at"]:
        errors["ends_at"] = "must be after the start"
    valid_hours = _int_or_none(data.get("valid_hours"))
    if valid_hours is not None and not 1 <= valid_hours <= 24 * 366:
        errors["valid_hours"] = "from 1 hour to a year"
    if valid_hours is None and clean["ends_at"] is None:
        errors["valid_hours"] = "give coupons a lifetime, or the offer an end"
    clean["valid_hours"] = valid_hours
    clean["claimable"] = bool(data.get("claimable", True))
    clean["issue_on_link"] = bool(data.get("issue_on_link", False))
    clean["active"] = bool(data.get("active", True))
    tier_id = _int_or_none(data.get("min_tier_id"))
    if (
        tier_id is not None
        and db.session.scalar(Tier.for_shop(shop).where(Tier.id == tier_id)) is None
    ):
        errors["min_tier_id"] = "no such tier"
    clean["min_tier_id"] = tier_id
    for name in ("points_cost", "max_issued"):
        number = _int_or_none(data.get(name))
        if number is not None and number < 1:
            errors[name] = "1 or more, or empty"
        clean[name] = number
    for name in ("value", "minimum_subtotal", "valid_hours", "points_cost", "max_issued"):
        raw = data.get(name)
        if raw not in (None, "") and _int_or_none(raw) is None:
            errors[name] = "a whole number"
    if errors:
        raise Invalid("the offer has problems: " + ", ".join(errors), fields=errors)
    return clean


def save_offer(
    shop: Shop, data: Mapping[str, Any], offer: CouponOffer | None = None
) -> CouponOffer:
    clean = validate_offer(shop, data)
    if offer is None:
        offer = CouponOffer(shop_id=shop.id)
        db.session.add(offer)
    for name in OFFER_FIELDS:
        setattr(offer, name, clean[name])
    db.session.flush()
    return offer


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _datetime_or_none(value: Any, name: str, errors: dict[str, str]) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        errors[name] = "an ISO 8601 date and time"
        return None
    if moment.tzinfo is None:
        errors[name] = "needs a time zone offset"
        return None
    return moment


def tier_allows(offer: CouponOffer, member: Member) -> bool:
    if offer.min_tier is None:
        return True
    return member.tier is not None and member.tier.threshold >= offer.min_tier.threshold


def issued_count(offer: CouponOffer) -> int:
    return int(
        db.session.scalar(
            select(func.count()).select_from(Coupon).where(Coupon.offer_id == offer.id)
        )
        or 0
    )


def offers_for_member(shop: Shop, member: Member, *, now: datetime) -> list[CouponOffer]:
    """Open offers the member may claim or buy with points, and has not claimed yet."""
    claimed = set(
        db.session.scalars(
            select(Coupon.offer_id).where(
                Coupon.member_id == member.id, Coupon.source == CouponSource.CLAIM
            )
        )
    )
    offers = db.session.scalars(
        CouponOffer.for_shop(shop)
        .where(CouponOffer.active.is_(True))
        .order_by(CouponOffer.ends_at.is_(None), CouponOffer.ends_at, CouponOffer.id.desc())
    )
    result = []
    for offer in offers:
        if not offer.is_open(now) or not tier_allows(offer, member):
            continue
        if offer.claimable and offer.id in claimed and not offer.points_cost:
            continue
        if not offer.claimable and not offer.points_cost:
            continue
        if offer.max_issued is not None and issued_count(offer) >= offer.max_issued:
            continue
        result.append(offer)
    return result


# -- coupons ------------------------------------------------------------------------------------


def find_coupon(shop: Shop, issue_key: str) -> Coupon | None:
    return db.session.scalar(Coupon.for_shop(shop).where(Coupon.issue_key == issue_key))


def get_member_coupon(shop: Shop, member: Member, coupon_id: int) -> Coupon:
    coupon = db.session.scalar(
        Coupon.for_shop(shop).where(Coupon.id == coupon_id, Coupon.member_id == member.id)
    )
    if coupon is None:
        raise NotFound(f"coupon {coupon_id} not found")
    return coupon


def member_coupons(shop: Shop, member: Member) -> list[Coupon]:
    return list(
        db.session.scalars(
            Coupon.for_shop(shop)
            .where(Coupon.member_id == member.id, Coupon.status != CouponStatus.FAILED)
            .order_by(Coupon.issued_at.desc(), Coupon.id.desc())
        )
    )


def new_code(prefix: str = "KZ") -> str:
    return prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


def valid_until(offer: CouponOffer, issued_at: datetime) -> datetime | None:
    ends = [offer.ends_at] if offer.ends_at else []
    if offer.valid_hours:
        ends.append(issued_at + timedelta(hours=offer.valid_hours))
    return min(ends) if ends else None


def issue_coupon(
    shop: Shop,
    member: Member,
    offer: CouponOffer,
    *,
    source: CouponSource,
    issue_key: str,
    now: datetime,
) -> Coupon:
    """Give `member` a coupon from `offer` once per `issue_key`; a repeat returns the first one.

    Adds a pending Coupon with a fresh unique code, and enqueues `create_discount_code` to run
    after the commit. Raises OfferExhausted when the offer's cap is reached. Scenarios call
    this with their own key (e.g. "scenario:<step>:<member>").
    """
    if offer.shop_id != shop.id or member.shop_id != shop.id:
        raise NotFound("offer not found")
    existing = find_coupon(shop, issue_key)
    if existing is not None:
        return existing
    if offer.max_issued is not None and issued_count(offer) >= offer.max_issued:
        raise OfferExhausted("every coupon of this offer has been handed out")
    from .tasks import create_discount_code  # tasks import this module

    for _ in range(5):
        coupon = Coupon(
            shop_id=shop.id,
            offer_id=offer.id,
            member_id=member.id,
            source=source,
            issue_key=issue_key,
            code=new_code(),
            status=CouponStatus.PENDING,
            issued_at=now,
            valid_until=valid_until(offer, now),
        )
        try:
            with db.session.begin_nested():
                db.session.add(coupon)
        except IntegrityError:
            existing = find_coupon(shop, issue_key)
            if existing is not None:
                return existing  # a parallel issue with the same key won
            continue  # a code collision: draw another
        enqueue_after_commit(create_discount_code, coupon.id)
        return coupon
    raise Conflict("could not allocate a coupon code")


def claim_coupon(shop: Shop, member: Member, offer_id: int, *, now: datetime) -> Coupon:
    """The member claims an offer in the LIFF app. A second claim returns the same coupon.

    Raises NotFound (another shop's offer included), OfferClosed, NotEligible.
    """
    offer = get_offer(shop, offer_id)
    if existing := find_coupon(shop, f"claim:{offer.id}:{member.id}"):
        return existing
    if not offer.claimable:
        raise NotEligible("this offer cannot be claimed")
    if not offer.is_open(now):
        raise OfferClosed("this offer is not open")
    if not tier_allows(offer, member):
        raise NotEligible("your tier does not reach this offer yet")
    return issue_coupon(
        shop,
        member,
        offer,
        source=CouponSource.CLAIM,
        issue_key=f"claim:{offer.id}:{member.id}",
        now=now,
    )


def exchange_points(
    shop: Shop, member: Member, offer_id: int, *, request_id: str, now: datetime
) -> Coupon:
    """Buy a coupon with points. `request_id` (one per tap) makes a retried request a no-op.

    Raises NotFound, OfferClosed, NotEligible, membership.NotEnoughPoints.
    """
    offer = get_offer(shop, offer_id)
    key = f"points:{offer.id}:{member.id}:{request_id[:40]}"
    if existing := find_coupon(shop, key):
        return existing
    if not offer.points_cost:
        raise NotEligible("this offer is not for points")
    if not offer.is_open(now):
        raise OfferClosed("this offer is not open")
    if not tier_allows(offer, member):
        raise NotEligible("your tier does not reach this offer yet")
    membership.spend_points(
        shop, member, offer.points_cost, key=f"coupon:{key}", note=offer.title, now=now
    )
    return issue_coupon(
        shop, member, offer, source=CouponSource.POINTS_EXCHANGE, issue_key=key, now=now
    )


def issue_link_incentives(shop: Shop, member: Member, *, now: datetime) -> list[Coupon]:
    """Coupons from every open offer marked as the link incentive, once per member."""
    coupons = []
    for offer in db.session.scalars(
        CouponOffer.for_shop(shop).where(
            CouponOffer.issue_on_link.is_(True), CouponOffer.active.is_(True)
        )
    ):
        if offer.is_open(now):
            coupons.append(
                issue_coupon(
                    shop,
                    member,
                    offer,
                    source=CouponSource.LINK_INCENTIVE,
                    issue_key=f"link:{offer.id}:{member.id}",
                    now=now,
                )
            )
    return coupons


def link_incentive_offers(shop: Shop, *, now: datetime) -> list[CouponOffer]:
    return [
        offer
        for offer in db.session.scalars(
            CouponOffer.for_shop(shop).where(
                CouponOffer.issue_on_link.is_(True), CouponOffer.active.is_(True)
            )
        )
        if offer.is_open(now)
    ]


def record_redemptions(shop: Shop, order: Order, *, now: datetime) -> list[Coupon]:
    """Mark the coupons whose codes the order carries as used by it (idempotent)."""
    codes = {str(code).strip().upper() for code in order.discount_codes or [] if code}
    if not codes or order.shop_id != shop.id:
        return []
    coupons = list(
        db.session.scalars(Coupon.for_shop(shop).where(func.upper(Coupon.code).in_(codes)))
    )
    for coupon in coupons:
        if coupon.order_id not in (None, order.id):
            continue  # single use: the first order keeps it
        coupon.status = CouponStatus.USED
        coupon.used_at = coupon.used_at or order.processed_at
        coupon.order_id = order.id
        coupon.order_total = order.total_price - order.total_refunded
        coupon.order_discount = order.total_discounts
    db.session.flush()
    return coupons


@dataclass(frozen=True)
class OfferStats:
    issued: int
    used: int
    revenue: int  # minor units, from the orders that used the codes


def offer_stats(shop: Shop, offer_ids: Iterable[int]) -> dict[int, OfferStats]:
    ids = list(offer_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            Coupon.offer_id,
            func.count(),
            func.count(Coupon.order_id),
            func.coalesce(func.sum(Coupon.order_total), 0),
        )
        .where(Coupon.shop_id == shop.id, Coupon.offer_id.in_(ids))
        .group_by(Coupon.offer_id)
    )
    stats = {i: OfferStats(0, 0, 0) for i in ids}
    for offer_id, issued, used, revenue in rows:
        stats[int(offer_id)] = OfferStats(int(issued), int(used), int(revenue or 0))
    return stats


def on_order(shop: Shop, order: Order, *, now: datetime) -> None:
    """ORDER_LISTENERS entry (shopify/topics.py): codes on the order mark coupons used."""
    record_redemptions(shop, order, now=now)


def on_linked(shop: Shop, line_user: LineUser, customer: Customer, *, now: datetime) -> None:
    """LINK_LISTENERS entry: the offers marked as the link incentive, once per member."""
    member = membership.ensure_member(shop, customer, now=now)
    issue_link_incentives(shop, member, now=now)
