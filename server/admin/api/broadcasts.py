"""/api/admin/broadcasts: compose, preview, estimate (recipients and quota), schedule, cancel,
results with lift.

The parent blueprint authenticated the session token (g.shop). Every id in a path is looked up
within g.shop, so another shop's id is a 404. Bad input is a 400 whose `details.fields` names
each field that is wrong, and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, g, request

from server.campaigns import (
    broadcast_audience,
    broadcast_results,
    broadcast_sending,
    broadcasts,
    messages,
)
from server.campaigns.models import Broadcast, LinkTracking
from server.coupons.models import CouponOffer
from server.db import commit, db, utcnow
from server.errors import BadRequest
from server.i18n import current_locale
from server.line.channels import find_channel
from server.line.rules import Rules
from server.segments import services as segments

bp = Blueprint("broadcasts", __name__, url_prefix="/broadcasts")


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise broadcasts.InvalidBroadcast(
            "expected a JSON object body", fields={"": "a JSON object"}
        )
    return data


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _local(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(broadcasts.shop_zone(g.shop)).strftime("%Y-%m-%dT%H:%M")


def _out(broadcast: Broadcast, *, names: dict[int, str] | None = None) -> dict[str, Any]:
    names = names if names is not None else broadcast_results.segment_names(g.shop)
    quiet_until = (
        broadcast_audience.quiet_hours_note(g.shop, broadcast.scheduled_at)
        if broadcast.scheduled_at and broadcast.status == "scheduled"
        else None
    )
    return {
        "id": broadcast.id,
        "name": broadcast.name,
        "status": broadcast.status,
        "segment_id": broadcast.segment_id,
        "segment_name": names.get(broadcast.segment_id) if broadcast.segment_id else None,
        "message": broadcast.message,
        "coupon_offer_id": broadcast.coupon_offer_id,
        "link_tracking": broadcast.link_tracking,
        "holdout_percent": broadcast.holdout_percent,
        "scheduled_at": _iso(broadcast.scheduled_at),
        "scheduled_local": _local(broadcast.scheduled_at),
        "quiet_hours_until": _iso(quiet_until),
        "started_at": _iso(broadcast.started_at),
        "completed_at": _iso(broadcast.completed_at),
        "cancelled_at": _iso(broadcast.cancelled_at),
        "recipients_count": broadcast.recipients_count,
        "holdout_count": broadcast.holdout_count,
        "error": broadcast.error,
        "created_at": _iso(broadcast.created_at),
        "updated_at": _iso(broadcast.updated_at),
        "timezone": g.shop.timezone,
    }


@bp.get("")
def list_broadcasts() -> dict[str, Any]:
    found = broadcasts.list_broadcasts(g.shop)
    names = broadcast_results.segment_names(g.shop)
    summary = broadcast_results.summaries(g.shop, [b.id for b in found])
    return {"broadcasts": [{**_out(b, names=names), **summary[b.id]} for b in found]}


@bp.get("/options")
def options() -> dict[str, Any]:
    """What the composer offers: saved segments, coupon offers, variables, quiet hours."""
    shop = g.shop
    offers = db.session.scalars(
        CouponOffer.for_shop(shop).where(CouponOffer.active.is_(True)).order_by(CouponOffer.id)
    ).all()
    channel = find_channel(shop)
    rules = Rules.for_shop(shop, channel)
    return {
        "segments": [{"id": s.id, "name": s.name} for s in segments.list_segments(shop)],
        "offers": [
            {"id": o.id, "title": o.title, "kind": o.kind, "value": o.value} for o in offers
        ],
        "variables": [v for v in messages.VARIABLES if v not in broadcasts.CONTEXT_VARIABLES],
        "personal_variables": sorted(broadcasts.PERSONAL_VARIABLES),
        "layouts": ["card"],
        "link_tracking": [t.value for t in LinkTracking],
        "max_holdout": broadcasts.MAX_HOLDOUT,
        "quiet_hours": [
            rules.quiet_start.strftime("%H:%M") if rules.quiet_start else None,
            rules.quiet_end.strftime("%H:%M") if rules.quiet_end else None,
        ],
        "timezone": shop.timezone,
        "currency": shop.currency,
        "shop_name": shop.name or shop.domain,
        "now_local": _local(utcnow()),
    }


@bp.post("")
def create() -> tuple[dict[str, Any], int]:
    broadcast = broadcasts.create_broadcast(g.shop, _json(), now=utcnow())
    commit()
    return _out(broadcast), 201


@bp.post("/preview")
def preview() -> dict[str, Any]:
    """The LINE messages as a recipient would see them, with sample values."""
    data = _json()
    locale = data.get("locale") or current_locale()
    if locale not in ("ja", "en"):
        raise broadcasts.InvalidBroadcast("locale: 'ja' or 'en'", fields={"locale": "ja or en"})
    clean = broadcasts.validate(g.shop, {"name": "preview", **data})
    offer = (
        db.session.get(CouponOffer, clean["coupon_offer_id"]) if clean["coupon_offer_id"] else None
    )
    rendered = broadcasts.render_sample(g.shop, clean["message"], offer, locale=locale)
    return {"messages": rendered, "locale": locale}


@bp.post("/estimate")
def estimate_unsaved() -> dict[str, Any]:
    """Recipients and cost for the composer's current segment and holdout (not saved yet)."""
    data = _json()
    segment_id = data.get("segment_id")
    percent = data.get("holdout_percent", 0)
    fields: dict[str, str] = {}
    if segment_id is not None and (
        isinstance(segment_id, bool)
        or not isinstance(segment_id, int)
        or segments.find_segment(g.shop, segment_id) is None
    ):
        fields["segment_id"] = "a saved segment's id, or null for every friend"
    if (
        isinstance(percent, bool)
        or not isinstance(percent, int)
        or not 0 <= percent <= broadcasts.MAX_HOLDOUT
    ):
        fields["holdout_percent"] = f"a whole number from 0 to {broadcasts.MAX_HOLDOUT}"
    if fields:
        first = next(iter(fields.items()))
        raise broadcasts.InvalidBroadcast(f"{first[0]}: {first[1]}", fields=fields)
    figures = broadcast_audience.estimate(
        g.shop, segment_id=segment_id, holdout_percent=percent, now=utcnow()
    )
    commit()  # the quota figures just read from LINE
    return figures


