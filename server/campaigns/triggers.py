"""What enters people into scenarios and what takes them out: the listener functions other
features call (each registered in that feature's tuple, see below), and the periodic finders.

- on_order: shopify/topics.py ORDER_LISTENERS (order created, paid, updated, cancelled)
- on_subscription_change: shopify/topics.py SUBSCRIPTION_LISTENERS (subscriber or not)
- services.redact_customer / export_customer: CUSTOMER_REDACT_ / CUSTOMER_EXPORT_LISTENERS
- on_follow, on_unfollow: line/events.py FOLLOW_LISTENERS, UNFOLLOW_LISTENERS
- on_survey_answered: line/events.py, after the 9-segment survey postback placed a friend
- on_linked, on_unlinked: linking/services.py LINK_LISTENERS, UNLINK_LISTENERS
- on_tier_change: membership/services.py TIER_LISTENERS (by path)
- find_dormant, find_expiring_coupons, find_due_to_reorder: the periodic tasks in tasks.py

Everything runs inside the caller's transaction and is idempotent: each entry has a trigger key
(the order, the follow's time, the cancellation's time, ...), so an event delivered twice
enrolls once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, and_, func, literal, or_, select

from server.commerce.models import Customer, Order
from server.commerce.subscriptions import SubscriptionStatus
from server.coupons.models import Coupon, CouponStatus
from server.db import db
from server.line.models import LineUser
from server.membership.models import Member
from server.membership.services import TierChange
from server.recommendations import serving
from server.shops.models import Shop

from . import cancellation, scheduling, services
from .models import Enrollment, ExitReason, Scenario, Trigger

log = logging.getLogger(__name__)


def _stamp(moment: datetime | None, now: datetime) -> int:
    return int((moment or now).timestamp())


# Orders ----------------------------------------------------------------------------------------


def on_order(shop: Shop, order: Order, *, now: datetime) -> None:
    """ORDER_LISTENERS entry: an order placed after entering converts ("ordered" exit rules);
    a paid order enters the order scenarios whose filters it fits (once per order)."""
    if order.customer_id is None or order.shop_id != shop.id:
        return
    facts: services.OrderFacts | None = None

    def product_facts() -> services.OrderFacts:
        nonlocal facts
        if facts is None:
            facts = services.order_product_facts(shop, order)
        return facts

    if not order.cancelled and (order.financial_status or "") not in services.NOT_ORDERED:

        def converts(rule: dict[str, Any], enrollment: Enrollment) -> bool:
            if (enrollment.context or {}).get("order_id") == order.id:
                return False  # the order that started the enrollment, seen again
            if order.processed_at <= enrollment.entered_at:
                return False
            return services.order_matches(rule, order, product_facts())

        services.exit_on(shop, "ordered", customer_id=order.customer_id, check=converts, now=now)

    if order.cancelled or (order.financial_status or "") not in services.PAID_STATUSES:
        return
    scenarios = services.active_scenarios(shop, Trigger.ORDER_PAID)
    if not scenarios:
        return
    number: int | None = None
    for scenario in scenarios:
        params = scenario.trigger_params or {}
        which = params.get("order", "any")
        if which in ("first", "nth"):
            if number is None:
                number = services.order_number(shop, order)
            wanted = 1 if which == "first" else int(params.get("n") or 1)
            if number != wanted:
                continue
        if not services.order_matches(params, order, product_facts()):
            continue
        services.enroll(
            shop,
            scenario,
            customer_id=order.customer_id,
            trigger_key=f"order:{order.id}",
            context={
                "order_id": order.id,
                "product_ids": sorted(product_facts().product_ids),
                "subscription": order.is_subscription,
            },
            now=now,
        )


# Subscriptions ---------------------------------------------------------------------------------


def on_subscription_change(
    shop: Shop, customer: Customer, status: SubscriptionStatus, *, now: datetime
) -> None:
    """SUBSCRIPTION_LISTENERS entry. Started: "subscribed" exits convert, the started scenarios
    enroll. Cancelled: "unsubscribed" exits fire, the cancelled scenarios enroll, and the reason
    question goes out once when one of them asks for it."""
    if status.active:
        services.exit_on(shop, "subscribed", customer_id=customer.id, now=now)
        for scenario in services.active_scenarios(shop, Trigger.SUBSCRIPTION_STARTED):
            services.enroll(
                shop,
                scenario,
                customer_id=customer.id,
                trigger_key=f"subscribed:{_stamp(status.since, now)}",
                context=cancellation.usage_facts(shop, customer.id),
                now=now,
            )
        return
    if status.state != "cancelled":
        return  # paused: neither a cancellation nor a restart
    services.exit_on(shop, "unsubscribed", customer_id=customer.id, now=now)
    scenarios = services.active_scenarios(shop, Trigger.SUBSCRIPTION_CANCELLED)
    if not scenarios:
        return
    facts = cancellation.usage_facts(shop, customer.id)
    ask = False
    for scenario in scenarios:
        enrollment = services.enroll(
            shop,
            scenario,
            customer_id=customer.id,
            trigger_key=f"cancelled:{_stamp(status.cancelled_at, now)}",
            context=dict(facts),
            now=now,
        )
        if enrollment is not None and not enrollment.holdout:
            ask = ask or bool((scenario.trigger_params or {}).get("ask_reason", True))
    if ask:
        friend = services.reachable_friend(shop, customer_id=customer.id, line_user_id=None)
        if friend is not None:
            cancellation.ask(shop, friend, now=now)


# LINE --------------------------------------------------------------------------------------------


def on_follow(shop: Shop, line_user: LineUser, *, unblocked: bool, now: datetime) -> None:
    """FOLLOW_LISTENERS entry: new friends (and, when the scenario says so, friends who
    unblocked) enter the follow scenarios."""
    for scenario in services.active_scenarios(shop, Trigger.FOLLOW):
        if unblocked and not (scenario.trigger_params or {}).get("include_unblocked"):
            continue
        services.enroll(
            shop,
            scenario,
            line_user_id=line_user.id,
            trigger_key=f"follow:{_stamp(line_user.followed_at, now)}",
            now=now,
        )


def on_unfollow(shop: Shop, line_user: LineUser, *, now: datetime) -> None:
    """UNFOLLOW_LISTENERS entry: nothing more can reach them; every enrollment ends."""
    mine = services.person_enrollments(
        shop, customer_id=line_user.customer_id, line_user_id=line_user.id
    )
    services.end(shop, mine, reason=ExitReason.UNFOLLOWED, now=now)


def on_survey_answered(
    shop: Shop, line_user: LineUser, cell: str, completed_at: datetime, *, now: datetime
) -> None:
    """After a 9-segment survey placed (or moved) the friend in `cell`."""
    for scenario in services.active_scenarios(shop, Trigger.SURVEY_ANSWERED):
        cells = (scenario.trigger_params or {}).get("cells") or []
        if cells and cell not in cells:
            continue
        services.enroll(
            shop,
            scenario,
            line_user_id=line_user.id,
            trigger_key=f"survey:{cell}:{_stamp(completed_at, now)}",
            context={"cell": cell},
            now=now,
        )


# Linking ----------------------------------------------------------------------------------------


def on_linked(shop: Shop, line_user: LineUser, customer: Customer, *, now: datetime) -> None:
    """LINK_LISTENERS entry: "linked" exits convert; the friend's other enrollments now know
    their customer (the customer agreed by linking); the link scenarios enroll."""
    services.exit_on(shop, "linked", line_user_id=line_user.id, now=now)
    for enrollment in services.person_enrollments(shop, line_user_id=line_user.id):
        if enrollment.customer_id is None:
            enrollment.customer_id = customer.id
    for scenario in services.active_scenarios(shop, Trigger.LINK_COMPLETED):
        services.enroll(
            shop,
            scenario,
            customer_id=customer.id,
            trigger_key=f"link:{_stamp(line_user.linked_at, now)}",
            now=now,
        )


def on_unlinked(shop: Shop, line_user: LineUser, customer: Customer, *, now: datetime) -> None:
    """UNLINK_LISTENERS entry: the customer's data may no longer follow the friend into LINE,
    so every enrollment of that customer ends."""
    mine = services.person_enrollments(shop, customer_id=customer.id)
    services.end(shop, mine, reason=ExitReason.UNLINKED, now=now)


# Membership ---------------------------------------------------------------------------------------


def on_tier_change(shop: Shop, change: TierChange) -> None:
    """TIER_LISTENERS entry ("server.campaigns.triggers:on_tier_change")."""
    for scenario in services.active_scenarios(shop, Trigger.TIER_CHANGED):
        params = scenario.trigger_params or {}
        direction = params.get("direction", "any")
        if direction == "up" and not change.upgrade:
            continue
        if direction == "down" and (change.upgrade or change.new_tier_id == change.old_tier_id):
            continue
        tier_ids = params.get("tier_ids") or []  # to these tiers (none: any)
        if tier_ids and change.new_tier_id not in tier_ids:
            continue
        from_ids = params.get("from_tier_ids") or []  # from these tiers (none: any)
        if from_ids and change.old_tier_id not in from_ids:
            continue
        services.enroll(
            shop,
            scenario,
            customer_id=change.customer_id,
            trigger_key=f"tier:{change.new_tier_id}:{_stamp(change.at, change.at)}",
            context={"tier_id": change.new_tier_id},
            now=change.at,
        )


# Periodic finders ---------------------------------------------------------------------------------


def _epoch(column: Any) -> ColumnElement[float]:
    """Seconds since the epoch of a datetime column, on either database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(func.extract("epoch", column), sa.Float)
    return (func.julianday(column) - 2440587.5) * 86400.0


