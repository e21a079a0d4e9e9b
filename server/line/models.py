from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.commerce.models import Customer
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
