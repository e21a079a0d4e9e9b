"""Looking shops up. Install, uninstall and redact live in the Shopify feature."""

from __future__ import annotations

from sqlalchemy import select

from server.db import db
from server.errors import NotFound

from .models import Shop


def find_shop(domain: str) -> Shop | None:
    return db.session.scalar(select(Shop).where(Shop.domain == domain.lower()))


def get_shop(domain: str) -> Shop:
    shop = find_shop(domain)
    if shop is None:
        raise NotFound(f"unknown shop {domain}")
    return shop
