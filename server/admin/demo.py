"""Demo mode's local sign-in: opens the demo shop's admin in a normal browser, without Shopify.

Registered only when KIZUNA_DEMO=1, and even then it answers only requests made to and from
the loopback interface. It hands the page the same kind of session token App Bridge would, so
the admin API is exercised exactly as in production.
"""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_address

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response

from server.db import db, utcnow
from server.errors import Unauthorized
from server.shopify import session_token
from server.shops.models import Shop

bp = Blueprint("demo", __name__, url_prefix="/demo")
TOKEN_LIFETIME = timedelta(minutes=1)  # like App Bridge's tokens: short, fetched per request


@bp.before_request
def _loopback_only() -> None:
    remote = request.remote_addr or ""
    host = (request.host or "").rsplit(":", 1)[0].strip("[]")
    if not _is_loopback(remote) or host not in ("127.0.0.1", "localhost", "::1"):
        abort(404)


@bp.get("/sign-in")
def sign_in() -> str:
    return render_template(
        "admin/demo_sign_in.html", demo_shop=_demo_shop(), demo=True, embedded=False, page="sign_in"
    )


@bp.post("/sign-in")
def sign_in_submit() -> Response:
    shop = _demo_shop()
    if shop is None:
        abort(404)
    session["demo_shop"] = shop.domain
    return redirect(url_for("pages.home"))


@bp.post("/sign-out")
def sign_out() -> Response:
    session.pop("demo_shop", None)
    return redirect(url_for("demo.sign_in"))


@bp.get("/session-token")
def issue_session_token() -> dict[str, str]:
    domain = session.get("demo_shop")
    if not domain:
        raise Unauthorized("sign in to the demo shop first")
    now = utcnow()
    claims = {
        "iss": f"https://{domain}/admin",
        "dest": f"https://{domain}",
        "aud": current_app.config["SHOPIFY_API_KEY"],
        "sub": "demo-staff",
        "exp": int((now + TOKEN_LIFETIME).timestamp()),
        "nbf": int(now.timestamp()),
        "iat": int(now.timestamp()),
        "jti": f"demo-{now.timestamp()}",
        "sid": "demo-session",
    }
    return {
        "token": session_token.encode(claims, api_secret=current_app.config["SHOPIFY_API_SECRET"])
    }


def _demo_shop() -> Shop | None:
    return db.session.scalar(select(Shop).where(Shop.is_demo.is_(True)).order_by(Shop.id).limit(1))


def _is_loopback(address: str) -> bool:
    try:
        return ip_address(address).is_loopback
    except ValueError:
        return False
