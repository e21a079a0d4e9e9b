"""LINE friends: counting and looking them up."""

from __future__ import annotations

from sqlalchemy import func, select

from server.db import db
from server.shops.models import Shop

from .models import LineUser


def friend_counts(shop: Shop) -> dict[str, int]:
    following, linked, total = db.session.execute(
        select(
            func.count().filter(LineUser.blocked_at.is_(None)),
            func.count().filter(LineUser.customer_id.is_not(None)),
            func.count(),
        ).where(LineUser.shop_id == shop.id)
    ).one()
    return {"friends": following or 0, "linked": linked or 0, "total": total or 0}
