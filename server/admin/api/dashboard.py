from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, g, request

from server.commerce import services as commerce
from server.db import utcnow
from server.errors import Invalid

bp = Blueprint("dashboard", __name__)


@bp.get("/dashboard/sales")
def sales() -> dict[str, Any]:
    months = request.args.get("months", default=12, type=int)
    if months is None or not 1 <= months <= 36:
        raise Invalid("months must be between 1 and 36")
    series = commerce.monthly_sales(g.shop, months=months, now=utcnow())
    return {"currency": g.shop.currency, "months": [asdict(m) for m in series]}
