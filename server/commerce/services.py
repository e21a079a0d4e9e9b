"""Reading the shop's commerce data (writes come with the Shopify webhooks and backfill)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from server.db import db
from server.shops.models import Shop

from .models import Customer, Order


@dataclass(frozen=True)
class MonthlySales:
    month: str  # "2026-04", in the shop's time zone
    orders: int
    revenue: int  # minor units, cancelled orders excluded, refunds deducted


def count_customers(shop: Shop) -> int:
    return (
        db.session.scalar(
            select(func.count()).select_from(Customer).where(Customer.shop_id == shop.id)
        )
        or 0
    )


def count_orders(shop: Shop) -> int:
    return (
        db.session.scalar(select(func.count()).select_from(Order).where(Order.shop_id == shop.id))
        or 0
    )


def monthly_sales(shop: Shop, *, months: int, now: datetime) -> list[MonthlySales]:
    """Orders and net revenue per calendar month (shop time zone), oldest first, `months` long."""
    zone = ZoneInfo(shop.timezone)
    local_now = now.astimezone(zone)
    keys = []
    year, month = local_now.year, local_now.month
    for _ in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    keys.reverse()
    start = datetime(int(keys[0][:4]), int(keys[0][5:]), 1, tzinfo=zone)
    rows = db.session.execute(
        select(
            Order.processed_at, Order.total_price, Order.total_refunded, Order.cancelled_at
        ).where(Order.shop_id == shop.id, Order.processed_at >= start)
    )
    orders = dict.fromkeys(keys, 0)
    revenue = dict.fromkeys(keys, 0)
    # Bucketing in Python keeps the time-zone arithmetic identical on SQLite and PostgreSQL; the
    # rows are narrow (four columns) and bounded by the window.
    for processed_at, total, refunded, cancelled_at in rows:
        key = processed_at.astimezone(zone).strftime("%Y-%m")
        if key not in orders:
            continue
        orders[key] += 1
        if cancelled_at is None:
            revenue[key] += total - refunded
    return [MonthlySales(month=k, orders=orders[k], revenue=revenue[k]) for k in keys]
