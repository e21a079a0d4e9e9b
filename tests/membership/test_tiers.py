"""Tiers: the spend that reaches each one, the window, and changes others can react to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.membership import services
from server.membership.models import MembershipSettings, TierWindow
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.membership import TierFactory

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
heard: list[services.TierChange] = []


def remember(shop: object, change: services.TierChange) -> None:
    heard.append(change)


@pytest.fixture
def tiers(shop):
    return [
        TierFactory(shop=shop, name="REGULAR", threshold=0),
        TierFactory(shop=shop, name="SILVER", threshold=10_000),
        TierFactory(shop=shop, name="GOLD", threshold=30_000),
    ]


@pytest.mark.parametrize(
    ("spend", "tier", "remaining"),
    [
        (0, "REGULAR", 10_000),
        (9_999, "REGULAR", 1),
        (10_000, "SILVER", 20_000),
        (26_800, "SILVER", 3_200),
        (29_999, "SILVER", 1),
        (30_000, "GOLD", 0),
        (99_000, "GOLD", 0),
    ],
)
def test_the_tier_boundaries(shop, tiers, spend: int, tier: str, remaining: int) -> None:
    customer = CustomerFactory(shop=shop)
    if spend:
        OrderFactory(customer=customer, total_price=spend, processed_at=NOW - timedelta(days=3))

    member = services.ensure_member(shop, customer, now=NOW)
    progress = services.progress_for(services.list_tiers(shop), member.qualifying_spend)

    assert member.tier.name == tier
    assert progress.remaining == remaining


def test_spend_older_than_twelve_months_does_not_count(shop, tiers) -> None:
    customer = CustomerFactory(shop=shop)
    OrderFactory(customer=customer, total_price=40_000, processed_at=NOW - timedelta(days=366))
    OrderFactory(customer=customer, total_price=12_000, processed_at=NOW - timedelta(days=364))

    member = services.ensure_member(shop, customer, now=NOW)

    assert member.qualifying_spend == 12_000
    assert member.tier.name == "SILVER"


def test_a_lifetime_window_counts_everything(shop, tiers) -> None:
    from server.db import db

    db.session.add(MembershipSettings(shop_id=shop.id, tier_window=TierWindow.LIFETIME))
    customer = CustomerFactory(shop=shop)
    OrderFactory(customer=customer, total_price=40_000, processed_at=NOW - timedelta(days=900))

    member = services.ensure_member(shop, customer, now=NOW)

    assert member.tier.name == "GOLD"


def test_cancelled_refunded_and_unpaid_orders_do_not_count(shop, tiers) -> None:
    customer = CustomerFactory(shop=shop)
    day = NOW - timedelta(days=1)
    OrderFactory(customer=customer, total_price=20_000, processed_at=day, cancelled_at=day)
    OrderFactory(customer=customer, total_price=20_000, total_refunded=15_000, processed_at=day)
    OrderFactory(
        customer=customer, total_price=20_000, financial_status="pending", processed_at=day
    )

    member = services.ensure_member(shop, customer, now=NOW)

    assert member.qualifying_spend == 5_000
    assert member.tier.name == "REGULAR"


def test_an_order_and_its_cancellation_move_the_tier_and_announce_it(
    shop, tiers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "TIER_LISTENERS", (f"{__name__}:remember",))
    heard.clear()
    customer = CustomerFactory(shop=shop)
    member = services.ensure_member(shop, customer, now=NOW)
    heard.clear()  # joining set REGULAR
    order = OrderFactory(customer=customer, total_price=31_000, processed_at=NOW)

    services.settle_order(shop, order, now=NOW)
    assert member.tier.name == "GOLD"
    order.cancelled_at = NOW + timedelta(hours=1)
    services.settle_order(shop, order, now=NOW + timedelta(hours=1))
    services.settle_order(shop, order, now=NOW + timedelta(hours=1))  # redelivered

    assert member.tier.name == "REGULAR"
    assert [(c.old_tier_id, c.new_tier_id) for c in heard] == [
        (tiers[0].id, tiers[2].id),
        (tiers[2].id, tiers[0].id),
    ]
    assert heard[0].upgrade
    assert not heard[1].upgrade


def test_the_daily_refresh_drops_a_tier_when_spend_leaves_the_window(shop, tiers) -> None:
    customer = CustomerFactory(shop=shop)
    OrderFactory(customer=customer, total_price=12_000, processed_at=NOW - timedelta(days=360))
    member = services.ensure_member(shop, customer, now=NOW)
    assert member.tier.name == "SILVER"

    changed = services.refresh_all_tiers(shop, now=NOW + timedelta(days=10))

    assert changed == 1
    assert member.tier.name == "REGULAR"
    assert services.refresh_all_tiers(shop, now=NOW + timedelta(days=10)) == 0


def test_without_tiers_a_member_has_none(shop) -> None:
    member = services.ensure_member(shop, CustomerFactory(shop=shop), now=NOW)

    assert member.tier is None
    assert services.progress_for([], 5000).next_tier is None


def test_member_numbers_are_ten_digits_with_a_check_digit(shop) -> None:
    member = services.ensure_member(shop, CustomerFactory(shop=shop), now=NOW)
    number = member.member_number

    assert len(number) == 10
    assert number.isdigit()
    assert services.luhn_check_digit(number[:-1]) == int(number[-1])
    assert services.ensure_member(shop, member.customer, now=NOW).id == member.id