def dormant_people(shop: Shop, params: dict[str, Any], *, now: datetime) -> sa.Select[Any]:
    """SELECT customer_id, line_user_id, trigger_key of customers dormant by `params`:

    - {"days": N}: no order for N days;
    - {"multiple": M, "min_days": D, "days": N}: customers with two or more orders are dormant
      when the time since their last order exceeds M × their own average interval (and at least
      D days); customers with a single order when it is older than N days (if N is given).
    - "max_days": leave out customers gone longer than this (long lost, not dormant).
    The trigger key is the last order's time: a customer re-enters only after ordering again.
    """
    stats = (
        select(
            Order.customer_id.label("customer_id"),
            func.count().label("orders"),
            func.min(Order.processed_at).label("first_at"),
            func.max(Order.processed_at).label("last_at"),
        )
        .where(
            Order.shop_id == shop.id, Order.cancelled_at.is_(None), Order.customer_id.is_not(None)
        )
        .group_by(Order.customer_id)
        .subquery("stats")
    )
    gap = literal(now.timestamp()) - _epoch(stats.c.last_at)
    days = params.get("days")
    multiple = params.get("multiple")
    conditions: list[ColumnElement[bool]] = []
    if multiple:
        interval = (_epoch(stats.c.last_at) - _epoch(stats.c.first_at)) / sa.cast(
            stats.c.orders - 1, sa.Float
        )
        min_gap = float(params.get("min_days") or 0) * 86400.0
        conditions.append(
            and_(
                stats.c.orders >= 2,
                gap > literal(float(multiple)) * interval,
                gap >= literal(min_gap),
            )
        )
        if days:
            conditions.append(
                and_(stats.c.orders == 1, stats.c.last_at < now - timedelta(days=int(days)))
            )
    elif days:
        conditions.append(stats.c.last_at < now - timedelta(days=int(days)))
    if not conditions:
        conditions.append(sa.false())
    where = [or_(*conditions), Customer.redacted_at.is_(None)]
    if params.get("max_days"):
        where.append(stats.c.last_at >= now - timedelta(days=int(params["max_days"])))
    return (
        select(
            stats.c.customer_id.label("customer_id"),
            LineUser.id.label("line_user_id"),
            (literal("dormant:") + sa.cast(stats.c.last_at, sa.String)).label("trigger_key"),
        )
        .select_from(stats)
        .join(Customer, Customer.id == stats.c.customer_id)
        .join(
            LineUser, and_(LineUser.shop_id == shop.id, LineUser.customer_id == stats.c.customer_id)
        )
        .where(*where)
    )


