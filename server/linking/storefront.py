"""The storefront link page, served through the App Proxy: /apps/kizuna/link → /proxy/link.

The App Proxy (server/shopify/proxy.py, the parent blueprint) has checked Shopify's signature
and set g.shop and g.logged_in_customer_id. Pages are Liquid so they render inside the shop's
theme; they never echo customer-supplied text (Liquid would evaluate it).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote

from flask import Blueprint, current_app, g, redirect, render_template, request
from werkzeug.wrappers import Response

from server.commerce.models import Customer
from server.commerce.sync import CustomerData, upsert_customers
from server.db import commit, utcnow
from server.errors import BadRequest, Forbidden
from server.shops.models import Shop

from . import services

bp = Blueprint("linking_storefront", __name__)
LIQUID = "application/liquid; charset=utf-8"


def _customer(shop: Shop, now: datetime) -> Customer | None:
    raw = g.get("logged_in_customer_id")
    if not raw:
        return None
    try:
        shopify_id = int(raw)
    except (TypeError, ValueError):
        raise BadRequest("invalid logged_in_customer_id") from None
    # A customer not synced yet gets a placeholder row that the Shopify sync fills in.
    found = upsert_customers(shop, [CustomerData(shopify_id=shopify_id, complete=False)], now=now)
    return found[shopify_id]


def _page(name: str, status: int = 200, **context: object) -> Response:
    html = render_template(f"linking/{name}.html", **context)
    return Response(html, status=status, content_type=LIQUID)


def _form_token(shop: Shop, customer: Customer, now: datetime) -> str:
    """Ties the unlink form to this customer and day (a cross-site POST cannot forge it)."""
    message = f"unlink|{shop.id}|{customer.id}|{now:%Y-%m-%d}".encode()
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _login_redirect() -> Response:
    back = "/apps/kizuna/link"
    link_token = request.args.get("linkToken")
    if link_token:
        back += "?linkToken=" + quote(link_token, safe="")
    return redirect("/account/login?return_url=" + quote(back, safe=""))


@bp.get("/link")
def link_page() -> Response:
    shop: Shop = g.shop
    now = utcnow()
    customer = _customer(shop, now)
    if customer is None:
        return _login_redirect()
    link_token = request.args.get("linkToken")
    if link_token:
        try:
            url = services.begin_account_link(shop, customer, link_token[:128], now=now)
        except services.LinkExpired:
            commit()
            return _page("storefront", 400, state="expired")
        except services.LinkRefused as refused:
            commit()
            return _page("storefront", 409, state=refused.outcome.value)
        commit()
        return redirect(url)
    linked = services.find_linked_user(shop, customer)
    if linked is not None:
        token = _form_token(shop, customer, now)
        commit()
        return _page("storefront", state="linked", form_token=token)
    ticket = services.start_login(shop, customer, now=now)
    commit()
    start = f"{str(current_app.config['APP_URL']).rstrip('/')}/line/login/start?ticket={ticket}"
    return _page("storefront", state="unlinked", start_url=start)


@bp.post("/link/unlink")
def unlink() -> Response:
    shop: Shop = g.shop
    now = utcnow()
    customer = _customer(shop, now)
    if customer is None:
        return _login_redirect()
    if not hmac.compare_digest(request.form.get("token", ""), _form_token(shop, customer, now)):
        raise Forbidden("the form has expired; reload the page")
    line_user = services.find_linked_user(shop, customer)
    if line_user is not None:
        services.unlink(shop, line_user, by="customer", now=now)
    commit()
    return _page("storefront", state="unlinked_done")
