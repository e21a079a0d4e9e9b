"""The admin API: the model and its scores, exclusions (bad input changes nothing), training
on demand, what a member would be shown and why, and other shops' ids answering 404."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask

from server.db import commit, db
from server.recommendations import services
from server.recommendations.models import RecommendationModel, RecommendationSettings
from server.shops.models import Shop
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory
from tests.factories.line import LineUserFactory
from tests.factories.membership import MemberFactory
from tests.factories.recommendations import bought, sellable
from tests.factories.shops import ShopFactory

NOW = datetime.now(UTC)


def small_history(shop: Shop) -> tuple[list[object], object]:
    products = [sellable(shop, name) for name in ("青汁", "乳酸菌", "コラーゲン")]
    member = MemberFactory(customer=CustomerFactory(shop=shop))
    LineUserFactory(shop=shop, customer_id=member.customer_id)
    for k in range(3):
        bought(member.customer, products[:2], at=NOW - timedelta(days=60 - 30 * k))
    for n in range(4):
        bought(CustomerFactory(shop=shop), products[2], at=NOW - timedelta(days=n + 1))
    commit()
    return products, member


def test_the_overview_before_and_after_training(admin: AdminClient, shop: Shop) -> None:
    small_history(shop)

    before = admin.get("/api/admin/recommendations", shop=shop).json
    queued = admin.post("/api/admin/recommendations/train", shop=shop)
    after = admin.get("/api/admin/recommendations", shop=shop).json

    assert before["model"] is None
    assert before["evaluation"] is None
    assert before["production"]["algorithm"] == "hybrid"
    assert queued.status_code == 202
    assert after["model"]["algorithm"] == "hybrid"
    assert after["model"]["customers"] == 1
    assert after["model"]["lines"] == 10
    assert len(after["runs"]) == 1


def test_stored_offline_scores_are_shown(admin: AdminClient, shop: Shop) -> None:
    scores = {"all": {"hybrid": {"ndcg@10": 0.3}}, "new": {}, "meta": {"production": "hybrid"}}
    db.session.add(
        RecommendationSettings(
            shop_id=shop.id, algorithm="hybrid", evaluation=scores, evaluated_at=NOW
        )
    )
    commit()

    body = admin.get("/api/admin/recommendations", shop=shop).json

    assert body["evaluation"] == scores
    assert body["evaluated_at"] == NOW.isoformat()


def test_exclusions_are_saved_and_bad_input_changes_nothing(admin: AdminClient, shop: Shop) -> None:
    products, _ = small_history(shop)
    foreign = sellable(ShopFactory(), "よその商品")
    commit()

    ok = admin.put(
        "/api/admin/recommendations/exclusions", shop=shop, json={"product_ids": [products[0].id]}
    )
    not_a_list = admin.put(
        "/api/admin/recommendations/exclusions", shop=shop, json={"product_ids": "1"}
    )
    foreign_id = admin.put(
        "/api/admin/recommendations/exclusions", shop=shop, json={"product_ids": [foreign.id]}
    )

    assert ok.status_code == 200
    assert ok.json == {"excluded": [products[0].id]}
    assert not_a_list.status_code == 422
    assert not_a_list.json["error"] == "invalid"
    assert "product_ids" in not_a_list.json["message"]
    assert foreign_id.status_code == 404
    body = admin.get("/api/admin/recommendations", shop=shop).json
    assert body["excluded"] == [{"id": products[0].id, "title": "青汁"}]


def test_product_search_finds_titles_of_this_shop_only(admin: AdminClient, shop: Shop) -> None:
    small_history(shop)
    sellable(ShopFactory(), "青汁 よその店")
    commit()

    found = admin.get("/api/admin/recommendations/products?q=青汁", shop=shop)
    empty = admin.get("/api/admin/recommendations/products?q=", shop=shop)

    assert [p["title"] for p in found.json["products"]] == ["青汁"]
    assert empty.status_code == 422


def test_a_members_page_shows_what_we_would_show_and_why(admin: AdminClient, shop: Shop) -> None:
    _products, member = small_history(shop)
    services.train_shop(shop, now=NOW)
    commit()

    ja = admin.get(f"/api/admin/recommendations/members/{member.id}", shop=shop).json
    en = admin.get(f"/api/admin/recommendations/members/{member.id}?lang=en", shop=shop).json
    bad = admin.get(f"/api/admin/recommendations/members/{member.id}?lang=fr", shop=shop)

    first = ja["recommendations"][0]
    assert first["kind"] == "reorder"
    assert first["reason"].startswith("前回のご購入から約") or first["reason"].endswith("商品です")
    assert en["recommendations"][0]["reason"].startswith(("About", "One of your"))
    assert {r["title"] for r in ja["reorders"]} == {"青汁", "乳酸菌"}
    assert all(r["cycle_days"] == 30.0 for r in ja["reorders"])
    assert ja["computed_at"] is not None
    assert bad.status_code == 422


def test_another_shops_ids_are_not_found(app: Flask, admin: AdminClient, shop: Shop) -> None:
    other = ShopFactory()
    ids = {"member_id": MemberFactory(customer=CustomerFactory(shop=other)).id}
    commit()
    routes = [
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/admin/recommendations/") and "<int:" in rule.rule
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]
    assert routes

    for method, rule in routes:
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids[m.group(1)]), rule)
        assert admin.request(method, path, shop=shop).status_code == 404, path
    assert db.session.query(RecommendationModel).count() == 0
