"""Enrolling a whole audience at once (set-based): each reachable person once, one first step each,
however often it is run."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_

from server.campaigns import services
from server.campaigns.models import Enrollment
from server.shops.models import Shop
from tests.campaigns.conftest import NOON_JST, enrollments, make_friend, make_scenario, scheduled
from tests.factories.commerce import CustomerFactory

VIP = {"match": "all", "conditions": [{"field": "customer_tag", "op": "any", "value": ["VIP"]}]}


def test_enrolling_the_audience_twice_enrolls_each_reachable_person_once(shop: Shop) -> None:
    vip = [make_friend(shop, customer=CustomerFactory(shop=shop, tags=["VIP"])) for _ in range(25)]
    make_friend(shop, customer=CustomerFactory(shop=shop, tags=["VIP"]), blocked_at=NOON_JST)
    CustomerFactory(shop=shop, tags=["VIP"])  # no LINE friend to send to
    make_friend(shop)  # not a VIP
    scenario = make_scenario(shop, trigger="manual", entry_definition=VIP)

    first = services.enroll_audience(shop, scenario, now=NOON_JST)
    again = services.enroll_audience(shop, scenario, now=NOON_JST + timedelta(hours=1))

    assert (first, again) == (25, 0)
    rows = enrollments(scenario)
    assert sorted(r.customer_id for r in rows) == sorted(f.customer.id for f in vip)
    assert sorted(r.line_user_id for r in rows) == sorted(f.line_user.id for f in vip)
    steps = scheduled(scenario)
    assert sorted(s.enrollment_id for s in steps) == sorted(r.id for r in rows)
    assert {s.due_at for s in steps} == {NOON_JST + timedelta(days=1)}


def test_first_steps_already_scheduled_are_not_scheduled_again(shop: Shop) -> None:
    for _ in range(5):
        make_friend(shop, customer=CustomerFactory(shop=shop, tags=["VIP"]))
    scenario = make_scenario(shop, trigger="manual", entry_definition=VIP)
    assert services.enroll_audience(shop, scenario, now=NOON_JST) == 5
    new = and_(Enrollment.scenario_id == scenario.id, Enrollment.entered_at == NOON_JST)

    # As when another worker scheduled them first: the same enrollments, scheduled again.
    services._schedule_first_for(shop, scenario, new, after_id=0, now=NOON_JST)

    assert len(scheduled(scenario)) == 5
