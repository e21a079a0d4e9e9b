"""LINE webhook events: event type → handler, and postback action → handler.

Runs in the worker (`tasks.process_line_event`), once per stored event; handlers are safe to
run again. Event types not in HANDLERS are stored and acknowledged, nothing more. In
`standby` mode (another module owns the chat) nothing is sent.

Tables other features extend:
- POSTBACK_ACTIONS: `action` of the postback data (`action=link&...`) → `(ctx, params)`.
- MESSAGE_LISTENERS: `(shop, conversation, message, *, now)` after an incoming message was
  stored in the inbox (the FAQ bot answers here).
- FOLLOW_LISTENERS: `(shop, line_user, *, unblocked, now)` after a follow or unblock.
- UNFOLLOW_LISTENERS: `(shop, line_user, *, now)` after a block.

Postbacks that carry `a=` instead of `action=` (the 9-segment survey's `a=kz.s9&q=..&v=..`) are
routed the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl

from sqlalchemy.exc import IntegrityError

from server.campaigns import cancellation
from server.campaigns import triggers as campaign_triggers
from server.db import db
from server.i18n import translate
from server.inbox import bot as inbox_bot
from server.inbox import services as inbox
from server.inbox.models import Conversation, Direction, Message, Sender
from server.ingest.models import WebhookEvent
from server.jobs import enqueue_after_commit
from server.linking import services as linking
from server.recommendations import messaging as recommendation_messaging
from server.segments import nine_segments
from server.shops.models import Shop

from . import client, delivery, services
from .access import access_target
from .channels import find_channel
from .models import LineUser

log = logging.getLogger(__name__)

LINK_KEYWORDS = frozenset({"連携", "アカウント連携", "id連携", "link", "連携する"})


@dataclass
class Context:
    shop: Shop
    event: dict[str, Any]
    received_at: datetime
    now: datetime

    @property
    def user_id(self) -> str | None:
        source = self.event.get("source")
        user_id = source.get("userId") if isinstance(source, dict) else None
        return user_id if isinstance(user_id, str) and user_id else None

    @property
    def one_to_one(self) -> bool:
        source = self.event.get("source")
        return isinstance(source, dict) and source.get("type") == "user"

    @property
    def active(self) -> bool:
        return self.event.get("mode", "active") == "active"

    @property
    def reply_token(self) -> str | None:
        token = self.event.get("replyToken")
        return token if self.active and isinstance(token, str) else None

    @property
    def happened_at(self) -> datetime:
        stamp = self.event.get("timestamp")
        if isinstance(stamp, int) and not isinstance(stamp, bool):
            return datetime.fromtimestamp(stamp / 1000, tz=UTC)
        return self.received_at

    @property
    def locale(self) -> str:
        return "ja"


class MessageListener(Protocol):
    def __call__(
        self, shop: Shop, conversation: Conversation, message: Message, *, now: datetime
    ) -> object: ...


class FollowListener(Protocol):
    def __call__(
        self, shop: Shop, line_user: LineUser, *, unblocked: bool, now: datetime
    ) -> None: ...


class UnfollowListener(Protocol):
    def __call__(self, shop: Shop, line_user: LineUser, *, now: datetime) -> None: ...


MESSAGE_LISTENERS: tuple[MessageListener, ...] = (inbox_bot.answer,)
FOLLOW_LISTENERS: tuple[FollowListener, ...] = (
    campaign_triggers.on_follow,  # follow scenarios (issue 7)
)
UNFOLLOW_LISTENERS: tuple[UnfollowListener, ...] = (
    campaign_triggers.on_unfollow,  # every scenario of the friend ends (issue 7)
)


def handle(event: WebhookEvent, *, now: datetime) -> None:
    """Run the handler of one stored LINE event (unknown types: nothing to do)."""
    if event.shop_id is None:
        return
    shop = db.session.get(Shop, event.shop_id)
    if shop is None:
        return
    handler = HANDLERS.get(event.topic)
    if handler is None:
        log.info("LINE event type %r stored without a handler", event.topic)
        return
    handler(Context(shop, event.payload, event.received_at, now))


# follow / unfollow -----------------------------------------------------------------------------


def on_follow(ctx: Context) -> None:
    """A new friend, or one who unblocked: record, fetch the profile, menu, greeting."""
    if not ctx.user_id:
        return
    user = services.record_follow(ctx.shop, ctx.user_id, at=ctx.happened_at)
    _fetch_profile(ctx, user)
    db.session.flush()
    from .tasks import refresh_rich_menu

    enqueue_after_commit(refresh_rich_menu, user.id)
    if user.blocked_at is not None:
        return  # a later block already arrived
    unblocked = bool((ctx.event.get("follow") or {}).get("isUnblocked"))
    for listener in FOLLOW_LISTENERS:
        listener(ctx.shop, user, unblocked=unblocked, now=ctx.now)
    if not ctx.active:
        return
    locale = linking.locale_of(user)
    key = "line.follow.welcome_back" if unblocked else "line.follow.welcome"
    text = translate(key, locale=locale, shop=ctx.shop.name or ctx.shop.domain)
    message: dict[str, Any] = {"type": "text", "text": text}
    if user.customer_id is None:
        label = translate("linking.line.button.link", locale=locale)
        message["quickReply"] = {
            "items": [
                {
                    "type": "action",
                    "action": {
                        "type": "postback",
                        "label": label[:20],
                        "data": "action=link",
                        "displayText": label,
                    },
                }
            ]
        }
    delivery.deliver(
        ctx.shop,
        user,
        [message],
        kind="transactional",
        reply_token=ctx.reply_token,
        reply_token_received_at=ctx.received_at,
        source="follow",
        now=ctx.now,
    )


def _fetch_profile(ctx: Context, user: LineUser) -> None:
    channel = find_channel(ctx.shop)
    if channel is None or not channel.messaging_configured:
        return
    try:
        profile = client.profile(access_target(channel, now=ctx.now), user.line_user_id)
    except client.LineApiError as error:
        log.info("no profile for LINE user %s (%s)", user.id, error.status)
        return
    except client.LineUnreachable:
        log.warning("profile fetch for LINE user %s: LINE unreachable", user.id)
        return
    user.display_name = (profile["display_name"] or user.display_name or "")[:255] or None
    user.picture_url = profile["picture_url"] or user.picture_url
    user.language = (profile["language"] or user.language or "")[:16] or None


def on_unfollow(ctx: Context) -> None:
    """Blocked: mark it, and cancel what has not been sent yet."""
    if not ctx.user_id:
        return
    user = services.record_block(ctx.shop, ctx.user_id, at=ctx.happened_at)
    if user.blocked_at is not None:
        cancelled = delivery.cancel_pending(
            ctx.shop, user, reason="cancelled: the friend blocked the account"
        )
        log.info("LINE user %s blocked the account; %d deliveries cancelled", user.id, cancelled)
        for listener in UNFOLLOW_LISTENERS:
            listener(ctx.shop, user, now=ctx.now)


# messages ----------------------------------------------------------------------------------------

_TYPES = {"text": "text", "sticker": "sticker", "image": "image"}


def on_message(ctx: Context) -> None:
    """Store the message in the friend's conversation, then let listeners (the bot) answer."""
    data = ctx.event.get("message")
    if not ctx.user_id or not isinstance(data, dict) or not ctx.one_to_one:
        return
    user = services.ensure_line_user(ctx.shop, ctx.user_id)
    conversation = inbox.conversation_for(ctx.shop, user, now=ctx.now)
    kind = _TYPES.get(str(data.get("type")), "other")
    text = data.get("text") if kind == "text" and isinstance(data.get("text"), str) else None
    line_message_id = str(data.get("id"))[:64] if data.get("id") else None
    message = Message(
        shop_id=ctx.shop.id,
        conversation_id=conversation.id,
        direction=Direction.IN,
        type=kind,
        text=text,
        line_message_id=line_message_id,
        reply_token=ctx.reply_token,
        reply_token_received_at=ctx.received_at if ctx.reply_token else None,
        sender=Sender.CUSTOMER,
        payload=data,
        created_at=ctx.happened_at,
    )
    try:
        with db.session.begin_nested():
            db.session.add(message)
    except IntegrityError:
        return  # this LINE message is stored already
    inbox.record_incoming(ctx.shop, conversation, message, now=ctx.now)
    if text is not None and text.strip().lower() in LINK_KEYWORDS and ctx.active:
        message.reply_token_used_at = ctx.now
        linking.start_account_link(
            ctx.shop,
            user,
            reply_token=ctx.reply_token,
            reply_token_received_at=ctx.received_at,
            now=ctx.now,
        )
        return
    for listener in MESSAGE_LISTENERS:
        listener(ctx.shop, conversation, message, now=ctx.now)


