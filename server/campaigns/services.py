"""Enrollment and exits: who enters a scenario, once per trigger event, and who leaves early.

A person is reachable when there is a LINE friend to send to: the friend linked to the customer,
or a friend not linked to anyone. Only reachable people enter, so the report compares people
who could have received the steps. Entry conditions (the scenario's saved segment and inline
definition) are checked by the segments feature in SQL.

`enroll` takes one person (a webhook, a follow, a link); `enroll_people` takes a whole SELECT
(a segment, the dormant customers) and enrolls it in a few set-based statements. Both are
idempotent per (scenario, person, trigger key), and skip people with an enrollment still in
progress in that scenario. Services flush; the caller commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, and_, exists, func, insert, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from server.commerce.models import CollectionProduct, Customer, Order, Product
from server.db import JSONType, db
from server.jobs import enqueue_after_commit
from server.line.models import LineUser
from server.segments import services as segments
from server.segments.models import Segment
from server.shops.models import Shop

from . import scheduling
from .holdout import in_holdout
from .models import (
    Enrollment,
    EnrollmentState,
    ExitReason,
    Scenario,
    ScenarioStatus,
    ScheduledMessage,
    ScheduledStatus,
    Trigger,
)

log = logging.getLogger(__name__)

ONCE = "once"
# Orders that count as paid for the order trigger (fully refunded or voided ones do not).
PAID_STATUSES = ("paid", "partially_paid", "partially_refunded")
# Orders that do not count as "ordered again" for a conversion exit.
NOT_ORDERED = ("voided", "expired")
CONVERSION_RULES = ("ordered", "subscribed", "linked")
EXIT_RULES = ("ordered", "subscribed", "linked", "unsubscribed")


def active_scenarios(shop: Shop, trigger: Trigger) -> list[Scenario]:
    return list(
        db.session.scalars(
            Scenario.for_shop(shop)
            .where(Scenario.status == ScenarioStatus.ACTIVE, Scenario.trigger == trigger)
            .order_by(Scenario.id)
        )
    )


def subject_of(customer_id: int | None, line_user_id: int | None) -> str:
    return f"c:{customer_id}" if customer_id is not None else f"l:{line_user_id}"


def reachable_friend(
    shop: Shop, *, customer_id: int | None, line_user_id: int | None
) -> LineUser | None:
    """The LINE friend a person's steps would go to, if they follow the account."""
    if customer_id is not None:
        user = db.session.scalar(
            select(LineUser).where(LineUser.shop_id == shop.id, LineUser.customer_id == customer_id)
        )
    elif line_user_id is not None:
        user = db.session.get(LineUser, line_user_id)
        if user is not None and user.shop_id != shop.id:
            user = None
    else:
        user = None
    if user is None or user.followed_at is None or user.blocked_at is not None:
        return None
    return user


def entry_definitions(shop: Shop, scenario: Scenario) -> list[dict[str, Any]]:
    """The segment definitions a person must match to enter (saved segment, inline one)."""
    found: list[dict[str, Any]] = []
    if scenario.segment_id is not None:
        segment = db.session.get(Segment, scenario.segment_id)
        if segment is not None and segment.shop_id == shop.id:
            found.append(segment.definition)
    if scenario.entry_definition and scenario.entry_definition.get("conditions"):
        found.append(scenario.entry_definition)
    return found


def entry_matches(
    shop: Shop,
    scenario: Scenario,
    *,
    customer_id: int | None,
    line_user_id: int | None,
    now: datetime,
) -> bool:
    return all(
        segments.matches(shop, d, customer_id=customer_id, line_user_id=line_user_id, now=now)
        for d in entry_definitions(shop, scenario)
    )


def in_progress(scenario: Scenario, subject: str) -> bool:
    return (
        db.session.scalar(
            select(Enrollment.id)
            .where(
                Enrollment.scenario_id == scenario.id,
                Enrollment.subject == subject,
                Enrollment.state == EnrollmentState.ACTIVE,
            )
            .limit(1)
        )
        is not None
    )


