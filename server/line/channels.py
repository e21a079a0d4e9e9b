"""Each shop's LINE channels: settings, validation against LINE, the webhook URL.

Secrets and tokens are stored encrypted (EncryptedString) and never leave in full: `view`
shows the last four characters. Saving calls LINE's bot-info API with the access token (or
issues a short-lived token from the channel id + secret) and refuses what LINE refuses.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from server.db import db
from server.errors import Invalid, Unavailable
from server.shops.models import Shop

from . import client
from .access import access_target, refresh_quota
from .models import LineChannel

CHANNEL_ID = re.compile(r"^\d{6,20}$")
CHANNEL_SECRET = re.compile(r"^[0-9a-f]{32}$")
LIFF_ID = re.compile(r"^\d{6,20}-[A-Za-z0-9]{4,32}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# After a secret changes, webhooks signed with the old one are still accepted this long (LINE
# invalidates the old secret at once, but events signed before the switch may be in flight).
SECRET_ROTATION_WINDOW = timedelta(hours=1)

FIELDS = (
    "channel_id",
    "channel_secret",
    "channel_access_token",
    "login_channel_id",
    "login_channel_secret",
    "liff_id",
)
SECRET_FIELDS = ("channel_secret", "channel_access_token", "login_channel_secret")


class ChannelRejected(Invalid):
    code = "line_channel_rejected"


def find_channel(shop: Shop) -> LineChannel | None:
    return db.session.scalar(select(LineChannel).where(LineChannel.shop_id == shop.id))


def ensure_channel(shop: Shop) -> LineChannel:
    """The shop's channel row, created (with its webhook key) on first use."""
    channel = find_channel(shop)
    if channel is None:
        channel = LineChannel(shop_id=shop.id, channel_key=secrets.token_urlsafe(24))
        db.session.add(channel)
        db.session.flush()
    return channel


def find_by_key(channel_key: str) -> LineChannel | None:
    if not channel_key or len(channel_key) > 64:
        return None
    return db.session.scalar(select(LineChannel).where(LineChannel.channel_key == channel_key))


def webhook_url(channel: LineChannel) -> str:
    return f"{str(current_app.config['APP_URL']).rstrip('/')}/line/webhook/{channel.channel_key}"


def mask(value: str | None) -> str | None:
    if not value:
        return None
    return "•" * 8 + value[-4:]


