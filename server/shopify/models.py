"""Shopify-side bookkeeping: OAuth states of code-grant installs, and history backfills."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.crypto import EncryptedString
from server.db import Model, ShopScoped, TimestampMixin, utcnow


class OAuthState(Model):
    """The `state` nonce of one authorization-code install: unique, short-lived, used once."""

    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(64), unique=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class BackfillRun(ShopScoped, TimestampMixin, Model):
    """One import of the shop's history through GraphQL bulk operations, stage by stage
    (products, customers, orders). Resumable: `stage`, `bulk_operation_id` and `lines_done`
    say where a crashed run picks up; lines already imported are skipped on the next pass.
    One driver at a time holds the run (`driver_token`), renewing `driver_heartbeat_at`.
    """

    __tablename__ = "backfill_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # pending → running → completed | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    stage: Mapped[str] = mapped_column(String(16), default="products")
    bulk_operation_id: Mapped[str | None] = mapped_column(String(128))
    # created → running → completed (Shopify's side), then "importing" while we read the file
    bulk_status: Mapped[str | None] = mapped_column(String(16))
    # The JSONL download is a signed URL to the shop's data: a credential for 7 days.
    result_url: Mapped[str | None] = mapped_column(EncryptedString())
    lines_done: Mapped[int] = mapped_column(default=0)  # of the current stage's file
    # Root objects per stage: expected (from the count queries) and imported so far.
    totals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    imported: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # The one driver (worker task, resume job or CLI) importing the run now, and when it last
    # committed; see server/shopify/lease.py.
    driver_token: Mapped[str | None] = mapped_column(String(32))
    driver_heartbeat_at: Mapped[datetime | None]

    STAGES = ("products", "customers", "orders")

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")

    @property
    def percent(self) -> int:
        """Done so far, 0–100: imported root objects over expected ones, all stages together."""
        if self.status == "completed":
            return 100
        expected = sum(max(int(self.totals.get(s, 0)), 1) for s in self.STAGES)
        done = sum(
            min(int(self.imported.get(s, 0)), max(int(self.totals.get(s, 0)), 1))
            for s in self.STAGES
        )
        return min(99, int(100 * done / expected))
