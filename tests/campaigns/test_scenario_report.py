"""The scenario's holdout/lift report: every entrant counts in their group, an order within the
conversion window (not before, not after, not cancelled) converts, revenue per entrant, and
continuation for subscription scenarios; the intervals are lift.py's on those counts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.campaigns import lift, reports
from server.campaigns.models import Enrollment, EnrollmentState, ExitReason, Scenario
from server.commerce.models import Customer, SubscriptionContract
from server.db import db
from server.shops.models import Shop
from tests.campaigns.conftest import NOON_JST, make_scenario
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory, OrderFactory

BASE = "/api/admin/campaigns"
DAY = timedelta(days=1)


def enter(shop: Shop, scenario: Scenario, *, holdout: bool, days_ago: int = 20) -> Customer:
    customer = CustomerFactory(shop=shop)
    db.session.flush()
    db.session.add(
        Enrollment(
            shop_id=shop.id,
            scenario_id=scenario.id,
            customer_id=customer.id,
            subject=f"c:{customer.id}",
            trigger_key="k",
            state=EnrollmentState.HELD_OUT if holdout else EnrollmentState.COMPLETED,
            holdout=holdout,
            entered_at=NOON_JST - days_ago * DAY,
        )
    )
    return customer


def order(customer: Customer, *, days_ago: float, total: int, **fields: object) -> None:
    OrderFactory(
        customer=customer,
        total_price=total,
        subtotal_price=total,
        processed_at=NOON_JST - timedelta(days=days_ago),
        **fields,
    )


@pytest.fixture
def scenario(shop: Shop) -> Scenario:
    return make_scenario(shop, holdout_percent=30, conversion_window_days=14)


def test_conversion_and_revenue_per_entrant_compare_treatment_with_holdout(
    shop: Shop, scenario: Scenario
) -> None:
    treated = [enter(shop, scenario, holdout=False) for _ in range(10)]
    held = [enter(shop, scenario, holdout=True) for _ in range(5)]
    # Entered 20 days ago: orders 19 and 7 days ago are within the 14-day window.
    order(treated[0], days_ago=19, total=5000)
    order(treated[0], days_ago=7, total=1000)  # one person, two orders: converted once
    order(treated[1], days_ago=10, total=3000)
    order(treated[2], days_ago=7, total=4000, total_refunded=1000)
    order(treated[3], days_ago=15, total=2000)
    order(treated[4], days_ago=3, total=9000)  # day 17: after the window
    order(treated[5], days_ago=21, total=9000)  # before entering
    order(treated[6], days_ago=8, total=9000, cancelled_at=NOON_JST - 7 * DAY)
    order(held[0], days_ago=12, total=3000)
    db.session.commit()

    report = reports.lift_report(shop, scenario, now=NOON_JST)

    assert report["treatment"]["entrants"] == 10
    assert report["treatment"]["converted"] == 4
    assert report["treatment"]["conversion_rate"] == pytest.approx(0.4)
    assert report["treatment"]["revenue"] == 5000 + 1000 + 3000 + 3000 + 2000
    assert report["treatment"]["revenue_per_entrant"] == pytest.approx(1400)
    assert (report["holdout"]["entrants"], report["holdout"]["converted"]) == (5, 1)
    assert report["holdout"]["revenue_per_entrant"] == pytest.approx(600)
    expected = lift.proportion_difference(4, 10, 1, 5)
    assert expected is not None
    assert report["conversion_difference"] == expected.as_dict()
    assert report["conversion_difference"]["estimate"] == pytest.approx(0.2)
    assert report["conversion_relative"] == pytest.approx(1.0)
    revenue = lift.mean_difference(
        lift.Sample.from_values([6000, 3000, 3000, 2000, 0, 0, 0, 0, 0, 0]),
        lift.Sample.from_values([3000, 0, 0, 0, 0]),
    )
    assert revenue is not None
    assert report["revenue_per_entrant_difference"]["estimate"] == pytest.approx(800)
    assert report["revenue_per_entrant_difference"]["low"] == pytest.approx(revenue.low)
    assert report["revenue_per_entrant_difference"]["high"] == pytest.approx(revenue.high)
    assert report["incremental_revenue"] == pytest.approx(8000)
    assert report["subscription"] is False
    assert report["treatment"]["continuation_rate"] is None
    assert report["continuation_difference"] is None


def test_people_who_left_early_still_count_and_open_windows_are_reported(
    shop: Shop, scenario: Scenario
) -> None:
    converted = enter(shop, scenario, holdout=False)
    enter(shop, scenario, holdout=False, days_ago=3)  # window still open
    enter(shop, scenario, holdout=True, days_ago=3)
    db.session.flush()
    row = db.session.query(Enrollment).filter_by(customer_id=converted.id).one()
    row.state, row.exit_reason = EnrollmentState.EXITED, ExitReason.CONVERTED
    order(converted, days_ago=18, total=3000)
    db.session.commit()

    report = reports.lift_report(shop, scenario, now=NOON_JST)

    assert report["treatment"]["entrants"] == 2
    assert report["treatment"]["converted"] == 1
    assert report["treatment"]["window_open"] == 1
    assert report["holdout"]["window_open"] == 1
    assert report["conversion_difference"]["estimate"] == pytest.approx(0.5)
    assert report["revenue_per_entrant_difference"] is None  # one holdout entrant: no variance


def test_without_a_holdout_there_is_nothing_to_compare(shop: Shop, scenario: Scenario) -> None:
    enter(shop, scenario, holdout=False)
    db.session.commit()
    report = reports.lift_report(shop, scenario, now=NOON_JST)
    assert report["holdout"]["entrants"] == 0
    assert report["holdout"]["conversion_rate"] is None
    assert report["conversion_difference"] is None
    assert report["revenue_per_entrant_difference"] is None


def test_a_subscription_scenario_reports_continuation(shop: Shop) -> None:
    retention = make_scenario(shop, trigger="subscription_started", exit_rules=["unsubscribed"])
    treated = [enter(shop, retention, holdout=False) for _ in range(4)]
    held = [enter(shop, retention, holdout=True) for _ in range(4)]
    for number, (customer, status) in enumerate(
        [(treated[0], "active"), (treated[1], "active"), (treated[2], "active"),
         (treated[3], "cancelled"), (held[0], "active"), (held[1], "cancelled")]
    ):  # fmt: skip
        db.session.add(
            SubscriptionContract(
                shop_id=shop.id, shopify_id=700 + number, customer_id=customer.id, status=status
            )
        )
    db.session.commit()

    report = reports.lift_report(shop, retention, now=NOON_JST)

    assert report["subscription"] is True
    assert (report["treatment"]["continuing"], report["holdout"]["continuing"]) == (3, 1)
    assert report["treatment"]["continuation_rate"] == pytest.approx(0.75)
    assert report["holdout"]["continuation_rate"] == pytest.approx(0.25)
    expected = lift.proportion_difference(3, 4, 1, 4)
    assert expected is not None
    assert report["continuation_difference"] == expected.as_dict()


def test_the_report_api_answers_for_the_shops_own_scenario(
    admin: AdminClient, shop: Shop, scenario: Scenario
) -> None:
    enter(shop, scenario, holdout=False)
    enter(shop, scenario, holdout=True)
    db.session.commit()

    response = admin.get(f"{BASE}/scenarios/{scenario.id}/report", shop=shop)

    assert response.status_code == 200, response.json
    assert response.json["scenario"] == {
        "id": scenario.id,
        "name": scenario.name,
        "status": "active",
    }
    assert response.json["window_days"] == 14
    assert response.json["holdout_percent"] == 30
    assert response.json["treatment"]["entrants"] == 1
    assert admin.get(f"{BASE}/scenarios/999999/report", shop=shop).status_code == 404
