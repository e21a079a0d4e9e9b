"""LINE friends: counting, looking them up, and recording follows and blocks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.db import db
from server.errors import NotFound
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


def find_line_user(shop: Shop, line_user_id: str) -> LineUser | None:
    return db.session.scalar(
        select(LineUser).where(LineUser.shop_id == shop.id, LineUser.line_user_id == line_user_id)
    )


def get_line_user(shop: Shop, id_: int) -> LineUser:
    user = db.session.scalar(
        select(LineUser).where(LineUser.shop_id == shop.id, LineUser.id == id_)
    )
    if user is None:
        raise NotFound("no such LINE friend")
    return user


def ensure_line_user(shop: Shop, line_user_id: str) -> LineUser:
    """The shop's LineUser for a LINE user id, created on first sight (race-safe)."""
    user = find_line_user(shop, line_user_id)
    if user is not None:
        return user
    try:
        with db.session.begin_nested():
            user = LineUser(shop_id=shop.id, line_user_id=line_user_id)
            db.session.add(user)
    except IntegrityError:
        user = find_line_user(shop, line_user_id)
        if user is None:
            raise
    return user


def record_follow(shop: Shop, line_user_id: str, *, at: datetime) -> LineUser:
    """A follow (or unblock) at `at`. Webhooks can arrive out of order: a block that happened
    later than this follow stays."""
    user = ensure_line_user(shop, line_user_id)
    if user.blocked_at is None or user.blocked_at <= at:
        user.followed_at = at
        user.blocked_at = None
    return user


def record_block(shop: Shop, line_user_id: str, *, at: datetime) -> LineUser:
    """An unfollow (block) at `at`; a follow that happened later than it wins."""
    user = ensure_line_user(shop, line_user_id)
    if user.followed_at is None or user.followed_at <= at:
        user.blocked_at = at
    return user
