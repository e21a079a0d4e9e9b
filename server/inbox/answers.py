"""What the bot and the inbox know about the customer behind a conversation.

Reads other features through their services: orders (commerce), subscriber status and the next
delivery (commerce.subscriptions), tier and points (membership), coupons (coupons), segment and
survey answers (segments), scenarios in progress (campaigns). Pure reads; nothing here writes
except `refresh_priority`, which keeps the conversation's subscriber flag current.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from server.campaigns import services as campaigns
from server.commerce import subscriptions
from server.commerce.models import Customer, Order, SubscriptionContract
from server.coupons import services as coupons
from server.db import db
from server.i18n import translate
from server.membership import services as membership
from server.segments import nine_segments
from server.segments.models import SurveyAnswer
from server.shops.models import Shop

from . import services
from .intents import Intent
from .models import Conversation, Priority

RECENT_ORDERS = 5


def locale_of(conversation: Conversation) -> str:
    """The friend's language for bot text: English for "en*", Japanese otherwise."""
    language = (conversation.line_user.language or "ja").lower()
    return "en" if language.startswith("en") else "ja"


def customer_of(conversation: Conversation) -> Customer | None:
    customer = conversation.line_user.customer
    if customer is None or customer.redacted_at is not None:
        return None
    return customer


def refresh_priority(shop: Shop, conversation: Conversation, *, now: datetime) -> bool:
    """Keep the conversation's place in the inbox current: an active subscription puts it above
    others (a priority-support request, flagged by `services.request_priority_support`, stays on
    top). Returns whether priority support was requested (then a person answers, not the bot)."""
    if conversation.priority == Priority.REQUESTED:
        return True
    customer = customer_of(conversation)
    active = (
        customer is not None and subscriptions.subscription_status(shop, customer, now=now).active
    )
    services.mark_subscriber(shop, conversation, active)
    return False


# ---------------------------------------------------------------------------- facts


def order_state(order: Order) -> str:
    if order.cancelled:
        return "cancelled"
    if order.financial_status == "refunded":
        return "refunded"
    if order.fulfillment_status == "fulfilled":
        return "fulfilled"
    if order.fulfillment_status in ("partial", "partially_fulfilled"):
        return "partial"
    return "unfulfilled"


def tracking_url(order: Order) -> str | None:
    """The carrier's tracking link of the order's latest fulfillment, when Shopify gave one."""
    extra = order.extra or {}
    for fulfillment in reversed(extra.get("fulfillments") or []):
        if not isinstance(fulfillment, dict):
            continue
        urls = fulfillment.get("tracking_urls") or [fulfillment.get("tracking_url")]
        for url in urls:
            if isinstance(url, str) and url.startswith("https://"):
                return url
    url = extra.get("tracking_url")
    return url if isinstance(url, str) and url.startswith("https://") else None


def recent_orders(shop: Shop, customer: Customer, limit: int = RECENT_ORDERS) -> list[Order]:
    return list(
        db.session.scalars(
            Order.for_shop(shop)
            .where(Order.customer_id == customer.id)
            .order_by(Order.processed_at.desc(), Order.id.desc())
            .limit(limit)
        )
    )


def next_delivery(shop: Shop, customer: Customer, *, now: datetime) -> datetime | None:
    """The next subscription delivery when Shopify told us (a contract's next billing date)."""
    return db.session.scalar(
        select(func.min(SubscriptionContract.next_billing_date)).where(
            SubscriptionContract.shop_id == shop.id,
            SubscriptionContract.customer_id == customer.id,
            SubscriptionContract.status == "active",
            SubscriptionContract.next_billing_date >= now,
        )
    )


def usable_coupons(shop: Shop, customer: Customer, *, now: datetime) -> list[Any]:
    member = membership.find_member(shop, customer.id)
    if member is None:
        return []
    return [c for c in coupons.member_coupons(shop, member) if c.state(now) == "active"]


def _date(shop: Shop, moment: datetime, locale: str) -> str:
    local = moment.astimezone(ZoneInfo(shop.timezone))
    return f"{local:%Y-%m-%d}" if locale == "en" else f"{local.year}年{local.month}月{local.day}日"


def coupon_label(coupon: Any, shop: Shop, locale: str) -> str:
    until = f" ({_date(shop, coupon.valid_until, locale)}まで)" if coupon.valid_until else ""
    if locale == "en" and coupon.valid_until:
        until = f" (until {_date(shop, coupon.valid_until, locale)})"
    return f"{coupon.offer.title}: {coupon.code}{until}"


# ---------------------------------------------------------------------------- bot answers


def link_buttons(shop: Shop, locale: str) -> list[dict[str, str]]:
    """A quick reply that sends the link keyword, which starts LINE's account-link flow
    (server.line.events: LINK_KEYWORDS → linking.start_account_link)."""
    keyword = "link" if locale == "en" else "連携"
    return [{"label": translate("inbox.bot.link_button", locale=locale), "text": keyword}]


