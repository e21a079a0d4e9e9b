"""The authorization-code install (direct installs and non-embedded fallback):

    GET /auth/install?shop=…[&hmac=…&timestamp=…]  → Shopify's grant screen, with a single-use state
    GET /auth/callback?code=…&hmac=…&shop=…&state=…&timestamp=…  → tokens, then the embedded app

https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant
Embedded installs use Shopify-managed installation and token exchange instead (install.py,
admin/pages.py). The state is stored (unique, 10 minutes, used once) and also set in the signed
session cookie, as the docs ask; the callback must match both.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from flask import Blueprint, current_app, redirect, request, session
from sqlalchemy import select
from werkzeug.wrappers import Response

from server.db import commit, db, utcnow
from server.errors import BadRequest, Unauthorized

from . import credentials, install, signatures
from .domains import valid_shop_domain
from .models import OAuthState

log = logging.getLogger(__name__)

bp = Blueprint("shopify_auth", __name__)

STATE_LIFETIME = timedelta(minutes=10)
STATE_COOKIE_KEY = "shopify_oauth_state"
# The decoded `host` is where the merchant's admin lives; anything else is not a redirect target.
ADMIN_HOST = re.compile(
    r"^(admin\.shopify\.com/store/[a-zA-Z0-9][a-zA-Z0-9-]*|[a-z0-9][a-z0-9-]*\.myshopify\.com/admin)$"
)


class InvalidInstallRequest(Unauthorized):
    code = "invalid_install_request"


@bp.get("/auth/install")
def begin() -> Response:
    params = _single_valued_args()
    shop = params.get("shop", "").lower()
    if not valid_shop_domain(shop):
        raise BadRequest("shop must be a <name>.myshopify.com domain")
    now = utcnow()
    # From Shopify's install link the request is signed; the app's own redirect (below) is not.
    if "hmac" in params and not signatures.valid_query(
        params, secrets=credentials.verifying_secrets(), now=now
    ):
        raise InvalidInstallRequest("the install request's hmac is invalid or stale")
    if params.get("embedded") == "1":
        # Shopify's admin refuses to be redirected inside its iframe: leave the frame first.
        return _break_out_of_frame(
            shop,
            current_app.config["APP_URL"].rstrip("/")
            + "/auth/install?"
            + urlencode({"shop": shop}),
        )
    state = secrets.token_urlsafe(32)
    db.session.add(OAuthState(state=state, shop_domain=shop, created_at=now))
    commit()
    session[STATE_COOKIE_KEY] = state
    url = signatures.permission_url(
        shop,
        api_key=current_app.config["SHOPIFY_API_KEY"],
        api_version=current_app.config["SHOPIFY_API_VERSION"],
        scopes=[s.strip() for s in current_app.config["SHOPIFY_SCOPES"].split(",") if s.strip()],
        redirect_uri=current_app.config["APP_URL"].rstrip("/") + "/auth/callback",
        state=state,
    )
    return redirect(url)


@bp.get("/auth/callback")
def callback() -> Response:
    params = _single_valued_args()
    shop = params.get("shop", "").lower()
    if not valid_shop_domain(shop):
        raise BadRequest("shop must be a <name>.myshopify.com domain")
    if not params.get("code"):
        raise BadRequest("the callback has no code")
    now = utcnow()
    if not signatures.valid_query(params, secrets=credentials.verifying_secrets(), now=now):
        raise InvalidInstallRequest("the callback's hmac is invalid or stale")
    state = params.get("state", "")
    cookie_state = session.pop(STATE_COOKIE_KEY, None)
    stored = (
        db.session.scalar(select(OAuthState).where(OAuthState.state == state)) if state else None
    )
    if (
        stored is None
        or stored.used_at is not None
        or stored.shop_domain != shop
        or stored.created_at < now - STATE_LIFETIME
        or cookie_state is None
        or not secrets.compare_digest(cookie_state, state)
    ):
        raise InvalidInstallRequest("unknown, used, expired or foreign state")
    stored.used_at = now
    commit()  # used, even if what follows fails: a state never works twice
    install.complete_code_install(shop, params["code"], now=now)
    commit()
    return redirect(_app_home(params.get("host"), shop))


def _single_valued_args() -> dict[str, str]:
    if any(len(values) > 1 for values in request.args.listvalues()):
        raise BadRequest("repeated query parameters")
    return request.args.to_dict(flat=True)


def _app_home(host: str | None, shop: str) -> str:
    """Step 5: into the embedded app in the merchant's admin (`host` is unpadded base64)."""
    decoded = _decode_host(host)
    if decoded is not None:
        return f"https://{decoded}/apps/{current_app.config['SHOPIFY_API_KEY']}/"
    return current_app.config["APP_URL"].rstrip("/") + "/?" + urlencode({"shop": shop})


def _decode_host(host: str | None) -> str | None:
    if not host:
        return None
    try:
        decoded = base64.b64decode(host + "=" * (-len(host) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if ADMIN_HOST.fullmatch(decoded) else None


def _break_out_of_frame(shop: str, url: str) -> Response:
    result = credentials.sdk().app_home_parent_redirect(
        {"method": "GET", "headers": dict(request.headers), "url": request.url, "body": ""},
        url,
        shop.removesuffix(".myshopify.com"),
    )
    return Response(
        result.response.body, status=result.response.status, headers=result.response.headers
    )


@bp.get("/auth/session-token")
def bounce() -> Response:
    """The bounce page: App Bridge fetches a session token here and reloads `shopify-reload`."""
    from .app_home import bounce_page

    return bounce_page(request)
