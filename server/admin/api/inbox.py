"""/api/admin/inbox: conversations, replies, notes, assignment, saved replies, the FAQ bot.

The parent blueprint authenticated the session token: g.shop is the shop, g.staff_id the staff
member (`sub`). Every id in a path is looked up within g.shop, so another shop's id is a 404.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, g, request
from sqlalchemy import false, or_, update

from server.commerce.models import Product
from server.db import commit, db, utcnow
from server.errors import BadRequest, Invalid
from server.i18n import catalog, current_locale, translate
from server.inbox import answers, bot, services
from server.inbox.hours import SupportHours
from server.inbox.models import (
    Conversation,
    ConversationNote,
    FaqEntry,
    InboxStaff,
    Message,
    SavedReply,
)

bp = Blueprint("inbox", __name__, url_prefix="/inbox")


def page_text(prefix: str = "inbox.js.") -> dict[str, str]:
    """A page script's strings in the page's language ("inbox.js.me" → "me")."""
    locale = current_locale()
    return {
        key.removeprefix(prefix): translate(key, locale=locale)
        for key in catalog(locale)
        if key.startswith(prefix)
    }


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object body")
    return data


def _sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


@bp.before_request
def _prepare() -> None:
    """Remember the staff member, and on SQLite let writing requests wait for the write lock.

    On SQLite (WAL), a transaction that read and then writes fails at once with "database is
    locked" when another connection committed in between. So a writing request ends the
    authentication's read transaction and starts the next one with a write, which waits for the
    lock (busy_timeout) as a PostgreSQL row lock would. PostgreSQL needs none of this.
    """
    shop_id, staff_id = g.shop.id, str(g.get("staff_id") or "")
    now = utcnow()
    stale = bool(staff_id) and services.staff_is_stale(shop_id, staff_id, now=now)
    writing = request.method not in ("GET", "HEAD", "OPTIONS")
    if _sqlite() and (writing or stale):
        commit()
        db.session.execute(
            update(InboxStaff).where(InboxStaff.shop_id == shop_id, false()).values(name=None)
        )
    if stale:
        services.seen_staff(shop_id, staff_id, now=now)
        if not writing:
            commit()


def _staff() -> str:
    return str(g.staff_id or "")


# ---------------------------------------------------------------------------- shapes


def conversation_out(c: Conversation) -> dict[str, Any]:
    line_user = c.line_user
    customer = line_user.customer
    name = (
        customer.display_name
        if customer is not None and customer.redacted_at is None
        else line_user.display_name
    ) or translate("inbox.js.unknown")
    priority = {0: None, 1: "subscriber", 2: "requested"}.get(c.priority)
    return {
        "id": c.id,
        "status": c.status,
        "priority": priority,
        "assignee": c.assignee_id,
        "unread": c.unread_count,
        "handed_off": c.handed_off_at is not None,
        "last_message_at": c.last_message_at.isoformat() if c.last_message_at else None,
        "last_message": (
            {"preview": c.last_message_text or "", "sender": c.last_message_sender}
            if c.last_message_at
            else None
        ),
        "customer": {
            "name": name,
            "linked": customer is not None,
            "line_user_id": line_user.id,
        },
    }


def message_out(m: Message, states: dict[int, str]) -> dict[str, Any]:
    payload = m.payload or {}
    out: dict[str, Any] = {
        "id": m.id,
        "sender": m.sender,
        "direction": m.direction,
        "type": m.type,
        "text": m.text,
        "staff_id": m.staff_id,
        "created_at": m.created_at.isoformat(),
        "delivery": states.get(m.delivery_id) if m.delivery_id else None,
    }
    if m.type == "product":
        out["card"] = payload.get("card")
    elif m.type == "sticker":
        out["sticker"] = {k: payload.get(k) for k in ("packageId", "stickerId")}
    elif m.type == "other" and m.direction == "in":
        # video, audio, file, location...: what LINE said it was, and a name to show.
        kind = str(payload.get("type") or "other")[:16]
        label = payload.get("fileName") or payload.get("title") or payload.get("address")
        out["type"] = kind
        out["text"] = str(label)[:200] if label else None
    bot_meta = payload.get("bot")
    if m.sender == "bot" and isinstance(bot_meta, dict):
        out["bot"] = {
            "faq_question": bot_meta.get("phrasing"),
            "score": bot_meta.get("score"),
            "handoff": bot_meta.get("handoff"),
        }
    return out


def note_out(n: ConversationNote) -> dict[str, Any]:
    return {
        "id": f"note-{n.id}",
        "sender": "note",
        "type": "text",
        "text": n.body,
        "staff_id": n.staff_id,
        "created_at": n.created_at.isoformat(),
        "delivery": None,
    }


def _timeline(conversation: Conversation) -> list[dict[str, Any]]:
    msgs = services.messages(g.shop, conversation)
    states = services.delivery_states(g.shop, msgs)
    items = [message_out(m, states) for m in msgs]
    items += [note_out(n) for n in services.notes(g.shop, conversation)]
    return sorted(items, key=lambda item: item["created_at"])


# ---------------------------------------------------------------------------- conversations


@bp.get("/conversations")
def list_conversations() -> dict[str, Any]:
    f = services.parse_filter(request.args.to_dict())
    rows = services.list_conversations(g.shop, f, staff_id=_staff())
    return {
        "me": _staff(),
        "currency": g.shop.currency,
        "conversations": [conversation_out(c) for c in rows],
        "counts": services.counts(g.shop, staff_id=_staff()),
    }


@bp.get("/conversations/<int:conversation_id>")
def show(conversation_id: int) -> dict[str, Any]:
    conversation = services.get_conversation(g.shop, conversation_id)
    now = utcnow()
    return {
        "me": _staff(),
        "conversation": conversation_out(conversation),
        "messages": _timeline(conversation),
        "customer": answers.panel(g.shop, conversation, now=now, locale=current_locale()),
        "staff": [{"id": s.staff_id, "name": s.name} for s in services.list_staff(g.shop)],
    }


@bp.get("/conversations/<int:conversation_id>/messages")
def new_messages(conversation_id: int) -> dict[str, Any]:
    """What arrived after message `after`, and outgoing messages whose state may have changed."""
    conversation = services.get_conversation(g.shop, conversation_id)
    after = request.args.get("after", default=0, type=int)
    if after is None or after < 0:
        raise Invalid("after must be a message id")
    fresh = services.messages(g.shop, conversation, after=after)
    recent = services.pending_outgoing(g.shop, conversation, since=utcnow() - timedelta(hours=1))
    states = services.delivery_states(g.shop, [*fresh, *recent])
    return {
        "messages": [message_out(m, states) for m in fresh],
        "updated": [message_out(m, states) for m in recent if m.id <= after],
        "conversation": conversation_out(conversation),
    }


@bp.get("/messages/<int:message_id>/image")
def message_image(message_id: int) -> Response:
    data, content_type = services.message_image(g.shop, message_id, now=utcnow())
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/conversations/<int:conversation_id>/read")
def read(conversation_id: int) -> dict[str, Any]:
    conversation = services.get_conversation(g.shop, conversation_id)
    services.mark_read(g.shop, conversation)
    commit()
    return conversation_out(conversation)


@bp.post("/conversations/<int:conversation_id>/replies")
def reply(conversation_id: int) -> tuple[dict[str, Any], int]:
    conversation = services.get_conversation(g.shop, conversation_id)
    data = _json()
    now = utcnow()
    if "product_id" in data:
        product_id = data["product_id"]
        if not isinstance(product_id, int) or isinstance(product_id, bool):
            raise Invalid("product_id must be a product id")
        message = services.send_product_card(
            g.shop, conversation, product_id, staff_id=_staff(), now=now
        )
    else:
        text = data.get("text")
        if not isinstance(text, str):
            raise Invalid("text must be a string")
        message = services.reply(g.shop, conversation, text, staff_id=_staff(), now=now)
    commit()
    states = services.delivery_states(g.shop, [message])
    return message_out(message, states), 201


@bp.post("/conversations/<int:conversation_id>/notes")
def add_note(conversation_id: int) -> tuple[dict[str, Any], int]:
    conversation = services.get_conversation(g.shop, conversation_id)
    body = _json().get("body")
    if not isinstance(body, str):
        raise Invalid("body must be a string")
    note = services.add_note(g.shop, conversation, body, staff_id=_staff(), now=utcnow())
    commit()
    return note_out(note), 201


@bp.post("/conversations/<int:conversation_id>/assign")
def assign(conversation_id: int) -> dict[str, Any]:
    conversation = services.get_conversation(g.shop, conversation_id)
    data = _json()
    if "staff_id" not in data:
        raise Invalid("staff_id is required (null unassigns)")
    staff_id = data["staff_id"]
    if staff_id == "me":
        staff_id = _staff()
    services.assign(g.shop, conversation, staff_id, now=utcnow())
    commit()
    return conversation_out(conversation)


@bp.post("/conversations/<int:conversation_id>/status")
def set_status(conversation_id: int) -> dict[str, Any]:
    conversation = services.get_conversation(g.shop, conversation_id)
    status = _json().get("status")
    if not isinstance(status, str):
        raise Invalid("status must be open, waiting or resolved")
    services.set_status(g.shop, conversation, status, now=utcnow())
    commit()
    return conversation_out(conversation)


@bp.post("/conversations/<int:conversation_id>/link-invitation")
def link_invitation(conversation_id: int) -> tuple[dict[str, Any], int]:
    conversation = services.get_conversation(g.shop, conversation_id)
    message = services.send_link_invitation(g.shop, conversation, staff_id=_staff(), now=utcnow())
    commit()
    return message_out(message, services.delivery_states(g.shop, [message])), 201


@bp.get("/conversations/<int:conversation_id>/coupons")
def coupons_for(conversation_id: int) -> dict[str, Any]:
    """Coupons the customer can use, to insert into a reply."""
    conversation = services.get_conversation(g.shop, conversation_id)
    customer = answers.customer_of(conversation)
    usable = answers.usable_coupons(g.shop, customer, now=utcnow()) if customer else []
    locale = answers.locale_of(conversation)
    return {
        "coupons": [
            {
                "id": c.id,
                "label": answers.coupon_label(c, g.shop, current_locale()),
                "text": answers.coupon_label(c, g.shop, locale),
            }
            for c in usable
        ]
    }


@bp.get("/products")
def products() -> dict[str, Any]:
    q = request.args.get("q", "").strip()[:100]
    query = Product.for_shop(g.shop).where(Product.deleted_at.is_(None), Product.status == "active")
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                Product.title.ilike(pattern, escape="\\"),
                Product.handle.ilike(pattern, escape="\\"),
            )
        )
    rows = db.session.scalars(query.order_by(Product.title).limit(20)).all()
    return {
        "products": [
            {
                "id": p.id,
                "title": p.title,
                "price": min((v.price for v in p.variants), default=None),
                "image_url": p.image_url,
            }
            for p in rows
        ]
    }


@bp.get("/staff")
def staff() -> dict[str, Any]:
    return {
        "me": _staff(),
        "staff": [{"id": s.staff_id, "name": s.name} for s in services.list_staff(g.shop)],
    }


# ---------------------------------------------------------------------------- saved replies


def saved_out(s: SavedReply) -> dict[str, Any]:
    return {"id": s.id, "title": s.title, "body": s.body}


@bp.get("/saved-replies")
def saved_replies() -> dict[str, Any]:
    return {"saved_replies": [saved_out(s) for s in services.list_saved_replies(g.shop)]}


@bp.post("/saved-replies")
def create_saved_reply() -> tuple[dict[str, Any], int]:
    saved = services.save_saved_reply(g.shop, _json())
    commit()
    return saved_out(saved), 201


@bp.put("/saved-replies/<int:reply_id>")
def update_saved_reply(reply_id: int) -> dict[str, Any]:
    saved = services.save_saved_reply(g.shop, _json(), services.get_saved_reply(g.shop, reply_id))
    commit()
    return saved_out(saved)


@bp.delete("/saved-replies/<int:reply_id>")
def delete_saved_reply(reply_id: int) -> tuple[str, int]:
    services.delete_saved_reply(g.shop, services.get_saved_reply(g.shop, reply_id))
    commit()
    return "", 204


# ---------------------------------------------------------------------------- the FAQ bot


def faq_out(e: FaqEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "questions": e.questions,
        "answer": e.answer,
        "quick_replies": e.quick_replies,
        "enabled": e.enabled,
        "hits": e.hits,
    }


@bp.get("/faq")
def faq() -> dict[str, Any]:
    hours = SupportHours.from_settings(g.shop.settings, g.shop.timezone)
    return {
        "entries": [faq_out(e) for e in services.list_faq(g.shop)],
        "threshold": bot.threshold(g.shop),
        "support_hours": hours.to_settings(),
    }


@bp.post("/faq")
def create_faq() -> tuple[dict[str, Any], int]:
    entry = services.save_faq(g.shop, _json())
    commit()
    return faq_out(entry), 201


@bp.put("/faq/<int:entry_id>")
def update_faq(entry_id: int) -> dict[str, Any]:
    entry = services.save_faq(g.shop, _json(), services.get_faq(g.shop, entry_id))
    commit()
    return faq_out(entry)


@bp.delete("/faq/<int:entry_id>")
def delete_faq(entry_id: int) -> tuple[str, int]:
    services.delete_faq(g.shop, services.get_faq(g.shop, entry_id))
    commit()
    return "", 204


@bp.post("/faq/try")
def try_faq() -> dict[str, Any]:
    """What the bot would do with a question: the best candidates and whether it answers."""
    question = _json().get("question")
    if not isinstance(question, str) or not 1 <= len(question.strip()) <= 500:
        raise Invalid("question must be 1 to 500 characters")
    index = bot.faq_index(g.shop)
    ranked = index.rank(question, limit=3)
    threshold = bot.threshold(g.shop)
    return {
        "threshold": threshold,
        "answers": bool(ranked) and ranked[0].score >= threshold,
        "candidates": [
            {"key": str(m.key), "score": round(m.score, 3), "phrasing": m.phrasing} for m in ranked
        ],
    }


@bp.put("/settings")
def update_settings() -> dict[str, Any]:
    data = _json()
    settings = dict(g.shop.settings or {})
    if "support_hours" in data:
        if not isinstance(data["support_hours"], dict):
            raise Invalid("support_hours must be an object")
        hours = SupportHours.parse(data["support_hours"], g.shop.timezone)
        settings["support_hours"] = hours.to_settings()
    if "threshold" in data:
        value = data["threshold"]
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0.05 <= value <= 1:
            raise Invalid("threshold must be a number between 0.05 and 1")
        settings["faq_threshold"] = float(value)
    g.shop.settings = settings
    commit()
    return {
        "threshold": bot.threshold(g.shop),
        "support_hours": SupportHours.from_settings(settings, g.shop.timezone).to_settings(),
    }
