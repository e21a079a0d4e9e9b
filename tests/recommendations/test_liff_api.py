"""/api/liff/recommendations: sections by kind with reasons, best sellers for friends who have
not linked, bad parameters refused, and nothing of another shop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.db import commit
from tests.factories.commerce import CustomerFactory
from tests.factories.recommendations import bought, sellable, stored_list, stored_model
from tests.factories.shops import ShopFactory
from tests.liff.conftest import LiffClient, Visitor

NOW = datetime.now(UTC)


def test_a_linked_friend_gets_their_list_with_kinds_and_reasons(
    liff: LiffClient, visitor: Visitor
) -> None:
    shop = visitor.shop
    aojiru = sellable(shop, "青汁", price=3980)
    lactic = sellable(shop, "乳酸菌", price=3480)
    lactic.subscribable = True
    today = NOW.date()
    stored_list(
        shop,
        visitor.customer,
        [
            {"p": aojiru.id, "k": "reorder", "l": str(today - timedelta(days=29)), "d": str(today)},
            {"p": lactic.id, "k": "discovery", "a": aojiru.id},
        ],
        at=NOW,
    )
    commit()

    ja = liff.get("/api/liff/recommendations", as_visitor=visitor).json
    en = liff.get("/api/liff/recommendations?lang=en&limit=1", as_visitor=visitor).json

    assert ja["source"] == "personal"
    assert ja["currency"] == "JPY"
    assert [(p["title"], p["kind"], p["price"]) for p in ja["products"]] == [
        ("青汁", "reorder", 3980),
        ("乳酸菌", "discovery", 3480),
    ]
    assert ja["products"][0]["reason"] == "前回のご購入から約29日です"
    assert ja["products"][1]["reason"] == "青汁をご購入の方に人気"
    assert ja["products"][1]["subscribable"] is True
    assert [p["reason"] for p in en["products"]] == ["About 29 days since your last purchase"]


def test_a_friend_who_has_not_linked_sees_the_best_sellers(
    liff: LiffClient, stranger: Visitor
) -> None:
    shop = stranger.shop
    tea, sweets = sellable(shop, "ほうじ茶"), sellable(shop, "和菓子")
    for n in range(3):
        bought(CustomerFactory(shop=shop), tea, at=NOW - timedelta(days=n + 1))
    bought(CustomerFactory(shop=shop), sweets, at=NOW - timedelta(days=2))
    commit()

    body = liff.get("/api/liff/recommendations", as_visitor=stranger).json

    assert body["source"] == "popular"
    assert [p["title"] for p in body["products"]] == ["ほうじ茶", "和菓子"]
    assert {p["reason"] for p in body["products"]} == {"いま人気の商品です"}


def test_bad_parameters_are_refused(liff: LiffClient, visitor: Visitor) -> None:
    for query in ("limit=0", "limit=25", "limit=ten", "lang=fr"):
        response = liff.get(f"/api/liff/recommendations?{query}", as_visitor=visitor)
        assert response.status_code == 400, query
        assert response.json["error"] == "bad_request"


def test_another_shops_products_never_show(liff: LiffClient, visitor: Visitor) -> None:
    theirs = sellable(ShopFactory(), "よその商品")
    mine = sellable(visitor.shop, "うちの商品")
    stored_list(
        visitor.shop,
        visitor.customer,
        [{"p": theirs.id, "k": "discovery"}, {"p": mine.id, "k": "discovery"}],
        at=NOW,
    )
    stored_model(visitor.shop, popular={"all": [theirs.id]}, at=NOW)
    commit()

    body = liff.get("/api/liff/recommendations", as_visitor=visitor).json

    assert [p["title"] for p in body["products"]] == ["うちの商品"]
