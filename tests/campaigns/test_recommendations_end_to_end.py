"""End to end on the demo shop: train on its history; on the morning a linked friend's product
is predicted to run out, the "due to reorder" scenario enrolls them and its recommended-products
step reaches the LINE stand-in (validated against LINE's OpenAPI spec) with the same products,
prices and reasons the LIFF app's /api/liff/recommendations serves them, each button a tracked
link to that product's page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from server.campaigns.models import TrackedLink
from server.commerce.models import Product
from server.db import commit, db
from server.demo.seed import seed_demo_shop
from server.line import messages as line_messages
from server.line.models import LineUser
from server.recommendations import services, serving
from server.recommendations.models import ReorderPrediction
from tests.campaigns.conftest import Clock, enrollments, make_scenario
from tests.factories.line import LineChannelFactory
from tests.fakes.line_api import LineStandIn
from tests.liff.conftest import LiffClient, Visitor, liff, line_keys  # noqa: F401 - fixtures

TOKYO = ZoneInfo("Asia/Tokyo")


def test_the_demo_shop_is_trained_and_a_due_reorder_gets_the_liff_list_as_a_carousel(
    app: Flask,
    httpserver: HTTPServer,
    liff: LiffClient,  # noqa: F811
    line_api: LineStandIn,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC)
    demo = seed_demo_shop(now=now, customers=400).shop
    for product in db.session.scalars(Product.for_shop(demo)):
        product.image_url = f"https://cdn.shopify.com/s/files/demo/{product.handle}.jpg"
    channel = LineChannelFactory(shop=demo)
    services.train_shop(demo, now=now)
    commit()

    # The linked friend whose next predicted run-out (learnt from their orders) comes first.
    prediction, friend = db.session.execute(
        select(ReorderPrediction, LineUser)
        .join(LineUser, LineUser.customer_id == ReorderPrediction.customer_id)
        .join(Product, Product.id == ReorderPrediction.product_id)
        .where(
            ReorderPrediction.shop_id == demo.id,
            ReorderPrediction.subscribed.is_(False),
            ReorderPrediction.due_at > now + timedelta(days=1),
            Product.status == "active",
            LineUser.shop_id == demo.id,
            LineUser.followed_at.is_not(None),
            LineUser.blocked_at.is_(None),
            LineUser.language == "ja",
        )
        .order_by(ReorderPrediction.due_at, ReorderPrediction.id)
        .limit(1)
    ).one()
    due_day = prediction.due_at.astimezone(TOKYO).date()
    morning = datetime(due_day.year, due_day.month, due_day.day, 9, 40, tzinfo=TOKYO)
    channel.frequency_cap = 0  # the demo's own history of sends does not hold this one back
    scenario = make_scenario(
        demo,
        trigger="due_to_reorder",
        steps=[
            {
                "name": "そろそろ",
                "message": {
                    "type": "flex",
                    "layout": "recommended",
                    "title": "{name}様、{product}がそろそろなくなる頃です",
                },
            }
        ],
    )

    # What the LIFF app shows the friend that morning.
    monkeypatch.setattr("server.liff_api.recommendations.utcnow", lambda: morning)
    monkeypatch.setitem(app.config, "LINE_API_BASE_URL", httpserver.url_for("/").rstrip("/"))
    visitor = Visitor(demo, channel, friend, friend.customer, None)
    shown = liff.get("/api/liff/recommendations?limit=10", as_visitor=visitor).json["products"]
    assert {p["kind"] for p in shown} >= {"reorder"}
    assert [p["id"] for p in shown] == [
        r.product_id for r in serving.recommendations_for(demo, friend.customer, now=morning)
    ]

    # The daily task of that morning, and the step it sends, through the LINE stand-in.
    monkeypatch.setitem(app.config, "LINE_API_BASE_URL", line_api.base_url)
    from server.campaigns.tasks import find_customers_due_to_reorder

    clock.now = morning.astimezone(UTC) - timedelta(days=1)
    find_customers_due_to_reorder.call_local()  # the day before: not yet
    assert friend.customer_id not in {e.customer_id for e in enrollments(scenario)}
    clock.now = morning.astimezone(UTC)
    find_customers_due_to_reorder.call_local()
    find_customers_due_to_reorder.call_local()  # a second run enrolls nobody twice

    mine = [e for e in enrollments(scenario) if e.customer_id == friend.customer_id]
    assert len(mine) == 1
    assert prediction.product_id in mine[0].context["product_ids"]
    [(_, [intro, carousel])] = line_api.delivered(friend.line_user_id)
    due_product = db.session.get(Product, mine[0].context["product_ids"][0])
    assert due_product is not None
    assert intro["text"].endswith(f"様、{due_product.title}がそろそろなくなる頃です")
    assert line_messages.validate([carousel])
    bubbles = carousel["contents"]["contents"]
    assert [[c["text"] for c in b["body"]["contents"][1:]] for b in bubbles] == [
        [p["title"], f"¥{p['price']:,}", p["reason"]] for p in shown
    ]
    tokens = [
        b["footer"]["contents"][0]["action"]["uri"].removeprefix("https://kizuna.test/r/")
        for b in bubbles
    ]
    targets = {
        link.token: link.url
        for link in db.session.scalars(
            select(TrackedLink).where(
                TrackedLink.shop_id == demo.id, TrackedLink.line_user_id == friend.id
            )
        )
    }
    assert [targets[t] for t in tokens] == [p["url"] for p in shown]
