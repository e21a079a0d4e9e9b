"""The app's client secret, and the one before it while a rotation is under way.

Shopify: "If you rotate your app's client secret, it can take up to an hour for the HMAC digest
to be generated using the new secret" (PROTOCOLS.md §3.1). Until then webhooks, OAuth redirects,
App Proxy requests and session tokens may still be signed with the old secret, so every check of
a signature also accepts SHOPIFY_API_SECRET_OLD when it is set. What the app sends to Shopify
(token exchange, refresh, the code grant) uses the current secret only. Unset the old secret
once the rotation is over.
"""

from __future__ import annotations

from functools import cache

from flask import current_app
from shopify_app import ShopifyApp


def verifying_secrets() -> tuple[str, ...]:
    """The secrets a signature may be made with: the current one first."""
    current = current_app.config["SHOPIFY_API_SECRET"]
    old = current_app.config.get("SHOPIFY_API_SECRET_OLD") or ""
    return (current, old) if old and old != current else (current,)


def sdk() -> ShopifyApp:
    """Shopify's `shopifyapp` object for this app (it tries `old_client_secret` itself)."""
    secrets = verifying_secrets()
    return _sdk(
        current_app.config["SHOPIFY_API_KEY"], secrets[0], secrets[1] if len(secrets) > 1 else None
    )


@cache
def _sdk(api_key: str, secret: str, old_secret: str | None) -> ShopifyApp:
    return ShopifyApp(client_id=api_key, client_secret=secret, old_client_secret=old_secret)
