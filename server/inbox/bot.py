"""The FAQ bot: answers an incoming LINE message, or hands the conversation to staff.

`answer(shop, conversation, message, now=...)` runs after the LINE message handler stored the
message. The bot answers from the merchant's FAQ entries and, for linked customers, from their
data (latest order, points, coupons, next subscription delivery). Below the matcher's threshold,
on "人と話したい", or for images and files, a person takes over: the conversation opens in the
inbox and the bot stays quiet until staff resolve it. Outside support hours it says when staff
will answer. Replies go through the delivery pipeline with the message's reply token while it is
fresh (replies are free; pushes count against the quota).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from server.db import db
from server.i18n import translate
from server.shops.models import Shop

from . import answers, intents, services
from .cards import quick_replies
from .hours import SupportHours, format_opening
from .matching import DEFAULT_THRESHOLD, FaqIndex, Match
from .models import Conversation, ConversationStatus, FaqEntry, Message, MessageType, Sender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    action: str  # answered | handed_off | quiet
    reason: str  # faq | intent:<name> | below_threshold | asked_for_person | media | staff_on_it
    reply: Message | None = None
    match: Match | None = None


def threshold(shop: Shop) -> float:
    value = (shop.settings or {}).get("faq_threshold", DEFAULT_THRESHOLD)
    try:
        return min(max(float(value), 0.05), 1.0)
    except (TypeError, ValueError):
        return DEFAULT_THRESHOLD


# ---------------------------------------------------------------------------- the index

_CACHE: OrderedDict[tuple[int, Any, int], FaqIndex] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 64


def faq_index(shop: Shop) -> FaqIndex:
    """The shop's enabled FAQ entries plus the built-in intents, rebuilt when entries change."""
    changed, count = db.session.execute(
        select(func.max(FaqEntry.updated_at), func.count()).where(
            FaqEntry.shop_id == shop.id, FaqEntry.enabled.is_(True)
        )
    ).one()
    key = (shop.id, changed, count)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    entries = services.list_faq(shop, enabled_only=True)
    keyed: list[tuple[Hashable, Sequence[str]]] = [(e.id, e.questions) for e in entries]
    index = FaqIndex(keyed + list(intents.index_entries()))
    with _CACHE_LOCK:
        _CACHE[key] = index
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return index


def best_match(shop: Shop, text: str) -> Match | None:
    return faq_index(shop).best(text, threshold=threshold(shop))


# ---------------------------------------------------------------------------- answering


def answer(shop: Shop, conversation: Conversation, message: Message, *, now: datetime) -> Outcome:
    """Answer `message` (just stored, incoming) or hand the conversation to staff."""
    locale = answers.locale_of(conversation)
    priority_requested = answers.refresh_priority(shop, conversation, now=now)
    if conversation.handed_off_at is not None:
        # A person is on it: every message goes to them, none gets a bot answer in between.
        services.hand_off(shop, conversation, now=now)
        return Outcome("quiet", "staff_on_it")
    if not message.reply_token:
        # Standby mode (a module channel owns the chat) or LINE's verify call: the bot must
        # not speak. Staff still see the message.
        return Outcome("quiet", "no_reply_token")
    if message.type == MessageType.STICKER:
        return Outcome("quiet", "sticker")  # a thank-you sticker needs no answer
    if message.type != MessageType.TEXT or not (message.text or "").strip():
        return _hand_off(shop, conversation, locale, "media", now=now)
    text = message.text or ""
    if priority_requested or intents.wants_human(text):
        return _hand_off(shop, conversation, locale, "asked_for_person", now=now)
    match = best_match(shop, text)
    if match is None:
        return _hand_off(shop, conversation, locale, "below_threshold", now=now)
    intent = intents.from_key(match.key)
    if intent is intents.Intent.HUMAN:
        return _hand_off(shop, conversation, locale, "asked_for_person", now=now, match=match)
    if intent is not None:
        reply = answers.for_intent(shop, conversation, intent, locale, now=now)
        if reply is None:  # the data cannot answer it (e.g. no subscription date): a person will
            return _hand_off(shop, conversation, locale, f"intent:{intent}", now=now, match=match)
        text_out, buttons = reply
        sent = _send(shop, conversation, text_out, buttons, locale, match, now=now)
        return Outcome("answered", f"intent:{intent}", sent, match)
    entry = services.get_faq(shop, int(match.key))  # type: ignore[call-overload]
    services.count_faq_hit(shop, entry.id)
    sent = _send(
        shop,
        conversation,
        entry.answer,
        list(entry.quick_replies or []),
        locale,
        match,
        now=now,
        faq_entry=entry,
    )
    return Outcome("answered", "faq", sent, match)


def _send(
    shop: Shop,
    conversation: Conversation,
    text: str,
    buttons: list[dict[str, str]],
    locale: str,
    match: Match | None,
    *,
    now: datetime,
    faq_entry: FaqEntry | None = None,
) -> Message:
    # "人と話したい" is always one tap away.
    buttons = [
        *buttons,
        {"label": intents.TALK_TO_PERSON[locale], "text": intents.TALK_TO_PERSON[locale]},
    ]
    line_message: dict[str, Any] = {"type": "text", "text": text[: services.MAX_TEXT]}
    if qr := quick_replies(buttons):
        line_message["quickReply"] = qr
    bot_meta: dict[str, Any] = {}
    if match is not None:
        bot_meta = {
            "key": str(match.key),
            "score": round(match.score, 3),
            "phrasing": match.phrasing,
        }
    if faq_entry is not None:
        bot_meta["faq_entry_id"] = faq_entry.id
    message = services.send(
        shop,
        conversation,
        [line_message],
        sender=Sender.BOT,
        text=line_message["text"],
        payload={"bot": bot_meta},
        now=now,
    )
    if conversation.handed_off_at is None:
        # The bot dealt with it: nothing waits for staff.
        conversation.status = ConversationStatus.RESOLVED
        conversation.unread_count = 0
    return message


def _hand_off(
    shop: Shop,
    conversation: Conversation,
    locale: str,
    reason: str,
    *,
    now: datetime,
    match: Match | None = None,
) -> Outcome:
    services.hand_off(shop, conversation, now=now)
    hours = SupportHours.from_settings(shop.settings, shop.timezone)
    if hours.is_open(now):
        key = "inbox.bot.handoff_requested" if reason == "asked_for_person" else "inbox.bot.handoff"
        text = translate(key, locale=locale)
    else:
        text = translate(
            "inbox.bot.after_hours",
            locale=locale,
            when=format_opening(hours.next_opening(now), locale),
        )
    line_message = {"type": "text", "text": text}
    sent = services.send(
        shop,
        conversation,
        [line_message],
        sender=Sender.BOT,
        text=text,
        payload={"bot": {"handoff": reason}},
        now=now,
    )
    log.info("conversation %s handed to staff: %s", conversation.id, reason)
    return Outcome("handed_off", reason, sent, match)
