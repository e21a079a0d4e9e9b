from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.crypto import EncryptedString
from server.db import Model, ShopScoped, TimestampMixin, utcnow

DEFAULT_TIMEZONE = "Asia/Tokyo"


class Shop(TimestampMixin, Model):
    """The tenant: one Shopify store that installed Kizuna. Install, uninstall, redaction and
    tokens are handled in server/shopify (tokens.py, install.py) and server/shops/services.py."""

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)  # x.myshopify.com
    name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    currency: Mapped[str] = mapped_column(String(3), default="JPY")
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    locale: Mapped[str] = mapped_column(String(16), default="ja")

    installed_at: Mapped[datetime | None]
    uninstalled_at: Mapped[datetime | None]
    scopes: Mapped[str] = mapped_column(String(1024), default="")
    # Expiring offline token: a 1-hour access token and a single-use refresh token.
    access_token: Mapped[str | None] = mapped_column(EncryptedString())
    access_token_expires_at: Mapped[datetime | None]
    refresh_token: Mapped[str | None] = mapped_column(EncryptedString())
    refresh_token_expires_at: Mapped[datetime | None]
    # While set and in the future, one process is refreshing the token (the refresh token is
    # single-use, so two refreshing at once would log the shop out); the others wait for it.
    token_lease_until: Mapped[datetime | None]
    # shop/redact (48 h after uninstall) erased the shop's data; the row stays as a tombstone so
    # late webhooks are recognised, and a reinstall starts afresh.
    redacted_at: Mapped[datetime | None]

    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_demo: Mapped[bool] = mapped_column(default=False)

    @property
    def installed(self) -> bool:
        return self.installed_at is not None and self.uninstalled_at is None

    def __repr__(self) -> str:
        return f"<Shop {self.id} {self.domain}>"


class ComplianceRequest(ShopScoped, Model):
    """A privacy request Shopify forwarded (customers/data_request, customers/redact, shop/redact),
    and what Kizuna did about it. Data requests carry the export the merchant downloads and hands
    to the customer; a later customers/redact for the same customer erases that export too.
    """

    __tablename__ = "compliance_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))
    shopify_customer_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    data_request_id: Mapped[int | None] = mapped_column(BigInteger)
    orders_requested: Mapped[list[Any]] = mapped_column(default=list)
    # "done" once handled; exports are ready to download from then on.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    export: Mapped[dict[str, Any] | None]
    summary: Mapped[str | None] = mapped_column(Text)  # counts only, never personal data
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    downloaded_at: Mapped[datetime | None]
