"""The inbox's rules: listing, assigning, replying, resolving, notes, saved replies, FAQ entries.

Services take the shop first, flush and never commit. Outgoing messages go through
`server.line.delivery.deliver` (the one pipeline: retry keys, reply tokens, outbox mode), and
each is recorded as a Message whose `delivery_id` tells the inbox its delivery state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from server.commerce.models import Customer, Product
from server.db import db
from server.errors import Invalid, NotFound
from server.line import delivery as line_delivery
from server.line.access import access_target
from server.line.channels import find_channel
from server.line.models import Delivery, LineUser
from server.shops.models import Shop

from .models import (
    Conversation,
    ConversationNote,
    ConversationStatus,
    Direction,
    FaqEntry,
    InboxStaff,
    Message,
    Priority,
    SavedReply,
    Sender,
)

# LINE accepts a reply token for about a minute after the webhook
# (developers.line.biz/en/reference/messaging-api/#send-reply-message-reply-token); leave margin
# for the queue, and push after that.
REPLY_TOKEN_FRESH = timedelta(seconds=50)
PREVIEW_LENGTH = 120
MAX_TEXT = 5000  # LINE's limit for a text message (UTF-16 units; we count characters, stricter)
PAGE_SIZE = 50


class ConversationClosed(Invalid):
    code = "friend_unreachable"


# ---------------------------------------------------------------------------- conversations


def get_conversation(shop: Shop, conversation_id: int) -> Conversation:
    conversation = db.session.scalar(
        Conversation.for_shop(shop).where(Conversation.id == conversation_id)
    )
    if conversation is None:
        raise NotFound("no such conversation")
    return conversation


def find_conversation(shop: Shop, line_user: LineUser) -> Conversation | None:
    return db.session.scalar(
        Conversation.for_shop(shop).where(Conversation.line_user_id == line_user.id)
    )


def conversation_for(shop: Shop, line_user: LineUser, *, now: datetime) -> Conversation:
    """The friend's conversation, created (resolved, nothing to do yet) when there is none."""
    conversation = find_conversation(shop, line_user)
    if conversation is None:
        conversation = Conversation(
            shop_id=shop.id,
            line_user_id=line_user.id,
            status=ConversationStatus.RESOLVED,
            last_message_at=now,
        )
        db.session.add(conversation)
        db.session.flush()
    return conversation


@dataclass(frozen=True)
class ListFilter:
    status: str | None = ConversationStatus.OPEN  # None: every status
    assignee: str = "any"  # any | me | unassigned
    q: str = ""
    limit: int = PAGE_SIZE
    before: tuple[int, datetime, int] | None = None  # (priority, last_message_at, id) cursor


def parse_filter(args: dict[str, str]) -> ListFilter:
    status = args.get("status", "open")
    if status not in {*ConversationStatus, "all"}:
        raise Invalid("status must be open, waiting, resolved or all")
    assignee = args.get("assignee", "any")
    if assignee not in ("any", "me", "unassigned"):
        raise Invalid("assignee must be any, me or unassigned")
    q = args.get("q", "").strip()
    if len(q) > 100:
        raise Invalid("search text is at most 100 characters")
    try:
        limit = int(args.get("limit", PAGE_SIZE))
    except ValueError as error:
        raise Invalid("limit must be a number") from error
    if not 1 <= limit <= 200:
        raise Invalid("limit must be between 1 and 200")
    return ListFilter(
        status=None if status == "all" else status, assignee=assignee, q=q, limit=limit
    )


