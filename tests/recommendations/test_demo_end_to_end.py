"""End to end on the demo shop: train on its history, serve a linked friend through the LIFF
API, and answer the rich menu's "おすすめ" with a carousel that reaches the LINE stand-in
(every request validated against LINE's OpenAPI spec)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from server.campaigns.models import TrackedLink
from server.commerce.models import Product
from server.db import commit, db
from server.demo.seed import seed_demo_shop
from server.line import messages as line_messages
from server.line.models import LineUser
from server.recommendations import services
from server.recommendations.models import CustomerRecommendation
from tests.factories.line import LineChannelFactory
from tests.fakes.line_api import LineStandIn
from tests.liff.conftest import LiffClient, Visitor
from tests.line import helpers
from tests.line.helpers import post_webhook


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


def test_the_demo_shop_is_trained_served_in_liff_and_sent_as_a_carousel(
    app: Flask,
    client: FlaskClient,
    httpserver: HTTPServer,
    liff: LiffClient,
    line_api: LineStandIn,
    monkeypatch: pytest.MonkeyPatch,
    now: datetime,
) -> None:
    demo = seed_demo_shop(now=now, customers=400).shop
    for product in db.session.scalars(Product.for_shop(demo)):
        product.image_url = f"https://cdn.shopify.com/s/files/demo/{product.handle}.jpg"
    channel = LineChannelFactory(shop=demo)
    model = services.train_shop(demo, now=now)
    commit()
    assert model.customers > 50
    # A linked friend with a stored list that holds a reorder and a discovery.
    friend = next(
        user
        for user in db.session.scalars(
            select(LineUser).where(
                LineUser.shop_id == demo.id,
                LineUser.customer_id.is_not(None),
                LineUser.blocked_at.is_(None),
                LineUser.language == "ja",
            )
        )
        if {"reorder", "discovery"}
        <= {
            e["k"]
            for e in db.session.scalar(
                select(CustomerRecommendation.items).where(
                    CustomerRecommendation.customer_id == user.customer_id
                )
            )
            or []
        }
    )

    # The LIFF app's screen (LINE's keys at the local JWKS stand-in).
    monkeypatch.setitem(app.config, "LINE_API_BASE_URL", httpserver.url_for("/").rstrip("/"))
    visitor = Visitor(demo, channel, friend, friend.customer, None)
    body = liff.get("/api/liff/recommendations?limit=10", as_visitor=visitor).json
    assert body["source"] == "personal"
    kinds = [p["kind"] for p in body["products"]]
    assert "reorder" in kinds
    assert "discovery" in kinds
    reorder = next(p for p in body["products"] if p["kind"] == "reorder")
    assert reorder["reason"].startswith("前回のご購入から約") or reorder["reason"] == (
        "いつもご購入いただいている商品です"
    )
    assert all(
        p["price"] > 0 and p["url"].startswith(f"https://{demo.domain}/products/")
        for p in body["products"]
    )
    english = liff.get("/api/liff/recommendations?limit=10&lang=en", as_visitor=visitor).json
    assert [p["id"] for p in english["products"]] == [p["id"] for p in body["products"]]
    for product in english["products"]:
        assert product["reason"].startswith(
            ("About ", "One of your regular buys", "Popular with customers who bought ", "Popular")
        )

    # The rich menu's postback, through the signed webhook, answered by reply with a carousel.
    monkeypatch.setitem(app.config, "LINE_API_BASE_URL", line_api.base_url)
    event = helpers.postback(friend.line_user_id, "action=recommend")
    assert post_webhook(client, channel, [event]).status_code == 200

    [reply] = line_api.replies()
    assert reply.json["replyToken"] == event["replyToken"]
    [message] = reply.json["messages"]
    assert line_messages.validate([message])
    bubbles = message["contents"]["contents"]
    assert [b["body"]["contents"][1]["text"] for b in bubbles] == [
        p["title"] for p in body["products"]
    ]
    uris = [b["footer"]["contents"][0]["action"]["uri"] for b in bubbles]
    assert all(uri.startswith("https://kizuna.test/r/") for uri in uris)
    links = db.session.scalars(
        select(TrackedLink).where(
            TrackedLink.shop_id == demo.id, TrackedLink.line_user_id == friend.id
        )
    ).all()
    assert sorted(link.url for link in links) == sorted(p["url"] for p in body["products"])
    assert {link.source_kind for link in links} == {"recommendations_menu"}
