"""GET /healthz: database and queue status, and the version, for load balancers and people."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from server.version import __version__

from .db import db
from .jobs import queue_status

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    database = _database_status()
    queue = queue_status()
    healthy = database["ok"] and queue["ok"]
    body = {
        "status": "ok" if healthy else ("degraded" if database["ok"] else "down"),
        "version": __version__,
        "database": database,
        "queue": queue,
    }
    # Without the database nothing works; without the queue webhooks are still stored and swept
    # later, so the app keeps taking traffic.
    return body, 200 if database["ok"] else 503


def _database_status() -> dict[str, Any]:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("database unreachable: %s", type(error).__name__)
        return {"ok": False, "backend": db.engine.dialect.name, "error": "unreachable"}
    return {"ok": True, "backend": db.engine.dialect.name}
