from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, ShopScoped, TimestampMixin, utcnow
from server.line.models import LineUser


class ConversationStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Direction(StrEnum):
    IN = "in"  # from the friend
    OUT = "out"  # from the shop (bot or staff)


class MessageType(StrEnum):
    TEXT = "text"
    STICKER = "sticker"
    IMAGE = "image"
    OTHER = "other"  # video, audio, file, location, flex, ...: see `payload`


class Sender(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    STAFF = "staff"


class Conversation(ShopScoped, TimestampMixin, Model):
    """The shop's chat with one LINE friend (one per friend, reopened as messages arrive)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("shop_id", "line_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[int] = mapped_column(ForeignKey("line_users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.OPEN)
    last_message_at: Mapped[datetime | None]
    unread_count: Mapped[int] = mapped_column(default=0)

    line_user: Mapped[LineUser] = relationship(lazy="joined")


class Message(ShopScoped, Model):
    """One chat message. Inbound text keeps its reply token: replying within a minute is free
    (the delivery pipeline uses it and sets `reply_token_used_at`)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("shop_id", "line_message_id"),
        Index("ix_messages_conversation_id_created_at", "conversation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    line_message_id: Mapped[str | None] = mapped_column(String(64))
    reply_token: Mapped[str | None] = mapped_column(String(255))
    reply_token_received_at: Mapped[datetime | None]
    reply_token_used_at: Mapped[datetime | None]
    sender: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[str | None] = mapped_column(String(64))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("line_deliveries.id", ondelete="SET NULL")
    )
    # The LINE message object as received (sticker ids, image content provider, ...).
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(lazy="raise_on_sql")
