"""What a send brought in, in SQL: attributed orders, and outcomes per group for lift.

An order is attributed to a send (a broadcast, a scenario step: `source_kind`, `source_id`,
the names its tracked links carry) when
- it follows a click on one of the send's links by the customer's LINE friend, within the
  window (7 days) after that click, or
- it used a coupon the send issued (the caller passes the coupon ids as a subquery: the issue
  keys differ by sender).
Cancelled orders count for nothing; revenue is what was kept (total minus refunds), in minor
units. Each order counts once, however many clicks lead to it.

For incremental lift, `group_outcomes` counts, for each group of subjects (treatment and
holdout), how many ordered at all within the window after their start, and the revenue,
whether or not they clicked: the holdout received nothing to click.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select

from server.commerce.models import Order
from server.coupons.models import Coupon
from server.db import db
from server.line.models import LineUser
from server.shops.models import Shop

from .models import LinkClick, TrackedLink

WINDOW = timedelta(days=7)


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def within(later: Any, earlier: Any, window: timedelta) -> ColumnElement[bool]:
    """earlier <= later < earlier + window, for two datetime columns, on either database."""
    if _dialect() == "sqlite":
        # Stored as ISO text in UTC; julianday reads it (fractional days).
        days = window.total_seconds() / 86400
        return and_(
            later >= earlier,
            func.julianday(later) < func.julianday(earlier) + literal(days, sa.Float),
        )
    return and_(later >= earlier, later < earlier + literal(window, sa.Interval))


def revenue() -> ColumnElement[int]:
    return Order.total_price - Order.total_refunded


def clicks(shop: Shop, *, source_kind: str, source_id: int) -> Select[*tuple[Any, ...]]:
    """Human clicks on the send's links: (link_id, line_user_id, visitor, clicked_at)."""
    return (
        select(LinkClick.link_id, LinkClick.line_user_id, LinkClick.visitor, LinkClick.clicked_at)
        .join(TrackedLink, TrackedLink.id == LinkClick.link_id)
        .where(
            TrackedLink.shop_id == shop.id,
            TrackedLink.source_kind == source_kind,
            TrackedLink.source_id == source_id,
            LinkClick.shop_id == shop.id,
            LinkClick.bot.is_(False),
        )
    )


def click_counts(shop: Shop, *, source_kind: str, source_id: int) -> tuple[int, int]:
    """(clicks, unique clickers): a recipient of a personalised link is one clicker however
    often they click; on shared links a visitor (address + browser) stands in for a person."""
    sub = clicks(shop, source_kind=source_kind, source_id=source_id).subquery()
    who = func.coalesce(sa.cast(sub.c.line_user_id, sa.String), sub.c.visitor)
    row = db.session.execute(select(func.count(), func.count(sa.distinct(who)))).one()
    total, unique = row
    return int(total or 0), int(unique or 0)


def attributed_orders(
    shop: Shop,
    *,
    source_kind: str,
    source_id: int,
    coupons: Select[*tuple[Any, ...]] | None = None,
    window: timedelta = WINDOW,
) -> Select[*tuple[Any, ...]]:
    """SELECT (order_id, customer_id, revenue, processed_at) of the orders the send brought in."""
    after_click = (
        select(Order.id)
        .join(
            LineUser,
            and_(LineUser.shop_id == Order.shop_id, LineUser.customer_id == Order.customer_id),
        )
        .join(LinkClick, LinkClick.line_user_id == LineUser.id)
        .join(TrackedLink, TrackedLink.id == LinkClick.link_id)
        .where(
            Order.shop_id == shop.id,
            TrackedLink.shop_id == shop.id,
            TrackedLink.source_kind == source_kind,
            TrackedLink.source_id == source_id,
            LinkClick.bot.is_(False),
            within(Order.processed_at, LinkClick.clicked_at, window),
        )
    )
    reasons = [Order.id.in_(after_click)]
    if coupons is not None:
        reasons.append(
            Order.id.in_(
                select(Coupon.order_id).where(
                    Coupon.shop_id == shop.id,
                    Coupon.id.in_(coupons),
                    Coupon.order_id.is_not(None),
                )
            )
        )
    return select(
        Order.id.label("order_id"),
        Order.customer_id,
        revenue().label("revenue"),
        Order.processed_at,
    ).where(Order.shop_id == shop.id, Order.cancelled_at.is_(None), or_(*reasons))


@dataclass(frozen=True)
class Totals:
    orders: int
    revenue: int
    customers: int


def attributed_totals(
    shop: Shop,
    *,
    source_kind: str,
    source_id: int,
    coupons: Select[*tuple[Any, ...]] | None = None,
    window: timedelta = WINDOW,
) -> Totals:
    sub = attributed_orders(
        shop, source_kind=source_kind, source_id=source_id, coupons=coupons, window=window
    ).subquery()
    orders, total, customers = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(sub.c.revenue), 0),
            func.count(sa.distinct(sub.c.customer_id)),
        )
    ).one()
    return Totals(int(orders or 0), int(total or 0), int(customers or 0))


@dataclass(frozen=True)
class GroupOutcome:
    """One group's subjects: how many, how many ordered within the window, and the revenue per
    subject as Σ and Σ² (for lift.Sample.from_sums)."""

    subjects: int
    converted: int
    revenue: float
    revenue_squares: float


def group_outcomes(
    shop: Shop, subjects: Select[*tuple[Any, ...]], *, window: timedelta = WINDOW
) -> dict[Any, GroupOutcome]:
    """Outcomes per group. `subjects` selects one row per subject with the columns `grp` (e.g.
    "treatment" / "holdout"), `subject_key` (unique per subject: an enrollment or LINE friend
    id), `customer_id` (None: cannot order, counts as not converted) and `start_at` (when the
    subject entered or was sent to). Evaluated as one query."""
    s = subjects.subquery("subjects")
    per_subject = (
        select(
            s.c.grp,
            func.count(Order.id).label("orders"),
            func.coalesce(func.sum(revenue()), 0).label("revenue"),
        )
        .select_from(s)
        .outerjoin(
            Order,
            and_(
                Order.shop_id == shop.id,
                Order.customer_id == s.c.customer_id,
                Order.cancelled_at.is_(None),
                within(Order.processed_at, s.c.start_at, window),
            ),
        )
        .group_by(s.c.grp, s.c.subject_key)
    )
    p = per_subject.subquery("per_subject")
    money = sa.cast(p.c.revenue, sa.Float)
    rows = db.session.execute(
        select(
            p.c.grp,
            func.count(),
            func.sum(case((p.c.orders > 0, 1), else_=0)),
            func.coalesce(func.sum(money), 0.0),
            func.coalesce(func.sum(money * money), 0.0),
        ).group_by(p.c.grp)
    ).all()
    return {
        grp: GroupOutcome(int(n), int(converted or 0), float(total), float(squares))
        for grp, n, converted, total, squares in rows
    }
