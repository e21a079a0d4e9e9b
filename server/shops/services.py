"""The tenant's lifecycle: looking shops up, install, uninstall. Privacy requests: privacy.py."""

from __future__ import annotations

from datetime import datetime

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


def install_shop(domain: str, *, now: datetime) -> tuple[Shop, bool]:
    """Mark `domain` installed (creating the row on a first install). Returns (shop, newly):
    `newly` is True for a first install and for a reinstall after an uninstall.

    A reinstall keeps everything the shop had (orders, members, settings); a shop whose data
    was erased by shop/redact starts afresh. The caller stores the tokens.
    """
    domain = domain.lower()
    shop = find_shop(domain)
    if shop is None:
        shop = Shop(domain=domain, name=domain.removesuffix(".myshopify.com"), settings={})
        db.session.add(shop)
    newly = not shop.installed
    if newly:
        if shop.installed_at is None or shop.redacted_at is not None:
            shop.installed_at = now
        shop.uninstalled_at = None
        shop.redacted_at = None
    db.session.flush()
    return shop, newly


def mark_uninstalled(shop: Shop, *, now: datetime) -> bool:
    """app/uninstalled (or a dead token): forget the tokens, stop everything for the shop.
    Data stays until shop/redact, 48 hours later. Returns False when it was already so."""
    changed = shop.uninstalled_at is None or shop.access_token is not None
    if shop.uninstalled_at is None:
        shop.uninstalled_at = now
    shop.access_token = None
    shop.access_token_expires_at = None
    shop.refresh_token = None
    shop.refresh_token_expires_at = None
    shop.token_lease_until = None
    return changed
