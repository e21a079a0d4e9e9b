"""What each LIFF screen asks the API for: the card, the subscriber area, recommendations,
and that no route lets one shop's member reach another shop's rows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask

from server.db import db, utcnow
from server.membership import services as membership
from server.membership import support
from server.membership.models import PrioritySupportRequest
from tests.factories.commerce import OrderFactory, OrderLineFactory, ProductFactory
from tests.factories.coupons import OfferFactory
from tests.factories.membership import SubscriberPostFactory, TierFactory
from tests.factories.shops import ShopFactory
from tests.liff.conftest import LiffClient, Visitor, make_visitor


def make_subscriber(visitor: Visitor) -> None:
    visitor.shop.settings = {"subscriber_tags": ["定期購入"]}
    visitor.customer.tags = ["定期購入"]
    db.session.commit()


def test_the_card_shows_tier_progress_points_and_expiry(liff: LiffClient, visitor: Visitor) -> None:
    TierFactory(shop=visitor.shop, name="REGULAR", threshold=0, color="#5b6472")
    TierFactory(shop=visitor.shop, name="GOLD", threshold=30_000, color="#c9a227")
    order = OrderFactory(customer=visitor.customer, total_price=26_800)
    membership.settle_order(visitor.shop, order, now=utcnow())
    db.session.commit()

    me = liff.get("/api/liff/me", as_visitor=visitor).json

    assert me["linked"] is True
    assert me["tier"]["name"] == "REGULAR"
    assert me["next_tier"]["name"] == "GOLD"
    assert me["next_tier"]["remaining"] == 3_200  # "あと¥3,200でGOLD"
    assert me["points"]["balance"] == 268
    assert me["points"]["expiring"]["points"] == 268
    assert me["subscriber"] == {"active": False}
    assert me["profile"]["name"] == "はなこ"  # from the verified ID token
    assert re.fullmatch(r"\d{10}", me["member_number"])


def test_a_friend_who_has_not_linked_sees_the_incentive(
    liff: LiffClient, stranger: Visitor
) -> None:
    OfferFactory(shop=stranger.shop, title="連携特典 500円OFF", issue_on_link=True, claimable=False)
    stranger.channel.link_incentive_points = 100
    db.session.commit()

    me = liff.get("/api/liff/me", as_visitor=stranger).json

    assert me["linked"] is False
    assert me["member_number"] is None
    assert me["points"] is None
    assert me["link"] == {
        "url": f"https://{stranger.shop.domain}/apps/kizuna/link",
        "bonus_points": 100,
        "coupons": ["連携特典 500円OFF"],
    }


def test_the_points_history_lists_entries_newest_first(liff: LiffClient, visitor: Visitor) -> None:
    membership.award_bonus(
        visitor.shop,
        visitor.member,
        100,
        key="link",
        note="ID連携",
        now=utcnow() - timedelta(days=1),
    )
    membership.spend_points(
        visitor.shop, visitor.member, 30, key="c", note="クーポン", now=utcnow()
    )
    db.session.commit()

    body = liff.get("/api/liff/points", as_visitor=visitor).json

    assert body["balance"] == 70
    assert [(e["delta"], e["kind"]) for e in body["entries"]] == [(-30, "redeem"), (100, "bonus")]


def test_subscribers_read_the_posts_their_tier_reaches(liff: LiffClient, visitor: Visitor) -> None:
    make_subscriber(visitor)
    gold = TierFactory(shop=visitor.shop, name="GOLD", threshold=30_000)
    SubscriberPostFactory(shop=visitor.shop, title="みんなへ")
    SubscriberPostFactory(shop=visitor.shop, title="GOLDだけ", min_tier_id=gold.id)
    SubscriberPostFactory(
        shop=visitor.shop, title="来週", published_at=utcnow() + timedelta(days=7)
    )
    SubscriberPostFactory(shop=visitor.shop, title="下書き", published_at=None)
    SubscriberPostFactory(shop=ShopFactory(), title="よその店")
    db.session.commit()

    response = liff.get("/api/liff/subscribers/posts", as_visitor=visitor)

    assert response.status_code == 200
    assert [p["title"] for p in response.json["posts"]] == ["みんなへ"]


def test_a_customer_without_a_subscription_is_told_how_to_subscribe(
    liff: LiffClient, visitor: Visitor
) -> None:
    product = ProductFactory(shop=visitor.shop, handle="enzyme", subscribable=True)
    OrderLineFactory(
        order=OrderFactory(customer=visitor.customer), product_id=product.id, selling_plan_id=1
    )
    db.session.commit()

    response = liff.get("/api/liff/subscribers/posts", as_visitor=visitor)

    assert response.status_code == 403
    assert response.json["error"] == "not_subscriber"
    assert response.json["details"] == {
        "reason": "no_active_subscription",
        "subscribe_url": f"https://{visitor.shop.domain}/products/enzyme",
    }


def test_a_friend_who_has_not_linked_is_refused_with_the_link(
    liff: LiffClient, stranger: Visitor
) -> None:
    response = liff.get("/api/liff/subscribers/posts", as_visitor=stranger)

    assert response.status_code == 403
    assert response.json["details"]["reason"] == "not_linked"


def test_priority_support_flags_the_conversation_once_and_opens_the_chat(
    liff: LiffClient, visitor: Visitor
) -> None:
    make_subscriber(visitor)

    first = liff.post("/api/liff/subscribers/priority-support", as_visitor=visitor)
    second = liff.post("/api/liff/subscribers/priority-support", as_visitor=visitor)

    assert first.status_code == 201
    assert second.json["request_id"] == first.json["request_id"]
    assert first.json["chat_url"].startswith("https://line.me/R/oaMessage/@kizuna/?")
    assert db.session.query(PrioritySupportRequest).count() == 1
    assert support.is_priority(visitor.shop, visitor.line_user.id)  # what the inbox reads


def test_priority_support_is_for_subscribers_only(liff: LiffClient, visitor: Visitor) -> None:
    response = liff.post("/api/liff/subscribers/priority-support", as_visitor=visitor)

    assert response.status_code == 403
    assert db.session.query(PrioritySupportRequest).count() == 0


def liff_routes_with_ids(app: Flask) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/liff/") and "<int:" in rule.rule:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((method, rule.rule))
    return routes


def test_every_liff_route_with_an_id_is_covered(app: Flask) -> None:
    assert {r for _, r in liff_routes_with_ids(app)} == {
        "/api/liff/coupons/<int:offer_id>/claim",
        "/api/liff/coupons/<int:offer_id>/exchange",
        "/api/liff/coupons/mine/<int:coupon_id>",
    }


@pytest.mark.parametrize(
    ("method", "rule"),
    [
        ("POST", "/api/liff/coupons/<int:offer_id>/claim"),
        ("POST", "/api/liff/coupons/<int:offer_id>/exchange"),
        ("GET", "/api/liff/coupons/mine/<int:coupon_id>"),
    ],
)
def test_another_shops_ids_are_not_found(
    liff: LiffClient, visitor: Visitor, shopify, method: str, rule: str
) -> None:
    other = make_visitor(ShopFactory())
    offer = OfferFactory(shop=other.shop, points_cost=1)
    membership.award_bonus(other.shop, other.member, 10, key="x", note="", now=utcnow())
    membership.award_bonus(visitor.shop, visitor.member, 10, key="x", note="", now=utcnow())
    db.session.commit()
    theirs = liff.post(f"/api/liff/coupons/{offer.id}/claim", as_visitor=other).json["id"]
    path = re.sub(r"<int:offer_id>", str(offer.id), rule).replace("<int:coupon_id>", str(theirs))

    response = liff.open(method, path, as_visitor=visitor, json={"request_id": "tap-12345678"})

    assert response.status_code == 404
