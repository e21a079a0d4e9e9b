"""Who a broadcast reaches and what it costs: the segment's members, their LINE friends who can
receive a message, the holdout, the recipients, and their cost against the LINE monthly quota
(one message per recipient, however many bubbles)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from server.db import db
from server.errors import NotFound
from server.line.access import access_target, delivery_mode, quota_room, refresh_quota
from server.line.channels import find_channel
from server.line.rules import Rules
from server.segments import services as segments
from server.shops.models import Shop

from . import holdout
from .models import Broadcast


def definition_of(shop: Shop, segment_id: int | None) -> dict[str, Any]:
    if segment_id is None:
        return segments.EVERYONE
    segment = segments.find_segment(shop, segment_id)
    if segment is None:
        raise NotFound(f"segment {segment_id} not found")
    return segment.definition


def reachable(shop: Shop, segment_id: int | None, *, now: datetime) -> Select[Any]:
    """SELECT (line_user_id, customer_id) of every friend in the segment who can receive a
    message, one row per friend: callers count it or INSERT .. SELECT from it, so a 1M-friend
    audience never passes through Python."""
    return segments.reachable_query(shop, definition_of(shop, segment_id), now=now)


def estimate(
    shop: Shop,
    broadcast: Broadcast | None = None,
    *,
    segment_id: int | None = None,
    holdout_percent: int | None = None,
    salt: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Who the broadcast reaches and what it costs, right now.

    `members`: people in the segment; `reachable`: their LINE friends who follow the account;
    `holdout`: held out of those; `recipients`: the rest, one quota message each (`cost`).
    `quota_remaining` is None when LINE sets no limit (or delivery goes to the outbox).
    """
    if broadcast is not None:
        segment_id, holdout_percent, salt = (
            broadcast.segment_id,
            broadcast.holdout_percent,
            broadcast.holdout_salt,
        )
    percent = holdout_percent or 0
    definition = definition_of(shop, segment_id)
    members = segments.count(shop, definition, now=now)
    friends = reachable(shop, segment_id, now=now).subquery()
    reach = db.session.scalar(select(func.count()).select_from(friends)) or 0
    if salt is None:  # an unsaved composer: the expected size (the salt is made on save)
        held = round(reach * percent / 100)
    elif percent:  # the HMAC is computed here, not in SQL, so both databases agree
        ids = db.session.scalars(select(friends.c.line_user_id))
        held = sum(1 for uid in ids if holdout.in_holdout(salt, uid, percent))
    else:
        held = 0
    recipients = reach - held
    limit, remaining, mode = quota(shop, now=now)
    return {
        "members": members,
        "reachable": reach,
        "holdout": held,
        "recipients": recipients,
        "cost": recipients,
        "delivery_mode": mode,
        "quota_limit": limit,
        "quota_remaining": remaining,
        "over_quota": remaining is not None and recipients > remaining,
    }


def quota(shop: Shop, *, now: datetime) -> tuple[int | None, int | None, str]:
    """(monthly limit, remaining, delivery mode), read from LINE at most every few minutes."""
    channel = find_channel(shop)
    mode = delivery_mode(channel)
    if channel is None or mode != "api":
        return None, None, mode
    if channel.messaging_configured:
        try:
            target = access_target(channel, now=now)
        except Exception:  # LINE refused or unreachable while renewing: the last known figures
            target = None
        if target is not None:
            refresh_quota(channel, target, now=now)
    return channel.quota_limit, quota_room(channel), mode


def quiet_hours_note(shop: Shop, when: datetime) -> datetime | None:
    """When a promotional send at `when` would actually leave (the end of quiet hours), or None."""
    rules = Rules.for_shop(shop, find_channel(shop))
    return rules.quiet_until(when)
