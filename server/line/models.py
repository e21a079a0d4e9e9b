from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.commerce.models import Customer
from server.crypto import EncryptedString
from server.db import Model, ShopScoped, TimestampMixin


class LineUser(ShopScoped, TimestampMixin, Model):
    """A LINE friend of the shop's Official Account, and its link to a store customer.

    LINE user ids are per provider, so the same person has one row per shop. A customer is
    linked to at most one LINE user per shop (unique `customer_id`).
    """

    __tablename__ = "line_users"
    __table_args__ = (
        UniqueConstraint("shop_id", "line_user_id"),
        UniqueConstraint("shop_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[str] = mapped_column(String(64))  # "U" + 32 hex
    display_name: Mapped[str | None] = mapped_column(String(255))
    picture_url: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    followed_at: Mapped[datetime | None]
    # Unfollowed (blocked) the account; cleared when they follow again.
    blocked_at: Mapped[datetime | None]
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    linked_at: Mapped[datetime | None]

    customer: Mapped[Customer | None] = relationship(lazy="joined")

    @property
    def following(self) -> bool:
        return self.followed_at is not None and self.blocked_at is None

    @property
    def linked(self) -> bool:
        return self.customer_id is not None


class LineChannel(ShopScoped, TimestampMixin, Model):
    """A shop's LINE channels: the Messaging API channel of its Official Account, the LINE Login
    channel (same provider) and the LIFF app on it. Secrets and tokens are encrypted at rest and
    never returned in full by any API.
    """

    __tablename__ = "line_channels"
    __table_args__ = (UniqueConstraint("shop_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The unguessable path segment of this shop's webhook URL: /line/webhook/<channel_key>.
    channel_key: Mapped[str] = mapped_column(String(64), unique=True)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    channel_secret: Mapped[str | None] = mapped_column(EncryptedString())
    channel_access_token: Mapped[str | None] = mapped_column(EncryptedString())
    channel_access_token_expires_at: Mapped[datetime | None]
    bot_user_id: Mapped[str | None] = mapped_column(String(64))
    bot_basic_id: Mapped[str | None] = mapped_column(String(64))  # "@abc1234"
    bot_display_name: Mapped[str | None] = mapped_column(String(255))
    login_channel_id: Mapped[str | None] = mapped_column(String(32), index=True)
    login_channel_secret: Mapped[str | None] = mapped_column(EncryptedString())
    liff_id: Mapped[str | None] = mapped_column(String(64), index=True)
    webhook_verified_at: Mapped[datetime | None]

    @property
    def messaging_configured(self) -> bool:
        return bool(self.channel_id and self.channel_secret and self.channel_access_token)
