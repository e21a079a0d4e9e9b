"""Support hours: when staff answer, in the shop's time zone. Pure: settings in, times out.

`shop.settings["support_hours"]` = {"weekdays": [0, 1, 2, 3, 4], "open": "10:00", "close": "18:00"}
(Monday = 0). Without it the shop answers on weekdays from 10:00 to 18:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.errors import Invalid

DEFAULT = {"weekdays": [0, 1, 2, 3, 4], "open": "10:00", "close": "18:00"}


@dataclass(frozen=True)
class SupportHours:
    weekdays: frozenset[int]
    opens: time
    closes: time
    zone: ZoneInfo

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None, timezone: str) -> SupportHours:
        raw = {**DEFAULT, **((settings or {}).get("support_hours") or {})}
        return cls.parse(raw, timezone)

    @classmethod
    def parse(cls, raw: dict[str, Any], timezone: str) -> SupportHours:
        try:
            weekdays = frozenset(int(d) for d in raw["weekdays"])
            opens = time.fromisoformat(str(raw["open"]))
            closes = time.fromisoformat(str(raw["close"]))
        except (KeyError, TypeError, ValueError) as error:
            raise Invalid("support hours need weekdays (0-6), open and close (HH:MM)") from error
        if not weekdays or not weekdays <= set(range(7)) or opens >= closes:
            raise Invalid("support hours need at least one weekday and open before close")
        return cls(weekdays, opens, closes, ZoneInfo(timezone))

    def to_settings(self) -> dict[str, Any]:
        return {
            "weekdays": sorted(self.weekdays),
            "open": self.opens.strftime("%H:%M"),
            "close": self.closes.strftime("%H:%M"),
        }

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        return local.weekday() in self.weekdays and self.opens <= local.time() < self.closes

    def next_opening(self, now: datetime) -> datetime:
        """The next moment staff are in (now itself when open), in the shop's zone."""
        local = now.astimezone(self.zone)
        if self.is_open(now):
            return local
        for days in range(8):
            day = (local + timedelta(days=days)).date()
            opening = datetime.combine(day, self.opens, tzinfo=self.zone)
            if day.weekday() in self.weekdays and opening > local:
                return opening
        raise AssertionError("a week always has an opening")  # weekdays is never empty


_WEEKDAYS_JA = "月火水木金土日"


def format_opening(when: datetime, locale: str) -> str:
    """'11月24日(月) 10:00' / 'Mon 24 Nov, 10:00' for the bot's "we answer from …" text."""
    if locale == "en":
        return when.strftime("%a %d %b, %H:%M")
    return f"{when.month}月{when.day}日({_WEEKDAYS_JA[when.weekday()]}) {when:%H:%M}"
