"""The App Proxy: storefront `/apps/kizuna/...` → `/proxy/...`, signature-checked.

https://shopify.dev/docs/apps/build/online-store/app-proxies/authenticate-app-proxies
Every request under /proxy passes `authenticate` (the parent blueprint's before_request) first:
Shopify's own package checks `signature` (hex HMAC-SHA256 of the sorted `k=v` strings joined
with no separator, repeated values joined by `,`), a 90-second timestamp window and a single
`shop`. A bad or missing signature is 401; then `g.shop` is the installed shop and
`g.logged_in_customer_id` the signed customer id (None for an anonymous visitor, whom Shopify
sends as an empty value). Shopify strips cookies in both directions, so nothing here uses them.

Features add their storefront endpoints as child blueprints: put the module (exposing `bp`)
in CHILDREN.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

from flask import Blueprint, g, request

from server.db import commit, utcnow
from server.errors import NotFound, Unauthorized
from server.shops.services import find_shop

from . import credentials

CHILDREN: tuple[str, ...] = ("server.linking.storefront",)
SEEN_EVERY = timedelta(hours=1)

status_bp = Blueprint("proxy_status", __name__)


class InvalidProxySignature(Unauthorized):
    code = "invalid_proxy_signature"


def create_blueprint() -> Blueprint:
    proxy = Blueprint("proxy", __name__, url_prefix="/proxy")
    proxy.before_request(authenticate)
    proxy.register_blueprint(status_bp)
    for name in CHILDREN:
        proxy.register_blueprint(importlib.import_module(name).bp)
    return proxy


def authenticate() -> None:
    result = credentials.sdk().verify_app_proxy_req(
        {"method": request.method, "headers": dict(request.headers), "url": request.url, "body": ""}
    )
    if not result.ok or not result.shop:
        raise InvalidProxySignature(f"app proxy request refused ({result.log.code})")
    shop = find_shop(f"{result.shop}.myshopify.com")
    if shop is None or not shop.installed:
        raise NotFound("this shop has not installed Kizuna")
    g.shop = shop
    g.logged_in_customer_id = result.logged_in_customer_id or None
    _note_storefront_contact()


def _note_storefront_contact() -> None:
    """The storefront reached Kizuna (the theme block is live): shown on the checklist."""
    shop = g.shop
    now = utcnow()
    seen = (shop.settings or {}).get("storefront_seen_at")
    if seen is None or seen < (now - SEEN_EVERY).isoformat():
        shop.settings = {**(shop.settings or {}), "storefront_seen_at": now.isoformat()}
        commit()


@status_bp.get("/status")
def status() -> dict[str, Any]:
    """What the storefront block asks first: is Kizuna on, and is the visitor signed in?"""
    return {
        "shop": g.shop.domain,
        "logged_in": g.logged_in_customer_id is not None,
        "customer_id": g.logged_in_customer_id,
    }
