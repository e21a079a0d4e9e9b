"""The points ledger: earn once per order, reverse on cancel/refund, never below zero, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.db import db
from server.membership import services
from server.membership.models import EntryKind, MembershipSettings, PointsEntry
from tests.factories.commerce import CustomerFactory, OrderFactory

T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


@pytest.fixture
def member(shop):
    # 1 pt per ¥100, 100 pt for linking, points expire after 12 months.
    return services.ensure_member(shop, CustomerFactory(shop=shop), now=T0)


def entries(member) -> list[PointsEntry]:
    return services.ledger(member)


def test_an_order_earns_once_however_often_its_webhook_arrives(shop, member) -> None:
    order = OrderFactory(customer=member.customer, total_price=12_345, processed_at=T0)

    first = services.settle_order(shop, order, now=T0)
    again = [services.settle_order(shop, order, now=T0 + timedelta(minutes=m)) for m in (1, 5, 60)]

    assert first.delta == 123
    assert first.kind == EntryKind.EARN
    assert again == [None, None, None]
    assert member.points_balance == 123
    assert len(entries(member)) == 1


def test_a_cancellation_reverses_the_points(shop, member) -> None:
    order = OrderFactory(customer=member.customer, total_price=5_000, processed_at=T0)
    services.settle_order(shop, order, now=T0)

    order.cancelled_at = T0 + timedelta(hours=2)
    reversal = services.settle_order(shop, order, now=T0 + timedelta(hours=2))
    services.settle_order(shop, order, now=T0 + timedelta(hours=3))  # redelivered

    assert reversal.delta == -50
    assert reversal.kind == EntryKind.REVERSE
    assert member.points_balance == 0
    assert [e.delta for e in entries(member)] == [50, -50]


def test_a_partial_refund_takes_back_its_share(shop, member) -> None:
    order = OrderFactory(customer=member.customer, total_price=10_000, processed_at=T0)
    services.settle_order(shop, order, now=T0)

    order.total_refunded = 4_000
    services.settle_order(shop, order, now=T0 + timedelta(days=1))
    order.total_refunded = 10_000
    services.settle_order(shop, order, now=T0 + timedelta(days=2))

    assert [e.delta for e in entries(member)] == [100, -40, -60]
    assert member.points_balance == 0


def test_a_reversal_after_the_points_were_spent_stops_at_zero(shop, member) -> None:
    order = OrderFactory(customer=member.customer, total_price=30_000, processed_at=T0)
    services.settle_order(shop, order, now=T0)
    services.spend_points(shop, member, 250, key="coupon:x", note="500円クーポン", now=T0)

    order.cancelled_at = T0 + timedelta(days=1)
    reversal = services.settle_order(shop, order, now=T0 + timedelta(days=1))
    services.settle_order(shop, order, now=T0 + timedelta(days=2))  # no second attempt

    assert reversal.delta == -50
    assert member.points_balance == 0
    assert len(entries(member)) == 3


def test_spending_more_than_the_balance_is_refused_and_changes_nothing(shop, member) -> None:
    services.award_bonus(shop, member, 100, key="link", note="ID連携", now=T0)

    with pytest.raises(services.NotEnoughPoints):
        services.spend_points(shop, member, 101, key="coupon:y", note="", now=T0)

    assert member.points_balance == 100
    assert len(entries(member)) == 1


def test_the_same_exchange_key_spends_once(shop, member) -> None:
    services.award_bonus(shop, member, 300, key="link", note="ID連携", now=T0)

    first = services.spend_points(shop, member, 200, key="coupon:z", note="", now=T0)
    second = services.spend_points(shop, member, 200, key="coupon:z", note="", now=T0)

    assert first.id == second.id
    assert member.points_balance == 100


def test_the_link_bonus_is_given_once(shop, member) -> None:
    assert services.award_bonus(shop, member, 100, key="link", note="ID連携", now=T0)
    assert services.award_bonus(shop, member, 100, key="link", note="ID連携", now=T0) is None
    assert member.points_balance == 100


def test_points_expire_twelve_months_later_to_the_day(shop, member) -> None:
    services.award_bonus(shop, member, 100, key="link", note="ID連携", now=T0)
    expiry = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)

    assert services.expire_points(shop, member, now=expiry - timedelta(seconds=1)) == 0
    assert member.points_balance == 100
    assert services.next_expiry(member, now=expiry - timedelta(days=1)) == (100, expiry)

    assert services.expire_points(shop, member, now=expiry) == 100
    assert services.expire_points(shop, member, now=expiry + timedelta(days=1)) == 0
    assert member.points_balance == 0


def test_spending_uses_the_points_that_expire_first(shop, member) -> None:
    services.award_bonus(shop, member, 100, key="a", note="", now=T0)
    services.award_bonus(shop, member, 100, key="b", note="", now=T0 + timedelta(days=60))
    services.spend_points(shop, member, 120, key="coupon:1", note="", now=T0 + timedelta(days=90))

    # The first lot (100) was spent entirely, the second lost 20: only 80 remain, due later.
    first_due = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
    assert services.expire_points(shop, member, now=first_due) == 0
    assert services.next_expiry(member, now=first_due)[0] == 80
    assert services.expire_points(shop, member, now=first_due + timedelta(days=61)) == 80
    assert member.points_balance == 0


def test_expiry_markers_are_written_once_and_hidden_from_the_history(shop, member) -> None:
    services.award_bonus(shop, member, 100, key="a", note="", now=T0)
    services.spend_points(shop, member, 100, key="coupon:1", note="", now=T0)
    due = T0 + timedelta(days=400)

    assert services.members_with_due_points(shop, now=due) == [member.id]
    services.expire_points(shop, member, now=due)

    assert services.members_with_due_points(shop, now=due) == []
    assert [e.kind for e in services.history(member)] == [EntryKind.REDEEM, EntryKind.BONUS]


def test_months_add_up_at_the_end_of_a_month() -> None:
    assert services.add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert services.add_months(datetime(2024, 1, 31, tzinfo=UTC), 1) == datetime(
        2024, 2, 29, tzinfo=UTC
    )
    assert services.add_months(datetime(2026, 11, 15, tzinfo=UTC), 14) == datetime(
        2028, 1, 15, tzinfo=UTC
    )


def test_points_that_never_expire(shop, member) -> None:
    db.session.add(MembershipSettings(shop_id=shop.id, points_expiry_months=0))
    entry = services.award_bonus(shop, member, 100, key="a", note="", now=T0)

    assert entry.expires_at is None
    assert services.expire_points(shop, member, now=T0 + timedelta(days=4000)) == 0


def test_orders_of_another_shop_are_ignored(shop, member) -> None:
    from tests.factories.shops import ShopFactory

    other = OrderFactory(customer=CustomerFactory(shop=ShopFactory()), total_price=9_000)

    assert services.settle_order(shop, other, now=T0) is None
    assert db.session.scalars(select(PointsEntry)).all() == []
