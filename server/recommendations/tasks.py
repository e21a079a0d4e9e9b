"""Recommendation background work: nightly training per shop, the morning refresh of the
customers due to reorder, and one customer's refresh after an order or a link."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from server.commerce.models import Customer
from server.db import db, utcnow
from server.jobs import periodic, task
from server.shops.models import Shop

from . import services

log = logging.getLogger(__name__)


def _active_shops() -> list[int]:
    return list(
        db.session.scalars(
            select(Shop.id).where(
                Shop.installed_at.is_not(None),
                Shop.uninstalled_at.is_(None),
                Shop.redacted_at.is_(None),
            )
        )
    )


@periodic(hour="17", minute="30")  # 02:30 in Tokyo: fresh lists before the day starts
def train_all_shops() -> None:
    for shop_id in _active_shops():
        train_shop_task(shop_id)


@task(retries=2, retry_delay=300)
def train_shop_task(shop_id: int) -> None:
    """Safe to run twice: a second run stores a newer model and replaces the lists."""
    shop = db.session.get(Shop, shop_id)
    if shop is None or not shop.installed:
        return
    services.train_shop(shop, now=utcnow())


@periodic(hour="22", minute="45")  # 07:45 in Tokyo, before reminders may go out at 09:00
def refresh_due_customers() -> None:
    for shop_id in _active_shops():
        refresh_due_task(shop_id)


@task(retries=2, retry_delay=120)
def refresh_due_task(shop_id: int) -> None:
    shop = db.session.get(Shop, shop_id)
    if shop is None or not shop.installed:
        return
    count = services.refresh_due(shop, now=utcnow(), within=timedelta(days=1))
    log.info("shop %s: %d customers due to reorder refreshed", shop_id, count)


@task(retries=3, retry_delay=30)
def refresh_customer_task(shop_id: int, customer_id: int) -> None:
    """Safe to run twice (the list is rebuilt from the orders as they are now)."""
    shop = db.session.get(Shop, shop_id)
    customer = db.session.get(Customer, customer_id)
    if shop is None or customer is None or customer.shop_id != shop.id:
        return
    services.refresh_customer(shop, customer, now=utcnow())
