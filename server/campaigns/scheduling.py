"""When step messages are due, and the loop that hands due ones to the delivery pipeline.

The database is the source of truth: each enrollment has at most one `ScheduledMessage` in
the `scheduled` state (its next step). `send_due` claims due rows (FOR UPDATE SKIP LOCKED on
PostgreSQL, so several workers share them; a conditional UPDATE on SQLite), commits the claim,
then builds each message and calls `server.line.delivery.deliver` with kind "promotional":
frequency caps and quiet hours are the pipeline's job, so a step due at 22:00 is deferred by it
to the end of the quiet hours, not here. A claim left behind by a worker that died expires
after CLAIM_LEASE and is taken again; building and handing over happen in one transaction, so
a crash between them loses nothing and sends nothing twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update

from server.commerce.models import Customer
from server.db import db, is_postgresql
from server.errors import DomainError
from server.jobs import enqueue_after_commit
from server.line import delivery
from server.line.models import LineUser
from server.shops.models import DEFAULT_TIMEZONE, Shop

from . import cancellation, links, messages
from .models import (
    Enrollment,
    EnrollmentState,
    ExitReason,
    Scenario,
    ScenarioStatus,
    ScheduledMessage,
    ScheduledStatus,
    Step,
)

log = logging.getLogger(__name__)

CLAIM_BATCH = 500
CLAIM_LEASE = timedelta(minutes=10)
SOURCE_PREFIX = "scenario:"  # Delivery.source of step messages: "scenario:<scenario id>"
LINK_SOURCE = "scenario_step"  # TrackedLink.source_kind of step links; source_id: the step


# When ----------------------------------------------------------------------------------------


def shop_zone(shop: Shop) -> ZoneInfo:
    try:
        return ZoneInfo(shop.timezone or DEFAULT_TIMEZONE)
    except (ValueError, KeyError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def parse_hhmm(value: str) -> dtime:
    hours, _, minutes = value.partition(":")
    return dtime(int(hours), int(minutes or 0))


def due_at(
    *,
    anchor: datetime,
    days: int,
    hours: int = 0,
    at_time: str | None = None,
    zone: ZoneInfo,
) -> datetime:
    """The moment a step falls due, `days`/`hours` after `anchor` (aware UTC).

    With `at_time` ("10:00") the step goes out at that wall-clock time of `zone` on the day the
    delay lands on ("10:00 on day 5": the anchor's local date + 5 days, 10:00); `hours` are then
    ignored. When that moment is before the anchor (day 0, the anchor after 10:00), it is the
    next day's 10:00. Wall-clock arithmetic in the zone keeps 10:00 at 10:00 across DST.
    """
    if at_time:
        local = anchor.astimezone(zone)
        day = local.date() + timedelta(days=days)
        moment = datetime.combine(day, parse_hhmm(at_time), tzinfo=zone)
        if moment < anchor:
            moment = datetime.combine(day + timedelta(days=1), parse_hhmm(at_time), tzinfo=zone)
        return moment.astimezone(UTC)
    return anchor + timedelta(days=days, hours=hours)


def step_due_at(
    shop: Shop, step: Step, enrollment: Enrollment, *, previous_sent_at: datetime | None
) -> datetime:
    """When `step` is due for `enrollment`: after entry, or after the previous step was sent;
    a data-computed delay ("cancellation") replaces the fixed days when the data is known."""
    anchor = enrollment.entered_at
    if step.delay_from == "previous" and previous_sent_at is not None:
        anchor = previous_sent_at
    days = step.delay_days
    hours = step.delay_hours
    if step.delay_source == "cancellation":
        computed = cancellation.restart_days(enrollment.context or {})
        if computed is not None:
            days, hours = computed, 0
    return due_at(anchor=anchor, days=days, hours=hours, at_time=step.at_time, zone=shop_zone(shop))


def next_step(scenario: Scenario, after: Step | None) -> Step | None:
    steps = list(scenario.steps)
    if after is None:
        return steps[0] if steps else None
    for index, step in enumerate(steps):
        if step.id == after.id:
            return steps[index + 1] if index + 1 < len(steps) else None
    # The step was moved or deleted since: the first one placed after its old position.
    return next((s for s in steps if s.position > after.position), None)


def schedule(
    shop: Shop,
    enrollment: Enrollment,
    step: Step,
    *,
    previous_sent_at: datetime | None,
    now: datetime,
) -> ScheduledMessage:
    """Add the scheduled row of `step`; one already due is sent right after the commit."""
    row = ScheduledMessage(
        shop_id=shop.id,
        enrollment_id=enrollment.id,
        step_id=step.id,
        position=step.position,
        due_at=step_due_at(shop, step, enrollment, previous_sent_at=previous_sent_at),
        status=ScheduledStatus.SCHEDULED,
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    if row.due_at <= now:
        from .tasks import send_scheduled

        enqueue_after_commit(send_scheduled, [row.id])
    return row


def schedule_first(shop: Shop, enrollment: Enrollment, *, now: datetime) -> ScheduledMessage | None:
    """Schedule the scenario's first step; one due now is sent after the commit."""
    step = next_step(enrollment.scenario, None)
    if step is None:
        finish(enrollment, EnrollmentState.COMPLETED, now=now)
        return None
    return schedule(shop, enrollment, step, previous_sent_at=None, now=now)


def reschedule_computed(shop: Shop, enrollment: Enrollment, *, now: datetime) -> int:
    """New data for a data-computed delay (a cancellation answer): move the enrollment's
    scheduled step when its delay depends on it. Returns how many rows moved."""
    moved = 0
    for row in pending_rows(enrollment):
        step = row.step
        if step is None or step.delay_source is None:
            continue
        previous = _previous_sent_at(enrollment, row)
        new_due = step_due_at(shop, step, enrollment, previous_sent_at=previous)
        if new_due != row.due_at:
            row.due_at = max(new_due, now)
            moved += 1
    db.session.flush()
    return moved


def pending_rows(enrollment: Enrollment) -> Sequence[ScheduledMessage]:
    return db.session.scalars(
        select(ScheduledMessage).where(
            ScheduledMessage.enrollment_id == enrollment.id,
            ScheduledMessage.status == ScheduledStatus.SCHEDULED,
        )
    ).all()


def _previous_sent_at(enrollment: Enrollment, row: ScheduledMessage) -> datetime | None:
    return db.session.scalar(
        select(ScheduledMessage.sent_at)
        .where(
            ScheduledMessage.enrollment_id == enrollment.id,
            ScheduledMessage.id != row.id,
            ScheduledMessage.sent_at.is_not(None),
        )
        .order_by(ScheduledMessage.sent_at.desc())
        .limit(1)
    )


def cancel_pending(enrollment_ids: Sequence[int], *, reason: str) -> int:
    if not enrollment_ids:
        return 0
    total = 0
    ids = list(enrollment_ids)
    for start in range(0, len(ids), 5000):
        result = db.session.execute(
            update(ScheduledMessage)
            .where(
                ScheduledMessage.enrollment_id.in_(ids[start : start + 5000]),
                ScheduledMessage.status == ScheduledStatus.SCHEDULED,
            )
            .values(status=ScheduledStatus.CANCELLED, error=reason[:255], claim=None)
            .execution_options(synchronize_session=False)
        )
        total += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return total


def finish(
    enrollment: Enrollment,
    state: EnrollmentState,
    *,
    now: datetime,
    reason: ExitReason | None = None,
    detail: str | None = None,
) -> None:
    enrollment.state = state
    enrollment.ended_at = now
    if reason is not None:
        enrollment.exit_reason = reason
        enrollment.exit_detail = (detail or "")[:64] or None


# Sending -------------------------------------------------------------------------------------


def _due(now: datetime) -> object:
    return or_(
        and_(ScheduledMessage.status == ScheduledStatus.SCHEDULED, ScheduledMessage.due_at <= now),
        and_(
            ScheduledMessage.status == ScheduledStatus.SENDING,
            ScheduledMessage.claimed_at < now - CLAIM_LEASE,
        ),
    )


def claim(
    *, now: datetime, ids: Sequence[int] | None = None, limit: int = CLAIM_BATCH
) -> str | None:
    """Mark up to `limit` due rows of active scenarios as ours and commit; None when there are
    none. Rows of a paused scenario stay scheduled until it is active again."""
    due = _due(now)
    query = (
        select(ScheduledMessage.id)
        .join(Enrollment, Enrollment.id == ScheduledMessage.enrollment_id)
        .join(Scenario, Scenario.id == Enrollment.scenario_id)
        .where(due, Scenario.status == ScenarioStatus.ACTIVE)  # type: ignore[arg-type]
        .order_by(ScheduledMessage.due_at, ScheduledMessage.id)
        .limit(limit)
    )
    if ids is not None:
        query = query.where(ScheduledMessage.id.in_(list(ids)))
    if is_postgresql(db.session.get_bind()):
        query = query.with_for_update(skip_locked=True, of=ScheduledMessage)
    found = list(db.session.scalars(query).all())
    if not found:
        db.session.commit()
        return None
    token = uuid.uuid4().hex
    db.session.execute(
        update(ScheduledMessage)
        .where(ScheduledMessage.id.in_(found), due)  # type: ignore[arg-type]
        .values(status=ScheduledStatus.SENDING, claim=token, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return token


def send_claimed(token: str, *, now: datetime) -> int:
    """Build and hand over every row of one claim; commits. Returns the rows handled."""
    rows = db.session.scalars(
        select(ScheduledMessage)
        .where(ScheduledMessage.claim == token)
        .order_by(ScheduledMessage.due_at, ScheduledMessage.id)
    ).all()
    shops: dict[int, Shop | None] = {}
    for row in rows:
        shop = shops.get(row.shop_id) or shops.setdefault(
            row.shop_id, db.session.get(Shop, row.shop_id)
        )
        try:
            with db.session.begin_nested():
                if shop is None:
                    _close(row, ScheduledStatus.CANCELLED, "the shop is gone", now=now)
                else:
                    send_one(shop, row, now=now)
        except DomainError as error:
            # The message could not be built (the coupon offer ran out, a text too long for
            # LINE after the variables were filled in): visible on the row, the next step goes on.
            _close(row, ScheduledStatus.FAILED, error.message, now=now)
            if shop is not None:
                advance(shop, row, now=now)
        except Exception as error:
            log.exception("scheduled message %s failed", row.id)
            _close(row, ScheduledStatus.FAILED, f"internal error ({type(error).__name__})", now=now)
    db.session.commit()
    return len(rows)


def send_due(*, now: datetime, budget: timedelta = timedelta(seconds=50)) -> int:
    """The periodic sweep: claim and send due rows until none are left or the budget is spent."""
    started = time.monotonic()
    handled = 0
    while time.monotonic() - started < budget.total_seconds():
        token = claim(now=now)
        if token is None:
            break
        handled += send_claimed(token, now=now)
    return handled


def send_ids(ids: Sequence[int], *, now: datetime) -> int:
    token = claim(now=now, ids=ids, limit=len(ids))
    return send_claimed(token, now=now) if token else 0


def send_one(shop: Shop, row: ScheduledMessage, *, now: datetime) -> None:
    """One due step for one enrollment: checks, the message, the hand-over, the next step."""
    enrollment = row.enrollment
    step = row.step
    if not enrollment.active:
        _close(
            row, ScheduledStatus.CANCELLED, f"the enrollment ended ({enrollment.state})", now=now
        )
        return
    if step is None:
        _close(row, ScheduledStatus.CANCELLED, "the step was deleted", now=now)
        advance(shop, row, now=now)
        return
    if enrollment.holdout:
        _close(row, ScheduledStatus.SKIPPED, "holdout: not sent, counted in the report", now=now)
        advance(shop, row, now=now)
        return
    line_user, customer = recipient(shop, enrollment)
    if line_user is None or line_user.blocked_at is not None:
        # Nobody to reach any more (the link was removed, the friend blocked): the enrollment
        # ends here rather than piling up skipped steps.
        reason = ExitReason.UNFOLLOWED if line_user is not None else ExitReason.UNLINKED
        _close(row, ScheduledStatus.SKIPPED, "no LINE friend to send to", now=now)
        finish(enrollment, EnrollmentState.EXITED, now=now, reason=reason, detail="at send time")
        return
    built = messages.build(shop, step, enrollment, customer=customer, line_user=line_user, now=now)
    # Links to the shop become the recipient's own /r/<token> links, so a click names them.
    tracked = links.track_messages(
        shop, built.messages, line_user=line_user, source_kind=LINK_SOURCE, source_id=step.id
    )
    sent = delivery.deliver(
        shop,
        line_user,
        tracked,
        kind="promotional",
        source=f"{SOURCE_PREFIX}{enrollment.scenario_id}",
        now=now,
    )
    row.delivery_id = sent.id
    row.coupon_id = built.coupon_id
    _close(row, ScheduledStatus.SENT, None, now=now)
    enrollment.steps_sent += 1
    advance(shop, row, now=now)


def recipient(shop: Shop, enrollment: Enrollment) -> tuple[LineUser | None, Customer | None]:
    """Who a step goes to: the LINE friend linked to the enrollment's customer, or the friend
    who entered. A customer's data is only used while their LINE friend is linked to them."""
    customer = db.session.get(Customer, enrollment.customer_id) if enrollment.customer_id else None
    if customer is not None and customer.redacted_at is not None:
        return None, None
    if customer is not None:
        linked = db.session.scalar(
            select(LineUser).where(LineUser.shop_id == shop.id, LineUser.customer_id == customer.id)
        )
        return linked, customer if linked is not None else None
    if enrollment.line_user_id is None:
        return None, None
    user = db.session.get(LineUser, enrollment.line_user_id)
    if user is None or user.shop_id != shop.id or user.customer_id is not None:
        return None, None  # linked since: the enrollment followed the customer (triggers.on_linked)
    return user, None


def _close(
    row: ScheduledMessage, status: ScheduledStatus, error: str | None, *, now: datetime
) -> None:
    row.status = status
    row.claim = None
    row.error = error[:255] if error else None
    if status == ScheduledStatus.SENT:
        row.sent_at = now


def advance(shop: Shop, row: ScheduledMessage, *, now: datetime) -> None:
    """Schedule the step after `row`'s, or complete the enrollment when it was the last."""
    enrollment = row.enrollment
    if not enrollment.active:
        return
    current = row.step
    following = next_step(enrollment.scenario, current) if current is not None else None
    if current is None:
        following = next((s for s in enrollment.scenario.steps if s.position > row.position), None)
    if following is None:
        finish(enrollment, EnrollmentState.COMPLETED, now=now)
        return
    schedule(shop, enrollment, following, previous_sent_at=now, now=now)