def enroll(
    shop: Shop,
    scenario: Scenario,
    *,
    customer_id: int | None = None,
    line_user_id: int | None = None,
    trigger_key: str,
    context: dict[str, Any] | None = None,
    now: datetime,
) -> Enrollment | None:
    """Enter one person into an active scenario for one trigger event.

    Returns the new enrollment, or None when nothing happened: the scenario is not active, the
    person cannot be reached in LINE, does not match the entry conditions, already has an
    enrollment in progress here, or entered for this trigger event before (a redelivered
    webhook). Schedules the first step (one due now is sent after the commit).
    """
    if scenario.shop_id != shop.id or scenario.status != ScenarioStatus.ACTIVE:
        return None
    if customer_id is None and line_user_id is not None:
        user = db.session.get(LineUser, line_user_id)
        customer_id = user.customer_id if user is not None and user.shop_id == shop.id else None
    if customer_id is not None:
        customer = db.session.get(Customer, customer_id)
        if customer is None or customer.shop_id != shop.id or customer.redacted_at is not None:
            return None
    friend = reachable_friend(shop, customer_id=customer_id, line_user_id=line_user_id)
    if friend is None:
        return None
    subject = subject_of(customer_id, friend.id)
    if in_progress(scenario, subject):
        return None
    if not entry_matches(shop, scenario, customer_id=customer_id, line_user_id=friend.id, now=now):
        return None
    enrollment = Enrollment(
        shop_id=shop.id,
        scenario_id=scenario.id,
        customer_id=customer_id,
        line_user_id=friend.id,
        subject=subject,
        trigger_key=ONCE if scenario.once_per_person else trigger_key[:128],
        state=EnrollmentState.ACTIVE,
        holdout=held_out(scenario, subject),
        entered_at=now,
        steps_sent=0,
        context=context or {},
    )
    try:
        with db.session.begin_nested():
            db.session.add(enrollment)
    except IntegrityError:
        return None  # this person entered for this event already
    enrollment.scenario = scenario
    scheduling.schedule_first(shop, enrollment, now=now)
    log.info("enrollment %s: scenario %s", enrollment.id, scenario.id)
    return enrollment


def held_out(scenario: Scenario, subject: str) -> bool:
    """Whether this person is in the scenario's holdout group: always the same answer for the
    same person and scenario (holdout.py). Held-out people go through the steps' schedule, so
    exits and the report treat them like the others, but nothing is sent to them."""
    percent = scenario.holdout_percent or 0
    return percent > 0 and in_holdout(scenario.holdout_salt, subject, percent)


def _subject_expression(customer_id: Any, line_user_id: Any) -> ColumnElement[str]:
    return sa.case(
        (customer_id.is_not(None), literal("c:") + sa.cast(customer_id, sa.String)),
        else_=literal("l:") + sa.cast(line_user_id, sa.String),
    )


