"""Reaching a shop's channel: whether it sends or records to the outbox, an access token kept
fresh, and the monthly message quota read from LINE."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app

from . import client
from .client import Target
from .models import LineChannel

log = logging.getLogger(__name__)

QUOTA_TTL = timedelta(minutes=10)


def delivery_mode(channel: LineChannel | None) -> str:
    """'api' or 'outbox'. LINE_DELIVERY wins; unset, a shop without a configured channel
    records to the outbox (so the demo works) and a configured one sends."""
    configured = str(current_app.config.get("LINE_DELIVERY") or "")
    if configured:
        return configured
    return "api" if channel is not None and channel.messaging_configured else "outbox"


def access_target(channel: LineChannel, *, now: datetime) -> Target:
    """Where to send for this channel; a short-lived token we issued is renewed in time."""
    expires = channel.channel_access_token_expires_at
    if (
        channel.access_token_issued
        and channel.channel_id
        and channel.channel_secret
        and expires
        and expires - now < timedelta(days=1)
    ):
        token, expires_at = client.issue_channel_token(
            channel.channel_id, channel.channel_secret, now=now
        )
        client.forget_client(channel.channel_access_token or "")
        channel.channel_access_token = token
        channel.channel_access_token_expires_at = expires_at
    return client.target(channel.channel_access_token or "")


def refresh_quota(channel: LineChannel, t: Target, *, now: datetime, force: bool = False) -> None:
    """Read the monthly quota and usage from LINE, at most every QUOTA_TTL (or when forced or
    a new month began). A failed read keeps the last known figures."""
    checked = channel.quota_checked_at
    if (
        not force
        and checked is not None
        and now - checked < QUOTA_TTL
        and (checked.year, checked.month) == (now.year, now.month)
    ):
        return
    try:
        limit, used = client.quota(t)
    except (client.LineApiError, client.LineUnreachable) as error:
        log.warning("quota read failed for channel %s: %s", channel.id, error)
        return
    channel.quota_limit, channel.quota_used, channel.quota_checked_at = limit, used, now


def quota_room(channel: LineChannel) -> int | None:
    if channel.quota_limit is None:
        return None
    return max(0, channel.quota_limit - (channel.quota_used or 0))
