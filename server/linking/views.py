"""LINE Login on our own domain: /line/login/start (from the storefront page's one-time
ticket) and /line/login/callback (LINE's redirect). Pages in the customer's language."""

from __future__ import annotations

import logging

from authlib.common.errors import AuthlibBaseError
from flask import Blueprint, current_app, redirect, render_template, request
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from server import http
from server.db import commit, db, utcnow
from server.line.channels import find_channel
from server.shops.models import Shop

from . import login, services
from .models import LinkOutcome

log = logging.getLogger(__name__)
bp = Blueprint("linking", __name__)


def _page(outcome: str, shop: Shop | None, status: int = 200) -> tuple[str, int]:
    store_url = f"https://{shop.domain}/apps/kizuna/link" if shop else None
    return render_template("linking/result.html", outcome=outcome, store_url=store_url), status


@bp.get("/line/login/start")
def start() -> Response | tuple[str, int]:
    now = utcnow()
    try:
        link_request = services.redeem_ticket(request.args.get("ticket", ""), now=now)
    except services.LinkExpired:
        return _page("expired", None, 400)
    shop = db.session.get(Shop, link_request.shop_id)
    channel = find_channel(shop) if shop else None
    if shop is None or channel is None or not channel.login_configured:
        commit()
        return _page("unavailable", shop, 400)
    redirect_uri = f"{str(current_app.config['APP_URL']).rstrip('/')}/line/login/callback"
    data = login.authorization(channel, redirect_uri)
    link_request.link_token = data["state"]  # the callback finds the shop by its state
    commit()
    return redirect(data["url"])


@bp.get("/line/login/callback")
def callback() -> tuple[str, int]:
    now = utcnow()
    link_request = services.find_login_request(request.args.get("state", ""))
    if link_request is None:
        return _page("expired", None, 400)
    shop = db.session.get(Shop, link_request.shop_id)
    channel = find_channel(shop) if shop else None
    if shop is None or channel is None or not channel.login_configured:
        return _page("unavailable", shop, 400)
    if link_request.outcome is not None:
        return _page("expired", shop, 400)  # this login finished already
    if request.args.get("error"):
        link_request.outcome = LinkOutcome.FAILED
        commit()
        return _page("cancelled", shop, 400)
    try:
        claims = login.verified_claims(channel)
    except http.RequestException as error:
        log.warning(
            "LINE Login token request failed for shop %s: %s", shop.id, type(error).__name__
        )
        link_request.outcome = LinkOutcome.FAILED
        commit()
        return _page("unavailable", shop, 503)
    except (AuthlibBaseError, JoseError, ValueError) as error:
        log.warning("LINE Login refused for shop %s: %s", shop.id, type(error).__name__)
        link_request.outcome = LinkOutcome.FAILED
        commit()
        return _page("invalid", shop, 400)
    outcome = services.complete_login(shop, link_request, str(claims["sub"]), claims, now=now)
    commit()
    ok = outcome in (LinkOutcome.LINKED, LinkOutcome.ALREADY_LINKED)
    return _page(outcome.value, shop, 200 if ok else 409)
