"""Products for me: what the recommender would show this friend, with the reason for each.

A linked friend gets their stored list ("time to reorder" and "you may also like"), filtered
at request time; a friend who has not linked yet, or a customer without orders, gets the
shop's best sellers (of their tier when known).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from server.db import utcnow
from server.errors import BadRequest
from server.i18n import LOCALES
from server.recommendations import serving

bp = Blueprint("recommendations", __name__, url_prefix="/recommendations")

MAX_LIMIT = 24


def _limit() -> int:
    raw = request.args.get("limit", "12")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _lang() -> str:
    lang = request.args.get("lang", "ja")
    if lang not in LOCALES:
        raise BadRequest(f"lang must be one of {', '.join(LOCALES)}")
    return lang


@bp.get("")
def index() -> dict[str, Any]:
    limit, lang = _limit(), _lang()
    shop = g.shop
    recs = serving.recommendations_for(shop, g.customer, limit=limit, lang=lang, now=utcnow())
    minor = 1 if shop.currency in serving.ZERO_DECIMAL else 100
    products = [
        {
            "id": r.product_id,
            "title": r.title,
            "image_url": r.image_url,
            "price": int(r.price * minor),  # minor units, as everywhere in the LIFF API
            "url": r.product_url,
            "kind": r.kind,
            "reason": r.reason,
            "subscribable": r.subscribable,
        }
        for r in recs
    ]
    personal = any(r.kind != "popular" for r in recs)
    return {
        "source": "personal" if personal else "popular",
        "currency": shop.currency,
        "products": products,
    }
