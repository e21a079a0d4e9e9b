"""Why a subscription was cancelled, asked in LINE, and the restart timing the answer gives.

When a cancellation is detected (triggers.on_subscription_change) and an active reactivation
scenario asks for it, the friend gets one question with quick replies (余っている / 効果を感じ
ない / 価格 / お届け周期 / その他). "Leftover stock" is followed by "how many units are left?".
Answers come back as postbacks (`action=kz.cr&q=reason&v=leftover`, routed by
server/line/events.py), are kept as survey answers ("cancellation" survey, so segments can
filter on them) and on the person's reactivation enrollments, whose reason-timed steps are then
rescheduled: 2 units left of a 30-day product → the restart message about day 60 (seeds/002).

Answering is optional and changes nothing about the cancellation itself; every message here
says that cancelling, pausing or restarting stays possible without LINE (the store account
page), because leaving must never be made hard.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import or_, select

from server.commerce.models import Order, Product
from server.db import db
from server.i18n import translate
from server.line import delivery
from server.line.models import LineUser
from server.segments import nine_segments
from server.shops.models import Shop

from .models import Enrollment, EnrollmentState, Scenario, Trigger

log = logging.getLogger(__name__)

SURVEY = "cancellation"
POSTBACK_ACTION = "kz.cr"
REASONS: tuple[str, ...] = ("leftover", "no_effect", "price", "frequency", "other")
UNITS: tuple[str, ...] = ("1", "2", "3", "4", "5")
DEFAULT_USAGE_DAYS = 30  # one unit of a monthly subscription product
MAX_RESTART_DAYS = 365


def restart_days(context: Mapping[str, Any]) -> int | None:
    """Days after the cancellation to invite a restart, from the answers, or None when they do
    not say (the step's own delay applies). Leftover stock: units left × days one unit lasts."""
    if context.get("reason") != "leftover":
        return None
    try:
        units = int(context.get("units_left") or 0)
    except (TypeError, ValueError):
        return None
    if units <= 0:
        return None
    usage = context.get("usage_days") or DEFAULT_USAGE_DAYS
    try:
        usage = max(1, int(usage))
    except (TypeError, ValueError):
        usage = DEFAULT_USAGE_DAYS
    return min(units * usage, MAX_RESTART_DAYS)


def usage_facts(shop: Shop, customer_id: int) -> dict[str, Any]:
    """The subscription product the customer had (their latest subscription order) and how long
    one unit lasts, for the enrollment's context."""
    order = db.session.scalar(
        select(Order)
        .where(
            Order.shop_id == shop.id,
            Order.customer_id == customer_id,
            Order.is_subscription.is_(True),
        )
        .order_by(Order.processed_at.desc(), Order.id.desc())
        .limit(1)
    )
    if order is None:
        return {}
    lines = [line for line in order.lines if line.selling_plan_id is not None] or list(order.lines)
    product_ids = [line.product_id for line in lines if line.product_id]
    facts: dict[str, Any] = {"order_id": order.id, "product_ids": product_ids}
    if product_ids:
        usage = db.session.scalars(
            select(Product.usage_days).where(
                Product.shop_id == shop.id,
                Product.id.in_(product_ids),
                Product.usage_days.is_not(None),
            )
        ).all()
        if usage:
            facts["usage_days"] = max(int(u) for u in usage if u)
    return facts


def question(shop: Shop, step: str, *, locale: str) -> dict[str, Any]:
    """The LINE message asking the reason ("reason") or the units left ("units")."""
    values = REASONS if step == "reason" else UNITS
    items = []
    for value in values:
        label = translate(f"campaigns.cancel.{step}.{value}", locale=locale)
        items.append(
            {
                "type": "action",
                "action": {
                    "type": "postback",
                    "label": label[:20],
                    "data": urlencode({"action": POSTBACK_ACTION, "q": step, "v": value}),
                    "displayText": label,
                },
            }
        )
    text = translate(f"campaigns.cancel.ask_{step}", locale=locale, shop=shop.name or shop.domain)
    return {"type": "text", "text": text, "quickReply": {"items": items}}


def ask(shop: Shop, line_user: LineUser, *, now: datetime) -> None:
    """Send the reason question (promotional: quiet hours and the cap apply, as for any message
    the customer did not ask for)."""
    locale = _locale(line_user)
    delivery.deliver(
        shop,
        line_user,
        [question(shop, "reason", locale=locale)],
        kind="promotional",
        source="campaigns:cancellation",
        now=now,
    )


def answer(
    shop: Shop,
    line_user: LineUser,
    step: str,
    value: str,
    *,
    reply_token: str | None,
    reply_token_received_at: datetime | None,
    reply: bool = True,
    now: datetime,
) -> bool:
    """Record one answer, update the person's reactivation enrollments (their reason-timed steps
    move), and reply (unless `reply` is False): the units question after "leftover", else
    thanks. False for an answer that does not exist (nothing changes)."""
    if (step, value) not in {("reason", r) for r in REASONS} | {("units", u) for u in UNITS}:
        return False
    nine_segments.record_answer(shop, line_user, SURVEY, step, value, now=now)
    from . import scheduling  # scheduling imports this module

    for enrollment in _reactivation_enrollments(shop, line_user):
        context = dict(enrollment.context or {})
        if step == "reason":
            context["reason"] = value
            if value != "leftover":
                context.pop("units_left", None)
        else:
            context["units_left"] = int(value)
        enrollment.context = context
        db.session.flush()
        scheduling.reschedule_computed(shop, enrollment, now=now)
    if not reply:  # standby: another module owns the chat, nothing is sent
        return True
    locale = _locale(line_user)
    if step == "reason" and value == "leftover":
        message = question(shop, "units", locale=locale)
    else:
        message = {"type": "text", "text": translate("campaigns.cancel.thanks", locale=locale)}
    delivery.deliver(
        shop,
        line_user,
        [message],
        kind="transactional",
        reply_token=reply_token,
        reply_token_received_at=reply_token_received_at,
        source="campaigns:cancellation",
        now=now,
    )
    return True


def _reactivation_enrollments(shop: Shop, line_user: LineUser) -> list[Enrollment]:
    who = [Enrollment.line_user_id == line_user.id]
    if line_user.customer_id is not None:
        who.append(Enrollment.customer_id == line_user.customer_id)
    return list(
        db.session.scalars(
            select(Enrollment)
            .join(Scenario, Scenario.id == Enrollment.scenario_id)
            .where(
                Enrollment.shop_id == shop.id,
                Enrollment.state == EnrollmentState.ACTIVE,
                Scenario.trigger == Trigger.SUBSCRIPTION_CANCELLED,
                or_(*who),
            )
        )
    )


def _locale(line_user: LineUser) -> str:
    return "en" if (line_user.language or "").lower().startswith("en") else "ja"
