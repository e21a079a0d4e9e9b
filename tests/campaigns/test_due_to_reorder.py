"""The "due to reorder" trigger: the daily task enrolls the customers whose predicted run-out
date (recommendations' repurchase timing) is today in the shop's zone, once per purchase cycle,
however often it runs and however the prediction moves; the step names the product."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.campaigns.models import Scenario
from server.commerce.models import Product
from server.db import db
from server.recommendations.models import ReorderPrediction
from server.shops.models import Shop
from tests.campaigns.conftest import Clock, Friend, enrollments, make_friend, make_scenario
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory
from tests.factories.recommendations import sellable
from tests.factories.shops import ShopFactory
from tests.fakes.line_api import LineStandIn

TOKYO = ZoneInfo("Asia/Tokyo")
# The task's daily run: 09:40 on Tuesday 7 April 2026 in Tokyo.
MORNING = datetime(2026, 4, 7, 0, 40, tzinfo=UTC)


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO).astimezone(UTC)  # type: ignore[misc]


def predict(
    friend: Friend | int,
    product: Product,
    due: datetime,
    *,
    last: datetime | None = None,
    **extra: Any,
) -> ReorderPrediction:
    """Store a run-out prediction, as recommendations.services does after training."""
    customer_id = friend if isinstance(friend, int) else friend.customer.id  # type: ignore[union-attr]
    row = db.session.query(ReorderPrediction).filter_by(
        customer_id=customer_id, product_id=product.id
    ).one_or_none() or ReorderPrediction(
        shop_id=product.shop_id, customer_id=customer_id, product_id=product.id
    )
    row.last_purchased_at = last or due - timedelta(days=30)
    row.cycle_days = 30.0
    row.due_at = due
    for name, value in extra.items():
        setattr(row, name, value)
    db.session.add(row)
    db.session.commit()
    return row


def reorder_scenario(shop: Shop, **params: Any) -> Scenario:
    return make_scenario(
        shop,
        trigger="due_to_reorder",
        trigger_params=params,
        steps=[
            {
                "name": "そろそろ",
                "message": {"type": "text", "text": "{name}様、{products}がそろそろなくなる頃です"},
            }
        ],
    )


def run_daily(clock: Clock, at: datetime) -> None:
    from server.campaigns.tasks import find_customers_due_to_reorder

    clock.now = at
    find_customers_due_to_reorder.call_local()


def test_the_customers_whose_run_out_is_today_in_the_shops_zone_enter(
    shop: Shop, clock: Clock, line_api: LineStandIn
) -> None:
    aojiru = sellable(shop, "青汁")
    draft = sellable(shop, "終売品", status="draft")
    today_early, today_late, yesterday, tomorrow, subscriber, stopped, no_friend = (
        make_friend(shop) for _ in range(7)
    )
    predict(today_early, aojiru, jst(2026, 4, 7, 0, 30))
    predict(today_late, aojiru, jst(2026, 4, 7, 23, 59))
    predict(yesterday, aojiru, jst(2026, 4, 6, 23, 59))
    predict(tomorrow, aojiru, jst(2026, 4, 8, 0, 0))
    predict(subscriber, aojiru, jst(2026, 4, 7, 12, 0), subscribed=True)  # reorders by itself
    predict(stopped, draft, jst(2026, 4, 7, 12, 0))  # no longer sold
    no_friend.line_user.blocked_at = MORNING - timedelta(days=1)
    predict(no_friend, aojiru, jst(2026, 4, 7, 12, 0))
    elsewhere = ShopFactory()
    theirs = CustomerFactory(shop=elsewhere)
    predict(theirs.id, sellable(elsewhere, "よその青汁"), jst(2026, 4, 7, 12, 0))
    scenario = reorder_scenario(shop)

    run_daily(clock, MORNING)

    entered = enrollments(scenario)
    assert sorted(e.customer_id for e in entered) == sorted(
        [today_early.customer.id, today_late.customer.id]  # type: ignore[union-attr]
    )
    assert {e.context["product_ids"][0] for e in entered} == {aojiru.id}
    assert {e.context["due_on"] for e in entered} == {"2026-04-07"}
    assert line_api.delivered_texts(today_early.user_id) == [
        f"{today_early.customer.last_name} {today_early.customer.first_name}様、"  # type: ignore[union-attr]
        "青汁がそろそろなくなる頃です"
    ]
    assert line_api.delivered_texts(yesterday.user_id) == []


def test_a_due_event_enrolls_once_per_purchase_cycle(
    shop: Shop, friend: Friend, clock: Clock, line_api: LineStandIn
) -> None:
    aojiru = sellable(shop, "青汁")
    last = jst(2026, 3, 8, 10, 0)
    predict(friend, aojiru, jst(2026, 4, 7, 8, 0), last=last)
    scenario = reorder_scenario(shop)

    run_daily(clock, MORNING)
    run_daily(clock, MORNING + timedelta(hours=2))  # the task runs again the same day
    [first] = enrollments(scenario)
    assert first.trigger_key == f"reorder:{aojiru.id}:{int(last.timestamp())}"
    assert len(line_api.delivered(friend.user_id)) == 1

    # The nightly refresh moves the run-out to tomorrow, with no new purchase: same cycle.
    predict(friend, aojiru, jst(2026, 4, 8, 8, 0), last=last)
    run_daily(clock, MORNING + timedelta(days=1))
    assert len(enrollments(scenario)) == 1

    # They bought it again: a new cycle, which enters on its own run-out day.
    again = jst(2026, 4, 9, 10, 0)
    predict(friend, aojiru, jst(2026, 5, 9, 8, 0), last=again)
    run_daily(clock, MORNING + timedelta(days=2))
    assert len(enrollments(scenario)) == 1
    run_daily(clock, jst(2026, 5, 9, 9, 40))
    later = enrollments(scenario)
    assert [e.trigger_key for e in later] == [
        first.trigger_key,
        f"reorder:{aojiru.id}:{int(again.timestamp())}",
    ]
    assert len(line_api.delivered(friend.user_id)) == 2


def test_two_products_due_the_same_day_make_one_enrollment_naming_both(
    shop: Shop, friend: Friend, clock: Clock, line_api: LineStandIn
) -> None:
    aojiru, collagen = sellable(shop, "青汁"), sellable(shop, "コラーゲン")
    predict(friend, collagen, jst(2026, 4, 7, 6, 0))
    predict(friend, aojiru, jst(2026, 4, 7, 18, 0))
    scenario = reorder_scenario(shop)

    run_daily(clock, MORNING)

    [enrollment] = enrollments(scenario)
    assert enrollment.context["product_ids"] == [collagen.id, aojiru.id]
    [text] = line_api.delivered_texts(friend.user_id)
    assert "コラーゲン、青汁がそろそろなくなる頃です" in text


def test_days_ahead_and_products_narrow_who_enters(
    shop: Shop, clock: Clock, line_api: LineStandIn
) -> None:
    aojiru, collagen = sellable(shop, "青汁"), sellable(shop, "コラーゲン")
    in_three_days, collagen_buyer, today = (make_friend(shop) for _ in range(3))
    predict(in_three_days, aojiru, jst(2026, 4, 10, 12, 0))
    predict(collagen_buyer, collagen, jst(2026, 4, 10, 12, 0))
    predict(today, aojiru, jst(2026, 4, 7, 12, 0))
    scenario = reorder_scenario(shop, days_ahead=3, product_ids=[aojiru.id])

    run_daily(clock, MORNING)

    assert [e.customer_id for e in enrollments(scenario)] == [in_three_days.customer.id]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("zone", "due", "expected"),
    [
        # 00:40 UTC on 7 April is still 6 April (20:40) in New York.
        ("America/New_York", datetime(2026, 4, 6, 12, 0, tzinfo=UTC), True),
        ("America/New_York", datetime(2026, 4, 7, 12, 0, tzinfo=UTC), False),
        ("Asia/Tokyo", datetime(2026, 4, 6, 12, 0, tzinfo=UTC), False),
    ],
)
def test_today_is_the_shops_own_date(
    clock: Clock, app_ctx: None, zone: str, due: datetime, expected: bool
) -> None:
    shop = ShopFactory(timezone=zone)
    friend = make_friend(shop)
    predict(friend, sellable(shop, "青汁"), due)
    scenario = reorder_scenario(shop)

    run_daily(clock, MORNING)

    assert bool(enrollments(scenario)) is expected


def test_the_editor_checks_the_trigger_params(admin: AdminClient, shop: Shop) -> None:
    base = {"name": "買い替え", "trigger": "due_to_reorder", "steps": []}
    for params, field in (
        ({"days_ahead": 99}, "trigger_params.days_ahead"),
        ({"days_ahead": "soon"}, "trigger_params.days_ahead"),
        ({"product_ids": [999999]}, "trigger_params.product_ids"),
        ({"product_ids": "all"}, "trigger_params.product_ids"),
    ):
        response = admin.post(
            "/api/admin/campaigns/scenarios", shop=shop, json={**base, "trigger_params": params}
        )
        assert response.status_code == 400, response.json
        assert field in response.json["details"]["fields"], response.json
    assert db.session.query(Scenario).count() == 0
    product = sellable(shop, "青汁")
    db.session.commit()
    created = admin.post(
        "/api/admin/campaigns/scenarios",
        shop=shop,
        json={**base, "trigger_params": {"days_ahead": 2, "product_ids": [product.id]}},
    )
    assert created.status_code == 201, created.json
    assert created.json["trigger_params"] == {"days_ahead": 2, "product_ids": [product.id]}
