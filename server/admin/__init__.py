"""The embedded admin: Jinja pages, and the admin JSON API under /api/admin.

Every API route is a child of one parent blueprint whose before_request verifies the Shopify
session token, so no route can forget authentication. The shop is the token's `dest`; the
staff member is its `sub`.
"""

from __future__ import annotations

from flask import Blueprint


def create_api_blueprint() -> Blueprint:
    from . import auth
    from .api import (
        campaigns,
        coupon_offers,
        dashboard,
        inbox,
        membership,
        recommendations,
        shop,
        shopify_data,
    )

    api = Blueprint("admin_api", __name__, url_prefix="/api/admin")
    api.before_request(auth.authenticate)
    for child in (
        shop,
        dashboard,
        membership,
        coupon_offers,
        inbox,
        shopify_data,
        campaigns,
        recommendations,
    ):
        api.register_blueprint(child.bp)
    from .api import broadcasts, line, segments

    for child in (line, segments, broadcasts):
        api.register_blueprint(child.bp)
    return api


def create_pages_blueprint() -> Blueprint:
    # line_pages and membership_pages add their routes to pages.bp
    from . import line_pages, membership_pages, pages, recommendation_pages  # noqa: F401

    return pages.bp
