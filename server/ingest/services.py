"""Recording and running inbound events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from server.db import db, is_transient_conflict, utcnow

from .models import WebhookEvent

log = logging.getLogger(__name__)

# After this many failed runs an event stays visible with its error instead of retrying forever.
MAX_ATTEMPTS = 8


def insert_event(
    *,
    source: str,
    event_id: str,
    topic: str,
    payload: dict[str, Any],
    shop_id: int | ColumnElement[Any] | None,
    api_version: str | None = None,
    triggered_at: datetime | None = None,
    correlation_id: str | None = None,
) -> tuple[int, int | None] | None:
    """Store an event once, in one statement; returns (event id, shop id), or None for a
    redelivery. `shop_id` may be a scalar subquery (the shop looked up inside the insert).

    `INSERT .. ON CONFLICT DO NOTHING RETURNING` is the transaction's first statement: on SQLite
    (WAL) a transaction that reads and then writes fails when another process wrote in between,
    while one that starts with its write simply waits its turn (busy_timeout); and it is one
    round trip on any database.
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(WebhookEvent)
        .values(
            source=source,
            event_id=event_id,
            topic=topic,
            payload=payload,
            shop_id=shop_id,
            api_version=api_version,
            triggered_at=triggered_at,
            correlation_id=correlation_id,
            received_at=utcnow(),
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(WebhookEvent.id, WebhookEvent.shop_id)
    )
    row = db.session.execute(statement).first()
    return (row[0], row[1]) if row is not None else None


def record_event(
    *,
    source: str,
    event_id: str,
    topic: str,
    payload: dict[str, Any],
    shop_id: int | None,
    api_version: str | None = None,
    triggered_at: datetime | None = None,
    correlation_id: str | None = None,
) -> WebhookEvent | None:
    """Store an event once. Returns None when (source, event_id) was stored before: a redelivery."""
    if _find(source, event_id) is not None:
        return None
    event = WebhookEvent(
        source=source,
        event_id=event_id,
        topic=topic,
        payload=payload,
        shop_id=shop_id,
        api_version=api_version,
        triggered_at=triggered_at,
        correlation_id=correlation_id,
    )
    try:
        with db.session.begin_nested():  # a concurrent duplicate loses here, not at commit
            db.session.add(event)
    except IntegrityError:
        return None
    return event


def run_event(event_id: int, handle: Callable[[WebhookEvent], None]) -> None:
    """Run `handle` on a stored event once; a second run of a processed event does nothing.

    Called by a task, which owns the transaction. On failure the attempt and the error are
    committed before the exception goes on to huey (which retries): a rollback would erase them.
    """
    event = db.session.get(WebhookEvent, event_id)
    if event is None or event.processed_at is not None:
        return
    event.attempts += 1
    try:
        with db.session.begin_nested():
            handle(event)
    except Exception as error:
        if is_transient_conflict(error):
            raise  # the transaction is gone; the task runs again at once (jobs.task)
        event.last_error = f"{type(error).__name__}: {error}"[:2000]
        log.warning(
            "event %s (%s %s) failed: %s", event.id, event.source, event.topic, type(error).__name__
        )
        db.session.commit()
        raise
    event.processed_at = utcnow()
    event.last_error = None


def unprocessed_event_ids(source: str, *, older_than: timedelta, now: datetime) -> Sequence[int]:
    """Events stored but never processed (a crash, a queue outage), oldest first."""
    return db.session.scalars(
        select(WebhookEvent.id)
        .where(
            WebhookEvent.source == source,
            WebhookEvent.processed_at.is_(None),
            WebhookEvent.attempts < MAX_ATTEMPTS,
            WebhookEvent.received_at < now - older_than,
        )
        .order_by(WebhookEvent.received_at)
        .limit(1000)
    ).all()


def _find(source: str, event_id: str) -> WebhookEvent | None:
    return db.session.scalar(
        select(WebhookEvent).where(WebhookEvent.source == source, WebhookEvent.event_id == event_id)
    )