# postbacks ---------------------------------------------------------------------------------------


def on_postback(ctx: Context) -> None:
    data = (ctx.event.get("postback") or {}).get("data")
    if not ctx.user_id or not isinstance(data, str):
        return
    params = dict(parse_qsl(data[:300], keep_blank_values=True))
    action = params.get("action") or params.get("a", "")
    handler = POSTBACK_ACTIONS.get(action)
    if handler is None:
        log.info("postback without a handler: action %r", action[:40])
        return
    handler(ctx, params)


def _postback_link(ctx: Context, params: dict[str, str]) -> None:
    user = services.ensure_line_user(ctx.shop, ctx.user_id or "")
    if ctx.active:
        linking.start_account_link(
            ctx.shop,
            user,
            reply_token=ctx.reply_token,
            reply_token_received_at=ctx.received_at,
            now=ctx.now,
        )


def _postback_unlink(ctx: Context, params: dict[str, str]) -> None:
    """Unlink from the chat: first ask, then (confirm=1) do it."""
    user = services.ensure_line_user(ctx.shop, ctx.user_id or "")
    if not ctx.active:
        return
    locale = linking.locale_of(user)
    if user.customer_id is None:
        text = translate("linking.line.not_linked", locale=locale)
        messages: list[dict[str, Any]] = [{"type": "text", "text": text}]
    elif params.get("confirm") == "1":
        linking.unlink(ctx.shop, user, by="customer", now=ctx.now)
        return
    else:
        text = translate("linking.line.unlink_confirm", locale=locale)
        messages = [
            {
                "type": "template",
                "altText": text,
                "template": {
                    "type": "confirm",
                    "text": text[:240],
                    "actions": [
                        {
                            "type": "postback",
                            "label": translate("linking.line.button.unlink_yes", locale=locale)[
                                :20
                            ],
                            "data": "action=unlink&confirm=1",
                        },
                        {
                            "type": "postback",
                            "label": translate("linking.line.button.cancel", locale=locale)[:20],
                            "data": "action=noop",
                        },
                    ],
                },
            }
        ]
    delivery.deliver(
        ctx.shop,
        user,
        messages,
        kind="transactional",
        reply_token=ctx.reply_token,
        reply_token_received_at=ctx.received_at,
        source="linking",
        now=ctx.now,
    )