def _filtered(shop: Shop, f: ListFilter, staff_id: str) -> Select[Any]:
    query = select(Conversation).where(
        Conversation.shop_id == shop.id, Conversation.last_message_at.is_not(None)
    )
    if f.status:
        query = query.where(Conversation.status == f.status)
    if f.assignee == "me":
        query = query.where(Conversation.assignee_id == staff_id)
    elif f.assignee == "unassigned":
        query = query.where(Conversation.assignee_id.is_(None))
    if f.q:
        pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

        def matches(column: Any) -> Any:
            # SQLite's LIKE ignores ASCII case already; its ILIKE adds lower() on every row.
            if db.engine.dialect.name == "sqlite":
                return column.like(pattern, escape="\\")
            return column.ilike(pattern, escape="\\")

        full_name = func.coalesce(Customer.last_name, "") + func.coalesce(Customer.first_name, "")
        names = (
            select(LineUser.id)
            .outerjoin(Customer, Customer.id == LineUser.customer_id)
            .where(
                LineUser.shop_id == shop.id,
                or_(
                    matches(LineUser.display_name),
                    matches(full_name),  # 山田花子 as well as 山田 or 花子
                    matches(Customer.email),
                ),
            )
        )
        # Two uncorrelated sets, each scanned once (a correlated EXISTS would scan the messages
        # once per conversation).
        texts = select(Message.conversation_id).where(
            Message.shop_id == shop.id, matches(Message.text)
        )
        query = query.where(or_(Conversation.line_user_id.in_(names), Conversation.id.in_(texts)))
    return query


def list_conversations(shop: Shop, f: ListFilter, *, staff_id: str) -> Sequence[Conversation]:
    """One page of conversations, priority first, then the most recent message first."""
    query = _filtered(shop, f, staff_id).order_by(
        Conversation.priority.desc(), Conversation.last_message_at.desc(), Conversation.id.desc()
    )
    return db.session.scalars(query.limit(f.limit)).unique().all()


def counts(shop: Shop, *, staff_id: str) -> dict[str, int]:
    """Badges for the filters, among the unresolved: open, waiting, mine, unassigned, unread.

    One index-only scan (ix_conversations_inbox_counts) of the unresolved conversations, which
    stay few; the resolved pile grows forever and is not counted on every poll.
    """
    row = db.session.execute(
        select(
            func.count().filter(Conversation.status == ConversationStatus.OPEN),
            func.count().filter(Conversation.status == ConversationStatus.WAITING),
            func.count().filter(Conversation.assignee_id == staff_id),
            func.count().filter(Conversation.assignee_id.is_(None)),
            func.coalesce(func.sum(Conversation.unread_count), 0),
        ).where(
            Conversation.shop_id == shop.id,
            Conversation.status.in_([ConversationStatus.OPEN, ConversationStatus.WAITING]),
            Conversation.last_message_at.is_not(None),
        )
    ).one()
    keys = ("open", "waiting", "mine", "unassigned", "unread")
    return {k: int(v or 0) for k, v in zip(keys, row, strict=True)}


def messages(
    shop: Shop, conversation: Conversation, *, after: int = 0, limit: int = 500
) -> Sequence[Message]:
    """The conversation's messages, oldest first (the last `limit` when there are more)."""
    query = Message.for_shop(shop).where(
        Message.conversation_id == conversation.id, Message.id > after
    )
    newest = db.session.scalars(query.order_by(Message.id.desc()).limit(limit)).all()
    return list(reversed(newest))


def pending_outgoing(
    shop: Shop, conversation: Conversation, *, since: datetime
) -> Sequence[Message]:
    """Recent outgoing messages, whose delivery state may have changed since the page loaded."""
    return db.session.scalars(
        Message.for_shop(shop)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.OUT,
            Message.delivery_id.is_not(None),
            Message.created_at >= since,
        )
        .order_by(Message.id)
    ).all()


def delivery_states(shop: Shop, message_list: Sequence[Message]) -> dict[int, str]:
    ids = [m.delivery_id for m in message_list if m.delivery_id]
    if not ids:
        return {}
    rows = db.session.execute(
        select(Delivery.id, Delivery.status).where(
            Delivery.shop_id == shop.id, Delivery.id.in_(ids)
        )
    )
    return {delivery_id: status for delivery_id, status in rows}


def notes(shop: Shop, conversation: Conversation) -> Sequence[ConversationNote]:
    return db.session.scalars(
        ConversationNote.for_shop(shop)
        .where(ConversationNote.conversation_id == conversation.id)
        .order_by(ConversationNote.id)
    ).all()


def mark_read(shop: Shop, conversation: Conversation) -> None:
    conversation.unread_count = 0
    db.session.flush()


def assign(
    shop: Shop, conversation: Conversation, staff_id: str | None, *, now: datetime
) -> Conversation:
    """Give the conversation to a staff member (their session-token `sub`), or to nobody."""
    if staff_id is not None and not (isinstance(staff_id, str) and 0 < len(staff_id) <= 64):
        raise Invalid("staff_id must be a staff member's id or null")
    conversation.assignee_id = staff_id
    db.session.flush()
    return conversation


