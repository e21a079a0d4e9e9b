from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from server.crypto import EncryptedString
from server.db import Model, TimestampMixin

DEFAULT_TIMEZONE = "Asia/Tokyo"


class Shop(TimestampMixin, Model):
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

    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_demo: Mapped[bool] = mapped_column(default=False)

    @property
    def installed(self) -> bool:
        return self.installed_at is not None and self.uninstalled_at is None

    def __repr__(self) -> str:
        return f"<Shop {self.id} {self.domain}>"
