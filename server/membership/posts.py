"""Subscriber-only posts: written by the merchant, read in the LIFF app's closed area."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, or_, select

from server.db import db
from server.errors import NotFound
from server.shops.models import Shop

from .models import Member, SubscriberPost, Tier


def list_posts(shop: Shop) -> list[SubscriberPost]:
    """Every post, newest first, drafts (no publish time) on top: the admin's list."""
    return list(
        db.session.scalars(
            SubscriberPost.for_shop(shop).order_by(
                SubscriberPost.published_at.is_(None).desc(),
                SubscriberPost.published_at.desc(),
                SubscriberPost.id.desc(),
            )
        )
    )


def get_post(shop: Shop, post_id: int) -> SubscriberPost:
    post = db.session.scalar(SubscriberPost.for_shop(shop).where(SubscriberPost.id == post_id))
    if post is None:
        raise NotFound(f"post {post_id} not found")
    return post


def visible_posts(
    shop: Shop, member: Member, *, now: datetime, limit: int = 30
) -> list[SubscriberPost]:
    """Published posts the member's tier reaches, newest first. The caller checks that the
    member is an active subscriber; this only applies the publish time and the audience."""
    threshold = member.tier.threshold if member.tier else None
    min_tier = select(Tier.threshold).where(Tier.id == SubscriberPost.min_tier_id).scalar_subquery()
    audience: ColumnElement[bool] = SubscriberPost.min_tier_id.is_(None)
    if threshold is not None:
        audience = or_(audience, min_tier <= threshold)
    return list(
        db.session.scalars(
            SubscriberPost.for_shop(shop)
            .where(SubscriberPost.published_at.is_not(None), SubscriberPost.published_at <= now)
            .where(audience)
            .order_by(SubscriberPost.published_at.desc(), SubscriberPost.id.desc())
            .limit(limit)
        )
    )
