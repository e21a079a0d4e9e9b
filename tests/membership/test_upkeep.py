"""The daily upkeep task: due points expire once, tiers follow the rolling window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.membership import services, tasks
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.membership import TierFactory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_daily_upkeep_expires_points_and_moves_tiers(shop) -> None:
    TierFactory(shop=shop, name="REGULAR", threshold=0)
    TierFactory(shop=shop, name="SILVER", threshold=10_000)
    customer = CustomerFactory(shop=shop)
    order = OrderFactory(customer=customer, total_price=12_000, processed_at=T0)
    services.settle_order(shop, order, now=T0)
    member = services.find_member(shop, customer.id)
    assert (member.tier.name, member.points_balance) == ("SILVER", 120)

    a_year_later = T0 + timedelta(days=366)
    expired = tasks.refresh_shop(shop, now=a_year_later)
    again = tasks.refresh_shop(shop, now=a_year_later + timedelta(days=1))

    member = services.find_member(shop, customer.id)
    assert expired == 120
    assert again == 0
    assert member.points_balance == 0
    assert member.tier.name == "REGULAR"