def enroll_people(
    shop: Shop,
    scenario: Scenario,
    people: Select[Any],
    *,
    trigger_key: str | None = None,
    context: dict[str, Any] | None = None,
    now: datetime,
) -> int:
    """Enroll everyone `people` selects, in set-based statements (no loop per person).

    `people` yields `customer_id` and `line_user_id` (the friend linked to the customer, or a
    friend alone), and `trigger_key` when `trigger_key` is not given. The same rules as
    `enroll` apply. Returns how many entered. The first steps due now go out through the
    periodic sender, which is kicked off after the commit.
    """
    if scenario.shop_id != shop.id or scenario.status != ScenarioStatus.ACTIVE:
        return 0
    # Computed once, first: inlined, PostgreSQL misjudged how many rows its joins and the
    # friend check below leave (1 instead of 100k) and rescanned the order totals per person
    # (a 100k audience: minutes). MATERIALIZED is understood by both databases.
    p = people.cte("people").prefix_with("MATERIALIZED")
    friend = LineUser.__table__.alias("friend")
    subject = _subject_expression(p.c.customer_id, friend.c.id)
    if scenario.once_per_person:
        key: Any = literal(ONCE)
    elif trigger_key is not None:
        key = literal(trigger_key[:128])
    else:
        key = sa.func.substr(p.c.trigger_key, 1, 128)
    earlier = Enrollment.__table__.alias("earlier")
    candidates = (
        select(
            literal(shop.id).label("shop_id"),
            literal(scenario.id).label("scenario_id"),
            p.c.customer_id,
            friend.c.id.label("line_user_id"),
            subject.label("subject"),
            key.label("trigger_key"),
            literal(EnrollmentState.ACTIVE.value).label("state"),
            sa.false().label("holdout"),
            literal(now, type_=Enrollment.__table__.c.entered_at.type).label("entered_at"),
            literal(0).label("steps_sent"),
            literal(context or {}, type_=JSONType).label("context"),
        )
        .select_from(p)
        .join(friend, friend.c.id == p.c.line_user_id)
        .where(
            friend.c.shop_id == shop.id,
            friend.c.followed_at.is_not(None),
            friend.c.blocked_at.is_(None),
            # A friend alone only stands for themselves; a linked friend for their customer.
            or_(
                and_(p.c.customer_id.is_not(None), friend.c.customer_id == p.c.customer_id),
                and_(p.c.customer_id.is_(None), friend.c.customer_id.is_(None)),
            ),
            # Nobody already in progress here. Both databases look each candidate up in the
            # (scenario, state, subject) index (PostgreSQL may hash it as an anti-join instead).
            ~exists(
                select(literal(1)).where(
                    earlier.c.scenario_id == scenario.id,
                    earlier.c.subject == subject,
                    earlier.c.state == EnrollmentState.ACTIVE.value,
                )
            ),
        )
    )
    for definition in entry_definitions(shop, scenario):
        members = segments.member_query(
            shop, segments.filters.validate(definition), now=now
        ).subquery()
        candidates = candidates.where(
            or_(
                and_(
                    p.c.customer_id.is_not(None),
                    p.c.customer_id.in_(
                        select(members.c.customer_id).where(members.c.customer_id.is_not(None))
                    ),
                ),
                and_(
                    p.c.customer_id.is_(None),
                    p.c.line_user_id.in_(
                        select(members.c.line_user_id).where(members.c.customer_id.is_(None))
                    ),
                ),
            )
        )
    before = db.session.scalar(select(func.coalesce(func.max(Enrollment.id), 0))) or 0
    columns = [
        "shop_id",
        "scenario_id",
        "customer_id",
        "line_user_id",
        "subject",
        "trigger_key",
        "state",
        "holdout",
        "entered_at",
        "steps_sent",
        "context",
    ]
    dialect = db.session.get_bind().dialect.name
    table: Any = Enrollment.__table__
    statement: Any
    if dialect == "postgresql":
        statement = (
            postgresql.insert(table).from_select(columns, candidates).on_conflict_do_nothing()
        )
    elif dialect == "sqlite":
        statement = sqlite.insert(table).from_select(columns, candidates).on_conflict_do_nothing()
    else:  # pragma: no cover - the app runs on SQLite and PostgreSQL
        statement = insert(table).from_select(columns, candidates)
    db.session.execute(statement)
    new = and_(
        Enrollment.scenario_id == scenario.id,
        Enrollment.id > before,
        Enrollment.entered_at == now,
    )
    entered = db.session.scalar(select(func.count()).select_from(Enrollment).where(new)) or 0
    if entered and scenario.holdout_percent:
        _assign_holdout(scenario, new)
    if entered:
        _schedule_first_for(shop, scenario, new, after_id=before, now=now)
    log.info("scenario %s: %d people enrolled at once", scenario.id, entered)
    return int(entered)


