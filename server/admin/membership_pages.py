"""Admin pages of the membership programme (issue 5): tiers and points rules, coupon offers,
subscriber posts, and the members list and detail. Shells whose script (membership.js) reads
/api/admin/membership/* and /api/admin/coupons/*; registered on the pages blueprint."""

from __future__ import annotations

from flask import render_template
from werkzeug.wrappers import Response

from server.i18n import catalog, current_locale

from . import pages

STRING_PREFIXES = (
    "membership.",
    "common.",
    "recommendations.admin.member.",
    "recommendations.kind.",
)

# (page id, path, template heading key) in menu order; pages.NAV lists the same paths.
PAGES = {
    "membership": "membership.title",
    "coupons": "membership.coupons.title",
    "members": "membership.members.title",
    "subscriber_posts": "membership.posts.title",
}


def _render(page: str, **extra: object) -> Response | str:
    context = pages._page_context()
    if context is None:
        return pages.home()
    strings = {
        key: text
        for locale in ("ja", current_locale())  # Japanese fills any gap in the other catalog
        for key, text in catalog(locale).items()
        if key.startswith(STRING_PREFIXES)
    }
    return render_template(
        "admin/membership.html",
        page=page,
        heading=PAGES[page],
        strings=strings,
        record_id=extra.pop("record_id", 0),
        **extra,
        **context,
    )


@pages.bp.get("/membership")
def membership() -> Response | str:
    return _render("membership")


@pages.bp.get("/coupons")
def coupons() -> Response | str:
    return _render("coupons")


@pages.bp.get("/members")
def members() -> Response | str:
    return _render("members")


@pages.bp.get("/members/<int:member_id>")
def member(member_id: int) -> Response | str:
    return _render("members", record_id=member_id)


@pages.bp.get("/subscriber-posts")
def subscriber_posts() -> Response | str:
    return _render("subscriber_posts")
