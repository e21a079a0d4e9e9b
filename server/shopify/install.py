"""Installing: turning a verified admin load or an authorization code into an installed shop.

Two ways in (PROTOCOLS.md §1):
- embedded, Shopify-managed installation (recommended): the first load of the app carries a
  session token, which `ensure_installed` exchanges for an expiring offline token;
- authorization code grant (direct installs, views in auth.py): `complete_code_install`.
Both end in `finish_install`: tokens stored encrypted, the shop marked installed (a reinstall
keeps its data), and after the commit the shop's details are fetched and the history backfill
starts.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app

from server.db import db
from server.jobs import enqueue_after_commit
from server.line import delivery
from server.shops.models import Shop
from server.shops.services import find_shop, install_shop

from . import tokens
from .client import graphql
from .errors import ShopifyError, TokenRequestFailed
from .session_token import SessionToken

log = logging.getLogger(__name__)

SHOP_DETAILS = """
query ShopDetails {
  shop { name email currencyCode ianaTimezone primaryDomain { host } }
}
"""


def ensure_installed(verified: SessionToken, raw_token: str, *, now: datetime) -> Shop:
    """The shop of a verified session token, installed and holding a usable offline token.

    Token exchange happens only when needed (first load, reinstall, dead refresh token), not on
    every load. Raises TokenRequestFailed when Shopify refuses the exchange.
    """
    shop = find_shop(verified.shop)
    if (
        shop is not None
        and shop.installed
        and shop.access_token is not None
        and (shop.access_token_expires_at is None or tokens.refresh_token_usable(shop, now=now))
    ):
        return shop
    grant = tokens.exchange_session_token(verified, raw_token, now=now)
    return finish_install(verified.shop, grant, now=now)


def complete_code_install(shop_domain: str, code: str, *, now: datetime) -> Shop:
    grant = tokens.exchange_authorization_code(shop_domain, code, now=now)
    missing = missing_scopes(grant.scope, current_app.config["SHOPIFY_SCOPES"])
    if missing:
        # The merchant can edit the scope list in the grant URL; refuse a partial grant.
        raise TokenRequestFailed(f"the grant lacks required scopes: {', '.join(missing)}")
    return finish_install(shop_domain, grant, now=now)


def finish_install(domain: str, grant: tokens.TokenGrant, *, now: datetime) -> Shop:
    shop, newly = install_shop(domain, now=now)
    tokens.store_grant(shop, grant)
    db.session.flush()
    if newly:
        log.info("shop %s installed Kizuna", shop.id)
        from .tasks import after_install

        # What was held while the shop was uninstalled goes out again (within the 48 hours
        # before shop/redact, the messages are still the shop's to send).
        delivery.release_held(shop, now=now, reason="uninstalled")
        enqueue_after_commit(after_install, shop.id)
    return shop


def missing_scopes(granted: str, required: str) -> list[str]:
    """Required scopes the grant lacks; a write scope counts as its read scope too."""
    have = {s.strip() for s in granted.split(",") if s.strip()}
    have |= {"read_" + s.removeprefix("write_") for s in have if s.startswith("write_")}
    return sorted(s for s in {r.strip() for r in required.split(",") if r.strip()} if s not in have)


def sync_shop_details(shop: Shop) -> None:
    """Name, e-mail, currency, time zone and primary domain from Shopify (after install; cheap
    to repeat). The primary domain is where tracked links may redirect (campaigns.links)."""
    try:
        data = graphql(shop, SHOP_DETAILS)["shop"]
    except ShopifyError as error:
        log.warning("shop details for %s unavailable: %s", shop.id, error.code)
        return
    shop.name = str(data.get("name") or shop.name)
    shop.email = data.get("email") or shop.email
    shop.currency = str(data.get("currencyCode") or shop.currency)
    shop.timezone = str(data.get("ianaTimezone") or shop.timezone)
    host = str((data.get("primaryDomain") or {}).get("host") or "").strip().lower()
    if host and host != shop.domain:
        shop.settings = {**(shop.settings or {}), "storefront_domains": [host]}
