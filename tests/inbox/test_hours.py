from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.errors import Invalid
from server.inbox.hours import SupportHours, format_opening

TOKYO = "Asia/Tokyo"


def hours(**raw: object) -> SupportHours:
    return SupportHours.from_settings({"support_hours": raw} if raw else {}, TOKYO)


def test_default_hours_are_weekdays_ten_to_six_in_the_shop_zone() -> None:
    monday_noon_tokyo = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 12:00 JST, Monday
    friday_night_tokyo = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # 19:00 JST, Friday
    assert hours().is_open(monday_noon_tokyo)
    assert not hours().is_open(friday_night_tokyo)


def test_after_friday_close_staff_answer_on_monday_morning() -> None:
    friday_night = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    opening = hours().next_opening(friday_night)
    assert (opening.weekday(), opening.hour, opening.minute) == (0, 10, 0)
    assert opening.day == 30
    assert format_opening(opening, "ja") == "11月30日(月) 10:00"
    assert format_opening(opening, "en") == "Mon 30 Nov, 10:00"


def test_before_opening_staff_answer_the_same_morning() -> None:
    early = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)  # 09:30 JST Tuesday
    assert hours().next_opening(early).day == 24


def test_a_shop_open_every_day_until_late() -> None:
    shop_hours = hours(weekdays=[0, 1, 2, 3, 4, 5, 6], open="09:00", close="22:00")
    saturday_evening = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # 21:00 JST
    assert shop_hours.is_open(saturday_evening)
    assert shop_hours.to_settings() == {
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "open": "09:00",
        "close": "22:00",
    }


@pytest.mark.parametrize(
    "raw",
    [
        {"weekdays": [], "open": "10:00", "close": "18:00"},
        {"weekdays": [7], "open": "10:00", "close": "18:00"},
        {"weekdays": [0], "open": "18:00", "close": "10:00"},
        {"weekdays": [0], "open": "ten", "close": "18:00"},
        {"weekdays": "x", "open": "10:00", "close": "18:00"},
    ],
)
def test_nonsense_hours_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(Invalid):
        SupportHours.parse(raw, TOKYO)
