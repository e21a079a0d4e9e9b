"""Admin API of the Shopify integration: onboarding status, history backfill, subscriber rules,
privacy requests. Children of the authenticating /api/admin parent (g.shop is the caller's shop).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from flask import Blueprint, Response, g, request
from sqlalchemy import func, select

from server.commerce import subscriptions
from server.commerce.models import Customer
from server.db import commit, db, utcnow
from server.errors import Conflict, Invalid, NotFound
from server.i18n import translate
from server.jobs import enqueue_after_commit
from server.line.models import LineChannel
from server.shopify import backfill
from server.shopify.models import BackfillRun
from server.shops.models import ComplianceRequest

bp = Blueprint("shopify_data", __name__)

MAX_TAGS = 20


def run_json(run: BackfillRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "status": run.status,
        "stage": run.stage,
        "percent": run.percent,
        "finished": run.finished,
        "totals": run.totals,
        "imported": run.imported,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "error": run.error,
    }


@bp.get("/onboarding")
def onboarding() -> dict[str, Any]:
    shop = g.shop
    channel = db.session.scalar(LineChannel.for_shop(shop))
    run = backfill.current_run(shop)
    waiting = waiting_data_requests(shop.id)
    history: dict[str, Any] = {
        "key": "history",
        "done": run is not None and run.status == "completed",
        "percent": run.percent if run else 0,
        "running": run is not None and not run.finished,
    }
    if run is not None and not run.finished:
        history["detail"] = translate(
            "home.step.history.running",
            percent=run.percent,
            stage=translate(f"settings.history.stage.{run.stage}"),
        )
    elif run is not None and run.status == "failed":
        history["detail"] = translate("home.step.history.failed")
    elif run is None and shop.is_demo:  # seeded, not imported: nothing to wait for
        history.update(done=True, percent=100, detail=translate("home.step.history.demo"))
    return {
        "steps": [
            {"key": "line_channel", "done": bool(channel and channel.messaging_configured)},
            {"key": "line_webhook", "done": bool(channel and channel.webhook_verified_at)},
            {"key": "liff", "done": bool(channel and channel.liff_id)},
            {"key": "theme_block", "done": bool((shop.settings or {}).get("storefront_seen_at"))},
            history,
        ],
        "privacy_requests_waiting": waiting,
        "privacy_notice": translate("home.privacy.waiting", count=waiting) if waiting else None,
    }


@bp.get("/backfill")
def backfill_status() -> dict[str, Any]:
    return {"run": run_json(backfill.current_run(g.shop))}


@bp.post("/backfill")
def backfill_start() -> tuple[dict[str, Any], int]:
    """Start importing the shop's history (again); a running import is returned as it is."""
    from server.shopify.tasks import advance_backfill

    if g.shop.access_token is None:
        raise Conflict("this shop is not connected to Shopify (the demo shop never is)")
    run = backfill.start(g.shop, now=utcnow(), force=True)
    enqueue_after_commit(advance_backfill, run.id)
    commit()
    return {"run": run_json(run)}, 202


@bp.get("/subscribers/settings")
def subscriber_settings() -> dict[str, Any]:
    return _subscriber_settings()


@bp.put("/subscribers/settings")
def update_subscriber_settings() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("send a JSON object with tags and lapse_days")
    tags = body.get("tags")
    lapse = body.get("lapse_days")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise Invalid("tags must be a list of strings")
    if len(tags) > MAX_TAGS or any(len(t) > 255 for t in tags):
        raise Invalid(f"at most {MAX_TAGS} tags of at most 255 characters")
    if isinstance(lapse, bool) or not isinstance(lapse, int) or not 1 <= lapse <= 365:
        raise Invalid("lapse_days must be a whole number of days between 1 and 365")
    subscriptions.update_settings(g.shop, tags=tags, lapse=lapse, now=utcnow())
    commit()
    return _subscriber_settings()


def _subscriber_settings() -> dict[str, Any]:
    shop = g.shop
    counts: Counter[str] = Counter()
    for tags in db.session.scalars(select(Customer.tags).where(Customer.shop_id == shop.id)):
        counts.update(set(tags or []))
    return {
        "tags": subscriptions.subscriber_tags(shop),
        "lapse_days": subscriptions.lapse_days(shop),
        "suggestions": [{"tag": t, "customers": n} for t, n in counts.most_common(MAX_TAGS)],
        "active_subscribers": len(subscriptions.active_subscriber_ids(shop, now=utcnow())),
    }


@bp.get("/privacy/requests")
def privacy_requests() -> dict[str, Any]:
    rows = db.session.scalars(
        ComplianceRequest.for_shop(g.shop).order_by(ComplianceRequest.received_at.desc()).limit(200)
    )
    return {
        "requests": [
            {
                "id": r.id,
                "topic": r.topic,
                "customer_id": str(r.shopify_customer_id) if r.shopify_customer_id else None,
                "status": r.status,
                "summary": r.summary,
                "received_at": r.received_at.isoformat(),
                "completed_at": r.completed_at.isoformat() if r.completed_at else None,
                "downloaded_at": r.downloaded_at.isoformat() if r.downloaded_at else None,
                "downloadable": r.export is not None,
            }
            for r in rows
        ]
    }


@bp.get("/privacy/requests/<int:request_id>/export")
def privacy_export(request_id: int) -> Response:
    """The data a customer asked for, as a JSON file for the merchant to hand over."""
    row = db.session.scalar(
        ComplianceRequest.for_shop(g.shop).where(ComplianceRequest.id == request_id)
    )
    if row is None or row.export is None:
        raise NotFound("no such data request export")
    row.downloaded_at = row.downloaded_at or utcnow()
    body = json.dumps(row.export, ensure_ascii=False, indent=2)
    commit()
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="kizuna-data-request-{row.id}.json"',
            "Cache-Control": "no-store",
        },
    )


def waiting_data_requests(shop_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(ComplianceRequest)
            .where(
                ComplianceRequest.shop_id == shop_id,
                ComplianceRequest.topic == "customers/data_request",
                ComplianceRequest.export.is_not(None),
                ComplianceRequest.downloaded_at.is_(None),
            )
        )
        or 0
    )
