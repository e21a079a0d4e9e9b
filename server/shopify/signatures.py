"""The signed query strings Shopify sends to the app (install request, OAuth callback).

Algorithm (PROTOCOLS.md §1.1): drop `hmac`, sort the `k=v` pairs, join them with `&`, hex
HMAC-SHA256 with the app secret, compare in constant time. ShopifyAPI implements exactly this
(`shopify.Session.calculate_hmac`); its class-level secret is global state, so a subclass carries
our secret instead of mutating the library. ShopifyAPI accepts timestamps up to a day old; we
require |now − timestamp| ≤ 90 s, as Shopify's own Node library does.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache

import shopify

MAX_CLOCK_SKEW_SECONDS = 90


@cache
def _session_class(api_key: str, secret: str) -> type[shopify.Session]:
    return type("KizunaShopifySession", (shopify.Session,), {"api_key": api_key, "secret": secret})


def query_hmac(params: Mapping[str, str], *, secret: str) -> str:
    """Hex HMAC of a signed query (without its `hmac`), as Shopify computes it."""
    return str(_session_class("", secret).calculate_hmac(dict(params)))


def valid_query(params: Mapping[str, str], *, secrets: Sequence[str], now: datetime) -> bool:
    """The query's `hmac` matches, made with one of `secrets` (the current one and, while it is
    rotated, the old one), and its `timestamp` is within 90 seconds of `now`."""
    received = params.get("hmac") or ""
    if not received or not any(
        hmac.compare_digest(received, query_hmac(params, secret=secret)) for secret in secrets
    ):
        return False
    try:
        timestamp = int(params.get("timestamp") or "")
    except ValueError:
        return False
    return abs(now.timestamp() - timestamp) <= MAX_CLOCK_SKEW_SECONDS


def permission_url(
    shop: str, *, api_key: str, api_version: str, scopes: list[str], redirect_uri: str, state: str
) -> str:
    """The grant screen URL for an offline token (no `grant_options[]=per-user`)."""
    session = _session_class(api_key, "")(shop, api_version)
    return str(session.create_permission_url(scopes, redirect_uri, state=state))
