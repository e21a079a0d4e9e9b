from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

# 12:00 in Tokyo: outside the default quiet hours (21:00-09:00 Asia/Tokyo).
NOON_JST = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime | None = None  # None: the real time


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The time LINE tasks see when the worker runs them (they read `utcnow()`); a test that
    stamps its own `now` sets it, so sender and caller agree."""
    from server.db import utcnow
    from server.line import tasks

    frozen = Clock()
    monkeypatch.setattr(tasks, "utcnow", lambda: frozen.now or utcnow())
    return frozen