def for_intent(
    shop: Shop, conversation: Conversation, intent: Intent, locale: str, *, now: datetime
) -> tuple[str, list[dict[str, str]]] | None:
    """The bot's answer from the customer's data, or None when only a person can answer."""
    customer = customer_of(conversation)
    if customer is None:
        return translate("inbox.bot.unlinked", locale=locale), link_buttons(shop, locale)
    if intent is Intent.ORDER_STATUS:
        orders = recent_orders(shop, customer, limit=1)
        if not orders:
            return translate("inbox.bot.no_orders", locale=locale), []
        order = orders[0]
        state = translate(f"inbox.bot.order.{order_state(order)}", locale=locale)
        text = translate(
            "inbox.bot.order_status",
            locale=locale,
            name=order.name,
            date=_date(shop, order.processed_at, locale),
            status=state,
        )
        if url := tracking_url(order):
            text += "\n" + translate("inbox.bot.order_tracking", locale=locale, url=url)
        return text, []
    if intent is Intent.POINTS:
        member = membership.find_member(shop, customer.id)
        points = member.points_balance if member else 0
        text = translate("inbox.bot.points", locale=locale, points=f"{points:,}")
        if member is not None and member.tier is not None:
            text += "\n" + translate("inbox.bot.points_tier", locale=locale, tier=member.tier.name)
        return text, []
    if intent is Intent.COUPONS:
        usable = usable_coupons(shop, customer, now=now)
        if not usable:
            return translate("inbox.bot.no_coupons", locale=locale), []
        listed = "\n".join(f"・{coupon_label(c, shop, locale)}" for c in usable[:5])
        return translate("inbox.bot.coupons", locale=locale, list=listed), []
    if intent is Intent.SUBSCRIPTION:
        status = subscriptions.subscription_status(shop, customer, now=now)
        if not status.active:
            return translate("inbox.bot.no_subscription", locale=locale), []
        when = next_delivery(shop, customer, now=now)
        if when is None:
            return None  # an active subscription whose date only the subscription app knows
        return (
            translate("inbox.bot.subscription_next", locale=locale, date=_date(shop, when, locale)),
            [],
        )
    return None


# ---------------------------------------------------------------------------- the panel


def segment_facts(shop: Shop, conversation: Conversation, locale: str) -> dict[str, Any]:
    """The friend's place on the 9-segment map and their survey answers (segments feature)."""
    line_user = conversation.line_user
    profile = nine_segments.find_profile(shop, line_user)
    answers = db.session.scalars(
        SurveyAnswer.for_shop(shop)
        .where(SurveyAnswer.line_user_id == line_user.id)
        .order_by(SurveyAnswer.survey, SurveyAnswer.id)
    ).all()
    survey = []
    for row in answers:
        question, answer = row.question, row.answer
        if row.survey == nine_segments.SURVEY and question in nine_segments.ANSWERS:
            asked = nine_segments.question_message(shop, question, locale)
            question = asked["text"]
            labels = {
                dict(parse_qsl(item["action"]["data"])).get("v"): item["action"]["label"]
                for item in asked["quickReply"]["items"]
            }
            answer = labels.get(answer, answer)
        survey.append({"survey": row.survey, "question": question, "answer": answer})
    cell = profile.cell if profile is not None else None
    return {
        "segment": nine_segments.cell_label(cell, locale) if cell else None,
        "survey": survey,
    }


def scenarios_in_progress(
    shop: Shop, conversation: Conversation, customer: Customer | None
) -> list[dict[str, Any]]:
    """The person's active scenarios, whether they entered as the customer or as the friend."""
    return [
        {
            "scenario_id": e.scenario_id,
            "name": e.scenario_name,
            "holdout": e.holdout,
            "entered_at": e.entered_at.isoformat(),
            "steps_sent": e.steps_sent,
            "steps_total": e.steps_total,
            "next_step": e.next_step,
            "next_due_at": e.next_due_at.isoformat() if e.next_due_at else None,
        }
        for e in campaigns.active_enrollments(
            shop,
            customer_id=customer.id if customer is not None else None,
            line_user_id=conversation.line_user_id,
        )
    ]


def panel(shop: Shop, conversation: Conversation, *, now: datetime, locale: str) -> dict[str, Any]:
    """The customer panel beside the conversation."""
    line_user = conversation.line_user
    line = {
        "display_name": line_user.display_name,
        "language": line_user.language,
        "followed_at": line_user.followed_at.isoformat() if line_user.followed_at else None,
        "blocked": line_user.blocked_at is not None,
    }
    segment = segment_facts(shop, conversation, locale)
    customer = customer_of(conversation)
    scenarios = scenarios_in_progress(shop, conversation, customer)
    if customer is None:
        return {"linked": False, "line": line, "scenarios": scenarios, **segment}
    orders = recent_orders(shop, customer)
    count, spent = db.session.execute(
        select(
            func.count(), func.coalesce(func.sum(Order.total_price - Order.total_refunded), 0)
        ).where(
            Order.shop_id == shop.id,
            Order.customer_id == customer.id,
            Order.cancelled_at.is_(None),
        )
    ).one()
    member = membership.find_member(shop, customer.id)
    status = subscriptions.subscription_status(shop, customer, now=now)
    return {
        **segment,
        "linked": True,
        "line": line,
        "scenarios": scenarios,
        "customer_id": customer.id,
        "name": customer.display_name,
        "email": customer.email,
        "stats": {"orders": int(count or 0), "total_spent": int(spent or 0)},
        "membership": (
            {
                "number": member.member_number,
                "tier": member.tier.name if member.tier else None,
                "points": member.points_balance,
            }
            if member
            else None
        ),
        "subscription": {
            "state": status.state,
            "label": translate(f"inbox.subscription.{status.state}", locale=locale),
            "since": status.since.isoformat() if status.since else None,
            "next_delivery_at": (
                when.isoformat() if (when := next_delivery(shop, customer, now=now)) else None
            ),
        },
        "orders": [
            {
                "id": order.id,
                "name": order.name,
                "processed_at": order.processed_at.isoformat(),
                "total": order.total_price,
                "status": translate(f"inbox.order_state.{order_state(order)}", locale=locale),
                "tracking_url": tracking_url(order),
                "items": [
                    {"title": line.title, "quantity": line.quantity, "price": line.price}
                    for line in order.lines
                ],
            }
            for order in orders
        ],
        "coupons": [
            {"id": c.id, "label": coupon_label(c, shop, locale), "code": c.code}
            for c in usable_coupons(shop, customer, now=now)
        ],
    }