def set_status(
    shop: Shop, conversation: Conversation, status: str, *, now: datetime
) -> Conversation:
    """Open, waiting (for the customer) or resolved. Resolving hands the chat back to the bot
    and closes a priority-support request."""
    if status not in set(ConversationStatus):
        raise Invalid("status must be open, waiting or resolved")
    conversation.status = status
    if status == ConversationStatus.RESOLVED:
        conversation.handed_off_at = None
        conversation.resolved_at = now
        conversation.unread_count = 0
        if conversation.priority == Priority.REQUESTED:
            conversation.priority = Priority.NORMAL
        # membership calls request_priority_support, so it is imported here: no import cycle.
        from server.membership import support

        support.mark_handled(shop, conversation.line_user_id, now=now)
    db.session.flush()
    return conversation


def hand_off(shop: Shop, conversation: Conversation, *, now: datetime) -> Conversation:
    """A person takes over: the conversation is open for staff and the bot stays quiet."""
    conversation.status = ConversationStatus.OPEN
    if conversation.handed_off_at is None:
        conversation.handed_off_at = now
    db.session.flush()
    return conversation


def request_priority_support(shop: Shop, line_user: LineUser, *, now: datetime) -> Conversation:
    """The friend asked for priority support (the LIFF subscriber area): their conversation goes
    to the top of the inbox, open for staff, until it is resolved. Twice is the same as once."""
    conversation = conversation_for(shop, line_user, now=now)
    conversation.priority = Priority.REQUESTED
    hand_off(shop, conversation, now=now)
    return conversation


def mark_subscriber(shop: Shop, conversation: Conversation, subscriber: bool) -> None:
    """Subscribers come before other customers (a priority request stays on top of both)."""
    if conversation.priority == Priority.REQUESTED:
        return
    conversation.priority = Priority.SUBSCRIBER if subscriber else Priority.NORMAL


# ---------------------------------------------------------------------------- messages


def record_incoming(
    shop: Shop, conversation: Conversation, message: Message, *, now: datetime
) -> None:
    """Account for a stored incoming message: unread, preview, time."""
    conversation.unread_count = (conversation.unread_count or 0) + 1
    _touch(conversation, message, now)


def record_outgoing(
    shop: Shop,
    conversation: Conversation,
    *,
    sender: Sender,
    text: str | None,
    type_: str,
    payload: dict[str, Any],
    delivery: Delivery | None,
    staff_id: str | None = None,
    now: datetime,
) -> Message:
    message = Message(
        shop_id=shop.id,
        conversation_id=conversation.id,
        direction=Direction.OUT,
        type=type_,
        text=text,
        sender=sender,
        staff_id=staff_id,
        delivery_id=delivery.id if delivery else None,
        payload=payload,
        created_at=now,
    )
    db.session.add(message)
    db.session.flush()
    _touch(conversation, message, now)
    return message


def _touch(conversation: Conversation, message: Message, now: datetime) -> None:
    conversation.last_message_at = message.created_at or now
    preview = message.text or f"[{message.type}]"
    conversation.last_message_text = preview[:PREVIEW_LENGTH]
    conversation.last_message_sender = message.sender
    db.session.flush()


MAX_IMAGE_BYTES = 10 * 1024 * 1024  # LINE's image messages are at most 10 MB


class ContentUnavailable(NotFound):
    code = "content_unavailable"


def message_image(shop: Shop, message_id: int, *, now: datetime) -> tuple[bytes, str]:
    """The picture a friend sent, fetched from LINE's content API (for staff to see it).

    Raises NotFound for another shop's message or one that is not an image, and
    ContentUnavailable when LINE no longer has it (it keeps content for a limited time) or
    the channel cannot call LINE.
    """
    from server.line import client

    message = db.session.scalar(Message.for_shop(shop).where(Message.id == message_id))
    if message is None or message.type != "image" or not message.line_message_id:
        raise NotFound("no such image")
    channel = find_channel(shop)
    if channel is None or not channel.messaging_configured:
        raise ContentUnavailable("the LINE channel is not set up")
    try:
        response = client.call(
            access_target(channel, now=now),
            "get_message_content_with_http_info",
            message.line_message_id,
            blob_api=True,
        )
    except (client.LineApiError, client.LineUnreachable) as error:
        raise ContentUnavailable("LINE did not return the image") from error
    data = bytes(response.data or b"")
    content_type = str((response.headers or {}).get("Content-Type") or "image/jpeg")
    if not content_type.startswith("image/") or len(data) > MAX_IMAGE_BYTES:
        raise ContentUnavailable("LINE returned something that is not an image")
    return data, content_type