def _assign_holdout(scenario: Scenario, new: ColumnElement[bool]) -> None:
    """Mark the freshly inserted enrollments that fall in the holdout (the HMAC is computed
    here, not in SQL, so both databases and `enroll` agree)."""
    held = [
        enrollment_id
        for enrollment_id, subject in db.session.execute(
            select(Enrollment.id, Enrollment.subject).where(new)
        )
        if held_out(scenario, subject)
    ]
    for start in range(0, len(held), 5000):
        db.session.execute(
            sa.update(Enrollment)
            .where(Enrollment.id.in_(held[start : start + 5000]))
            .values(holdout=True)
            .execution_options(synchronize_session=False)
        )


def _schedule_first_for(
    shop: Shop, scenario: Scenario, new: ColumnElement[bool], *, after_id: int, now: datetime
) -> None:
    """First steps for freshly inserted enrollments, as one INSERT .. SELECT (they all entered at
    `now`, so their first step falls due at one moment)."""
    step = scheduling.next_step(scenario, None)
    if step is None:
        db.session.execute(
            sa.update(Enrollment)
            .where(new)
            .values(state=EnrollmentState.COMPLETED, ended_at=now)
            .execution_options(synchronize_session=False)
        )
        return
    due = scheduling.due_at(
        anchor=now,
        days=step.delay_days,
        hours=step.delay_hours,
        at_time=step.at_time,
        zone=scheduling.shop_zone(shop),
    )
    typed = ScheduledMessage.__table__.c
    rows = select(
        Enrollment.shop_id,
        Enrollment.id,
        literal(step.id),
        literal(step.position),
        literal(due, type_=typed.due_at.type),
        literal(ScheduledStatus.SCHEDULED.value),
        literal(now, type_=typed.created_at.type),
    ).where(
        new,
        Enrollment.state == EnrollmentState.ACTIVE,
        # NOT IN over the few scheduled rows of enrollments this new: the database hashes them
        # once. A correlated NOT EXISTS may be planned as a scan per enrollment while the table's
        # statistics still say "empty" (a shop's first enrollment), which is quadratic.
        Enrollment.id.not_in(
            select(ScheduledMessage.enrollment_id).where(ScheduledMessage.enrollment_id > after_id)
        ),
    )
    db.session.execute(
        insert(ScheduledMessage).from_select(
            ["shop_id", "enrollment_id", "step_id", "position", "due_at", "status", "created_at"],
            rows,
        )
    )
    if due <= now:
        from .tasks import send_due_scenario_messages

        enqueue_after_commit(send_due_scenario_messages)


def enroll_audience(shop: Shop, scenario: Scenario, *, now: datetime) -> int:
    """Enroll everyone the scenario's entry conditions select right now (the merchant's
    "enroll the current audience"); each person at most once through this door."""
    definitions = entry_definitions(shop, scenario)
    base = definitions[0] if definitions else segments.EVERYONE
    people = segments.member_query(shop, segments.filters.validate(base), now=now)
    return enroll_people(shop, scenario, people, trigger_key="audience", now=now)


# Exits ----------------------------------------------------------------------------------------


def person_enrollments(
    shop: Shop,
    *,
    customer_id: int | None = None,
    line_user_id: int | None = None,
    states: Iterable[str] = (EnrollmentState.ACTIVE,),
) -> list[Enrollment]:
    who = []
    if customer_id is not None:
        who.append(Enrollment.customer_id == customer_id)
    if line_user_id is not None:
        who.append(Enrollment.line_user_id == line_user_id)
    if not who:
        return []
    return list(
        db.session.scalars(
            select(Enrollment)
            .where(Enrollment.shop_id == shop.id, Enrollment.state.in_(list(states)), or_(*who))
            .order_by(Enrollment.id)
        )
    )


