"""RFM scores (recency, frequency, monetary), 1 to 5 each, on fixed thresholds a merchant can read.

Fixed thresholds rather than quintiles: a score then means the same thing next month, a merchant
can say why a customer is an R5 ("ordered within 30 days"), and the database computes it in one
pass. A shop may override them in `shop.settings["rfm"]`. Customers without orders have no score.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.commerce.money import to_minor
from server.shops.models import Shop


@dataclass(frozen=True)
class RfmThresholds:
    # Score 5, 4, 3, 2 when at least as good as the threshold; 1 otherwise.
    recency_days: tuple[int, int, int, int] = (30, 60, 90, 180)  # last order within N days
    frequency_orders: tuple[int, int, int, int] = (10, 5, 3, 2)  # at least N orders
    monetary: tuple[int, int, int, int] = (100_000, 50_000, 20_000, 10_000)  # major units spent


def thresholds_for(shop: Shop) -> RfmThresholds:
    custom: dict[str, Any] = (shop.settings or {}).get("rfm") or {}
    default = RfmThresholds()
    return RfmThresholds(
        recency_days=tuple(custom.get("recency_days", default.recency_days)),
        frequency_orders=tuple(custom.get("frequency_orders", default.frequency_orders)),
        monetary=tuple(custom.get("monetary", default.monetary)),
    )


def scores(
    shop: Shop,
    *,
    last_order_at: datetime | None,
    order_count: int,
    total_spent: int,
    now: datetime,
    thresholds: RfmThresholds | None = None,
) -> tuple[int, int, int] | None:
    """(R, F, M) for one customer, the same rule the SQL in filters.py applies."""
    if order_count == 0 or last_order_at is None:
        return None
    t = thresholds or thresholds_for(shop)
    r = next(
        (
            s
            for s, d in zip((5, 4, 3, 2), t.recency_days, strict=True)
            if last_order_at >= now - timedelta(days=d)
        ),
        1,
    )
    f = next(
        (s for s, n in zip((5, 4, 3, 2), t.frequency_orders, strict=True) if order_count >= n), 1
    )
    m = next(
        (
            s
            for s, a in zip((5, 4, 3, 2), t.monetary, strict=True)
            if total_spent >= to_minor(a, shop.currency)
        ),
        1,
    )
    return r, f, m
