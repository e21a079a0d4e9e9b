"""The LINE settings page (/line): channel, webhook, delivery rules, quota, outbox, rich menus,
linked friends. Its data comes from /api/admin/line with the session token."""

from __future__ import annotations

from flask import render_template
from werkzeug.wrappers import Response

from server.i18n import catalog, current_locale, translate

from . import pages


def page_text(prefix: str = "line.admin.js.") -> dict[str, str]:
    locale = current_locale()
    return {
        key.removeprefix(prefix): translate(key, locale=locale)
        for key in catalog(locale)
        if key.startswith(prefix)
    }


@pages.bp.get("/line")
def line_settings() -> Response | str:
    context = pages._page_context()
    if context is None:
        return pages.home()
    return render_template("admin/line.html", page="line", line_text=page_text(), **context)