def _postback_noop(ctx: Context, params: dict[str, str]) -> None:
    return None


def _postback_recommend(ctx: Context, params: dict[str, str]) -> None:
    """The rich menu's "おすすめ": the friend's recommendations as a carousel, by reply."""
    user = services.ensure_line_user(ctx.shop, ctx.user_id or "")
    if ctx.active:
        recommendation_messaging.send_carousel(
            ctx.shop,
            user,
            reply_token=ctx.reply_token,
            reply_token_received_at=ctx.received_at,
            now=ctx.now,
        )


def _postback_survey(ctx: Context, params: dict[str, str]) -> None:
    """An answer to the 9-segment survey: record it, reply with the next question (or thanks),
    and let scenarios that start on a placement enroll the friend."""
    question, value = params.get("q", ""), params.get("v", "")
    if value not in nine_segments.ANSWERS.get(question, ()):
        return
    user = services.ensure_line_user(ctx.shop, ctx.user_id or "")
    step = nine_segments.answer(ctx.shop, user, question, value, now=ctx.now)
    if step.messages and ctx.active:
        delivery.deliver(
            ctx.shop,
            user,
            step.messages,
            kind="transactional",
            reply_token=ctx.reply_token,
            reply_token_received_at=ctx.received_at,
            source="survey",
            now=ctx.now,
        )
    profile = nine_segments.find_profile(ctx.shop, user)
    placed = step.completed or step.moved_from is not None
    if placed and step.cell and profile is not None and profile.completed_at is not None:
        campaign_triggers.on_survey_answered(
            ctx.shop, user, step.cell, profile.completed_at, now=ctx.now
        )


def _postback_cancellation(ctx: Context, params: dict[str, str]) -> None:
    """An answer to "why did you cancel?" / "how many are left?" (campaigns.cancellation)."""
    user = services.ensure_line_user(ctx.shop, ctx.user_id or "")
    cancellation.answer(
        ctx.shop,
        user,
        params.get("q", ""),
        params.get("v", ""),
        reply_token=ctx.reply_token,
        reply_token_received_at=ctx.received_at,
        reply=ctx.active,
        now=ctx.now,
    )


# account link ------------------------------------------------------------------------------------


def on_account_link(ctx: Context) -> None:
    linking.complete_account_link(ctx.shop, ctx.event, received_at=ctx.received_at, now=ctx.now)


PostbackHandler = Callable[[Context, dict[str, str]], None]
POSTBACK_ACTIONS: dict[str, PostbackHandler] = {
    "link": _postback_link,
    "unlink": _postback_unlink,
    "noop": _postback_noop,
    recommendation_messaging.POSTBACK_ACTION: _postback_recommend,
    nine_segments.POSTBACK_ACTION: _postback_survey,
    cancellation.POSTBACK_ACTION: _postback_cancellation,
}

HANDLERS: dict[str, Callable[[Context], None]] = {
    "follow": on_follow,
    "unfollow": on_unfollow,
    "message": on_message,
    "postback": on_postback,
    "accountLink": on_account_link,
}
