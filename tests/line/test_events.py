from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from server.db import db, utcnow
from server.inbox.models import Conversation, Message
from server.line import delivery
from server.line import events as line_events
from server.line.models import Delivery, DeliveryStatus, LineChannel, LineUser
from server.line.services import find_line_user
from server.linking.models import LinkRequest
from server.shops.models import Shop
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.fakes.line_api import LineStandIn
from tests.line import helpers
from tests.line.helpers import post_webhook

USER = "U" + "a" * 32


@pytest.fixture
def channel(shop: Shop) -> LineChannel:
    return LineChannelFactory(shop=shop)


def friend(shop: Shop) -> LineUser:
    user = find_line_user(shop, USER)
    assert user is not None
    db.session.refresh(user)
    return user


def test_a_new_friend_gets_a_profile_a_greeting_by_reply_and_a_link_button(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    line_api.profiles[USER] = {
        "displayName": "山田 花子",
        "pictureUrl": "https://profile.line-scdn.net/abc",
        "language": "ja",
    }
    event = helpers.follow(USER)

    assert post_webhook(client, channel, [event]).status_code == 200

    user = friend(shop)
    assert user.display_name == "山田 花子"
    assert user.picture_url == "https://profile.line-scdn.net/abc"
    assert user.language == "ja"
    assert user.following
    [reply] = line_api.replies()
    assert reply.json["replyToken"] == event["replyToken"]
    greeting = reply.json["messages"][0]
    assert "友だち追加" in greeting["text"]
    action = greeting["quickReply"]["items"][0]["action"]
    assert action["data"] == "action=link"
    assert line_api.pushes() == []


def test_an_english_speaking_friend_is_greeted_in_english(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    line_api.profiles[USER] = {"displayName": "Hana", "language": "en"}

    post_webhook(client, channel, [helpers.follow(USER)])

    assert line_api.replies()[0].json["messages"][0]["text"].startswith("Thanks for adding")


def test_a_profile_that_cannot_be_read_does_not_stop_the_follow(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    line_api.unknown_users.add(USER)

    post_webhook(client, channel, [helpers.follow(USER)])

    assert friend(shop).following
    assert friend(shop).display_name is None


def test_unfollow_marks_the_friend_blocked_and_cancels_what_was_not_sent(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    now = utcnow()
    user = LineUserFactory(shop=shop, line_user_id=USER)
    later = delivery.deliver(
        shop,
        user,
        [{"type": "text", "text": "明日のセール"}],
        kind="promotional",
        not_before=now + timedelta(days=1),
        now=now,
    )
    db.session.commit()

    assert post_webhook(client, channel, [helpers.unfollow(USER)]).status_code == 200

    assert friend(shop).blocked_at is not None
    db.session.refresh(later)
    assert later.status == DeliveryStatus.CANCELLED
    delivery.send_due(now=now + timedelta(days=2))
    assert line_api.pushes() == []


def test_unblocking_follows_again(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    post_webhook(client, channel, [helpers.unfollow(USER)])
    assert not friend(shop).following

    post_webhook(client, channel, [helpers.follow(USER, unblocked=True)])

    assert friend(shop).following
    assert "おかえりなさい" in line_api.replies()[0].json["messages"][0]["text"]


def test_an_unfollow_that_arrives_before_an_earlier_follow_wins(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    post_webhook(client, channel, [helpers.unfollow(USER, timestamp_ms=2_000_000_000_000)])
    post_webhook(client, channel, [helpers.follow(USER, timestamp_ms=1_900_000_000_000)])

    assert not friend(shop).following


def test_a_text_message_is_stored_in_the_conversation_with_its_reply_token(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heard: list[tuple[int, str | None]] = []

    def listener(shop: Shop, conversation: Conversation, message: Message, **_: Any) -> None:
        heard.append((conversation.id, message.text))

    monkeypatch.setattr(line_events, "MESSAGE_LISTENERS", (listener,))
    event = helpers.text_message(USER, "送料はいくらですか？")

    post_webhook(client, channel, [event])

    conversation = db.session.scalar(select(Conversation).where(Conversation.shop_id == shop.id))
    assert conversation is not None
    [message] = db.session.scalars(select(Message).where(Message.direction == "in")).all()
    assert (message.direction, message.type, message.sender) == ("in", "text", "customer")
    assert message.text == "送料はいくらですか？"
    assert message.line_message_id == event["message"]["id"]
    assert message.reply_token == event["replyToken"]
    assert message.reply_token_received_at is not None
    assert conversation.unread_count == 1
    assert heard == [(conversation.id, "送料はいくらですか？")]


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"type": "sticker", "packageId": "446", "stickerId": "1988"}, "sticker"),
        ({"type": "image", "contentProvider": {"type": "line"}}, "image"),
        ({"type": "video", "duration": 60000, "contentProvider": {"type": "line"}}, "other"),
        ({"type": "audio", "duration": 6000, "contentProvider": {"type": "line"}}, "other"),
        ({"type": "file", "fileName": "注文書.pdf", "fileSize": 2138}, "other"),
        (
            {
                "type": "location",
                "title": "店舗",
                "address": "東京都",
                "latitude": 35.6,
                "longitude": 139.7,
            },
            "other",
        ),
    ],
)
def test_other_message_types_are_stored_with_their_payload(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    payload: dict[str, Any],
    kind: str,
) -> None:
    event = helpers.event("message", USER, message={"id": "4711", **payload})

    post_webhook(client, channel, [event])

    [message] = db.session.scalars(select(Message).where(Message.direction == "in")).all()
    assert message.type == kind
    assert message.text is None
    assert message.payload["type"] == payload["type"]


def test_group_messages_are_not_stored_as_a_one_to_one_chat(
    client: FlaskClient, shop: Shop, channel: LineChannel
) -> None:
    event = helpers.text_message(USER, "hi")
    event["source"] = {"type": "group", "groupId": "C" + "1" * 32, "userId": USER}

    assert post_webhook(client, channel, [event]).status_code == 200
    assert db.session.scalars(select(Message)).all() == []


def test_the_link_postback_issues_a_link_token_and_replies_with_the_storefront_button(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    event = helpers.postback(USER, "action=link")

    post_webhook(client, channel, [event])

    assert len(line_api.requests(f"/v2/bot/user/{USER}/linkToken")) == 1
    [reply] = line_api.replies()
    action = reply.json["messages"][0]["template"]["actions"][0]
    url = urlsplit(action["uri"])
    assert (url.scheme, url.netloc, url.path) == ("https", shop.domain, "/apps/kizuna/link")
    link_token = parse_qs(url.query)["linkToken"][0]
    assert line_api.link_tokens[link_token] == USER
    request = db.session.scalar(select(LinkRequest).where(LinkRequest.link_token == link_token))
    assert request is not None
    assert request.expires_at - request.created_at == timedelta(minutes=10)


def test_typing_the_link_keyword_starts_linking_too(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    post_webhook(client, channel, [helpers.text_message(USER, "連携")])

    assert len(line_api.requests(f"/v2/bot/user/{USER}/linkToken")) == 1


def test_an_unknown_postback_action_is_ignored(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    assert (
        post_webhook(client, channel, [helpers.postback(USER, "action=teleport")]).status_code
        == 200
    )
    assert line_api.replies() == []


def test_other_features_route_their_own_postback_actions(
    client: FlaskClient, shop: Shop, channel: LineChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, str]] = []
    monkeypatch.setitem(
        line_events.POSTBACK_ACTIONS, "survey", lambda ctx, params: seen.append(params)
    )

    post_webhook(client, channel, [helpers.postback(USER, "action=survey&q=1&a=3")])

    assert seen == [{"action": "survey", "q": "1", "a": "3"}]


def test_standby_mode_records_but_never_sends(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    event = helpers.follow(USER)
    event["mode"] = "standby"
    event.pop("replyToken")

    post_webhook(client, channel, [event])

    assert friend(shop).following
    assert line_api.replies() == []
    assert line_api.pushes() == []
    assert db.session.scalars(select(Delivery)).all() == []


def test_the_inbox_bot_answers_an_incoming_message_with_its_reply_token(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    event = helpers.text_message(USER, "人と話したい")

    post_webhook(client, channel, [event])

    [reply] = line_api.replies()
    assert reply.json["replyToken"] == event["replyToken"]
    assert line_api.pushes() == []
    answer = db.session.scalar(select(Message).where(Message.direction == "out"))
    assert answer is not None
    assert answer.sender == "bot"