@bp.get("/<int:broadcast_id>")
def show(broadcast_id: int) -> dict[str, Any]:
    broadcast = broadcasts.get_broadcast(g.shop, broadcast_id)
    out = _out(broadcast)
    out["personalised"] = broadcast_sending.is_personalised(g.shop, broadcast, now=utcnow())
    return out


@bp.put("/<int:broadcast_id>")
def update(broadcast_id: int) -> dict[str, Any]:
    broadcast = broadcasts.get_broadcast(g.shop, broadcast_id)
    broadcasts.update_broadcast(g.shop, broadcast, _json(), now=utcnow())
    commit()
    return _out(broadcast)


@bp.delete("/<int:broadcast_id>")
def delete(broadcast_id: int) -> tuple[str, int]:
    broadcast = broadcasts.get_broadcast(g.shop, broadcast_id)
    broadcasts.delete_broadcast(g.shop, broadcast)
    commit()
    return "", 204


@bp.get("/<int:broadcast_id>/estimate")
def estimate(broadcast_id: int) -> dict[str, Any]:
    broadcast = broadcasts.get_broadcast(g.shop, broadcast_id)
    figures = broadcast_audience.estimate(g.shop, broadcast, now=utcnow())
    commit()
    return figures


@bp.post("/<int:broadcast_id>/schedule")
def schedule(broadcast_id: int) -> dict[str, Any]:
    """Body: {"send_at": "YYYY-MM-DDTHH:MM" in the shop's zone, or null for now;
    "confirm_over_quota": true to send although the quota will not cover everyone}."""
    broadcast = broadcasts.get_broadcast(g.shop, broadcast_id)
    data = _json()
    confirm = data.get("confirm_over_quota", False)
    if not isinstance(confirm, bool):
        raise BadRequest(
            "confirm_over_quota: true or false", fields={"confirm_over_quota": "true or false"}
        )
    broadcasts.schedule(
        g.shop, broadcast, send_at=data.get("send_at"), confirm_over_quota=confirm, now=utcnow()
    )
    commit()  # sending now starts after this commit
    db.session.refresh(broadcast)
    return _out(broadcast)


@bp.post("/<int:broadcast_id>/cancel")
def cancel(broadcast_id: int) -> dict[str, Any]:
    broadcast = broadcasts.get_broadcast(g.shop, broadcast_id)
    broadcasts.cancel(g.shop, broadcast, now=utcnow())
    commit()
    return _out(broadcast)


@bp.get("/<int:broadcast_id>/results")
def results(broadcast_id: int) -> dict[str, Any]:
    broadcast = broadcasts.get_broadcast(g.shop, broadcast_id)
    return broadcast_results.results(g.shop, broadcast, now=utcnow())
