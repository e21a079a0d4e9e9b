"""LINE background work: sending deliveries, the due-delivery sweep, and webhook events."""

from __future__ import annotations

from server.db import utcnow
from server.jobs import periodic, task

from . import delivery


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
