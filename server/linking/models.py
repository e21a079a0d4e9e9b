from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Model, ShopScoped, utcnow


class LinkMethod(StrEnum):
    LOGIN = "login"  # LINE Login started from the storefront
    ACCOUNT_LINK = "account_link"  # Messaging API link token + nonce


class LinkOutcome(StrEnum):
    LINKED = "linked"
    ALREADY_LINKED = "already_linked"  # the same pair was linked before: nothing changes
    LINE_USER_TAKEN = "line_user_taken"  # the LINE user is linked to another customer
    CUSTOMER_TAKEN = "customer_taken"  # the customer is linked to another LINE user
    FAILED = "failed"  # LINE reported a failed account link, or the login was refused
    EXPIRED = "expired"


class LinkRequest(ShopScoped, Model):
    """One attempt to link, from its start to its outcome; single use.

    LOGIN: `token` is the one-time ticket handing the storefront customer over to our own
    domain, where LINE Login runs (App Proxy responses cannot set cookies). ACCOUNT_LINK:
    `link_token` is LINE's (valid 10 minutes), `token` the nonce we send to LINE's dialog.
    """

    __tablename__ = "link_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    method: Mapped[str] = mapped_column(String(16))
    token: Mapped[str | None] = mapped_column(String(128), unique=True)
    link_token: Mapped[str | None] = mapped_column(String(128), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    line_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("line_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at


class LoginState(Model):
    """authlib's state store for LINE Login (state → nonce, PKCE verifier, redirect URI).

    Server-side and deleted on first use, so a replayed callback finds nothing.
    """

    __tablename__ = "login_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]


class LinkIncentiveGrant(ShopScoped, Model):
    """The link incentive a customer received: at most one per customer, ever."""

    __tablename__ = "link_incentive_grants"
    __table_args__ = (UniqueConstraint("shop_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    line_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("line_users.id", ondelete="SET NULL")
    )
    points: Mapped[int] = mapped_column(default=0)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