def fresh_reply_token(shop: Shop, conversation: Conversation, *, now: datetime) -> Message | None:
    """The latest incoming message whose reply token is unused and still fresh, if any."""
    latest = db.session.scalar(
        Message.for_shop(shop)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.IN,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    if (
        latest is None
        or not latest.reply_token
        or latest.reply_token_used_at is not None
        or latest.reply_token_received_at is None
        or now - latest.reply_token_received_at > REPLY_TOKEN_FRESH
    ):
        return None
    return latest


def send(
    shop: Shop,
    conversation: Conversation,
    line_messages: list[dict[str, Any]],
    *,
    sender: Sender,
    text: str | None,
    type_: str = "text",
    payload: dict[str, Any] | None = None,
    staff_id: str | None = None,
    now: datetime,
) -> Message:
    """Send LINE message objects to the conversation's friend through the delivery pipeline
    (the reply token when fresh, else push) and record them as one outgoing Message."""
    line_user = db.session.get(LineUser, conversation.line_user_id)
    if line_user is None or line_user.shop_id != shop.id:
        raise NotFound("no such LINE friend")
    if line_user.blocked_at is not None:
        raise ConversationClosed("this friend has blocked the account; messages cannot reach them")
    token_message = fresh_reply_token(shop, conversation, now=now)
    delivery = line_delivery.deliver(
        shop,
        line_user,
        line_messages,
        kind="transactional",
        reply_token=token_message.reply_token if token_message else None,
        reply_token_received_at=token_message.reply_token_received_at if token_message else None,
        source=f"inbox:{sender}",
        now=now,
    )
    if token_message is not None:
        token_message.reply_token_used_at = now
    return record_outgoing(
        shop,
        conversation,
        sender=sender,
        text=text,
        type_=type_,
        payload={"messages": line_messages, **(payload or {})},
        delivery=delivery,
        staff_id=staff_id,
        now=now,
    )


def send_link_invitation(
    shop: Shop, conversation: Conversation, *, staff_id: str, now: datetime
) -> Message:
    """Staff invite an unlinked friend to link their store account: LINE's account-link flow
    (a link token and a button to the storefront link page, see linking.services)."""
    from server.linking import services as linking

    line_user = db.session.get(LineUser, conversation.line_user_id)
    if line_user is None or line_user.shop_id != shop.id:
        raise NotFound("no such LINE friend")
    if line_user.customer_id is not None:
        raise Invalid("this friend is linked already")
    if line_user.blocked_at is not None:
        raise ConversationClosed("this friend has blocked the account; messages cannot reach them")
    request = linking.start_account_link(
        shop, line_user, reply_token=None, reply_token_received_at=None, now=now
    )
    if request is None:
        raise Invalid("the LINE channel is not set up (or LINE refused a link token); try later")
    delivery = db.session.scalar(
        select(Delivery)
        .where(
            Delivery.shop_id == shop.id,
            Delivery.line_user_id == line_user.id,
            Delivery.source == "linking",
        )
        .order_by(Delivery.id.desc())
        .limit(1)
    )
    text = (delivery.messages[0].get("altText") if delivery else None) or "link invitation"
    return record_outgoing(
        shop,
        conversation,
        sender=Sender.STAFF,
        text=text,
        type_="text",
        payload={"link_invitation": request.id},
        delivery=delivery,
        staff_id=staff_id,
        now=now,
    )


def reply(
    shop: Shop, conversation: Conversation, text: str, *, staff_id: str, now: datetime
) -> Message:
    """A staff reply. The conversation now waits for the customer, and is assigned to the
    replying staff member when nobody had it."""
    text = (text or "").strip()
    if not text:
        raise Invalid("the reply is empty")
    if len(text) > MAX_TEXT:
        raise Invalid(f"a LINE text message is at most {MAX_TEXT} characters")
    message = send(
        shop,
        conversation,
        [{"type": "text", "text": text}],
        sender=Sender.STAFF,
        text=text,
        staff_id=staff_id,
        now=now,
    )
    _after_staff_message(conversation, staff_id, now)
    return message


def send_product_card(
    shop: Shop, conversation: Conversation, product_id: int, *, staff_id: str, now: datetime
) -> Message:
    """A Flex bubble for one of the shop's products: image, title, price, a button to it."""
    from .cards import product_bubble

    product = db.session.scalar(
        Product.for_shop(shop).where(Product.id == product_id, Product.deleted_at.is_(None))
    )
    if product is None:
        raise NotFound("no such product")
    line_message, card = product_bubble(shop, product)
    message = send(
        shop,
        conversation,
        [line_message],
        sender=Sender.STAFF,
        text=product.title,
        type_="product",
        payload={"card": card},
        staff_id=staff_id,
        now=now,
    )
    _after_staff_message(conversation, staff_id, now)
    return message


def _after_staff_message(conversation: Conversation, staff_id: str, now: datetime) -> None:
    conversation.status = ConversationStatus.WAITING
    if conversation.handed_off_at is None:
        conversation.handed_off_at = now  # a person is talking: the bot keeps out of it
    if conversation.assignee_id is None:
        conversation.assignee_id = staff_id
    conversation.unread_count = 0
    db.session.flush()


def add_note(
    shop: Shop, conversation: Conversation, body: str, *, staff_id: str, now: datetime
) -> ConversationNote:
    body = (body or "").strip()
    if not body:
        raise Invalid("the note is empty")
    if len(body) > MAX_TEXT:
        raise Invalid(f"a note is at most {MAX_TEXT} characters")
    note = ConversationNote(
        shop_id=shop.id,
        conversation_id=conversation.id,
        staff_id=staff_id,
        body=body,
        created_at=now,
    )
    db.session.add(note)
    db.session.flush()
    return note


# ---------------------------------------------------------------------------- staff


def staff_is_stale(shop_id: int, staff_id: str, *, now: datetime) -> bool:
    """Whether `seen_staff` has something to write: a new person, or one unseen for 5 minutes."""
    seen = db.session.scalar(
        select(InboxStaff.last_seen_at).where(
            InboxStaff.shop_id == shop_id, InboxStaff.staff_id == staff_id
        )
    )
    return seen is None or now - seen > timedelta(minutes=5)


def seen_staff(shop_id: int, staff_id: str, *, now: datetime) -> None:
    """Remember a staff member who opened the inbox, so others can assign chats to them.

    Writes before it reads (an UPDATE, then an INSERT for someone new), so on SQLite it waits
    for the write lock instead of failing on a stale snapshot. A concurrent first visit of the
    same person is not an error.
    """
    updated = db.session.execute(
        update(InboxStaff)
        .where(InboxStaff.shop_id == shop_id, InboxStaff.staff_id == staff_id)
        .values(last_seen_at=now)
    )
    if updated.rowcount:  # type: ignore[attr-defined]
        return
    try:
        with db.session.begin_nested():
            db.session.add(InboxStaff(shop_id=shop_id, staff_id=staff_id, last_seen_at=now))
    except IntegrityError:
        pass


def list_staff(shop: Shop) -> Sequence[InboxStaff]:
    return db.session.scalars(InboxStaff.for_shop(shop).order_by(InboxStaff.staff_id)).all()


# ---------------------------------------------------------------------------- saved replies


def list_saved_replies(shop: Shop) -> Sequence[SavedReply]:
    return db.session.scalars(
        SavedReply.for_shop(shop).order_by(SavedReply.position, SavedReply.id)
    ).all()


def get_saved_reply(shop: Shop, reply_id: int) -> SavedReply:
    saved = db.session.scalar(SavedReply.for_shop(shop).where(SavedReply.id == reply_id))
    if saved is None:
        raise NotFound("no such saved reply")
    return saved


def save_saved_reply(
    shop: Shop, data: dict[str, Any], saved: SavedReply | None = None
) -> SavedReply:
    title = str(data.get("title") or "").strip()
    body = str(data.get("body") or "").strip()
    errors = {}
    if not 1 <= len(title) <= 100:
        errors["title"] = "1 to 100 characters"
    if not 1 <= len(body) <= MAX_TEXT:
        errors["body"] = f"1 to {MAX_TEXT} characters"
    if errors:
        raise Invalid("the saved reply is incomplete", fields=errors)
    if saved is None:
        saved = SavedReply(shop_id=shop.id, position=len(list_saved_replies(shop)))
        db.session.add(saved)
    saved.title, saved.body = title, body
    db.session.flush()
    return saved


def delete_saved_reply(shop: Shop, saved: SavedReply) -> None:
    db.session.delete(saved)
    db.session.flush()


# ---------------------------------------------------------------------------- FAQ entries


def list_faq(shop: Shop, *, enabled_only: bool = False) -> Sequence[FaqEntry]:
    query = FaqEntry.for_shop(shop).order_by(FaqEntry.position, FaqEntry.id)
    if enabled_only:
        query = query.where(FaqEntry.enabled.is_(True))
    return db.session.scalars(query).all()


def get_faq(shop: Shop, entry_id: int) -> FaqEntry:
    entry = db.session.scalar(FaqEntry.for_shop(shop).where(FaqEntry.id == entry_id))
    if entry is None:
        raise NotFound("no such FAQ entry")
    return entry


def validate_faq(data: Any) -> dict[str, Any]:
    """Check an FAQ entry from the admin: 1-20 phrasings, an answer, up to 12 quick replies
    (LINE shows 13; the bot adds "talk to a person"), each a label with a text or an https URL."""
    if not isinstance(data, dict):
        raise Invalid("expected a JSON object")
    errors: dict[str, str] = {}
    raw_questions = data.get("questions")
    questions = (
        [str(q).strip() for q in raw_questions if str(q).strip()]
        if isinstance(raw_questions, list)
        else []
    )
    if not 1 <= len(questions) <= 20 or any(len(q) > 200 for q in questions):
        errors["questions"] = "1 to 20 phrasings of at most 200 characters"
    answer = str(data.get("answer") or "").strip()
    if not 1 <= len(answer) <= MAX_TEXT:
        errors["answer"] = f"1 to {MAX_TEXT} characters"
    quick_replies = []
    raw_replies = data.get("quick_replies") or []
    if not isinstance(raw_replies, list) or len(raw_replies) > 12:
        errors["quick_replies"] = "at most 12 quick replies"
        raw_replies = []
    for item in raw_replies:
        label = str((item or {}).get("label") or "").strip() if isinstance(item, dict) else ""
        url = str(item.get("url") or "").strip() if isinstance(item, dict) else ""
        text = str(item.get("text") or "").strip() if isinstance(item, dict) else ""
        if not 1 <= len(label) <= 20:
            errors["quick_replies"] = "each label is 1 to 20 characters"
        elif url and not (url.startswith("https://") and len(url) <= 1000):
            errors["quick_replies"] = "links must be https URLs"
        elif not url and not 1 <= len(text) <= 300:
            errors["quick_replies"] = "each quick reply needs a text (≤300) or an https URL"
        else:
            quick_replies.append(
                {"label": label, "url": url} if url else {"label": label, "text": text}
            )
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        errors["enabled"] = "true or false"
    if errors:
        raise Invalid("the FAQ entry is incomplete", fields=errors)
    return {
        "questions": questions,
        "answer": answer,
        "quick_replies": quick_replies,
        "enabled": enabled,
    }


def save_faq(shop: Shop, data: Any, entry: FaqEntry | None = None) -> FaqEntry:
    clean = validate_faq(data)
    if entry is None:
        entry = FaqEntry(shop_id=shop.id, position=len(list_faq(shop)))
        db.session.add(entry)
    for key, value in clean.items():
        setattr(entry, key, value)
    db.session.flush()
    return entry


def delete_faq(shop: Shop, entry: FaqEntry) -> None:
    db.session.delete(entry)
    db.session.flush()


def count_faq_hit(shop: Shop, entry_id: int) -> None:
    db.session.execute(
        update(FaqEntry)
        .where(FaqEntry.shop_id == shop.id, FaqEntry.id == entry_id)
        .values(hits=FaqEntry.hits + 1)
    )