def find_dormant(shop: Shop, scenario: Scenario, *, now: datetime) -> int:
    """Enroll the customers who became dormant (set-based). Returns how many entered."""
    people = dormant_people(shop, scenario.trigger_params or {}, now=now)
    return services.enroll_people(shop, scenario, people, context={"source": "dormant"}, now=now)


def find_expiring_coupons(shop: Shop, scenario: Scenario, *, now: datetime) -> int:
    """Enroll the holders of unused coupons that end within `hours_before` hours (default 24);
    the coupon is the enrollment's, so the steps can show its code."""
    params = scenario.trigger_params or {}
    hours = int(params.get("hours_before") or 24)
    query = (
        select(Coupon.id, Member.customer_id)
        .join(Member, Member.id == Coupon.member_id)
        .where(
            Coupon.shop_id == shop.id,
            Coupon.status == CouponStatus.ACTIVE,
            Coupon.used_at.is_(None),
            Coupon.valid_until > now,
            Coupon.valid_until <= now + timedelta(hours=hours),
        )
        .order_by(Coupon.valid_until)
    )
    offers = params.get("offer_ids") or []
    if offers:
        query = query.where(Coupon.offer_id.in_(offers))
    entered = 0
    for coupon_id, customer_id in db.session.execute(query).all():
        enrollment = services.enroll(
            shop,
            scenario,
            customer_id=customer_id,
            trigger_key=f"coupon:{coupon_id}",
            context={"coupon_id": coupon_id},
            now=now,
        )
        entered += enrollment is not None
    return entered


