"""Document loads of the embedded app (the admin iframe): verify, install, and frame rules.

https://shopify.dev/docs/apps/build/authentication-authorization/set-up-session-tokens
Shopify's admin opens the app with `shop`, `host`, `embedded=1`, `locale` and a session token in
`id_token`. Shopify's own package (`verify_app_home_req`) reads it, verifies the JWT, and
answers a load without a (valid) token with a redirect to the bounce page
(/auth/session-token), where App Bridge fetches a fresh token and reloads. Our stricter check
(session_token.decode: `iss` and `dest` the same shop) runs on top. The first verified load of a
shop exchanges the token for an expiring offline token (install.ensure_installed).

Every embedded HTML response carries `Content-Security-Policy: frame-ancestors
https://{shop} https://admin.shopify.com;` for that shop (App Store requirement).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Request, current_app
from werkzeug.wrappers import Response

from server.db import commit, utcnow
from server.shops.models import Shop

from . import credentials, install, session_token
from .domains import valid_shop_domain
from .errors import TokenRequestFailed
from .session_token import InvalidSessionToken

BOUNCE_PATH = "/auth/session-token"


@dataclass(frozen=True)
class AppHome:
    shop: Shop
    staff_id: str | None
    headers: dict[str, str]


def is_embedded_load(request: Request) -> bool:
    args = request.args
    return args.get("embedded") == "1" or "id_token" in args or bool(args.get("host"))


def frame_ancestors(shop_domain: str) -> str:
    return f"frame-ancestors https://{shop_domain} https://admin.shopify.com;"


def verify(request: Request) -> AppHome | Response:
    """The verified, installed shop of an embedded load, or the response to send instead
    (bounce for a fresh token, or 400/401)."""
    shop_domain = (request.args.get("shop") or "").lower()
    if not valid_shop_domain(shop_domain):
        return Response("shop must be a <name>.myshopify.com domain", status=400)
    sdk = credentials.sdk()
    result = sdk.verify_app_home_req(
        {
            "method": request.method,
            "headers": dict(request.headers),
            "url": request.url,
            "body": "",
        },
        app_home_patch_id_token_path=BOUNCE_PATH,
    )
    if not result.ok or result.id_token is None:
        return Response(result.response.body, result.response.status, result.response.headers)
    raw = result.id_token.token
    try:
        verified = session_token.decode(
            raw,
            api_key=current_app.config["SHOPIFY_API_KEY"],
            api_secrets=credentials.verifying_secrets(),
        )
    except InvalidSessionToken:
        return Response("invalid session token", status=401, headers=session_token.RETRY_HEADER)
    if verified.shop != shop_domain:
        return Response("the session token is for another shop", status=401)
    try:
        shop = install.ensure_installed(verified, raw, now=utcnow())
    except TokenRequestFailed:
        return bounce(request, shop_domain)  # the token was refused: get a fresh one
    commit()
    headers = dict(result.response.headers)
    headers["Content-Security-Policy"] = frame_ancestors(shop.domain)
    return AppHome(shop=shop, staff_id=verified.user_id, headers=headers)


def bounce(request: Request, shop_domain: str) -> Response:
    from urllib.parse import quote, urlencode

    query = [(k, v) for k, v in request.args.items(multi=True) if k != "id_token"]
    reload = request.path + ("?" + urlencode(query) if query else "")
    location = f"{BOUNCE_PATH}?{urlencode(query)}&shopify-reload={quote(reload, safe='')}"
    return Response("", status=302, headers={"Location": location})


def bounce_page(request: Request) -> Response:
    """The page App Bridge uses to fetch a session token and reload the app (no token needed)."""
    shop_domain = (request.args.get("shop") or "").lower()
    reload = request.args.get("shopify-reload") or ""
    if not valid_shop_domain(shop_domain) or not reload.startswith("/") or reload.startswith("//"):
        return Response("bad bounce request", status=400)
    result = credentials.sdk().app_home_patch_id_token(
        {"method": "GET", "headers": dict(request.headers), "url": request.url, "body": ""}
    )
    headers = dict(result.response.headers)
    headers["Content-Security-Policy"] = frame_ancestors(shop_domain)
    return Response(result.response.body, result.response.status, headers)
