from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Model, ShopScoped, TimestampMixin, utcnow


class Segment(ShopScoped, TimestampMixin, Model):
    """A saved filter. The definition is evaluated live every time (see filters.py)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(1000), default="")
    definition: Mapped[dict[str, Any]]
    # Last evaluated size, for lists; the live count is computed on demand.
    last_count: Mapped[int | None]
    last_counted_at: Mapped[datetime | None]


class SurveyAnswer(ShopScoped, Model):
    """The current answer of one LINE friend to one survey question (a new answer replaces it)."""

    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("shop_id", "line_user_id", "survey", "question"),
        Index("ix_survey_answers_lookup", "shop_id", "survey", "question", "answer"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[int] = mapped_column(ForeignKey("line_users.id", ondelete="CASCADE"))
    survey: Mapped[str] = mapped_column(String(32))  # "nine_segment" | "cancellation"
    question: Mapped[str] = mapped_column(String(32))
    answer: Mapped[str] = mapped_column(String(64))
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class NineSegmentProfile(ShopScoped, Model):
    """Where a LINE friend sits on the 9-segment map, and the three answers that put them there.

    `purchase` is asked, or for linked customers derived from their orders (`purchase_source`
    says which). `cell` is None until enough is known.
    """

    __tablename__ = "nine_segment_profiles"
    __table_args__ = (
        UniqueConstraint("shop_id", "line_user_id"),
        Index("ix_nine_segment_profiles_cell", "shop_id", "cell"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[int] = mapped_column(ForeignKey("line_users.id", ondelete="CASCADE"))
    aware: Mapped[bool | None]
    purchase: Mapped[str | None] = mapped_column(String(16))
    purchase_source: Mapped[str | None] = mapped_column(String(16))  # "answer" | "orders"
    intent: Mapped[bool | None]
    cell: Mapped[str | None] = mapped_column(String(32))
    # The question the friend was last asked and has not answered yet.
    pending_question: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NineSegmentMove(ShopScoped, Model):
    """One change of cell: from None (first placement) or another cell."""

    __tablename__ = "nine_segment_moves"
    __table_args__ = (Index("ix_nine_segment_moves_shop_id_moved_at", "shop_id", "moved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[int] = mapped_column(
        ForeignKey("line_users.id", ondelete="CASCADE"), index=True
    )
    from_cell: Mapped[str | None] = mapped_column(String(32))
    to_cell: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # "survey" | "orders"
    moved_at: Mapped[datetime] = mapped_column(default=utcnow)
