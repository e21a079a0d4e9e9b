"""/api/admin/broadcasts through the real app: compose, preview, estimate, schedule, cancel,
results; 400s naming the field, another shop's ids as 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from server.campaigns.models import Broadcast
from server.db import db, utcnow
from server.shops.models import Shop
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.coupons import OfferFactory
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.factories.shops import ShopFactory
from tests.fakes.line_api import LineStandIn

BASE = "/api/admin/broadcasts"
TEXT = {"type": "text", "text": "春のセール開催中です"}


@pytest.fixture
def store(app_ctx: None) -> Shop:
    shop = ShopFactory(domain="hanamaru.myshopify.com")
    db.session.commit()
    return shop


def create(admin: AdminClient, shop: Shop, **data: Any) -> dict[str, Any]:
    response = admin.post(BASE, shop=shop, json={"name": "春のセール", "message": TEXT, **data})
    assert response.status_code == 201, response.json
    return dict(response.json)


def broadcasts_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Broadcast)) or 0


def test_compose_show_update_list_and_delete(admin: AdminClient, store: Shop) -> None:
    made = create(admin, store, holdout_percent=10)
    assert made["status"] == "draft"
    assert made["holdout_percent"] == 10
    assert made["link_tracking"] == "per_recipient"

    shown = admin.get(f"{BASE}/{made['id']}", shop=store).json
    assert shown["message"] == TEXT
    assert shown["personalised"] is False

    changed = admin.put(f"{BASE}/{made['id']}", shop=store, json={"name": "冬のセール"})
    assert changed.status_code == 200
    assert changed.json["name"] == "冬のセール"
    assert changed.json["message"] == TEXT  # untouched fields keep their values

    listed = admin.get(BASE, shop=store).json["broadcasts"]
    assert [b["id"] for b in listed] == [made["id"]]
    assert listed[0]["delivered"] == 0

    assert admin.delete(f"{BASE}/{made['id']}", shop=store).status_code == 204
    assert broadcasts_count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"message": None}, "message"),
        ({"message": {"type": "video"}}, "message.type"),
        ({"message": {"type": "text", "text": ""}}, "message.text"),
        ({"message": {"type": "text", "text": "{nmae}さん"}}, "message.text"),
        ({"message": {"type": "text", "text": "{product}が入荷"}}, "message.text"),
        ({"message": {"type": "text", "text": "{coupon_code}"}}, "message.text"),
        ({"message": {"type": "text", "text": "あ" * 5001}}, "message.text"),
        ({"message": {"type": "image", "image_url": "http://x.jp/a.png"}}, "message.image_url"),
        ({"holdout_percent": 60}, "holdout_percent"),
        ({"holdout_percent": "10"}, "holdout_percent"),
        ({"holdout_percent": True}, "holdout_percent"),
        ({"link_tracking": "sometimes"}, "link_tracking"),
        ({"segment_id": 999_999}, "segment_id"),
        ({"segment_id": "1"}, "segment_id"),
        ({"coupon_offer_id": 999_999}, "coupon_offer_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    admin: AdminClient, store: Shop, body: dict[str, Any], field: str
) -> None:
    response = admin.post(BASE, shop=store, json={"name": "セール", "message": TEXT, **body})
    assert response.status_code == 400
    assert response.json["error"] == "invalid_broadcast"
    assert field in response.json["details"]["fields"]
    assert broadcasts_count() == 0


def test_a_body_that_is_not_a_json_object_is_a_400(admin: AdminClient, store: Shop) -> None:
    for body in (None, [1, 2], "text"):
        response = admin.post(BASE, shop=store, json=body)
        assert response.status_code == 400
        assert response.is_json
    response = admin.post(BASE, shop=store, data="{oops", content_type="application/json")
    assert response.status_code == 400


def test_another_shops_segment_and_coupon_are_refused_by_field(
    admin: AdminClient, store: Shop
) -> None:
    from server.segments import services as segments

    other = ShopFactory()
    theirs = segments.create_segment(
        other, name="他店", definition={"match": "all", "conditions": []}
    )
    offer = OfferFactory(shop=other)
    db.session.commit()
    response = admin.post(
        BASE,
        shop=store,
        json={"name": "x", "message": TEXT, "segment_id": theirs.id, "coupon_offer_id": offer.id},
    )
    assert response.status_code == 400
    assert set(response.json["details"]["fields"]) == {"segment_id", "coupon_offer_id"}


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("GET", "/estimate"),
        ("POST", "/schedule"),
        ("POST", "/cancel"),
        ("GET", "/results"),
    ],
)
def test_another_shops_broadcast_is_a_404(
    admin: AdminClient, store: Shop, method: str, suffix: str
) -> None:
    other = ShopFactory()
    db.session.commit()
    theirs = create(admin, other)
    response = admin.request(
        method, f"{BASE}/{theirs['id']}{suffix}", shop=store, json={"name": "乗っ取り"}
    )
    assert response.status_code == 404
    assert response.json["error"] == "not_found"
    db.session.expire_all()
    assert db.session.get(Broadcast, theirs["id"]).name == "春のセール"  # type: ignore[union-attr]


def test_preview_renders_the_line_messages_with_sample_values(
    admin: AdminClient, store: Shop
) -> None:
    offer = OfferFactory(shop=store, title="LINE限定", value=15, kind="percentage")
    db.session.commit()
    message = {
        "type": "flex",
        "layout": "card",
        "title": "{name}様へ",
        "body": "{coupon_value}のクーポン",
        "button_label": "使う",
        "button_url": "{coupon_url}",
    }
    for locale, name in (("ja", "山田 花子"), ("en", "Hanako Yamada")):
        response = admin.post(
            f"{BASE}/preview",
            shop=store,
            json={"message": message, "coupon_offer_id": offer.id, "locale": locale},
        )
        assert response.status_code == 200, response.json
        [flex] = response.json["messages"]
        assert flex["type"] == "flex"
        bubble = flex["contents"]
        assert bubble["body"]["contents"][0]["text"] == f"{name}様へ"
        assert "15" in bubble["body"]["contents"][1]["text"]
    bad = admin.post(f"{BASE}/preview", shop=store, json={"message": TEXT, "locale": "fr"})
    assert bad.status_code == 400
    assert "locale" in bad.json["details"]["fields"]


def test_estimate_schedule_send_and_results_through_the_api(
    admin: AdminClient, store: Shop, line_api: LineStandIn
) -> None:
    LineChannelFactory(shop=store)
    for _ in range(3):
        LineUserFactory(shop=store, customer_id=CustomerFactory(shop=store).id)
    LineUserFactory(shop=store, blocked_at=utcnow())
    line_api.quota_limit, line_api.usage = 500, 100
    db.session.commit()

    unsaved = admin.post(f"{BASE}/estimate", shop=store, json={"segment_id": None})
    assert unsaved.status_code == 200
    assert unsaved.json["reachable"] == 3
    assert unsaved.json["cost"] == 3
    assert unsaved.json["quota_remaining"] == 400
    assert unsaved.json["over_quota"] is False
    bad = admin.post(f"{BASE}/estimate", shop=store, json={"holdout_percent": 99})
    assert bad.status_code == 400
    assert "holdout_percent" in bad.json["details"]["fields"]

    made = create(admin, store)
    saved = admin.get(f"{BASE}/{made['id']}/estimate", shop=store).json
    assert saved["recipients"] == 3

    # Sending happens on the worker; in tests huey runs it right after the commit.
    response = admin.post(f"{BASE}/{made['id']}/schedule", shop=store, json={"send_at": None})
    assert response.status_code == 200, response.json
    results = admin.get(f"{BASE}/{made['id']}/results", shop=store).json
    assert results["status"] == "sent"
    assert results["recipients"] == 3
    assert results["delivered"] + results["pending"] == 3  # quiet hours may defer them
    assert results["lift"] is None  # no holdout
    again = admin.post(f"{BASE}/{made['id']}/schedule", shop=store, json={})
    assert again.status_code == 409
    assert admin.post(f"{BASE}/{made['id']}/cancel", shop=store, json={}).status_code == 409
    assert admin.delete(f"{BASE}/{made['id']}", shop=store).status_code == 409


def test_scheduling_for_later_and_cancelling(admin: AdminClient, store: Shop) -> None:
    made = create(admin, store)
    later = (utcnow() + timedelta(days=2)).astimezone().strftime("%Y-%m-%dT10:00")
    response = admin.post(f"{BASE}/{made['id']}/schedule", shop=store, json={"send_at": later})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "scheduled"
    assert response.json["scheduled_local"] == later
    assert response.json["scheduled_at"].endswith("01:00:00+00:00")  # 10:00 in Tokyo
    for bad in ("2020-01-01T10:00", "soon", 12):
        refused = admin.post(f"{BASE}/{made['id']}/schedule", shop=store, json={"send_at": bad})
        assert refused.status_code == 400
        assert "send_at" in refused.json["details"]["fields"]
    cancelled = admin.post(f"{BASE}/{made['id']}/cancel", shop=store, json={})
    assert cancelled.json["status"] == "cancelled"
    assert admin.delete(f"{BASE}/{made['id']}", shop=store).status_code == 204


def test_over_quota_needs_confirmation(
    admin: AdminClient, store: Shop, line_api: LineStandIn
) -> None:
    LineChannelFactory(shop=store)
    for _ in range(5):
        LineUserFactory(shop=store)
    line_api.quota_limit, line_api.usage = 100, 98
    db.session.commit()
    made = create(admin, store)
    refused = admin.post(f"{BASE}/{made['id']}/schedule", shop=store, json={})
    assert refused.status_code == 409
    assert refused.json["error"] == "over_quota"
    assert refused.json["details"] == {"cost": 5, "quota_remaining": 2}
    wrong = admin.post(
        f"{BASE}/{made['id']}/schedule", shop=store, json={"confirm_over_quota": "yes"}
    )
    assert wrong.status_code == 400
    ok = admin.post(f"{BASE}/{made['id']}/schedule", shop=store, json={"confirm_over_quota": True})
    assert ok.status_code == 200


def test_options_list_what_the_composer_offers(admin: AdminClient, store: Shop) -> None:
    OfferFactory(shop=store, title="10%OFF")
    OrderFactory(customer=CustomerFactory(shop=store))
    db.session.commit()
    options = admin.get(f"{BASE}/options", shop=store).json
    assert [o["title"] for o in options["offers"]] == ["10%OFF"]
    assert "name" in options["variables"]
    assert "product" not in options["variables"]
    assert options["quiet_hours"] == ["21:00", "09:00"]
    assert options["timezone"] == "Asia/Tokyo"
