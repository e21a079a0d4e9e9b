from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, ShopScoped, TimestampMixin, utcnow
from server.line.models import LineUser


class ConversationStatus(StrEnum):
    OPEN = "open"  # needs staff: the bot handed it over, or the customer wrote again
    WAITING = "waiting"  # staff replied; waiting for the customer
    RESOLVED = "resolved"


class Direction(StrEnum):
    IN = "in"  # from the friend
    OUT = "out"  # from the shop (bot or staff)


class MessageType(StrEnum):
    TEXT = "text"
    STICKER = "sticker"
    IMAGE = "image"
    OTHER = "other"  # video, audio, file, location, flex, ...: see `payload`


class Priority(IntEnum):
    """Inbox order: a priority-support request first, then subscribers, then everyone else."""

    NORMAL = 0
    SUBSCRIBER = 1
    REQUESTED = 2


class Sender(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    STAFF = "staff"


class Conversation(ShopScoped, TimestampMixin, Model):
    """The shop's chat with one LINE friend (one per friend, reopened as messages arrive)."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("shop_id", "line_user_id"),
        # The inbox list: one status, priority first, newest first.
        Index("ix_conversations_inbox", "shop_id", "status", "priority", "last_message_at", "id"),
        # Every status at once ("all"), and the badges' counts, from the index alone.
        Index("ix_conversations_inbox_all", "shop_id", "priority", "last_message_at", "id"),
        Index(
            "ix_conversations_inbox_counts",
            "shop_id",
            "status",
            "assignee_id",
            "unread_count",
            "last_message_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[int] = mapped_column(ForeignKey("line_users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.OPEN)
    last_message_at: Mapped[datetime | None]
    unread_count: Mapped[int] = mapped_column(default=0)
    # Inbox (issue 8). The staff member's session-token `sub`; None = unassigned.
    assignee_id: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(default=Priority.NORMAL)
    # A person took over (the bot could not answer, or was asked for one): the bot stays quiet
    # until staff resolve the conversation.
    handed_off_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # The list shows the last message without reading the messages table.
    last_message_text: Mapped[str | None] = mapped_column(String(200))
    last_message_sender: Mapped[str | None] = mapped_column(String(16))

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


class ConversationNote(ShopScoped, Model):
    """An internal note on a conversation: staff only, never sent to the customer."""

    __tablename__ = "conversation_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedReply(ShopScoped, TimestampMixin, Model):
    """A canned answer staff insert into a reply."""

    __tablename__ = "saved_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)


class FaqEntry(ShopScoped, TimestampMixin, Model):
    """A merchant's FAQ entry: several phrasings of the question, the answer, and quick replies
    ([{label, text}] or [{label, url}]) under it. `hits` counts the bot's answers from it."""

    __tablename__ = "faq_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    questions: Mapped[list[str]] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)
    quick_replies: Mapped[list[Any]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    hits: Mapped[int] = mapped_column(default=0)


class InboxStaff(ShopScoped, Model):
    """A staff member seen in the inbox (session-token `sub`), so chats can be assigned to them."""

    __tablename__ = "inbox_staff"
    __table_args__ = (UniqueConstraint("shop_id", "staff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255))
    last_seen_at: Mapped[datetime]
