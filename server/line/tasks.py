"""LINE background work: webhook events, sending deliveries, the sweeps, rich menus."""

from __future__ import annotations

import logging
from datetime import timedelta

from server.db import db, utcnow
from server.ingest.services import run_event, unprocessed_event_ids
from server.jobs import periodic, task

from . import delivery

log = logging.getLogger(__name__)


@task(retries=5, retry_delay=30)
def process_line_event(event_id: int) -> None:
    from . import events

    now = utcnow()
    run_event(event_id, lambda event: events.handle(event, now=now))


@periodic(minute="*/5")
def sweep_line_events() -> None:
    """Events stored but never processed (a crash, a queue outage) are run again."""
    for event_id in unprocessed_event_ids("line", older_than=timedelta(minutes=2), now=utcnow()):
        try:
            process_line_event.call_local(event_id)
        except Exception as error:  # recorded on the event by run_event; the next sweep retries
            log.warning("LINE event %s failed again: %s", event_id, type(error).__name__)


@task()
def send_deliveries(delivery_ids: list[int]) -> None:
    delivery.send_ids(delivery_ids, now=utcnow())


@task()
def send_content(content_id: int) -> None:
    delivery.send_content(content_id, now=utcnow())


@periodic(minute="*")
def send_due_deliveries() -> None:
    """Scheduled, deferred (quiet hours, cap) and backing-off deliveries, and claims left
    behind by a worker that died; FOR UPDATE SKIP LOCKED lets several workers share them."""
    delivery.send_due(now=utcnow())


@task(retries=3, retry_delay=60)
def refresh_rich_menu(line_user_id: int) -> None:
    """Show a friend the rich menu of their state (after a follow, link or unlink)."""
    from server.shops.models import Shop

    from . import richmenus
    from .models import LineUser

    user = db.session.get(LineUser, line_user_id)
    if user is None:
        return
    shop = db.session.get(Shop, user.shop_id)
    if shop is not None:
        richmenus.refresh_user(shop, user, now=utcnow())