def view(channel: LineChannel | None) -> dict[str, Any]:
    """What the admin may see: ids, masked secrets, bot info, rules, quota."""
    if channel is None:
        return {"configured": False, "webhook_url": None}
    return {
        "configured": channel.messaging_configured,
        "login_configured": channel.login_configured,
        "webhook_url": webhook_url(channel),
        "webhook_verified_at": _iso(channel.webhook_verified_at),
        "channel_id": channel.channel_id,
        "channel_secret": mask(channel.channel_secret),
        "channel_access_token": mask(channel.channel_access_token),
        "access_token_issued": channel.access_token_issued,
        "access_token_expires_at": _iso(channel.channel_access_token_expires_at),
        "login_channel_id": channel.login_channel_id,
        "login_channel_secret": mask(channel.login_channel_secret),
        "liff_id": channel.liff_id,
        "bot": {
            "user_id": channel.bot_user_id,
            "basic_id": channel.bot_basic_id,
            "display_name": channel.bot_display_name,
        },
        "rules": {
            "quiet_hours_start": channel.quiet_hours_start,
            "quiet_hours_end": channel.quiet_hours_end,
            "frequency_cap": channel.frequency_cap,
            "frequency_cap_days": channel.frequency_cap_days,
            "link_incentive_points": channel.link_incentive_points,
        },
        "quota": {
            "limit": channel.quota_limit,
            "used": channel.quota_used,
            "checked_at": _iso(channel.quota_checked_at),
        },
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def update_channel(shop: Shop, data: Any, *, now: datetime) -> LineChannel:
    """Save the given fields (absent or empty secrets keep their stored value) after LINE
    accepted the credentials. Raises Invalid naming the bad field, ChannelRejected when LINE
    refuses, Unavailable when LINE cannot be reached; nothing is changed then."""
    if not isinstance(data, dict):
        raise Invalid("send a JSON object")
    unknown = sorted(set(data) - set(FIELDS) - {"rules"})
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(unknown)}", fields=unknown)
    clean: dict[str, str | None] = {}
    for name in FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is not None and not isinstance(value, str):
            raise Invalid(f"{name} must be a string", field=name)
        value = (value or "").strip()
        if name in SECRET_FIELDS and not value:
            continue  # empty secret field = keep the stored one
        clean[name] = value or None
    _check_formats(clean)
    channel = ensure_channel(shop)
    merged = {name: clean.get(name, getattr(channel, name)) for name in FIELDS}
    if "channel_id" in clean and clean["channel_id"] != channel.channel_id:
        # A different channel: its token and secret must come with it.
        for name in ("channel_secret", "channel_access_token"):
            if name not in clean:
                merged[name] = None
    messaging_changed = any(
        merged[n] != getattr(channel, n)
        for n in ("channel_id", "channel_secret", "channel_access_token")
    )
    previous_secret = channel.channel_secret
    if "rules" in data:
        _apply_rules(channel, data["rules"])
    if messaging_changed:
        _verify_messaging(channel, merged, clean, now=now)
    for name in ("login_channel_id", "login_channel_secret", "liff_id"):
        setattr(channel, name, merged[name])
    if merged["channel_secret"] != previous_secret and previous_secret:
        channel.previous_channel_secret = previous_secret
        channel.previous_secret_expires_at = now + SECRET_ROTATION_WINDOW
    db.session.flush()
    return channel


def _check_formats(clean: dict[str, str | None]) -> None:
    checks = {
        "channel_id": (CHANNEL_ID, "a LINE channel id is digits only"),
        "login_channel_id": (CHANNEL_ID, "a LINE channel id is digits only"),
        "channel_secret": (CHANNEL_SECRET, "a channel secret is 32 hexadecimal characters"),
        "login_channel_secret": (CHANNEL_SECRET, "a channel secret is 32 hexadecimal characters"),
        "liff_id": (LIFF_ID, "a LIFF ID looks like 1234567890-AbcdEfgh"),
    }
    for name, (pattern, message) in checks.items():
        value = clean.get(name)
        if value is not None and not pattern.match(value):
            raise Invalid(f"{name}: {message}", field=name)
    token = clean.get("channel_access_token")
    if token is not None and (len(token) > 1000 or any(c.isspace() for c in token)):
        raise Invalid(
            "channel_access_token does not look like a LINE access token",
            field="channel_access_token",
        )


def _verify_messaging(
    channel: LineChannel,
    merged: dict[str, str | None],
    clean: dict[str, str | None],
    *,
    now: datetime,
) -> None:
    channel_id, secret, token = (
        merged["channel_id"],
        merged["channel_secret"],
        merged["channel_access_token"],
    )
    if not channel_id or not secret:
        raise Invalid(
            "the Messaging API channel needs its channel_id and channel_secret",
            field="channel_secret" if channel_id else "channel_id",
        )
    issued = False
    expires_at = None
    try:
        if not token:
            # No long-lived token pasted: issue a short-lived one from id + secret (30 days,
            # renewed by the delivery pipeline before it expires).
            token, expires_at = client.issue_channel_token(channel_id, secret, now=now)
            issued = True
        info = client.bot_info(client.target(token))
    except client.LineApiError as error:
        if error.status in (400, 401, 403):
            what = (
                "channel id and secret"
                if issued or not clean.get("channel_access_token")
                else "channel access token"
            )
            raise ChannelRejected(f"LINE rejected the {what}: {error.message}") from None
        raise Unavailable(f"LINE answered {error.status}; try again shortly") from None
    except client.LineUnreachable:
        raise Unavailable("LINE could not be reached; nothing was saved") from None
    if channel.channel_access_token and channel.channel_access_token != token:
        client.forget_client(channel.channel_access_token)
    channel.channel_id = channel_id
    channel.channel_secret = secret
    channel.channel_access_token = token
    channel.access_token_issued = issued
    channel.channel_access_token_expires_at = expires_at
    channel.bot_user_id = info["user_id"]
    channel.bot_basic_id = info["basic_id"]
    channel.bot_display_name = info["display_name"]
    channel.quota_checked_at = None  # a new channel: read its quota afresh


