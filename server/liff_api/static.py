"""Serves the built LIFF app: /liff/<liff id>/ (the endpoint URL a merchant registers) and its
hashed assets under /liff/assets/ with a year-long immutable cache.

The build lives in server/static/liff/ (`npm run build` in liff/, run by `make run`/`make test`).
index.html is never cached, so a new deploy reaches phones at the next open.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory
from sqlalchemy import select

from server.db import db
from server.line.models import LineChannel

from .id_token import LIFF_ID

bp = Blueprint("liff_static", __name__)
BUILD_DIR = Path(__file__).resolve().parent.parent / "static" / "liff"
YEAR = 365 * 24 * 3600


@bp.get("/liff/assets/<path:filename>")
def asset(filename: str) -> Response:
    response = send_from_directory(BUILD_DIR / "assets", filename, max_age=YEAR)
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response


@bp.get("/liff/<liff_id>/")
@bp.get("/liff/<liff_id>/<path:_rest>")
def app(liff_id: str, _rest: str = "") -> Response:
    if not LIFF_ID.match(liff_id):
        abort(404)
    known = db.session.scalar(select(LineChannel.id).where(LineChannel.liff_id == liff_id))
    if known is None:
        abort(404)
    index = BUILD_DIR / "index.html"
    if not index.exists():
        return Response(
            "The LIFF app is not built: run `make run` (or `npm ci && npm run build` in liff/).",
            status=503,
            mimetype="text/plain",
        )
    response = send_from_directory(BUILD_DIR, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"  # LIFF puts tokens in the first URL
    return response
