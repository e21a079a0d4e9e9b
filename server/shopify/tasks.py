"""Shopify's background work: processing stored webhooks, the sweep, tokens, install follow-ups,
and the history backfill. Tasks take ids and are safe to run twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, select

from server.db import db, utcnow
from server.ingest.models import WebhookEvent
from server.ingest.services import run_event, unprocessed_event_ids
from server.jobs import periodic, task
from server.shops.models import Shop

from . import tokens, topics
from .errors import ShopifyError

log = logging.getLogger(__name__)

SWEEP_AFTER = timedelta(minutes=2)  # an event this old and not processed was dropped somewhere
KEEP_PROCESSED_EVENTS = timedelta(days=14)  # ids kept this long to recognise redeliveries


@task(retries=6, retry_delay=30)
def process_shopify_event(event_id: int) -> None:
    """Run a stored webhook through its topic handler, once."""
    run_event(event_id, _handle)


def _handle(event: WebhookEvent) -> None:
    if event.shop_id is None:
        return  # a shop we do not know: kept for the record, nothing to do
    shop = db.session.get(Shop, event.shop_id)
    if shop is None:
        return
    topics.handle(shop, event, now=utcnow())
    # Processed: the payload (customer names, addresses) is not kept beyond its use.
    event.payload = {"processed": True}


@periodic(minute="*/5")
def sweep_unprocessed_shopify_events() -> None:
    """Re-enqueue events that were stored but never processed (a crash, a queue outage), and
    forget old processed ones."""
    now = utcnow()
    ids = unprocessed_event_ids("shopify", older_than=SWEEP_AFTER, now=now)
    for event_id in ids:
        process_shopify_event(event_id)
    if ids:
        log.info("sweep re-enqueued %d Shopify events", len(ids))
    db.session.execute(
        delete(WebhookEvent).where(
            WebhookEvent.source == "shopify",
            WebhookEvent.processed_at.is_not(None),
            WebhookEvent.processed_at < now - KEEP_PROCESSED_EVENTS,
        )
    )


@periodic(minute="*/10")
def refresh_expiring_tokens() -> None:
    """Refresh access tokens due within 20 minutes, so requests rarely wait for a refresh."""
    now = utcnow()
    due = db.session.scalars(
        select(Shop.id).where(
            Shop.uninstalled_at.is_(None),
            Shop.refresh_token.is_not(None),
            Shop.access_token_expires_at < now + timedelta(minutes=20),
        )
    ).all()
    for shop_id in due:
        shop = db.session.get(Shop, shop_id)
        if shop is None:
            continue
        try:
            tokens.access_token_for(shop, now=now + timedelta(minutes=20))
        except ShopifyError as error:
            log.warning("token refresh for shop %s failed: %s", shop_id, error.code)


POLL_EVERY_SECONDS = 10


@task(retries=3, retry_delay=60)
def after_install(shop_id: int) -> None:
    """A (re)install just committed: fetch the shop's details, then import its history."""
    from . import backfill, install

    shop = db.session.get(Shop, shop_id)
    if shop is None or not shop.installed:
        return
    install.sync_shop_details(shop)
    run = backfill.start(shop, now=utcnow(), force=True)
    db.session.commit()
    sync_collections(shop_id)
    advance_backfill(run.id)


@task(retries=3, retry_delay=300)
def sync_collections(shop_id: int) -> None:
    """Every collection of the shop and its products (their webhooks carry no products)."""
    from . import collections

    shop = db.session.get(Shop, shop_id)
    if shop is None or not shop.installed:
        return
    collections.sync_all(shop, now=utcnow())


@periodic(hour="19", minute="20")  # 04:20 in Tokyo, once a day
def refresh_collections() -> None:
    """Smart collections change members with product tags and types, and no collection
    webhook says so: read every installed shop's collections again."""
    for shop_id in db.session.scalars(select(Shop.id).where(Shop.uninstalled_at.is_(None))):
        sync_collections(shop_id)


@task(retries=5, retry_delay=60)
def advance_backfill(run_id: int, token: str | None = None) -> None:
    """Drive a backfill until Shopify makes it wait; then come back in a few seconds, still
    holding the run (`token`). Does nothing while another live driver holds it."""
    from . import backfill, lease
    from .models import BackfillRun

    run = db.session.get(BackfillRun, run_id)
    if run is None:
        return
    shop = db.session.get(Shop, run.shop_id)
    if shop is None or not shop.installed:
        return
    held = lease.claim(run, now=utcnow(), token=token)
    if held is None:
        log.info("backfill %s is driven by another process; not starting a second", run_id)
        return
    outcome = "continue"
    try:
        while outcome == "continue":
            outcome = backfill.step(shop, run, held, now=utcnow())
    except lease.LeaseLost:
        return  # taken over: the new driver goes on
    except Exception:
        db.session.rollback()
        lease.release(held)  # the retry (or the resume job) can claim it at once
        raise
    if outcome == "wait":
        advance_backfill.schedule((run_id, held.token), delay=POLL_EVERY_SECONDS)


@periodic(minute="*/15")
def resume_backfills() -> None:
    """A worker that died mid-backfill leaves the run unfinished: pick it up again once its
    lease has gone stale (a run with a live driver is left to it)."""
    from . import backfill

    for run_id in backfill.runs_in_progress():
        advance_backfill(run_id)
