"""/api/admin/line: the shop's LINE channel, webhook, quota, deliveries (the outbox), rich
menus and linked friends.

The parent blueprint authenticated the session token (g.shop). Every id in a path is looked
up within g.shop, so another shop's id is a 404. Secrets are never returned in full.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, g, request
from sqlalchemy import func, select

from server.db import commit, db, utcnow
from server.errors import BadRequest, Invalid, NotFound
from server.line import channels, delivery, richmenus
from server.line.access import delivery_mode
from server.line.models import (
    Delivery,
    DeliveryContent,
    DeliveryStatus,
    LineUser,
    RichMenuState,
)
from server.line.services import get_line_user
from server.linking import services as linking

bp = Blueprint("line", __name__, url_prefix="/line")

PAGE_SIZE = 50


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object body")
    return data


# Channel ----------------------------------------------------------------------------------------


@bp.get("/channel")
def show_channel() -> dict[str, Any]:
    channel = channels.ensure_channel(g.shop)  # the webhook URL exists before any credential
    commit()
    return {**channels.view(channel), "mode": delivery_mode(channel)}


@bp.put("/channel")
def update_channel() -> dict[str, Any]:
    now = utcnow()
    channel = channels.update_channel(g.shop, _json(), now=now)
    released = 0
    if channel.messaging_configured:
        released = delivery.release_held(g.shop, now=now, reason="channel")
    commit()
    return {**channels.view(channel), "mode": delivery_mode(channel), "released": released}


@bp.post("/channel/webhook")
def set_webhook() -> dict[str, Any]:
    url = channels.set_webhook(g.shop, now=utcnow())
    commit()
    return {"webhook_url": url}


@bp.post("/channel/webhook/test")
def test_webhook() -> dict[str, Any]:
    result = channels.test_webhook(g.shop, now=utcnow())
    commit()
    return result


@bp.get("/quota")
def quota() -> dict[str, Any]:
    result = channels.quota(g.shop, now=utcnow())
    commit()
    return result


# Deliveries and the outbox ----------------------------------------------------------------------


def _delivery_out(row: Delivery, name: str | None, messages: list[Any]) -> dict[str, Any]:
    first = messages[0] if messages else {}
    preview = first.get("text") or first.get("altText") or f"[{first.get('type', '?')}]"
    return {
        "id": row.id,
        "line_user_id": row.line_user_id,
        "friend": name,
        "kind": row.kind,
        "source": row.source,
        "status": row.status,
        "api": row.api,
        "attempts": row.attempts,
        "due_at": row.due_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "created_at": row.created_at.isoformat(),
        "deferred_reason": row.deferred_reason,
        "error": row.error,
        "preview": str(preview)[:200],
        "messages": messages,
    }


@bp.get("/deliveries")
def list_deliveries() -> dict[str, Any]:
    status = request.args.get("status")
    if status and status not in {s.value for s in DeliveryStatus}:
        raise Invalid(f"status must be one of {', '.join(s.value for s in DeliveryStatus)}")
    before = request.args.get("before", type=int)
    query = (
        select(Delivery, LineUser.display_name, DeliveryContent.messages)
        .join(LineUser, LineUser.id == Delivery.line_user_id)
        .join(DeliveryContent, DeliveryContent.id == Delivery.content_id)
        .where(Delivery.shop_id == g.shop.id)
    )
    if status:
        query = query.where(Delivery.status == status)
    if before:
        query = query.where(Delivery.id < before)
    rows = db.session.execute(query.order_by(Delivery.id.desc()).limit(PAGE_SIZE)).all()
    items = [_delivery_out(row, name, messages) for row, name, messages in rows]
    return {
        "mode": delivery_mode(channels.find_channel(g.shop)),
        "deliveries": items,
        "next_before": items[-1]["id"] if len(items) == PAGE_SIZE else None,
    }


@bp.get("/deliveries/summary")
def delivery_summary() -> dict[str, Any]:
    now = utcnow()
    days = request.args.get("days", default=14, type=int)
    if days is None or not 1 <= days <= 90:
        raise Invalid("days must be between 1 and 90")
    since = now - timedelta(days=days)
    day = func.date(Delivery.created_at)
    daily = db.session.execute(
        select(day, Delivery.status, func.count())
        .where(Delivery.shop_id == g.shop.id, Delivery.created_at >= since)
        .group_by(day, Delivery.status)
        .order_by(day)
    ).all()
    series: dict[str, dict[str, int]] = {}
    for date, status, count in daily:
        series.setdefault(str(date), {})[status] = count
    return {
        "counts": delivery.status_counts(g.shop, since=since),
        "daily": [{"date": date, **counts} for date, counts in series.items()],
    }


@bp.post("/deliveries/release")
def release_held() -> dict[str, Any]:
    released = delivery.release_held(g.shop, now=utcnow())
    commit()
    return {"released": released}


@bp.post("/deliveries/<int:delivery_id>/cancel")
def cancel_delivery(delivery_id: int) -> dict[str, Any]:
    row = db.session.scalar(
        select(Delivery).where(Delivery.shop_id == g.shop.id, Delivery.id == delivery_id)
    )
    if row is None:
        raise NotFound("no such delivery")
    if row.status not in (DeliveryStatus.PENDING, DeliveryStatus.HELD) or row.attempts:
        raise Invalid("only deliveries that were never attempted can be cancelled")
    row.status, row.error, row.claim = DeliveryStatus.CANCELLED, "cancelled by the merchant", None
    commit()
    return {"id": row.id, "status": row.status}


# Rich menus -------------------------------------------------------------------------------------


def _state(state: str) -> str:
    if state not in {s.value for s in RichMenuState}:
        raise NotFound("no such rich menu")
    return state


@bp.get("/rich-menus")
def list_rich_menus() -> dict[str, Any]:
    return {"menus": richmenus.view(g.shop)}


@bp.post("/rich-menus/sync")
def sync_rich_menus() -> dict[str, Any]:
    ids = richmenus.sync(g.shop, now=utcnow())
    commit()
    return {"menus": richmenus.view(g.shop), "ids": ids}


@bp.get("/rich-menus/<state>/image")
def rich_menu_image(state: str) -> Response:
    data, content_type = richmenus.image_for(g.shop, _state(state))
    return Response(data, content_type=content_type, headers={"Cache-Control": "no-store"})


@bp.put("/rich-menus/<state>/image")
def replace_rich_menu_image(state: str) -> dict[str, Any]:
    data = request.get_data()
    if not data:
        raise BadRequest("send the PNG or JPEG image as the request body")
    richmenus.replace_image(g.shop, _state(state), data, now=utcnow())
    commit()
    return {"menus": richmenus.view(g.shop)}


@bp.delete("/rich-menus/<state>/image")
def reset_rich_menu_image(state: str) -> dict[str, Any]:
    richmenus.replace_image(g.shop, _state(state), None, now=utcnow())
    commit()
    return {"menus": richmenus.view(g.shop)}


# Friends and links ------------------------------------------------------------------------------


@bp.get("/friends")
def list_friends() -> dict[str, Any]:
    linked_only = request.args.get("linked") == "1"
    query = select(LineUser).where(LineUser.shop_id == g.shop.id)
    if linked_only:
        query = query.where(LineUser.customer_id.is_not(None))
    users = db.session.scalars(query.order_by(LineUser.id.desc()).limit(PAGE_SIZE)).all()
    return {
        "friends": [
            {
                "id": u.id,
                "display_name": u.display_name,
                "following": u.following,
                "linked": u.linked,
                "linked_at": u.linked_at.isoformat() if u.linked_at else None,
                "customer": (
                    {"id": u.customer.id, "name": u.customer.display_name}
                    if u.customer is not None
                    else None
                ),
            }
            for u in users
        ],
        **linking.link_stats(g.shop),
    }


@bp.delete("/friends/<int:line_user_id>/link")
def unlink_friend(line_user_id: int) -> dict[str, Any]:
    user = get_line_user(g.shop, line_user_id)
    changed = linking.unlink(g.shop, user, by="merchant", now=utcnow())
    commit()
    return {"id": user.id, "linked": False, "changed": changed}
