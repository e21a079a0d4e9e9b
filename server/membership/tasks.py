"""Daily upkeep of the programme: expire due points, and move tiers as spend leaves the window."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from server.db import db, utcnow
from server.jobs import periodic, task
from server.shops.models import Shop

from . import services

log = logging.getLogger(__name__)


@periodic(hour="3", minute="15")
def daily_membership_upkeep() -> None:
    """Idempotent: expiry entries are keyed per lot, and an unchanged tier writes nothing."""
    now = utcnow()
    for shop in db.session.scalars(select(Shop).where(Shop.uninstalled_at.is_(None))):
        expired = refresh_shop(shop, now=now)
        log.info("shop %s: %s points expired", shop.id, expired)


def refresh_shop(shop: Shop, *, now: datetime) -> int:
    expired = 0
    for member_id in services.members_with_due_points(shop, now=now):
        expired += services.expire_points(shop, services.get_member(shop, member_id), now=now)
    # A rolling window moves every day: a member whose big order turned one year old drops.
    services.refresh_all_tiers(shop, now=now)
    return expired


@task()
def backfill_members(shop_id: int) -> None:
    """Enrol every customer of the shop who has ordered and is not a member yet, then set
    everyone's tier. Safe to run twice: existing members are skipped."""
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    created = services.enrol_customers_with_orders(shop, now=utcnow())
    services.refresh_all_tiers(shop, now=utcnow())
    log.info("shop %s: %s members enrolled", shop.id, created)
