"""The merchant's side: rules, tiers, offers, posts, members — validation, effects, tenancy."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask

from server.db import db, utcnow
from server.membership import services
from server.membership.models import Member, Tier
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.coupons import OfferFactory
from tests.factories.membership import MemberFactory, SubscriberPostFactory, TierFactory
from tests.factories.shops import ShopFactory


def test_points_rules_are_validated_with_a_message_per_field(admin: AdminClient, shop) -> None:
    bad = admin.put(
        "/api/admin/membership/settings",
        shop=shop,
        json={
            "tier_window": "forever",
            "earn_points_per_100": 500,
            "points_expiry_months": "soon",
        },
    )
    good = admin.put(
        "/api/admin/membership/settings",
        shop=shop,
        json={
            "tier_window": "lifetime",
            "earn_points_per_100": 2,
            "points_expiry_months": 0,
        },
    )

    assert bad.status_code == 422
    assert set(bad.json["details"]["fields"]) == {
        "tier_window",
        "earn_points_per_100",
        "points_expiry_months",
    }
    assert good.status_code == 200
    assert services.get_settings(shop).earn_points_per_100 == 2
    assert admin.get("/api/admin/membership/settings", shop=shop).json["tier_window"] == "lifetime"


def test_adding_a_tier_places_existing_members_in_it(admin: AdminClient, shop) -> None:
    customer = CustomerFactory(shop=shop)
    OrderFactory(customer=customer, total_price=12_000, processed_at=utcnow() - timedelta(days=2))
    services.ensure_member(shop, customer, now=utcnow())
    db.session.commit()

    created = admin.post(
        "/api/admin/membership/tiers",
        shop=shop,
        json={"name": "SILVER", "threshold": 10000, "color": "#8a9bb0", "benefits": "送料無料"},
    )
    duplicate = admin.post(
        "/api/admin/membership/tiers", shop=shop, json={"name": "SILVER", "threshold": "abc"}
    )

    assert created.status_code == 201
    assert created.json["members"] == 1
    assert duplicate.status_code == 422
    assert duplicate.json["details"]["fields"] == {
        "name": "is already used by another tier",
        "threshold": "a whole number from 0 to 1000000000000",
    }
    listing = admin.get("/api/admin/membership/tiers", shop=shop).json
    assert [(t["name"], t["members"]) for t in listing["tiers"]] == [("SILVER", 1)]


def test_an_offer_with_problems_is_refused_naming_each(admin: AdminClient, shop) -> None:
    response = admin.post(
        "/api/admin/coupons/offers",
        shop=shop,
        json={
            "title": "",
            "kind": "percentage",
            "value": 150,
            "valid_hours": None,
            "ends_at": "2026-01-01T00:00:00",
        },
    )

    assert response.status_code == 422
    assert response.json["details"]["fields"] == {
        "title": "required",
        "value": "a percentage from 1 to 100",
        "ends_at": "needs a time zone offset",
        "valid_hours": "give coupons a lifetime, or the offer an end",
    }


def test_an_offer_is_previewed_without_saving_then_created(admin: AdminClient, shop) -> None:
    body = {
        "title": "復活キャンペーン",
        "kind": "fixed_amount",
        "value": "1000",
        "minimum_subtotal": "5000",
        "valid_hours": "24",
        "claimable": False,
    }

    preview = admin.post("/api/admin/coupons/offers/preview", shop=shop, json=body)
    assert preview.status_code == 200
    assert preview.json["offer"]["value"] == 1000
    assert admin.get("/api/admin/coupons/offers", shop=shop).json["offers"] == []

    created = admin.post("/api/admin/coupons/offers", shop=shop, json=body)
    assert created.status_code == 201
    assert created.json["stats"] == {"issued": 0, "used": 0, "revenue": 0}
    changed = admin.put(
        f"/api/admin/coupons/offers/{created.json['id']}", shop=shop, json={**body, "active": False}
    )
    assert changed.json["active"] is False


def test_posts_are_validated_previewed_and_scheduled(admin: AdminClient, shop) -> None:
    gold = TierFactory(shop=shop, name="GOLD", threshold=30_000)
    MemberFactory(customer=CustomerFactory(shop=shop), tier_id=gold.id)
    MemberFactory(customer=CustomerFactory(shop=shop))
    db.session.commit()
    later = (utcnow() + timedelta(days=3)).isoformat()

    bad = admin.post(
        "/api/admin/membership/posts",
        shop=shop,
        json={"title": "x" * 121, "image_url": "http://insecure.example/a.png"},
    )
    preview = admin.post(
        "/api/admin/membership/posts/preview",
        shop=shop,
        json={"title": "GOLD限定", "body": "本文", "min_tier_id": gold.id},
    )
    created = admin.post(
        "/api/admin/membership/posts",
        shop=shop,
        json={"title": "来週の新商品", "body": "お楽しみに", "published_at": later},
    )

    assert bad.status_code == 422
    assert set(bad.json["details"]["fields"]) == {"title", "image_url"}
    assert preview.json["members_reached"] == 1
    assert created.status_code == 201
    assert created.json["status"] == "scheduled"


def test_members_are_found_by_name_email_or_number(admin: AdminClient, shop) -> None:
    hanako = MemberFactory(customer=CustomerFactory(shop=shop, last_name="山田", first_name="花子"))
    MemberFactory(customer=CustomerFactory(shop=shop, last_name="佐藤", first_name="健太"))
    MemberFactory(customer=CustomerFactory(shop=ShopFactory(), last_name="山田"))
    db.session.commit()

    def found(q: str) -> list[int]:
        body = admin.get(f"/api/admin/membership/members?q={q}", shop=shop).json
        return [m["id"] for m in body["members"]]

    assert found("山田") == [hanako.id]
    assert found("山田花子") == [hanako.id]
    assert found(hanako.member_number[2:7]) == [hanako.id]
    assert found(hanako.customer.email) == [hanako.id]
    assert len(found("")) == 2


def test_the_digits_of_an_email_do_not_match_member_numbers(admin: AdminClient, shop) -> None:
    """The search used to take the digits out of any query: "k7@example.jp" then also found
    every member whose number contains a 7 (nine in ten of them)."""
    kenta = MemberFactory(
        customer=CustomerFactory(shop=shop, email="k7@example.jp"), member_number="1000000009"
    )
    MemberFactory(customer=CustomerFactory(shop=shop), member_number="7777777770")
    db.session.commit()

    def found(q: str) -> list[int]:
        body = admin.get(f"/api/admin/membership/members?q={q}", shop=shop).json
        return [m["id"] for m in body["members"]]

    assert found("k7@example.jp") == [kenta.id]
    assert len(found("777")) == 1
    assert len(found("7777-7777")) == 1


def test_a_member_detail_and_a_points_adjustment(admin: AdminClient, shop) -> None:
    member = services.ensure_member(shop, CustomerFactory(shop=shop), now=utcnow())
    services.award_bonus(shop, member, 50, key="link", note="ID連携", now=utcnow())
    db.session.commit()

    too_much = admin.post(
        f"/api/admin/membership/members/{member.id}/points",
        shop=shop,
        json={"points": -80, "note": "誤付与の取り消し"},
    )
    no_note = admin.post(
        f"/api/admin/membership/members/{member.id}/points", shop=shop, json={"points": 10}
    )
    ok = admin.post(
        f"/api/admin/membership/members/{member.id}/points",
        shop=shop,
        json={"points": -20, "note": "誤付与の取り消し"},
    )
    detail = admin.get(f"/api/admin/membership/members/{member.id}", shop=shop).json

    assert too_much.status_code == 409
    assert no_note.status_code == 422
    assert ok.json == {"points": 30}
    assert [(e["delta"], e["note"]) for e in detail["ledger"]] == [
        (-20, "誤付与の取り消し"),
        (50, "ID連携"),
    ]


def test_enrolling_the_customers_who_ordered(admin: AdminClient, shop) -> None:
    TierFactory(shop=shop, name="REGULAR", threshold=0)
    buyers = [CustomerFactory(shop=shop) for _ in range(3)]
    for customer in buyers:
        OrderFactory(customer=customer, total_price=4000)
    CustomerFactory(shop=shop)  # never ordered
    db.session.commit()

    response = admin.post("/api/admin/membership/members/backfill", shop=shop)
    admin.post("/api/admin/membership/members/backfill", shop=shop)  # twice: nothing more

    assert response.status_code == 202
    members = db.session.query(Member).filter_by(shop_id=shop.id).all()
    assert sorted(m.customer_id for m in members) == sorted(c.id for c in buyers)
    assert {m.tier.name for m in members} == {"REGULAR"}
    assert len({m.member_number for m in members}) == 3


def admin_routes_with_ids(app: Flask) -> list[tuple[str, str]]:
    return [
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if re.match(r"^/api/admin/(membership|coupons)/", rule.rule) and "<int:" in rule.rule
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


def test_another_shops_ids_are_not_found_on_any_admin_route(
    app: Flask, admin: AdminClient, shop
) -> None:
    other = ShopFactory()
    ids = {
        "tier_id": TierFactory(shop=other).id,
        "member_id": MemberFactory(customer=CustomerFactory(shop=other)).id,
        "post_id": SubscriberPostFactory(shop=other).id,
        "offer_id": OfferFactory(shop=other).id,
    }
    db.session.commit()
    routes = admin_routes_with_ids(app)
    assert len(routes) >= 9

    for method, rule in routes:
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids[m.group(1)]), rule)
        response = admin.request(
            method,
            path,
            shop=shop,
            json={
                "points": 5,
                "note": "x",
                "title": "x",
                "name": "x",
                "threshold": 1,
                "kind": "percentage",
                "value": 5,
                "valid_hours": 1,
            },
        )
        assert response.status_code == 404, (method, rule, response.json)
    assert db.session.get(Tier, ids["tier_id"]) is not None


@pytest.mark.parametrize("path", ["/membership", "/coupons", "/members", "/subscriber-posts"])
def test_the_pages_are_in_the_navigation(path: str) -> None:
    from server.admin.pages import NAV

    assert path in [p for _, p, _ in NAV]
