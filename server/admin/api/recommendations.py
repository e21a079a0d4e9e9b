"""Admin API for recommendations: the model (when it last trained, its offline scores), the
shop's exclusions, training on demand, and what one member would be shown and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, g, request
from sqlalchemy import select

from server.commerce.models import Product
from server.db import commit, db, utcnow
from server.errors import Invalid
from server.i18n import current_locale
from server.membership import services as membership
from server.recommendations import services, serving
from server.recommendations.models import (
    CustomerRecommendation,
    RecommendationModel,
    ReorderPrediction,
)

bp = Blueprint("recommendations", __name__, url_prefix="/recommendations")

HISTORY = 30


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _model_out(model: RecommendationModel) -> dict[str, Any]:
    return {
        "id": model.id,
        "algorithm": model.algorithm,
        "trained_at": _iso(model.trained_at),
        "customers": model.customers,
        "products": model.products,
        "lines": model.lines,
        "seconds": round(model.seconds, 2),
        "peak_mb": round(model.peak_mb, 1),
    }


@bp.get("")
def overview() -> dict[str, Any]:
    shop = g.shop
    settings = services.find_settings(shop)
    runs = db.session.scalars(
        RecommendationModel.for_shop(shop)
        .order_by(RecommendationModel.trained_at.desc(), RecommendationModel.id.desc())
        .limit(HISTORY)
    ).all()
    excluded = list(settings.excluded_product_ids if settings else [])
    titles = dict(
        db.session.execute(
            select(Product.id, Product.title).where(
                Product.shop_id == shop.id, Product.id.in_(excluded)
            )
        ).all()
    )
    config = services.configuration(shop)
    return {
        "model": _model_out(runs[0]) if runs else None,
        "runs": [_model_out(run) for run in reversed(runs)],
        "production": {"algorithm": config.algorithm, "params": config.params},
        "evaluation": settings.evaluation if settings else None,
        "evaluated_at": _iso(settings.evaluated_at) if settings else None,
        "excluded": [{"id": i, "title": titles.get(i, "")} for i in excluded],
    }


@bp.put("/exclusions")
def set_exclusions() -> dict[str, Any]:
    data = request.get_json(silent=True)
    ids = data.get("product_ids") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise Invalid("product_ids: give a list of product ids", path="product_ids")
    if len(ids) > 1000:
        raise Invalid("product_ids: at most 1,000 products", path="product_ids")
    settings = services.set_excluded_products(g.shop, ids)
    commit()
    return {"excluded": settings.excluded_product_ids}


@bp.post("/train")
def train() -> tuple[dict[str, Any], int]:
    """Train now (in the worker); the page polls the overview for the new model."""
    from server.jobs import enqueue_after_commit
    from server.recommendations.tasks import train_shop_task

    enqueue_after_commit(train_shop_task, g.shop.id)
    commit()
    return {"queued": True}, 202


@bp.get("/members/<int:member_id>")
def for_member(member_id: int) -> dict[str, Any]:
    """What the member would be shown now (after the serving filters) and why, with the
    stored list's date and the predicted run-out dates."""
    shop, now = g.shop, utcnow()
    member = membership.get_member(shop, member_id)  # NotFound for another shop's member
    customer = member.customer
    lang = request.args.get("lang") or current_locale()
    if lang not in ("ja", "en"):
        raise Invalid("lang must be ja or en", path="lang")
    recs = serving.recommendations_for(shop, customer, limit=10, lang=lang, now=now)
    computed = db.session.scalar(
        select(CustomerRecommendation.computed_at).where(
            CustomerRecommendation.shop_id == shop.id,
            CustomerRecommendation.customer_id == customer.id,
        )
    )
    predictions = db.session.execute(
        select(ReorderPrediction, Product.title)
        .join(Product, Product.id == ReorderPrediction.product_id)
        .where(
            ReorderPrediction.shop_id == shop.id,
            ReorderPrediction.customer_id == customer.id,
            Product.shop_id == shop.id,
        )
        .order_by(ReorderPrediction.due_at)
    ).all()
    return {
        "computed_at": _iso(computed),
        "currency": shop.currency,
        "recommendations": [
            {
                "product_id": r.product_id,
                "title": r.title,
                "price": str(r.price),
                "image_url": r.image_url,
                "url": r.product_url,
                "kind": r.kind,
                "reason": r.reason,
            }
            for r in recs
        ],
        "reorders": [
            {
                "product_id": p.product_id,
                "title": title,
                "last_purchased_at": _iso(p.last_purchased_at),
                "cycle_days": round(p.cycle_days, 1),
                "due_at": _iso(p.due_at),
                "purchases": p.purchases,
                "subscribed": p.subscribed,
            }
            for p, title in predictions
        ],
    }


@bp.get("/products")
def search_products() -> dict[str, Any]:
    """Products by title, for the exclusions picker (at most 20)."""
    query = (request.args.get("q") or "").strip()
    if not 1 <= len(query) <= 100:
        raise Invalid("q: give 1 to 100 characters of a product title", path="q")
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = db.session.execute(
        select(Product.id, Product.title, Product.status)
        .where(Product.shop_id == g.shop.id, Product.deleted_at.is_(None))
        .where(Product.title.ilike(f"%{escaped}%", escape="\\"))
        .order_by(Product.title)
        .limit(20)
    ).all()
    return {"products": [{"id": i, "title": title, "status": status} for i, title, status in rows]}
