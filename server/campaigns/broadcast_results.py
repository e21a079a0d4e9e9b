"""A broadcast's results: deliveries by state, clicks, orders and revenue attributed within 7
days (after a click on the broadcast's links, or with its coupons), and conversion and revenue
per recipient against the holdout, with confidence intervals (lift.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select

from server.db import db
from server.line.models import Delivery, DeliveryStatus
from server.segments.models import Segment
from server.shops.models import Shop

from . import attribution, lift
from .broadcasts import SOURCE, shop_zone
from .models import Broadcast, BroadcastRecipient

WINDOW = attribution.WINDOW


def delivery_counts(shop: Shop, broadcast: Broadcast) -> dict[str, int]:
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .join(BroadcastRecipient, BroadcastRecipient.delivery_id == Delivery.id)
        .where(
            BroadcastRecipient.broadcast_id == broadcast.id,
            BroadcastRecipient.shop_id == shop.id,
            Delivery.shop_id == shop.id,
        )
        .group_by(Delivery.status)
    ).all()
    by_status = {status: int(count) for status, count in rows}
    return {
        "delivered": by_status.get(DeliveryStatus.SENT, 0)
        + by_status.get(DeliveryStatus.OUTBOX, 0),
        "outbox": by_status.get(DeliveryStatus.OUTBOX, 0),
        "failed": by_status.get(DeliveryStatus.FAILED, 0),
        "held": by_status.get(DeliveryStatus.HELD, 0),
        "pending": by_status.get(DeliveryStatus.PENDING, 0)
        + by_status.get(DeliveryStatus.SENDING, 0),
        "cancelled": by_status.get(DeliveryStatus.CANCELLED, 0),
    }


def issued_coupons(broadcast: Broadcast) -> Any:
    return select(BroadcastRecipient.coupon_id).where(
        BroadcastRecipient.broadcast_id == broadcast.id,
        BroadcastRecipient.coupon_id.is_not(None),
    )


def results(shop: Shop, broadcast: Broadcast, *, now: datetime) -> dict[str, Any]:
    """Delivery, clicks, attributed orders and revenue, and lift against the holdout."""
    counts = delivery_counts(shop, broadcast)
    clicks, unique = attribution.click_counts(shop, source_kind=SOURCE, source_id=broadcast.id)
    coupons_issued = issued_coupons(broadcast)
    totals = attribution.attributed_totals(
        shop, source_kind=SOURCE, source_id=broadcast.id, coupons=coupons_issued
    )
    out: dict[str, Any] = {
        "status": broadcast.status,
        "started_at": broadcast.started_at.isoformat() if broadcast.started_at else None,
        "window_days": WINDOW.days,
        "window_ends_at": (broadcast.started_at + WINDOW).isoformat()
        if broadcast.started_at
        else None,
        "window_complete": broadcast.started_at is not None
        and now >= broadcast.started_at + WINDOW,
        "recipients": broadcast.recipients_count or 0,
        "holdout": broadcast.holdout_count or 0,
        **counts,
        "clicks": clicks,
        "unique_clicks": unique,
        "orders": totals.orders,
        "revenue": totals.revenue,
        "buyers": totals.customers,
        "currency": shop.currency,
        "daily": daily(shop, broadcast),
        "lift": lift_report(shop, broadcast),
    }
    return out


def lift_report(shop: Shop, broadcast: Broadcast) -> dict[str, Any] | None:
    """Treatment (sent to, whether delivered or not) against the holdout, over the window after
    sending started: the share who ordered and revenue per recipient, with 95 % intervals."""
    if broadcast.started_at is None or not broadcast.holdout_count:
        return None
    subjects = select(
        case((BroadcastRecipient.holdout.is_(True), "holdout"), else_="treatment").label("grp"),
        BroadcastRecipient.line_user_id.label("subject_key"),
        BroadcastRecipient.customer_id.label("customer_id"),
        literal(broadcast.started_at, Broadcast.started_at.type).label("start_at"),
    ).where(BroadcastRecipient.broadcast_id == broadcast.id, BroadcastRecipient.shop_id == shop.id)
    groups = attribution.group_outcomes(shop, subjects, window=WINDOW)
    empty = attribution.GroupOutcome(0, 0, 0.0, 0.0)
    treated, held = groups.get("treatment", empty), groups.get("holdout", empty)
    conversion = lift.proportion_difference(
        treated.converted, treated.subjects, held.converted, held.subjects
    )
    revenue = lift.mean_difference(
        lift.Sample.from_sums(treated.subjects, treated.revenue, treated.revenue_squares),
        lift.Sample.from_sums(held.subjects, held.revenue, held.revenue_squares),
    )

    def group(outcome: attribution.GroupOutcome) -> dict[str, Any]:
        n = outcome.subjects
        return {
            "subjects": n,
            "converted": outcome.converted,
            "conversion_rate": outcome.converted / n if n else None,
            "revenue": outcome.revenue,
            "revenue_per_subject": outcome.revenue / n if n else None,
        }

    held_rate = held.converted / held.subjects if held.subjects else 0.0
    return {
        "treatment": group(treated),
        "holdout": group(held),
        "conversion_difference": conversion.as_dict() if conversion else None,
        "conversion_relative": lift.relative(conversion.estimate, held_rate)
        if conversion
        else None,
        "revenue_per_subject_difference": revenue.as_dict() if revenue else None,
        "incremental_revenue": revenue.estimate * treated.subjects if revenue else None,
    }


def daily(shop: Shop, broadcast: Broadcast) -> list[dict[str, Any]]:
    """Clicks, attributed orders and revenue for each day of the window (shop's time zone)."""
    if broadcast.started_at is None:
        return []
    zone = shop_zone(shop)
    first = broadcast.started_at.astimezone(zone).date()
    days = {
        first + timedelta(days=i): {"clicks": 0, "orders": 0, "revenue": 0}
        for i in range(WINDOW.days + 1)
    }
    click_rows = attribution.clicks(shop, source_kind=SOURCE, source_id=broadcast.id).subquery()
    for (clicked_at,) in db.session.execute(select(click_rows.c.clicked_at)):
        day = _aware(clicked_at).astimezone(zone).date()
        if day in days:
            days[day]["clicks"] += 1
    orders = attribution.attributed_orders(
        shop, source_kind=SOURCE, source_id=broadcast.id, coupons=issued_coupons(broadcast)
    ).subquery()
    for processed_at, amount in db.session.execute(select(orders.c.processed_at, orders.c.revenue)):
        day = _aware(processed_at).astimezone(zone).date()
        if day in days:
            days[day]["orders"] += 1
            days[day]["revenue"] += int(amount or 0)
    return [{"date": day.isoformat(), **values} for day, values in sorted(days.items())]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def summaries(shop: Shop, broadcast_ids: list[int]) -> dict[int, dict[str, int]]:
    """Delivered counts and unique clicks of many broadcasts at once (the list page)."""
    out = {i: {"delivered": 0, "unique_clicks": 0} for i in broadcast_ids}
    if not broadcast_ids:
        return out
    delivered = db.session.execute(
        select(BroadcastRecipient.broadcast_id, func.count())
        .join(Delivery, Delivery.id == BroadcastRecipient.delivery_id)
        .where(
            BroadcastRecipient.shop_id == shop.id,
            BroadcastRecipient.broadcast_id.in_(broadcast_ids),
            Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.OUTBOX)),
        )
        .group_by(BroadcastRecipient.broadcast_id)
    ).all()
    for broadcast_id, count in delivered:
        out[broadcast_id]["delivered"] = int(count)
    for broadcast_id in broadcast_ids:
        out[broadcast_id]["unique_clicks"] = attribution.click_counts(
            shop, source_kind=SOURCE, source_id=broadcast_id
        )[1]
    return out


def segment_names(shop: Shop) -> dict[int, str]:
    return {
        s.id: s.name for s in db.session.scalars(select(Segment).where(Segment.shop_id == shop.id))
    }
