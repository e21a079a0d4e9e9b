"""Admin pages: server-rendered shells; their data comes from /api/admin with the session token.

Embedded in Shopify, a page is opened with `shop` and `host`, and App Bridge supplies session
tokens. In demo mode a cookie from the local sign-in stands in for Shopify (see demo.py).
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import (
    Blueprint,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from server.shopify import app_home

bp = Blueprint("pages", __name__)

# The admin's navigation, in menu order: (page id, path, translation key). Features add their
# page here when it lands; base.html renders it as App Bridge's nav menu or the demo sidebar.
NAV: list[tuple[str, str, str]] = [
    ("home", "/", "nav.home"),
    ("inbox", "/inbox", "nav.inbox"),
    ("faq", "/inbox/faq", "nav.faq"),
    ("line", "/line", "nav.line"),
    ("campaigns", "/campaigns", "nav.campaigns"),
    ("segments", "/segments", "nav.segments"),
    ("broadcasts", "/broadcasts", "nav.broadcasts"),
    ("membership", "/membership", "nav.membership"),
    ("coupons", "/coupons", "nav.coupons"),
    ("members", "/members", "nav.members"),
    ("subscriber_posts", "/subscriber-posts", "nav.subscriber_posts"),
    ("recommendations", "/recommendations", "nav.recommendations"),
    ("settings", "/settings", "nav.settings"),
]

# Query parameters that travel with every in-app link of an embedded page: Shopify passes them
# on the first load only, and cookies do not work in the admin's iframe.
EMBEDDED_PARAMS = ("shop", "host", "embedded", "locale")


@bp.before_request
def _embedded_load() -> Response | None:
    """An embedded load (from Shopify's admin) is verified, and installs the shop on first use."""
    if not app_home.is_embedded_load(request):
        return None
    outcome = app_home.verify(request)
    if isinstance(outcome, Response):
        return outcome
    g.app_home = outcome
    return None


@bp.after_request
def _frame_rules(response: Response) -> Response:
    home = g.get("app_home")
    if home is not None:
        response.headers.update(home.headers)
    elif request.endpoint and request.endpoint.startswith("pages."):
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none';"
    return response


def app_url(path: str) -> str:
    """`path` with the embedded parameters kept (Jinja: `app_url('/settings')`)."""
    if g.get("app_home") is None:
        return path
    kept = [(k, request.args[k]) for k in EMBEDDED_PARAMS if request.args.get(k)]
    return path + ("?" + urlencode(kept) if kept else "")


@bp.app_context_processor
def _navigation() -> dict[str, object]:
    return {"nav": NAV, "app_url": app_url}


@bp.get("/")
def home() -> Response | str:
    context = _page_context()
    if context is None:
        if current_app.config["DEMO"]:
            return redirect(url_for("demo.sign_in"))
        return render_template("admin/not_embedded.html"), 400  # type: ignore[return-value]
    return render_template("admin/home.html", page="home", **context)


# Sections of the Settings page, in order: (section id, template). Features add theirs here.
SETTINGS_SECTIONS: list[tuple[str, str]] = [
    ("shopify-data", "admin/settings/_shopify_data.html"),
    ("subscribers", "admin/settings/_subscribers.html"),
    ("storefront", "admin/settings/_storefront.html"),
    ("privacy", "admin/settings/_privacy.html"),
]


@bp.get("/settings")
def settings() -> Response | str:
    context = _page_context()
    if context is None:
        return home()
    return render_template(
        "admin/settings.html", page="settings", sections=SETTINGS_SECTIONS, **context
    )


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
    home = g.get("app_home")
    if home is not None:
        return {"shop_domain": home.shop.domain, "embedded": True, "demo": False}
    if current_app.config["DEMO"] and session.get("demo_shop"):
        return {"shop_domain": session["demo_shop"], "embedded": False, "demo": True}
    return None


# Lifecycle marketing (issue 7): scenarios, segments and broadcasts. The pages are shells; their
# scripts read /api/admin/{campaigns,segments,broadcasts} and these UI strings.
MARKETING_STRINGS = ("campaigns.", "segments.", "broadcasts.", "common.")


def _marketing_page(feature: str, view: str, record_id: int | None = None) -> Response | str:
    context = _page_context()
    if context is None:
        return home()
    from server.i18n import catalog, current_locale

    strings = {
        key: text
        for locale in ("ja", current_locale())  # Japanese fills any gap in the other catalog
        for key, text in catalog(locale).items()
        if key.startswith(MARKETING_STRINGS)
    }
    return render_template(
        "admin/marketing.html",
        page=feature,
        feature=feature,
        view=view,
        record_id=record_id,
        strings=strings,
        **context,
    )


@bp.get("/campaigns")
def campaigns() -> Response | str:
    return _marketing_page("campaigns", "campaigns")


@bp.get("/campaigns/new")
def new_campaign() -> Response | str:
    return _marketing_page("campaigns", "campaigns_edit", 0)


@bp.get("/campaigns/<int:scenario_id>")
def campaign(scenario_id: int) -> Response | str:
    return _marketing_page("campaigns", "campaigns_edit", scenario_id)


@bp.get("/campaigns/<int:scenario_id>/report")
def campaign_report(scenario_id: int) -> Response | str:
    return _marketing_page("campaigns", "campaigns_report", scenario_id)


@bp.get("/segments")
def segments() -> Response | str:
    return _marketing_page("segments", "segments")


@bp.get("/broadcasts")
def broadcasts() -> Response | str:
    return _marketing_page("broadcasts", "broadcasts")


@bp.get("/broadcasts/<int:broadcast_id>")
def broadcast(broadcast_id: int) -> Response | str:
    return _marketing_page("broadcasts", "broadcasts_edit", broadcast_id)
