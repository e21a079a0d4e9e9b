"""The shop's sending rules for promotional messages: quiet hours in its time zone and a
frequency cap per friend. Transactional messages are exempt; the pipeline applies these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from server.shops.models import Shop

from .models import LineChannel

DEFAULT_QUIET_HOURS = ("21:00", "09:00")
DEFAULT_CAP = (2, 7)  # at most 2 promotional deliveries per friend per 7 days


@dataclass(frozen=True)
class Rules:
    timezone: ZoneInfo
    quiet_start: dtime | None
    quiet_end: dtime | None
    cap: int
    cap_window: timedelta

    @classmethod
    def for_shop(cls, shop: Shop, channel: LineChannel | None) -> Rules:
        start, end = (
            (channel.quiet_hours_start, channel.quiet_hours_end) if channel else DEFAULT_QUIET_HOURS
        )
        cap, days = (channel.frequency_cap, channel.frequency_cap_days) if channel else DEFAULT_CAP
        try:
            zone = ZoneInfo(shop.timezone or "Asia/Tokyo")
        except (ValueError, KeyError):
            zone = ZoneInfo("Asia/Tokyo")
        return cls(zone, parse_hhmm(start), parse_hhmm(end), cap, timedelta(days=days))

    def quiet_until(self, now: datetime) -> datetime | None:
        """The end of the quiet window `now` falls in (UTC), or None outside quiet hours."""
        return quiet_until(now, self.quiet_start, self.quiet_end, self.timezone)


def parse_hhmm(value: str | None) -> dtime | None:
    if not value:
        return None
    hours, _, minutes = value.partition(":")
    return dtime(int(hours), int(minutes or 0))


def quiet_until(
    now: datetime, start: dtime | None, end: dtime | None, zone: ZoneInfo
) -> datetime | None:
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:  # e.g. 01:00-06:00, within one day
        if not start <= clock < end:
            return None
        ends = datetime.combine(local.date(), end, tzinfo=zone)
    else:  # e.g. 21:00-09:00, across midnight
        if end <= clock < start:
            return None
        day = local.date() if clock < end else local.date() + timedelta(days=1)
        ends = datetime.combine(day, end, tzinfo=zone)
    return ends.astimezone(now.tzinfo)


def cap_allows_at(sent: Sequence[datetime], *, cap: int, window: timedelta) -> datetime | None:
    """When one more promotional message fits under the cap, given the recent send times
    (within the window); None = now. `cap` 0 means no cap."""
    if cap <= 0 or len(sent) < cap:
        return None
    ordered = sorted(sent)
    return ordered[len(ordered) - cap] + window
