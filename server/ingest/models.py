from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Model, utcnow


class WebhookEvent(Model):
    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("source", "event_id"),
        # The sweep looks for stored-but-unprocessed events.
        Index("ix_webhook_events_unprocessed", "source", "processed_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # "shopify" | "line"
    event_id: Mapped[str] = mapped_column(String(128))  # X-Shopify-Webhook-Id / webhookEventId
    # None when the sender is not (or no longer) a known shop; such events are kept, not run.
    shop_id: Mapped[int | None] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), index=True
    )
    # Shopify: X-Shopify-Event-Id, the same across the deliveries one event causes (several
    # subscriptions, retries); kept to correlate, never to dedupe (Webhook-Id does that).
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(String(128))
    api_version: Mapped[str | None] = mapped_column(String(32))
    triggered_at: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
