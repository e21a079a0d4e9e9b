"""Session-token authentication for /api/admin: sets g.shop and g.staff_id."""

from __future__ import annotations

from flask import current_app, g, request

from server.shopify import credentials, session_token
from server.shopify.session_token import InvalidSessionToken
from server.shops.services import find_shop


def authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise InvalidSessionToken("missing session token (Authorization: Bearer <token>)")
    verified = session_token.decode(
        token,
        api_key=current_app.config["SHOPIFY_API_KEY"],
        api_secrets=credentials.verifying_secrets(),
    )
    shop = find_shop(verified.shop)
    if shop is None or not shop.installed:
        raise InvalidSessionToken("the shop in the session token has not installed Kizuna")
    g.shop = shop
    g.staff_id = verified.user_id
