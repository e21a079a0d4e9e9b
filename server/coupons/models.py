from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, ShopScoped, TimestampMixin
from server.membership.models import Tier


class DiscountKind(StrEnum):
    PERCENTAGE = "percentage"
    FIXED_AMOUNT = "fixed_amount"
    FREE_SHIPPING = "free_shipping"


class CouponSource(StrEnum):
    CLAIM = "claim"  # the member claimed it in the LIFF app
    SCENARIO = "scenario"  # a step message or campaign handed it out
    LINK_INCENTIVE = "link_incentive"  # the reward for linking LINE with the store account
    POINTS_EXCHANGE = "points_exchange"  # bought with points
    ADMIN = "admin"  # given by the merchant


class CouponStatus(StrEnum):
    PENDING = "pending"  # the Shopify discount code is being created
    ACTIVE = "active"  # usable until `valid_until` (after that it shows as expired)
    USED = "used"  # an order carried the code
    FAILED = "failed"  # Shopify refused the code; `failure` says why


class CouponOffer(ShopScoped, TimestampMixin, Model):
    """What a coupon gives, who may get it, and for how long.

    `starts_at`/`ends_at` bound when the offer can be claimed; each coupon is valid from its
    issue for `valid_hours` (e.g. 24 for a restart campaign), never beyond `ends_at`.
    """

    __tablename__ = "coupon_offers"
    __table_args__ = (
        CheckConstraint("value >= 0", name="value_not_negative"),
        CheckConstraint("minimum_subtotal >= 0", name="minimum_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(default=0)  # percent, or minor units off
    minimum_subtotal: Mapped[int] = mapped_column(default=0)  # minor units
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    valid_hours: Mapped[int | None]
    # Shown in the LIFF app for members to claim (else only scenarios/points/link hand it out).
    claimable: Mapped[bool] = mapped_column(default=True)
    min_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"))
    points_cost: Mapped[int | None]  # exchangeable for this many points
    issue_on_link: Mapped[bool] = mapped_column(default=False)
    max_issued: Mapped[int | None]  # a cap on coupons from this offer, all members together
    active: Mapped[bool] = mapped_column(default=True)

    min_tier: Mapped[Tier | None] = relationship(lazy="joined")

    def is_open(self, now: datetime) -> bool:
        return (
            self.active
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )


class Coupon(ShopScoped, TimestampMixin, Model):
    """One member's coupon from an offer: a unique, single-use Shopify discount code.

    `issue_key` makes issuing idempotent ("claim:<offer>:<member>", "link:<member>",
    "points:<entry>", a scenario's own key): a second issue with the same key returns this row.
    """

    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("shop_id", "issue_key"),
        UniqueConstraint("shop_id", "code"),
        Index("ix_coupons_member_id_status", "member_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("coupon_offers.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(24))
    issue_key: Mapped[str] = mapped_column(String(128))
    code: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=CouponStatus.PENDING)
    shopify_discount_id: Mapped[str | None] = mapped_column(String(128))
    issued_at: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    failure: Mapped[str | None] = mapped_column(String(255))
    # The redemption: the order that used the code, and what it brought in.
    used_at: Mapped[datetime | None]
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    order_total: Mapped[int | None]  # minor units, as paid
    order_discount: Mapped[int | None]

    offer: Mapped[CouponOffer] = relationship(lazy="joined")

    def state(self, now: datetime) -> str:
        """What the member sees: pending, active, used, expired or failed."""
        if self.status == CouponStatus.ACTIVE and self.valid_until and self.valid_until <= now:
            return "expired"
        return self.status
