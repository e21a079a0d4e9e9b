"""Scenario tests: a fixed clock every task reads, a linked LINE friend, scenarios built through
the same service the admin API calls, and `tick` to run the periodic senders at a moment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from server.campaigns import editing
from server.campaigns.models import Enrollment, Scenario, ScheduledMessage
from server.commerce.models import Customer
from server.db import db, utcnow
from server.line.models import LineChannel, LineUser
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory
from tests.factories.line import LineChannelFactory, LineUserFactory

# Monday 6 April 2026, 12:00 in Tokyo (03:00 UTC): outside the default quiet hours.
NOON_JST = datetime(2026, 4, 6, 3, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The time every worker task sees (they read `utcnow()`), fixed and moved by the test."""
    from server.campaigns import tasks as campaign_tasks
    from server.coupons import tasks as coupon_tasks
    from server.line import tasks as line_tasks
    from server.shopify import tasks as shopify_tasks

    frozen = Clock(NOON_JST)
    for module in (campaign_tasks, line_tasks, shopify_tasks, coupon_tasks):
        if hasattr(module, "utcnow"):
            monkeypatch.setattr(module, "utcnow", lambda: frozen.now)
    return frozen


Tick = Callable[[datetime], None]


@pytest.fixture
def tick(clock: Clock) -> Tick:
    """Move the clock to `at` and run the periodic senders as the worker would."""
    from server.campaigns.tasks import send_due_scenario_messages
    from server.line.tasks import send_due_deliveries

    def run(at: datetime) -> None:
        clock.now = at
        send_due_scenario_messages.call_local()
        send_due_deliveries.call_local()

    return run


@dataclass
class Friend:
    shop: Shop
    channel: LineChannel
    customer: Customer | None
    line_user: LineUser

    @property
    def user_id(self) -> str:
        return self.line_user.line_user_id


def make_friend(
    shop: Shop, *, linked: bool = True, customer: Customer | None = None, **line: Any
) -> Friend:
    channel = db.session.scalar(select(LineChannel).where(LineChannel.shop_id == shop.id))
    if channel is None:
        channel = LineChannelFactory(shop=shop)
    if linked and customer is None:
        customer = CustomerFactory(shop=shop)
    user = LineUserFactory(
        shop=shop,
        customer_id=customer.id if linked and customer else None,
        linked_at=utcnow() if linked else None,
        **line,
    )
    db.session.commit()
    return Friend(shop, channel, customer if linked else None, user)


@pytest.fixture
def friend(shop: Shop) -> Friend:
    return make_friend(shop)


def make_scenario(
    shop: Shop, *, active: bool = True, now: datetime = NOON_JST, **data: Any
) -> Scenario:
    fields: dict[str, Any] = {
        "name": "テストシナリオ",
        "trigger": "order_paid",
        "steps": [
            {
                "name": "1通目",
                "delay_days": 1,
                "message": {"type": "text", "text": "{name}様、こんにちは"},
            }
        ],
        **data,
    }
    scenario = editing.create_scenario(shop, fields, now=now)
    if active:
        editing.set_status(shop, scenario, "active", now=now)
    db.session.commit()
    return scenario


def enrollments(scenario: Scenario) -> list[Enrollment]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Enrollment).where(Enrollment.scenario_id == scenario.id).order_by(Enrollment.id)
        )
    )


def scheduled(scenario: Scenario) -> list[ScheduledMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(ScheduledMessage)
            .join(Enrollment, Enrollment.id == ScheduledMessage.enrollment_id)
            .where(Enrollment.scenario_id == scenario.id)
            .order_by(ScheduledMessage.id)
        )
    )
