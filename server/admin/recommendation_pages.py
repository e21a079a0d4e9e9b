"""The Recommendations admin page (issue 6): the model, its offline scores, exclusions. A shell
whose script (recommendations.js) reads /api/admin/recommendations; on the pages blueprint."""

from __future__ import annotations

from flask import render_template
from werkzeug.wrappers import Response

from server.i18n import catalog, current_locale

from . import pages

STRING_PREFIXES = ("recommendations.admin.", "recommendations.kind.", "common.")


def strings() -> dict[str, str]:
    return {
        key: text
        for locale in ("ja", current_locale())  # Japanese fills any gap in the other catalog
        for key, text in catalog(locale).items()
        if key.startswith(STRING_PREFIXES)
    }


@pages.bp.get("/recommendations")
def recommendations() -> Response | str:
    context = pages._page_context()
    if context is None:
        return pages.home()
    return render_template(
        "admin/recommendations.html", page="recommendations", strings=strings(), **context
    )
