"""The embedded admin: Jinja pages, and the admin JSON API under /api/admin.

Every API route is a child of one parent blueprint whose before_request verifies the Shopify
session token, so no route can forget authentication. The shop is the token's `dest`; the
staff member is its `sub`.
"""

from __future__ import annotations

from flask import Blueprint


def create_api_blueprint() -> Blueprint:
    from . import auth
    from .api import coupon_offers, dashboard, inbox, membership, shop, shopify_data

    api = Blueprint("admin_api", __name__, url_prefix="/api/admin")
    api.before_request(auth.authenticate)
    for child in (shop, dashboard, membership, coupon_offers, inbox, shopify_data):
        api.register_blueprint(child.bp)
    return api


def create_pages_blueprint() -> Blueprint:
    from . import membership_pages, pages  # noqa: F401 - membership_pages adds routes to pages.bp

    return pages.bp