def _apply_rules(channel: LineChannel, rules: Any) -> None:
    if not isinstance(rules, dict):
        raise Invalid("rules must be an object")
    start = rules.get("quiet_hours_start", channel.quiet_hours_start)
    end = rules.get("quiet_hours_end", channel.quiet_hours_end)
    for name, value in (("quiet_hours_start", start), ("quiet_hours_end", end)):
        if not isinstance(value, str) or not HHMM.match(value):
            raise Invalid(f"{name} must be a time like 21:00", field=name)
    cap = rules.get("frequency_cap", channel.frequency_cap)
    days = rules.get("frequency_cap_days", channel.frequency_cap_days)
    points = rules.get("link_incentive_points", channel.link_incentive_points)
    for name, value, low, high in (
        ("frequency_cap", cap, 0, 100),
        ("frequency_cap_days", days, 1, 90),
        ("link_incentive_points", points, 0, 1_000_000),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise Invalid(f"{name} must be a whole number from {low} to {high}", field=name)
    channel.quiet_hours_start, channel.quiet_hours_end = start, end
    channel.frequency_cap, channel.frequency_cap_days = cap, days
    channel.link_incentive_points = points


def configured_target(shop: Shop, *, now: datetime) -> tuple[LineChannel, client.Target]:
    channel = find_channel(shop)
    if channel is None or not channel.messaging_configured:
        raise Invalid("connect the shop's LINE Messaging API channel first")
    return channel, access_target(channel, now=now)


def set_webhook(shop: Shop, *, now: datetime) -> str:
    """Register this shop's webhook URL with LINE (instead of pasting it in the console)."""
    channel, t = configured_target(shop, now=now)
    url = webhook_url(channel)
    try:
        client.set_webhook_endpoint(t, url)
    except client.LineApiError as error:
        raise ChannelRejected(f"LINE refused the webhook URL: {error.message}") from None
    except client.LineUnreachable:
        raise Unavailable("LINE could not be reached") from None
    return url


def test_webhook(shop: Shop, *, now: datetime) -> dict[str, Any]:
    """Ask LINE to send a test request to our webhook URL; LINE reports how it went."""
    channel, t = configured_target(shop, now=now)
    try:
        result = client.test_webhook_endpoint(t, webhook_url(channel))
    except client.LineApiError as error:
        raise ChannelRejected(f"LINE could not test the webhook: {error.message}") from None
    except client.LineUnreachable:
        raise Unavailable("LINE could not be reached") from None
    if result["success"]:
        channel.webhook_verified_at = now
    return result


def quota(shop: Shop, *, now: datetime) -> dict[str, Any]:
    """The monthly message quota and usage, read from LINE now."""
    channel, t = configured_target(shop, now=now)
    refresh_quota(channel, t, now=now, force=True)
    if channel.quota_checked_at != now:
        raise Unavailable("LINE did not answer the quota request; try again shortly")
    return {
        "limit": channel.quota_limit,
        "used": channel.quota_used,
        "remaining": None
        if channel.quota_limit is None
        else max(0, channel.quota_limit - (channel.quota_used or 0)),
        "checked_at": now.isoformat(),
    }
