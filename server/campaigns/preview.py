"""The editor's step timeline: each step as LINE will show it, and when it goes out for someone
who enters now — the step's own time, then the pipeline's quiet hours and frequency cap, as
they would apply to this scenario's own messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.coupons.models import CouponOffer
from server.db import db
from server.line.channels import find_channel
from server.line.rules import DEFAULT_QUIET_HOURS, Rules, cap_allows_at
from server.shops.models import Shop

from . import messages, recommended, scheduling


def timeline(
    shop: Shop,
    steps: list[dict[str, Any]],
    *,
    reason: str | None,
    leftover_days: int,
    locale: str,
    now: datetime,
) -> dict[str, Any]:
    """`steps` as editing.validate cleans them; `reason` the cancellation reason to preview
    with, and `leftover_days` the delay a "leftover stock" answer gives reason-timed steps."""
    channel = find_channel(shop)
    rules = Rules.for_shop(shop, channel)
    zone = scheduling.shop_zone(shop)
    entered = now
    previous: datetime | None = None
    sent: list[datetime] = []
    out = []
    for index, step in enumerate(steps):
        anchor = previous if step["delay_from"] == "previous" and previous else entered
        days = step["delay_days"]
        if step["delay_source"] == "cancellation" and reason == "leftover":
            days = leftover_days
        due = scheduling.due_at(
            anchor=anchor, days=days, hours=step["delay_hours"], at_time=step["at_time"], zone=zone
        )
        goes, held = _sends_at(due, sent, rules)
        sent.append(goes)
        previous = due
        offer = (
            db.session.get(CouponOffer, step["coupon_offer_id"])
            if step["coupon_offer_id"]
            else None
        )
        facts = messages.sample_facts(
            shop,
            locale=locale,
            coupon_offer=offer,
            reason=reason,
            recommend=recommended.needed(step["message"]),
        )
        out.append(
            {
                "index": index,
                "due_at": due.isoformat(),
                "sends_at": goes.isoformat(),
                "held_by": held,
                "day": (due.astimezone(zone).date() - entered.astimezone(zone).date()).days,
                "messages": messages.render(shop, step["message"], facts),
            }
        )
    return {
        "timezone": str(zone),
        "entered_at": entered.isoformat(),
        "rules": {
            "quiet_hours": [channel.quiet_hours_start, channel.quiet_hours_end]
            if channel
            else list(DEFAULT_QUIET_HOURS),
            "frequency_cap": rules.cap,
            "frequency_cap_days": rules.cap_window.days,
        },
        "steps": out,
    }


def _sends_at(due: datetime, sent: list[datetime], rules: Rules) -> tuple[datetime, str | None]:
    """When a step due at `due` really goes, after the earlier steps' sends, and what held it."""
    goes, held = due, None
    if quiet := rules.quiet_until(goes):
        goes, held = quiet, "quiet_hours"
    window = [t for t in sent if t > goes - rules.cap_window]
    allowed = cap_allows_at(window, cap=rules.cap, window=rules.cap_window)
    if allowed is not None and allowed > goes:
        goes, held = allowed, "frequency_cap"
        if quiet := rules.quiet_until(goes):
            goes = quiet
    return goes, held
