"""Subscriber status from tags, selling-plan orders and contracts, and the list for segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.commerce.models import Customer, SubscriptionContract
from server.commerce.subscriptions import (
    active_subscriber_ids,
    mark_tags,
    subscription_status,
    update_settings,
)
from server.db import db
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory, OrderFactory, OrderLineFactory
from tests.factories.shops import ShopFactory

NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def shop(app_ctx: None) -> Shop:
    return ShopFactory(settings={"subscriber_tags": ["定期購入"], "subscription_lapse_days": 45})


def subscription_order(customer: Customer, *, days_ago: int, cancelled: bool = False) -> None:
    order = OrderFactory(
        customer=customer,
        processed_at=NOW - timedelta(days=days_ago),
        is_subscription=True,
        cancelled_at=NOW - timedelta(days=days_ago - 1) if cancelled else None,
    )
    OrderLineFactory(order=order, selling_plan_id=4_000_000_001, selling_plan_name="30日ごと")


def test_a_customer_with_nothing_has_never_subscribed(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop)

    status = subscription_status(shop, customer, now=NOW)

    assert (status.active, status.state, status.source) == (False, "never", "none")


def test_a_subscriber_tag_makes_an_active_subscriber(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop, tags=["VIP", "定期購入"])
    mark_tags(shop, customer, now=NOW - timedelta(days=10))

    status = subscription_status(shop, customer, now=NOW)

    assert status.active
    assert status.source == "tag"
    assert status.since == NOW - timedelta(days=10)


def test_removing_the_tag_is_a_cancellation(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop, tags=["定期購入"])
    mark_tags(shop, customer, now=NOW - timedelta(days=100))
    customer.tags = []
    mark_tags(shop, customer, now=NOW - timedelta(days=3))

    status = subscription_status(shop, customer, now=NOW)

    assert not status.active
    assert status.state == "cancelled"
    assert status.cancelled_at == NOW - timedelta(days=3)
    assert status.since == NOW - timedelta(days=100)


def test_a_recent_selling_plan_order_makes_an_active_subscriber(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop)
    subscription_order(customer, days_ago=70)
    subscription_order(customer, days_ago=40)

    status = subscription_status(shop, customer, now=NOW)

    assert status.active
    assert status.source == "selling_plan"
    assert status.since == NOW - timedelta(days=70)


def test_no_subscription_order_within_the_lapse_window_is_a_cancellation(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop)
    subscription_order(customer, days_ago=60)

    status = subscription_status(shop, customer, now=NOW)

    assert not status.active
    assert status.cancelled_at == NOW - timedelta(days=60) + timedelta(days=45)


def test_a_cancelled_latest_subscription_order_ends_the_subscription(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop)
    subscription_order(customer, days_ago=40)
    subscription_order(customer, days_ago=10, cancelled=True)

    status = subscription_status(shop, customer, now=NOW)

    assert not status.active
    assert status.cancelled_at == NOW - timedelta(days=9)


def test_contracts_win_and_pauses_are_not_active(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop)
    contract = SubscriptionContract(
        shop_id=shop.id,
        shopify_id=1,
        customer_id=customer.id,
        status="active",
        shopify_created_at=NOW - timedelta(days=200),
    )
    db.session.add(contract)
    db.session.flush()

    assert subscription_status(shop, customer, now=NOW).source == "contract"
    contract.status = "paused"
    assert subscription_status(shop, customer, now=NOW).state == "paused"
    contract.status = "cancelled"
    contract.ended_at = NOW - timedelta(days=1)
    cancelled = subscription_status(shop, customer, now=NOW)
    assert (cancelled.active, cancelled.cancelled_at) == (False, NOW - timedelta(days=1))


def test_the_segment_list_matches_the_per_customer_rule(shop: Shop) -> None:
    tagged = CustomerFactory(shop=shop, tags=["定期購入"])
    on_plan = CustomerFactory(shop=shop)
    subscription_order(on_plan, days_ago=5)
    lapsed = CustomerFactory(shop=shop)
    subscription_order(lapsed, days_ago=90)
    stopped = CustomerFactory(shop=shop)
    subscription_order(stopped, days_ago=20)
    subscription_order(stopped, days_ago=3, cancelled=True)
    by_contract = CustomerFactory(shop=shop)
    db.session.add(
        SubscriptionContract(
            shop_id=shop.id, shopify_id=2, customer_id=by_contract.id, status="active"
        )
    )
    other_shop = ShopFactory(settings={"subscriber_tags": ["定期購入"]})
    CustomerFactory(shop=other_shop, tags=["定期購入"])
    db.session.flush()

    ids = active_subscriber_ids(shop, now=NOW)

    assert ids == {tagged.id, on_plan.id, by_contract.id}
    for customer in (tagged, on_plan, lapsed, stopped, by_contract):
        assert subscription_status(shop, customer, now=NOW).active == (customer.id in ids)


def test_changing_the_subscriber_tags_re_marks_customers(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop, tags=["Active Subscriber"])

    update_settings(shop, tags=["Active Subscriber", " "], lapse=35, now=NOW)

    assert shop.settings["subscriber_tags"] == ["Active Subscriber"]
    assert customer.subscription_tag_since == NOW
    assert subscription_status(shop, customer, now=NOW).active


def test_an_ended_contract_or_removed_tag_after_the_last_order_ends_it_at_once(
    shop: Shop,
) -> None:
    """The subscription app cancels (contract or tag) ten days after the last delivery: the
    customer is a former subscriber now, not after the lapse window."""
    by_tag = CustomerFactory(shop=shop, tags=["定期購入"])
    mark_tags(shop, by_tag, now=NOW - timedelta(days=100))
    subscription_order(by_tag, days_ago=20)
    by_tag.tags = []
    mark_tags(shop, by_tag, now=NOW - timedelta(days=10))
    by_contract = CustomerFactory(shop=shop)
    subscription_order(by_contract, days_ago=20)
    db.session.add(
        SubscriptionContract(
            shop_id=shop.id,
            shopify_id=3,
            customer_id=by_contract.id,
            status="cancelled",
            ended_at=NOW - timedelta(days=10),
        )
    )
    # Ordered on the plan again after an old cancellation: active again.
    came_back = CustomerFactory(shop=shop)
    db.session.add(
        SubscriptionContract(
            shop_id=shop.id,
            shopify_id=4,
            customer_id=came_back.id,
            status="cancelled",
            ended_at=NOW - timedelta(days=30),
        )
    )
    subscription_order(came_back, days_ago=5)
    db.session.flush()

    for customer in (by_tag, by_contract):
        status = subscription_status(shop, customer, now=NOW)
        assert (status.active, status.cancelled_at) == (False, NOW - timedelta(days=10))
    assert subscription_status(shop, came_back, now=NOW).active
    assert active_subscriber_ids(shop, now=NOW) == {came_back.id}
