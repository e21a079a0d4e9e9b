from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.commerce.models import Customer
from server.db import Model, ShopScoped, TimestampMixin, utcnow


class TierWindow(StrEnum):
    ROLLING_12_MONTHS = "rolling_12_months"
    LIFETIME = "lifetime"


class EntryKind(StrEnum):
    EARN = "earn"  # points for an order
    REVERSE = "reverse"  # an order cancelled or refunded takes its points back
    BONUS = "bonus"  # the link incentive, a merchant's gift
    REDEEM = "redeem"  # exchanged for a coupon
    EXPIRE = "expire"  # a lot reached its expiry date unspent
    ADJUST = "adjust"  # a merchant's correction


class MembershipSettings(ShopScoped, TimestampMixin, Model):
    """The shop's programme rules. A shop without a row uses the defaults below."""

    __tablename__ = "membership_settings"
    __table_args__ = (
        UniqueConstraint("shop_id"),
        CheckConstraint("earn_points_per_100 >= 0", name="earn_rate_not_negative"),
        CheckConstraint("points_expiry_months >= 0", name="expiry_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tier_window: Mapped[str] = mapped_column(String(32), default=TierWindow.ROLLING_12_MONTHS)
    # Points per 100 minor units spent (¥100 for JPY): 1 = 1 % back.
    earn_points_per_100: Mapped[int] = mapped_column(default=1)
    # 0 = points never expire.
    points_expiry_months: Mapped[int] = mapped_column(default=12)


class Tier(ShopScoped, TimestampMixin, Model):
    """A rank reached by spending `threshold` (minor units) within the shop's tier window."""

    __tablename__ = "tiers"
    __table_args__ = (
        UniqueConstraint("shop_id", "threshold"),
        UniqueConstraint("shop_id", "name"),
        CheckConstraint("threshold >= 0", name="threshold_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[int]
    benefits: Mapped[str] = mapped_column(Text, default="")
    color: Mapped[str] = mapped_column(String(7), default="#8a8f98")


class Member(ShopScoped, TimestampMixin, Model):
    """A store customer in the membership programme.

    `points_balance` is the sum of the member's ledger, kept in the same transaction as every
    entry (the check constraint makes a negative balance impossible); `tier_id` and
    `qualifying_spend` are the last computed values, refreshed on every order event and daily.
    """

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("shop_id", "customer_id"),
        UniqueConstraint("shop_id", "member_number"),
        CheckConstraint("points_balance >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    member_number: Mapped[str] = mapped_column(String(16))
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"))
    tier_changed_at: Mapped[datetime | None]
    qualifying_spend: Mapped[int] = mapped_column(default=0)
    points_balance: Mapped[int] = mapped_column(default=0)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(lazy="joined")
    tier: Mapped[Tier | None] = relationship(lazy="joined")


class PointsEntry(ShopScoped, Model):
    """One line of the append-only points ledger. Rows are never updated or deleted.

    `key` makes each business event write at most once per member ("order:42:3000",
    "link", "expire:17", "coupon:9"), so a redelivered webhook or a retried task is a no-op.
    """

    __tablename__ = "points_entries"
    __table_args__ = (
        UniqueConstraint("member_id", "key"),
        Index("ix_points_entries_member_id_created_at", "member_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    delta: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    note: Mapped[str] = mapped_column(String(255), default="")
    expires_at: Mapped[datetime | None]  # positive entries only
    created_at: Mapped[datetime]


class SubscriberPost(ShopScoped, TimestampMixin, Model):
    """A post in the subscriber-only area. Visible once `published_at` has passed (None = draft)
    to subscribers whose tier reaches `min_tier` (None = every subscriber)."""

    __tablename__ = "subscriber_posts"
    __table_args__ = (Index("ix_subscriber_posts_shop_id_published_at", "shop_id", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    min_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"))

    min_tier: Mapped[Tier | None] = relationship(lazy="joined")


class PrioritySupportRequest(ShopScoped, Model):
    """A subscriber asked for priority support from the LIFF app. The inbox (issue 8) reads
    open requests through `membership.support` and closes them when the chat is resolved."""

    __tablename__ = "priority_support_requests"
    __table_args__ = (
        Index("ix_priority_support_requests_shop_id_handled_at", "shop_id", "handled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[int] = mapped_column(ForeignKey("line_users.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]
