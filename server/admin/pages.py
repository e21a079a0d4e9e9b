"""Admin pages: server-rendered shells; their data comes from /api/admin with the session token.

Embedded in Shopify, a page is opened with `shop` and `host`, and App Bridge supplies session
tokens. In demo mode a cookie from the local sign-in stands in for Shopify (see demo.py).
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from server.shopify.domains import valid_shop_domain

bp = Blueprint("pages", __name__)

# The admin's navigation, in menu order: (page id, path, translation key). Features add their
# page here when it lands; base.html renders it as App Bridge's nav menu or the demo sidebar.
NAV: list[tuple[str, str, str]] = [
    ("home", "/", "nav.home"),
    ("inbox", "/inbox", "nav.inbox"),
    ("faq", "/inbox/faq", "nav.faq"),
]


@bp.app_context_processor
def _navigation() -> dict[str, object]:
    return {"nav": NAV}


@bp.get("/")
def home() -> Response | str:
    context = _page_context()
    if context is None:
        if current_app.config["DEMO"]:
            return redirect(url_for("demo.sign_in"))
        return render_template("admin/not_embedded.html"), 400  # type: ignore[return-value]
    return render_template("admin/home.html", page="home", **context)


@bp.get("/inbox")
def inbox() -> Response | str:
    from .api.inbox import page_text

    context = _page_context()
    if context is None:
        return home()
    return render_template(
        "admin/inbox.html", page="inbox", inbox_text=page_text(), poll_ms=1500, **context
    )


@bp.get("/inbox/faq")
def inbox_faq() -> Response | str:
    from .api.inbox import page_text

    context = _page_context()
    if context is None:
        return home()
    return render_template(
        "admin/inbox_faq.html", page="faq", faq_text=page_text("inbox.faq.js."), **context
    )


def _page_context() -> dict[str, object] | None:
    shop = request.args.get("shop")
    if valid_shop_domain(shop) and request.args.get("host"):
        return {"shop_domain": shop, "embedded": True, "demo": False}
    if current_app.config["DEMO"] and session.get("demo_shop"):
        return {"shop_domain": session["demo_shop"], "embedded": False, "demo": True}
    return None
