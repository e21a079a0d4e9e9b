"""The LIFF app's JSON API under /api/liff, and the built app itself under /liff/.

Every API route is a child of one parent blueprint whose before_request verifies the LIFF ID
token (auth.py), so no route can forget it. The shop is the one whose LINE Login channel is
the token's audience and whose LIFF app the request came through (X-Liff-Id).
"""

from __future__ import annotations

from flask import Blueprint


def create_blueprint() -> Blueprint:
    from . import auth, coupons, membership, recommendations, subscribers

    api = Blueprint("liff_api", __name__, url_prefix="/api/liff")
    api.before_request(auth.authenticate)
    for child in (membership, coupons, subscribers, recommendations):
        api.register_blueprint(child.bp)
    return api


def create_static_blueprint() -> Blueprint:
    from . import static

    return static.bp
