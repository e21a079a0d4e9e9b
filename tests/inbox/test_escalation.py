"""End to end: a LINE friend asks, the bot answers or hands over, staff reply, and the LINE
stand-in receives every message, as LINE would (signed webhooks in, reply/push out)."""

from __future__ import annotations

from flask.testing import FlaskClient

from server.db import db
from server.inbox.models import Conversation
from server.line.models import LineChannel
from server.shops.models import Shop
from tests.conftest import AdminClient
from tests.factories.inbox import FaqEntryFactory
from tests.factories.line import LineChannelFactory
from tests.factories.shops import ShopFactory
from tests.fakes.line_api import LineStandIn
from tests.line import helpers
from tests.line.helpers import post_webhook

USER = "U" + "e" * 32
ALWAYS_OPEN = {"weekdays": [0, 1, 2, 3, 4, 5, 6], "open": "00:00", "close": "23:59"}


def setup_shop() -> tuple[Shop, LineChannel]:
    shop = ShopFactory(settings={"support_hours": ALWAYS_OPEN})
    channel = LineChannelFactory(shop=shop)
    FaqEntryFactory(shop=shop)  # 送料
    db.session.commit()
    return shop, channel


def test_a_question_the_bot_cannot_answer_reaches_staff_and_their_reply_reaches_line(
    client: FlaskClient, admin: AdminClient, line_api: LineStandIn
) -> None:
    shop, channel = setup_shop()

    # 1. The friend asks something no FAQ entry covers.
    asked = helpers.text_message(USER, "工場見学はできますか？")
    assert post_webhook(client, channel, [asked]).status_code == 200

    # 2. The bot says a person will answer, with the (free) reply token.
    (reply,) = line_api.replies()
    assert reply.json["replyToken"] == asked["replyToken"]
    assert reply.json["messages"][0]["text"] == "担当者が確認してお返事します。少々お待ちください。"

    # 3. Staff see the conversation among the open ones, unread.
    listed = admin.get("/api/admin/inbox/conversations?status=open", shop=shop).json
    (row,) = listed["conversations"]
    assert row["unread"] == 1
    assert row["last_message"]["sender"] == "bot"
    history = admin.get(f"/api/admin/inbox/conversations/{row['id']}", shop=shop).json
    assert [m["sender"] for m in history["messages"]] == ["customer", "bot"]
    assert history["messages"][1]["bot"]["handoff"] == "below_threshold"

    # 4. Staff answer; the reply token was used, so it goes out as a push.
    sent = admin.post(
        f"/api/admin/inbox/conversations/{row['id']}/replies",
        shop=shop,
        json={"text": "見学は毎月第2土曜日に受け付けています。"},
    )
    assert sent.status_code == 201
    assert sent.json["delivery"] == "sent"
    assert line_api.delivered_texts(USER)[-1] == "見学は毎月第2土曜日に受け付けています。"
    (push,) = line_api.pushes()
    assert push.retry_key  # pushes carry an X-Line-Retry-Key, so a retry never sends twice

    # 5. The friend writes again: staff are on it, the bot keeps quiet.
    again = helpers.text_message(USER, "送料はいくらですか")
    post_webhook(client, channel, [again])
    assert len(line_api.replies()) == 1
    conversation = db.session.get(Conversation, row["id"])
    assert conversation is not None
    db.session.refresh(conversation)
    assert conversation.status == "open"

    # 6. Resolved: the bot answers the next FAQ question itself.
    admin.post(
        f"/api/admin/inbox/conversations/{row['id']}/status", shop=shop, json={"status": "resolved"}
    )
    third = helpers.text_message(USER, "送料っていくら？")
    post_webhook(client, channel, [third])
    replies = line_api.replies()
    assert len(replies) == 2
    answer = replies[-1].json["messages"][0]
    assert answer["text"].startswith("送料は全国一律660円です")
    assert answer["quickReply"]["items"][-1]["action"]["text"] == "人と話したい"


def test_a_staff_reply_within_a_minute_uses_the_reply_token(
    client: FlaskClient, admin: AdminClient, line_api: LineStandIn
) -> None:
    shop, channel = setup_shop()
    sticker = helpers.sticker_message(USER)  # the bot does not answer stickers
    post_webhook(client, channel, [sticker])
    assert line_api.replies() == []
    conversation_id = db.session.query(Conversation.id).filter_by(shop_id=shop.id).scalar()

    admin.post(
        f"/api/admin/inbox/conversations/{conversation_id}/replies",
        shop=shop,
        json={"text": "スタンプありがとうございます！"},
    )

    (reply,) = line_api.replies()
    assert reply.json["replyToken"] == sticker["replyToken"]
    assert line_api.pushes() == []


def test_staff_send_a_link_invitation_through_lines_account_link(
    client: FlaskClient, admin: AdminClient, line_api: LineStandIn
) -> None:
    shop, channel = setup_shop()
    post_webhook(client, channel, [helpers.sticker_message(USER)])
    conversation_id = db.session.query(Conversation.id).filter_by(shop_id=shop.id).scalar()

    sent = admin.post(
        f"/api/admin/inbox/conversations/{conversation_id}/link-invitation", shop=shop
    )

    assert sent.status_code == 201
    assert line_api.requests(f"/v2/bot/user/{USER}/linkToken")
    (delivered,) = line_api.delivered(USER)[-1:]
    button = delivered[1][0]
    assert button["type"] == "template"
    assert "linkToken=" in button["template"]["actions"][0]["uri"]
