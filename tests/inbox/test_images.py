"""Pictures friends send: staff see them through the admin API, fetched from LINE's content
API (a local stand-in here, answering the documented GET /v2/bot/message/{id}/content)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer

from server.db import db
from tests.conftest import AdminClient
from tests.factories.inbox import ConversationFactory, MessageFactory
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.factories.shops import ShopFactory

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@pytest.fixture
def line_content(app: Flask, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> HTTPServer:
    monkeypatch.setitem(app.config, "LINE_API_BASE_URL", httpserver.url_for("").rstrip("/"))
    return httpserver


def image_message(shop: Any) -> Any:
    conversation = ConversationFactory(line_user=LineUserFactory(shop=shop))
    return MessageFactory(
        conversation=conversation,
        type="image",
        text=None,
        line_message_id="325708",
        payload={"id": "325708", "type": "image", "contentProvider": {"type": "line"}},
    )


def test_staff_see_the_picture_a_friend_sent(
    app_ctx: None, admin: AdminClient, line_content: HTTPServer
) -> None:
    shop = ShopFactory()
    channel = LineChannelFactory(shop=shop)
    message = image_message(shop)
    db.session.commit()
    line_content.expect_request("/v2/bot/message/325708/content", method="GET").respond_with_data(
        PNG, content_type="image/png"
    )

    response = admin.get(f"/api/admin/inbox/messages/{message.id}/image", shop=shop)

    assert response.status_code == 200
    assert response.data == PNG
    assert response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    (request, _) = line_content.log[0]
    assert request.headers["Authorization"] == f"Bearer {channel.channel_access_token}"


def test_a_picture_line_no_longer_keeps_is_a_clear_404(
    app_ctx: None, admin: AdminClient, line_content: HTTPServer
) -> None:
    shop = ShopFactory()
    LineChannelFactory(shop=shop)
    message = image_message(shop)
    db.session.commit()
    line_content.expect_request("/v2/bot/message/325708/content").respond_with_json(
        {"message": "Not found"}, status=404
    )

    response = admin.get(f"/api/admin/inbox/messages/{message.id}/image", shop=shop)

    assert response.status_code == 404
    assert response.json["error"] == "content_unavailable"


def test_text_messages_and_other_shops_pictures_are_not_served(
    app_ctx: None, admin: AdminClient, line_content: HTTPServer
) -> None:
    shop, other = ShopFactory(), ShopFactory()
    LineChannelFactory(shop=other)
    theirs = image_message(other)
    text = MessageFactory(conversation=ConversationFactory(line_user=LineUserFactory(shop=shop)))
    db.session.commit()

    assert admin.get(f"/api/admin/inbox/messages/{theirs.id}/image", shop=shop).status_code == 404
    assert admin.get(f"/api/admin/inbox/messages/{text.id}/image", shop=shop).status_code == 404
    assert line_content.log == []  # LINE was never asked
