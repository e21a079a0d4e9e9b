from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

# 12:00 in Tokyo: outside the default quiet hours (21:00-09:00 Asia/Tokyo).
NOON_JST = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The time LINE tasks see (they read `utcnow()` when the worker runs them)."""
    from server.line import tasks

    frozen = Clock(NOON_JST)
    monkeypatch.setattr(tasks, "utcnow", lambda: frozen.now)
    return frozen
