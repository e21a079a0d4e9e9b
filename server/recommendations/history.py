"""A shop's order history as arrays (training.Interactions) with the maps back to its ids.

Reads order lines in bulk, as plain columns (no ORM objects): cancelled orders, guest orders
and lines without a known product are left out. Times are days since 1970-01-01 UTC, computed
by the database so that ten million lines never become ten million datetime objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Float, cast, extract, func, select

from server.commerce.models import Order, OrderLine, Product
from server.db import db
from server.membership.models import Member
from server.shops.models import Shop

from .training import FloatArray, Interactions, make_interactions

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FETCH_ROWS = 200_000
IdArray = NDArray[np.int64]


@dataclass(frozen=True)
class ShopHistory:
    interactions: Interactions
    customer_ids: IdArray  # customer index → customers.id
    product_ids: IdArray  # product index → products.id (every product of the shop)
    usage_days: FloatArray  # per product index: the merchant's usage period, NaN if unknown
    tier_ids: IdArray  # segment index → tiers.id (interactions.user_segments index these)
    # (customer index, product index) pairs whose last purchase was on a selling plan.
    subscribed: frozenset[tuple[int, int]]

    def customer_index(self, customer_ids: Iterable[int]) -> NDArray[np.int64]:
        """Indices of the given customer ids (-1 for customers without history)."""
        return index_of(self.customer_ids, np.fromiter(customer_ids, dtype=np.int64))


def index_of(sorted_ids: IdArray, wanted: IdArray) -> NDArray[np.int64]:
    """Positions of `wanted` in the sorted `sorted_ids`, -1 where absent."""
    if sorted_ids.size == 0:
        return np.full(wanted.size, -1, dtype=np.int64)
    position = np.minimum(np.searchsorted(sorted_ids, wanted), sorted_ids.size - 1)
    return np.where(sorted_ids[position] == wanted, position, -1).astype(np.int64)


def to_days(moment: datetime) -> float:
    return (moment.astimezone(UTC) - EPOCH).total_seconds() / 86400.0


def from_days(days: float) -> datetime:
    return EPOCH + timedelta(days=float(days))


def _days_column() -> ColumnElement[Any]:
    if db.engine.dialect.name == "postgresql":
        return cast(extract("epoch", Order.processed_at), Float) / 86400.0
    # SQLite keeps UTC text; julianday counts from noon, 4714 BC.
    return func.julianday(Order.processed_at) - 2440587.5


def load_history(
    shop: Shop,
    *,
    now: datetime,
    customer_ids: Iterable[int] | None = None,
    product_ids: IdArray | None = None,
    tier_ids: IdArray | None = None,
) -> ShopHistory:
    """The shop's order lines up to `now`, only these customers' when `customer_ids` is given.

    Products are indexed over the whole catalogue, or over a trained model's `product_ids`
    (lines of newer products are then left out), and tiers over `tier_ids` when given, so a
    partial history folds into a model trained on the full one.
    """
    products = db.session.execute(
        select(Product.id, Product.usage_days).where(Product.shop_id == shop.id)
    ).all()
    usage = {int(row[0]): row[1] for row in products}
    if product_ids is None:
        product_ids = np.array(sorted(usage), dtype=np.int64)
    usage_days = np.array(
        [np.nan if (days := usage.get(int(i))) is None else float(days) for i in product_ids],
        dtype=np.float64,
    )
    statement = (
        select(
            Order.customer_id,
            OrderLine.product_id,
            _days_column(),
            Order.id,
            OrderLine.quantity,
            OrderLine.selling_plan_id.is_not(None),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.shop_id == shop.id,
            OrderLine.shop_id == shop.id,
            Order.cancelled_at.is_(None),
            Order.customer_id.is_not(None),
            OrderLine.product_id.is_not(None),
            Order.processed_at <= now,
        )
    )
    if customer_ids is not None:
        wanted = sorted(set(customer_ids))
        statement = statement.where(Order.customer_id.in_(wanted))
    chunks: list[NDArray[Any]] = []
    result = db.session.execute(statement.execution_options(yield_per=FETCH_ROWS))
    for part in result.partitions():
        chunks.append(np.array(part, dtype=np.float64).reshape(-1, 6))
    result.close()
    rows = np.concatenate(chunks) if chunks else np.zeros((0, 6))
    customer_of_line = rows[:, 0].astype(np.int64)
    customer_ids_sorted, users = np.unique(customer_of_line, return_inverse=True)
    items = index_of(product_ids, rows[:, 1].astype(np.int64))
    known = items >= 0
    users, items, rows = users[known], items[known], rows[known]
    tier_of = _tiers(shop, customer_ids_sorted)
    if tier_ids is None:
        tier_ids = np.unique(tier_of[tier_of > 0])
    segments = np.where(tier_of > 0, index_of(tier_ids, tier_of), -1).astype(np.int32)
    interactions = make_interactions(
        users,
        items,
        rows[:, 2],
        rows[:, 3].astype(np.int64),
        rows[:, 4],
        n_users=customer_ids_sorted.size,
        n_items=product_ids.size,
        as_of=to_days(now),
        user_segments=segments,
    )
    return ShopHistory(
        interactions=interactions,
        customer_ids=customer_ids_sorted.astype(np.int64),
        product_ids=product_ids,
        usage_days=usage_days,
        tier_ids=tier_ids.astype(np.int64),
        subscribed=_subscribed_pairs(users, items, rows[:, 2], rows[:, 5]),
    )


def _tiers(shop: Shop, customer_ids: IdArray) -> IdArray:
    """Each customer's tier id (0 = none), aligned with `customer_ids`."""
    out = np.zeros(customer_ids.size, dtype=np.int64)
    if customer_ids.size == 0:
        return out
    rows = db.session.execute(
        select(Member.customer_id, Member.tier_id).where(
            Member.shop_id == shop.id, Member.tier_id.is_not(None)
        )
    ).all()
    if not rows:
        return out
    pairs = np.array(rows, dtype=np.int64)
    position = np.searchsorted(customer_ids, pairs[:, 0])
    inside = position < customer_ids.size
    match = inside.copy()
    match[inside] = customer_ids[position[inside]] == pairs[inside, 0]
    out[position[match]] = pairs[match, 1]
    return out


def _subscribed_pairs(
    users: NDArray[Any], items: NDArray[Any], times: NDArray[Any], on_plan: NDArray[Any]
) -> frozenset[tuple[int, int]]:
    """(customer, product) pairs whose latest line was bought on a selling plan."""
    if users.size == 0:
        return frozenset()
    order = np.lexsort((times, items, users))
    u, i, plan = users[order], items[order], on_plan[order]
    last = np.ones(u.size, dtype=bool)
    last[:-1] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
    pick = last & (plan > 0)
    return frozenset(zip(u[pick].tolist(), i[pick].tolist(), strict=True))