def find_due_to_reorder(shop: Shop, scenario: Scenario, *, now: datetime) -> int:
    """Enroll the customers whose predicted run-out of a product they buy again falls today in
    the shop's zone (or `days_ahead` days later), optionally only for `product_ids`.

    The trigger key is the purchase the run-out follows (product and time of the last
    purchase): a refreshed prediction that moves the date does not enroll again, the next
    purchase starts a new cycle. A customer due for several products enters once, with all of
    them in the context (the {products} variable). Returns how many entered.
    """
    params = scenario.trigger_params or {}
    zone = scheduling.shop_zone(shop)
    day = now.astimezone(zone).date() + timedelta(days=int(params.get("days_ahead") or 0))
    start = datetime.combine(day, dtime(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), dtime(0), tzinfo=zone).astimezone(UTC)
    wanted = set(params.get("product_ids") or [])
    due: dict[int, list[serving.DueReorder]] = {}
    for item in serving.reorders_due(shop, start=start, end=end):
        if not wanted or item.product_id in wanted:
            due.setdefault(item.customer_id, []).append(item)
    entered = 0
    for customer_id, items in due.items():
        first = items[0]  # the earliest run-out of the day
        enrollment = services.enroll(
            shop,
            scenario,
            customer_id=customer_id,
            trigger_key=f"reorder:{first.product_id}:{_stamp(first.last_purchased_at, now)}",
            context={
                "source": "due_to_reorder",
                "product_ids": [item.product_id for item in items],
                "due_on": day.isoformat(),
            },
            now=now,
        )
        entered += enrollment is not None
    return entered


def scenarios_with_trigger(trigger: Trigger) -> list[Scenario]:
    """Active scenarios of every shop with this trigger (the periodic finders' work list)."""
    return list(
        db.session.scalars(
            select(Scenario)
            .where(Scenario.status == "active", Scenario.trigger == trigger)
            .order_by(Scenario.shop_id, Scenario.id)
        )
    )
