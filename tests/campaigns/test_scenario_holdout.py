"""A scenario's holdout: a stable share of the people who enter (one by one or a whole audience
at once) are held out; their steps are skipped, nothing reaches LINE for them, and they count
in the scenario's results."""

from __future__ import annotations

from datetime import timedelta

from server.campaigns import holdout, services
from server.campaigns.models import EnrollmentState, ScheduledStatus
from server.db import db
from server.shops.models import Shop
from tests.campaigns.conftest import (
    NOON_JST,
    Clock,
    Tick,
    enrollments,
    make_friend,
    make_scenario,
    scheduled,
)
from tests.conftest import AdminClient
from tests.fakes.line_api import LineStandIn

STEPS = [
    {"name": "1", "message": {"type": "text", "text": "ようこそ"}},
    {"name": "2", "delay_days": 2, "message": {"type": "text", "text": "2日目"}},
]


def test_held_out_entrants_get_nothing_and_the_split_is_stable(
    shop: Shop, clock: Clock, tick: Tick, line_api: LineStandIn, admin: AdminClient
) -> None:
    friends = [make_friend(shop) for _ in range(30)]
    friends[0].channel.frequency_cap = 0
    scenario = make_scenario(shop, trigger="manual", holdout_percent=40, steps=STEPS)
    for friend in friends:
        services.enroll(
            shop, scenario, customer_id=friend.customer.id, trigger_key="first", now=NOON_JST
        )
    db.session.commit()
    tick(NOON_JST)
    tick(NOON_JST + timedelta(days=2))

    entered = enrollments(scenario)
    expected = {
        e.customer_id: holdout.in_holdout(scenario.holdout_salt, f"c:{e.customer_id}", 40)
        for e in entered
    }
    assert {e.customer_id: e.holdout for e in entered} == expected
    held = {c for c, h in expected.items() if h}
    assert 0 < len(held) < len(friends)  # 40 % of 30, give or take
    for friend in friends:
        texts = line_api.delivered_texts(friend.user_id)
        assert texts == ([] if friend.customer.id in held else ["ようこそ", "2日目"])  # type: ignore[union-attr]
    rows = scheduled(scenario)
    by_enrollment = {e.id: e.customer_id for e in entered}
    assert {r.status for r in rows if by_enrollment[r.enrollment_id] in held} == {
        ScheduledStatus.SKIPPED
    }
    assert {e.state for e in enrollments(scenario)} == {EnrollmentState.COMPLETED}

    listed = admin.get("/api/admin/campaigns/scenarios", shop=shop).json["scenarios"]
    [summary] = [s for s in listed if s["id"] == scenario.id]
    assert summary["stats"]["holdout"] == len(held)

    # The same people entering again (another trigger event) land in the same group.
    for friend in friends:
        services.enroll(
            shop, scenario, customer_id=friend.customer.id, trigger_key="second", now=NOON_JST
        )
    db.session.commit()
    again = [e for e in enrollments(scenario) if e.trigger_key == "second"]
    assert {e.customer_id: e.holdout for e in again} == expected


def test_a_whole_audience_is_split_the_same_way(shop: Shop, clock: Clock) -> None:
    friends = [make_friend(shop) for _ in range(30)]
    scenario = make_scenario(shop, trigger="manual", holdout_percent=40, steps=STEPS)

    assert services.enroll_audience(shop, scenario, now=NOON_JST) == len(friends)
    db.session.commit()

    entered = enrollments(scenario)
    assert {e.customer_id: e.holdout for e in entered} == {
        f.customer.id: holdout.in_holdout(scenario.holdout_salt, f"c:{f.customer.id}", 40)  # type: ignore[union-attr]
        for f in friends
    }
    assert any(e.holdout for e in entered)
    assert not all(e.holdout for e in entered)