def end(
    shop: Shop,
    enrollments: Sequence[Enrollment],
    *,
    reason: ExitReason,
    detail: str | None = None,
    now: datetime,
) -> int:
    """End these enrollments early and cancel their scheduled steps."""
    ended = [e for e in enrollments if e.state == EnrollmentState.ACTIVE and e.shop_id == shop.id]
    for enrollment in ended:
        scheduling.finish(enrollment, EnrollmentState.EXITED, now=now, reason=reason, detail=detail)
    scheduling.cancel_pending([e.id for e in ended], reason=f"cancelled: {reason.value}")
    db.session.flush()
    return len(ended)


def rule_fires(rules: Iterable[Any], name: str, check: Any = None) -> str | None:
    """The first exit rule called `name` whose filters accept `check(rule)`; its name or None."""
    for rule in rules or []:
        if isinstance(rule, dict) and rule.get("rule") == name and (check is None or check(rule)):
            return name
    return None


def exit_on(
    shop: Shop,
    rule: str,
    *,
    customer_id: int | None = None,
    line_user_id: int | None = None,
    check: Any = None,
    now: datetime,
) -> int:
    """End the person's active enrollments whose scenario exits on `rule` ("ordered",
    "subscribed", "linked": converted; "unsubscribed": the subscription ended)."""
    reason = ExitReason.CONVERTED if rule in CONVERSION_RULES else ExitReason.UNSUBSCRIBED
    fired = [
        e
        for e in person_enrollments(shop, customer_id=customer_id, line_user_id=line_user_id)
        if rule_fires(e.scenario.exit_rules, rule, (lambda r, e=e: check(r, e)) if check else None)
    ]
    return end(shop, fired, reason=reason, detail=rule, now=now)


class OrderFacts(NamedTuple):
    """What an order's lines were: product ids, their tags, types and the collections
    (Kizuna ids) they are in now."""

    product_ids: set[int]
    tags: set[str]
    types: set[str]
    collection_ids: set[int]


def order_product_facts(shop: Shop, order: Order) -> OrderFacts:
    ids = {line.product_id for line in order.lines if line.product_id}
    facts = OrderFacts(ids, set(), set(), set())
    if not ids:
        return facts
    for product_tags, product_type in db.session.execute(
        select(Product.tags, Product.product_type).where(
            Product.shop_id == shop.id, Product.id.in_(ids)
        )
    ):
        facts.tags.update(product_tags or [])
        if product_type:
            facts.types.add(product_type)
    facts.collection_ids.update(
        db.session.scalars(
            select(CollectionProduct.collection_id)
            .join(Product, Product.shopify_id == CollectionProduct.product_shopify_id)
            .where(
                CollectionProduct.shop_id == shop.id,
                Product.shop_id == shop.id,
                Product.id.in_(ids),
            )
        )
    )
    return facts


def order_matches(params: dict[str, Any], order: Order, facts: OrderFacts) -> bool:
    """Whether an order fits the product and kind filters of a trigger or an exit rule: any
    of the products, tags, types or collections named (none named: any order)."""
    kind = params.get("kind", "any")
    if kind == "one_off" and order.is_subscription:
        return False
    if kind == "subscription" and not order.is_subscription:
        return False
    wanted = (
        (facts.product_ids, params.get("product_ids")),
        (facts.tags, params.get("product_tags")),
        (facts.types, params.get("product_types")),
        (facts.collection_ids, params.get("collection_ids")),
    )
    if not any(names for _, names in wanted):
        return True
    return any(have & set(names or ()) for have, names in wanted)


def order_number(shop: Shop, order: Order) -> int:
    """Which of the customer's orders this is (1 = first), counting orders not cancelled."""
    if order.customer_id is None:
        return 0
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Order)
            .where(
                Order.shop_id == shop.id,
                Order.customer_id == order.customer_id,
                Order.cancelled_at.is_(None),
                or_(
                    Order.processed_at < order.processed_at,
                    and_(Order.processed_at == order.processed_at, Order.id <= order.id),
                ),
            )
        )
        or 0
    )


