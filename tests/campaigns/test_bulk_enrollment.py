"""Enrolling a whole audience at once (set-based): each reachable person once, one first step each,
however often it is run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import and_, event

from server.campaigns import services
from server.campaigns.models import Enrollment, EnrollmentState, ExitReason
from server.db import db
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


def test_enrolling_a_partly_enrolled_audience_adds_exactly_the_people_missing(shop: Shop) -> None:
    vip = [make_friend(shop, customer=CustomerFactory(shop=shop, tags=["VIP"])) for _ in range(8)]
    alone = [make_friend(shop, linked=False) for _ in range(3)]
    scenario = make_scenario(shop, trigger="manual")  # no entry conditions: every friend
    in_progress = [vip[0], vip[3], vip[5], alone[1]]
    for person in in_progress:
        assert services.enroll(
            shop,
            scenario,
            customer_id=person.customer.id if person.customer else None,
            line_user_id=person.line_user.id,
            trigger_key="order:1",
            now=NOON_JST,
        )
    # An enrollment that ended no longer keeps its person out.
    finished = services.enroll(
        shop, scenario, customer_id=vip[7].customer.id, trigger_key="order:2", now=NOON_JST
    )
    assert finished is not None
    services.end(shop, [finished], reason=ExitReason.CONVERTED, now=NOON_JST)
    later = NOON_JST + timedelta(hours=2)

    added = services.enroll_audience(shop, scenario, now=later)
    again = services.enroll_audience(shop, scenario, now=later + timedelta(hours=1))

    assert (added, again) == (7, 0)
    fresh = [r for r in enrollments(scenario) if r.entered_at == later]
    missing = [p for p in vip + alone if p not in in_progress]
    assert sorted(r.line_user_id for r in fresh) == sorted(p.line_user.id for p in missing)
    active = [r for r in enrollments(scenario) if r.state == EnrollmentState.ACTIVE]
    assert len({r.subject for r in active}) == len(active) == 11
    steps = scheduled(scenario)
    assert sorted(s.enrollment_id for s in steps if s.due_at == later + timedelta(days=1)) == (
        sorted(r.id for r in fresh)
    )


def test_who_is_in_progress_is_looked_up_not_scanned_per_candidate(shop: Shop) -> None:
    """The dedupe against enrollments in progress must look each person up by subject (SQLite)
    or anti-join once (PostgreSQL); a scan of the scenario's active enrollments per candidate
    made re-enrolling 10k people take 30 s."""
    make_friend(shop, customer=CustomerFactory(shop=shop, tags=["VIP"]))
    scenario = make_scenario(shop, trigger="manual", entry_definition=VIP)
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "INSERT INTO scenario_enrollments" in statement:
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        assert services.enroll_audience(shop, scenario, now=NOON_JST) == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    ((statement, parameters),) = statements
    connection = db.session.connection()
    if db.engine.dialect.name == "sqlite":
        plan = [
            row[3]
            for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement,
                parameters,  # type: ignore[arg-type]
            )
        ]
        lookups = [step for step in plan if "earlier" in step]
        assert lookups, plan
        assert all("subject=?" in step for step in lookups), lookups
        return
    (plan,) = connection.exec_driver_sql(
        "EXPLAIN (FORMAT JSON) " + statement,
        parameters,  # type: ignore[arg-type]
    ).scalar_one()
    readers = list(_nodes_reading(plan["Plan"], "earlier", ()))
    assert readers, plan
    for node, ancestors in readers:
        looked_up = "Index" in node["Node Type"] and "subject" in node.get("Index Cond", "")
        anti_join = any(a.get("Join Type") == "Anti" for a in ancestors)
        rescanned = any(a.get("Parent Relationship") == "SubPlan" for a in (*ancestors, node))
        assert looked_up or (anti_join and not rescanned), node


def _nodes_reading(node: dict, alias: str, ancestors: tuple) -> Iterator[tuple[dict, tuple]]:  # type: ignore[type-arg]
    if node.get("Alias") == alias:
        yield node, ancestors
    for child in node.get("Plans", ()):
        yield from _nodes_reading(child, alias, (*ancestors, node))
