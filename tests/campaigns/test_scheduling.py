"""Exact send times with a fixed clock: delays, "10:00 on day N" in the shop's zone (DST too),
reason-based delays, and quiet hours and caps enforced by the delivery pipeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from server.campaigns import cancellation, scheduling, services
from server.campaigns.models import EnrollmentState, ScheduledStatus
from server.db import db
from server.line.models import Delivery, DeliveryStatus
from server.shops.models import Shop
from tests.campaigns.conftest import (
    NOON_JST,
    Clock,
    Friend,
    Tick,
    enrollments,
    make_friend,
    make_scenario,
    scheduled,
)
from tests.fakes.line_api import LineStandIn

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO).astimezone(UTC)  # type: ignore[misc]


# -- the rule, as a pure function ------------------------------------------------------------------


def test_plain_delays_count_from_the_anchor() -> None:
    anchor = jst(2026, 4, 6, 12, 34)
    assert scheduling.due_at(anchor=anchor, days=5, zone=TOKYO) == jst(2026, 4, 11, 12, 34)
    assert scheduling.due_at(anchor=anchor, days=0, hours=3, zone=TOKYO) == jst(2026, 4, 6, 15, 34)


def test_ten_oclock_on_day_n_is_ten_in_the_shops_zone() -> None:
    entered = jst(2026, 4, 6, 23, 50)  # late evening in Tokyo, already the 6th in UTC too
    due = scheduling.due_at(anchor=entered, days=5, at_time="10:00", zone=TOKYO)
    assert due == jst(2026, 4, 11, 10, 0)
    assert due == datetime(2026, 4, 11, 1, 0, tzinfo=UTC)
    # 00:30 in Tokyo is still the previous day in UTC; the local date decides "day 5".
    early = jst(2026, 4, 7, 0, 30)
    assert scheduling.due_at(anchor=early, days=5, at_time="10:00", zone=TOKYO) == jst(
        2026, 4, 12, 10, 0
    )


def test_day_zero_after_the_hour_is_the_next_day() -> None:
    after = jst(2026, 4, 6, 14, 0)
    before = jst(2026, 4, 6, 8, 0)
    assert scheduling.due_at(anchor=after, days=0, at_time="10:00", zone=TOKYO) == jst(
        2026, 4, 7, 10, 0
    )
    assert scheduling.due_at(anchor=before, days=0, at_time="10:00", zone=TOKYO) == jst(
        2026, 4, 6, 10, 0
    )


def test_a_set_time_stays_on_the_wall_clock_across_daylight_saving() -> None:
    # New York springs forward on 8 March 2026: 10:00 EST is 15:00 UTC, 10:00 EDT is 14:00 UTC.
    entered = datetime(2026, 3, 5, 16, 0, tzinfo=UTC)  # 11:00 EST
    due = scheduling.due_at(anchor=entered, days=5, at_time="10:00", zone=NEW_YORK)
    assert due == datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    assert due.astimezone(NEW_YORK).hour == 10
    # Without a set time the delay is elapsed time: 5 × 24 h.
    assert scheduling.due_at(anchor=entered, days=5, zone=NEW_YORK) == datetime(
        2026, 3, 10, 16, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("context", "days"),
    [
        ({"reason": "leftover", "units_left": 2, "usage_days": 30}, 60),
        ({"reason": "leftover", "units_left": 3}, 90),  # one unit lasts 30 days unless known
        ({"reason": "leftover", "units_left": 1, "usage_days": 45}, 45),
        ({"reason": "leftover"}, None),  # the units were not answered (yet)
        ({"reason": "price", "units_left": 2}, None),  # only leftover stock moves the date
        ({}, None),
        ({"reason": "leftover", "units_left": 40, "usage_days": 30}, 365),  # capped at a year
    ],
)
def test_restart_timing_follows_the_leftover_stock(context: dict, days: int | None) -> None:
    assert cancellation.restart_days(context) == days


# -- through enrollment and the pipeline -----------------------------------------------------------


def test_steps_go_out_at_their_exact_times_and_in_order(
    shop: Shop, friend: Friend, clock: Clock, tick: Tick, line_api: LineStandIn
) -> None:
    scenario = make_scenario(
        shop,
        trigger="manual",
        steps=[
            {
                "name": "day 5",
                "delay_days": 5,
                "at_time": "10:00",
                "message": {"type": "text", "text": "5日目"},
            },
            {
                "name": "+2h",
                "delay_hours": 2,
                "delay_from": "previous",
                "message": {"type": "text", "text": "2時間後"},
            },
        ],
    )
    friend.channel.frequency_cap = 0
    enrolled = services.enroll(
        shop, scenario, customer_id=friend.customer.id, trigger_key="t", now=NOON_JST
    )
    db.session.commit()
    assert enrolled is not None

    [first] = scheduled(scenario)
    assert first.due_at == jst(2026, 4, 11, 10, 0)
    tick(jst(2026, 4, 11, 9, 59))
    assert line_api.delivered_texts(friend.user_id) == []
    tick(jst(2026, 4, 11, 10, 0))
    assert line_api.delivered_texts(friend.user_id) == ["5日目"]

    rows = scheduled(scenario)
    assert [r.status for r in rows] == [ScheduledStatus.SENT, ScheduledStatus.SCHEDULED]
    assert rows[0].sent_at == jst(2026, 4, 11, 10, 0)
    assert rows[1].due_at == jst(2026, 4, 11, 12, 0)
    tick(jst(2026, 4, 11, 12, 0))
    assert line_api.delivered_texts(friend.user_id) == ["5日目", "2時間後"]
    [enrollment] = enrollments(scenario)
    assert enrollment.state == EnrollmentState.COMPLETED
    assert enrollment.steps_sent == 2
    deliveries = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert {d.kind for d in deliveries} == {"promotional"}
    assert {d.source for d in deliveries} == {f"scenario:{scenario.id}"}


def test_a_step_due_in_quiet_hours_is_deferred_by_the_pipeline_to_their_end(
    shop: Shop, friend: Friend, clock: Clock, tick: Tick, line_api: LineStandIn
) -> None:
    scenario = make_scenario(
        shop,
        trigger="manual",
        steps=[
            {"delay_days": 1, "at_time": "22:30", "message": {"type": "text", "text": "夜の案内"}}
        ],
    )
    services.enroll(shop, scenario, customer_id=friend.customer.id, trigger_key="t", now=NOON_JST)
    db.session.commit()

    tick(jst(2026, 4, 7, 22, 30))  # the scenario hands it over on time ...
    [row] = scheduled(scenario)
    assert row.status == ScheduledStatus.SENT
    delivery = db.session.get(Delivery, row.delivery_id)
    assert delivery is not None
    # ... and the pipeline holds it to the end of the shop's quiet hours (21:00-09:00 JST).
    assert (delivery.status, delivery.deferred_reason) == (DeliveryStatus.PENDING, "quiet_hours")
    assert delivery.due_at == jst(2026, 4, 8, 9, 0)
    assert line_api.delivered_texts(friend.user_id) == []
    tick(jst(2026, 4, 8, 8, 59))
    assert line_api.delivered_texts(friend.user_id) == []
    tick(jst(2026, 4, 8, 9, 0))
    assert line_api.delivered_texts(friend.user_id) == ["夜の案内"]


def test_the_frequency_cap_of_the_pipeline_applies_to_steps(
    shop: Shop, friend: Friend, clock: Clock, tick: Tick, line_api: LineStandIn
) -> None:
    """Three steps on days 1, 2, 3 under the default cap (2 per 7 days): the third waits in the
    pipeline until the first one leaves the window."""
    scenario = make_scenario(
        shop,
        trigger="manual",
        steps=[
            {"delay_days": d, "at_time": "10:00", "message": {"type": "text", "text": f"{d}日目"}}
            for d in (1, 2, 3)
        ],
    )
    services.enroll(shop, scenario, customer_id=friend.customer.id, trigger_key="t", now=NOON_JST)
    db.session.commit()
    for day in (7, 8, 9):
        tick(jst(2026, 4, day, 10, 0))
    assert line_api.delivered_texts(friend.user_id) == ["1日目", "2日目"]
    third = db.session.get(Delivery, scheduled(scenario)[2].delivery_id)
    assert third is not None
    assert (third.deferred_reason, third.due_at) == ("frequency_cap", jst(2026, 4, 14, 10, 0))
    tick(jst(2026, 4, 14, 10, 0))
    assert line_api.delivered_texts(friend.user_id) == ["1日目", "2日目", "3日目"]


def test_a_shop_in_another_zone_gets_its_own_ten_oclock(
    shop: Shop, clock: Clock, tick: Tick, line_api: LineStandIn
) -> None:
    shop.timezone = "America/New_York"
    friend = make_friend(shop)
    friend.channel.quiet_hours_start = friend.channel.quiet_hours_end = "00:00"  # no quiet hours
    scenario = make_scenario(
        shop,
        trigger="manual",
        steps=[{"delay_days": 5, "at_time": "10:00", "message": {"type": "text", "text": "hi"}}],
    )
    entered = datetime(2026, 3, 5, 16, 0, tzinfo=UTC)
    services.enroll(shop, scenario, customer_id=friend.customer.id, trigger_key="t", now=entered)
    db.session.commit()

    [row] = scheduled(scenario)
    assert row.due_at == datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # 10:00 EDT
    tick(datetime(2026, 3, 10, 14, 0, tzinfo=UTC))
    assert line_api.delivered_texts(friend.user_id) == ["hi"]


def test_an_answer_that_arrives_later_moves_the_reason_timed_step(
    shop: Shop, friend: Friend, clock: Clock
) -> None:
    scenario = make_scenario(
        shop,
        trigger="subscription_cancelled",
        steps=[
            {
                "name": "restart",
                "delay_days": 30,
                "at_time": "10:00",
                "delay_source": "cancellation",
                "message": {"type": "text", "text": "再開のご案内"},
            }
        ],
    )
    enrollment = services.enroll(
        shop,
        scenario,
        customer_id=friend.customer.id,
        trigger_key="cancelled:1",
        context={"usage_days": 30},
        now=NOON_JST,
    )
    db.session.commit()
    assert enrollment is not None
    [row] = scheduled(scenario)
    assert row.due_at == jst(2026, 5, 6, 10, 0)  # day 30: nothing known yet

    cancellation.answer(
        shop,
        friend.line_user,
        "reason",
        "leftover",
        reply_token=None,
        reply_token_received_at=None,
        reply=False,
        now=NOON_JST + timedelta(hours=1),
    )
    cancellation.answer(
        shop,
        friend.line_user,
        "units",
        "2",
        reply_token=None,
        reply_token_received_at=None,
        reply=False,
        now=NOON_JST + timedelta(hours=1),
    )
    db.session.commit()
    [row] = scheduled(scenario)
    assert row.due_at == jst(2026, 6, 5, 10, 0)  # 2 units × 30 days: day 60
    assert enrollments(scenario)[0].context["units_left"] == 2

    cancellation.answer(
        shop,
        friend.line_user,
        "reason",
        "price",
        reply_token=None,
        reply_token_received_at=None,
        reply=False,
        now=NOON_JST + timedelta(hours=2),
    )
    db.session.commit()
    assert scheduled(scenario)[0].due_at == jst(2026, 5, 6, 10, 0)  # back to the fixed day 30


def test_a_paused_scenario_holds_its_steps_until_it_is_active_again(
    shop: Shop, friend: Friend, clock: Clock, tick: Tick, line_api: LineStandIn
) -> None:
    from server.campaigns import editing

    scenario = make_scenario(
        shop,
        trigger="manual",
        steps=[{"delay_days": 1, "message": {"type": "text", "text": "明日"}}],
    )
    services.enroll(shop, scenario, customer_id=friend.customer.id, trigger_key="t", now=NOON_JST)
    editing.set_status(shop, scenario, "paused", now=NOON_JST)
    db.session.commit()

    tick(NOON_JST + timedelta(days=1))
    assert line_api.delivered_texts(friend.user_id) == []
    assert scheduled(scenario)[0].status == ScheduledStatus.SCHEDULED
    editing.set_status(shop, scenario, "active", now=NOON_JST + timedelta(days=2))
    db.session.commit()
    tick(NOON_JST + timedelta(days=2))
    assert line_api.delivered_texts(friend.user_id) == ["明日"]


def test_a_claim_left_by_a_dead_worker_is_taken_again_and_sent_once(
    shop: Shop, friend: Friend, clock: Clock, tick: Tick, line_api: LineStandIn
) -> None:
    scenario = make_scenario(
        shop,
        trigger="manual",
        steps=[{"delay_days": 1, "message": {"type": "text", "text": "一度だけ"}}],
    )
    services.enroll(shop, scenario, customer_id=friend.customer.id, trigger_key="t", now=NOON_JST)
    db.session.commit()
    due = NOON_JST + timedelta(days=1)
    token = scheduling.claim(now=due)  # a worker claims, then dies before sending
    assert token is not None

    tick(due + timedelta(minutes=5))  # within the lease: not taken
    assert line_api.delivered_texts(friend.user_id) == []
    tick(due + scheduling.CLAIM_LEASE + timedelta(minutes=1))
    tick(due + scheduling.CLAIM_LEASE + timedelta(minutes=2))
    assert line_api.delivered_texts(friend.user_id) == ["一度だけ"]
    assert db.session.scalar(select(Delivery.id).where(Delivery.shop_id == shop.id)) is not None
    assert len(db.session.scalars(select(Delivery)).all()) == 1
