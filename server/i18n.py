"""Japanese-first UI text. Catalogs are JSON files in translations/, one per locale, same keys.

The admin follows Shopify's `locale` parameter (then the browser); the LIFF app follows LINE's
language on its own side.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, has_request_context, request

LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
_CATALOG_DIR = Path(__file__).parent / "translations"


@cache
def catalog(locale: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((_CATALOG_DIR / f"{locale}.json").read_text(encoding="utf-8"))
    return data


def normalise(value: str | None) -> str | None:
    """'ja-JP' → 'ja', 'en-US' → 'en'; None for anything we do not speak."""
    if not value:
        return None
    base = value.replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else None


def current_locale() -> str:
    if not has_request_context():
        return DEFAULT_LOCALE
    if "locale" not in g:
        g.locale = (
            normalise(request.args.get("locale"))
            or normalise(request.cookies.get("kizuna_locale"))
            or normalise(request.accept_languages.best_match(LOCALES))
            or DEFAULT_LOCALE
        )
    return str(g.locale)


def translate(key: str, locale: str | None = None, **values: Any) -> str:
    locale = locale or current_locale()
    text = catalog(locale).get(key) or catalog(DEFAULT_LOCALE).get(key) or key
    return text.format(**values) if values else text


def _remember_locale(response: Response) -> Response:
    # Shopify passes `locale` only on the first load; later pages and redirects keep it.
    chosen = normalise(request.args.get("locale"))
    if chosen and request.cookies.get("kizuna_locale") != chosen:
        response.set_cookie(
            "kizuna_locale", chosen, max_age=365 * 86400, samesite="Lax", secure=request.is_secure
        )
    return response


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(t=translate, current_locale=current_locale)
    app.after_request(_remember_locale)
