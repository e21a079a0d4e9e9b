"""Campaign URLs outside the admin and LIFF surfaces: the tracked-link redirect `/r/<token>`."""

from __future__ import annotations

from flask import Blueprint, redirect, request
from werkzeug.wrappers import Response

from server.db import commit, utcnow

from . import links

bp = Blueprint("campaign_links", __name__)


@bp.get("/r/<token>")
def follow(token: str) -> Response:
    target = links.follow(
        token,
        remote_addr=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        now=utcnow(),
    )
    commit()
    response = redirect(target, code=302)
    # Every click must reach us (no cached redirect), and the shop should not learn the token.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