# Reads ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InProgress:
    enrollment_id: int
    scenario_id: int
    scenario_name: str
    holdout: bool
    entered_at: datetime
    steps_sent: int
    steps_total: int
    next_step: str | None
    next_due_at: datetime | None


def active_enrollments(
    shop: Shop, *, customer_id: int | None, line_user_id: int | None
) -> list[InProgress]:
    """The person's scenarios in progress and their next step (the inbox's customer panel)."""
    out = []
    for enrollment in person_enrollments(shop, customer_id=customer_id, line_user_id=line_user_id):
        pending = db.session.scalar(
            select(ScheduledMessage)
            .where(
                ScheduledMessage.enrollment_id == enrollment.id,
                ScheduledMessage.status.in_((ScheduledStatus.SCHEDULED, ScheduledStatus.SENDING)),
            )
            .order_by(ScheduledMessage.due_at)
            .limit(1)
        )
        step = pending.step if pending is not None else None
        out.append(
            InProgress(
                enrollment_id=enrollment.id,
                scenario_id=enrollment.scenario_id,
                scenario_name=enrollment.scenario.name,
                holdout=enrollment.holdout,
                entered_at=enrollment.entered_at,
                steps_sent=enrollment.steps_sent,
                steps_total=len(enrollment.scenario.steps),
                next_step=(step.name or None) if step is not None else None,
                next_due_at=pending.due_at if pending is not None else None,
            )
        )
    return out


def segment_in_use(shop: Shop, segment_id: int) -> bool:
    """Whether a scenario enters people through this saved segment."""
    return (
        db.session.scalar(
            select(Scenario.id)
            .where(Scenario.shop_id == shop.id, Scenario.segment_id == segment_id)
            .limit(1)
        )
        is not None
    )


def export_customer(shop: Shop, customer: Customer, *, now: datetime) -> dict[str, Any]:
    """CUSTOMER_EXPORT_LISTENERS entry: the customer's scenario enrollments and their steps."""
    enrollments = db.session.scalars(
        select(Enrollment)
        .where(Enrollment.shop_id == shop.id, Enrollment.customer_id == customer.id)
        .order_by(Enrollment.id)
    ).all()
    out = []
    for e in enrollments:
        steps = db.session.scalars(
            select(ScheduledMessage)
            .where(ScheduledMessage.enrollment_id == e.id)
            .order_by(ScheduledMessage.id)
        ).all()
        out.append(
            {
                "scenario": e.scenario.name,
                "entered_at": e.entered_at.isoformat(),
                "state": e.state,
                "holdout": e.holdout,
                "exit_reason": e.exit_reason,
                "ended_at": e.ended_at.isoformat() if e.ended_at else None,
                "answers": {
                    k: v for k, v in (e.context or {}).items() if k in ("reason", "units_left")
                },
                "messages": [
                    {
                        "step": s.position,
                        "due_at": s.due_at.isoformat(),
                        "status": s.status,
                        "sent_at": s.sent_at.isoformat() if s.sent_at else None,
                    }
                    for s in steps
                ],
            }
        )
    return {"enrollments": out}


def redact_customer(shop: Shop, customer: Customer, *, now: datetime) -> None:
    """CUSTOMER_REDACT_LISTENERS entry: end the customer's enrollments (reason redacted), cancel
    their steps, and drop what their contexts held (answers, products)."""
    mine = person_enrollments(shop, customer_id=customer.id)
    end(shop, mine, reason=ExitReason.REDACTED, now=now)
    for enrollment in db.session.scalars(
        select(Enrollment).where(
            Enrollment.shop_id == shop.id, Enrollment.customer_id == customer.id
        )
    ):
        enrollment.context = {}
    db.session.flush()
