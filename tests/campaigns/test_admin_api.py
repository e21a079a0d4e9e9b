"""/api/admin/campaigns: the editor's round trip, validation (400 naming the field, nothing
changed), the gallery, previews with the timeline, people and scheduled messages, and another
shop's ids answering 404 on every route that takes one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from server.campaigns import services
from server.campaigns.models import (
    Enrollment,
    EnrollmentState,
    ExitReason,
    Scenario,
    ScheduledMessage,
    ScheduledStatus,
)
from server.commerce import sync
from server.db import db, utcnow
from server.shops.models import Shop
from tests.campaigns.conftest import Friend, make_friend, make_scenario
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory, ProductFactory
from tests.factories.coupons import OfferFactory
from tests.factories.shops import ShopFactory

BASE = "/api/admin/campaigns"


def body(**changes: Any) -> dict[str, Any]:
    return {
        "name": "購入後フォロー",
        "trigger": "order_paid",
        "trigger_params": {"order": "first", "kind": "one_off"},
        "exit_rules": [{"rule": "subscribed"}],
        "holdout_percent": 0,
        "steps": [
            {
                "name": "使い方",
                "delay_days": 5,
                "at_time": "10:00",
                "message": {"type": "text", "text": "{name}様、{product}の使い方です"},
            },
            {
                "name": "クーポン",
                "delay_days": 10,
                "at_time": "10:00",
                "message": {
                    "type": "flex",
                    "layout": "card",
                    "title": "定期便クーポン",
                    "body": "{coupon_value}",
                    "button_label": "使う",
                    "button_url": "{coupon_url}",
                },
            },
        ],
        **changes,
    }


def test_a_scenario_round_trips_through_the_editor(admin: AdminClient, shop: Shop) -> None:
    offer = OfferFactory(shop=shop)
    db.session.commit()
    data = body()
    data["steps"][1]["coupon_offer_id"] = offer.id

    created = admin.post(f"{BASE}/scenarios", shop=shop, json=data)
    assert created.status_code == 201, created.json
    scenario = created.json
    assert scenario["status"] == "draft"
    assert [s["position"] for s in scenario["steps"]] == [1, 2]
    assert scenario["steps"][1]["coupon_offer_id"] == offer.id

    # Reorder, edit one, drop nothing: ids are kept.
    steps = list(reversed(scenario["steps"]))
    steps[0]["delay_days"] = 12
    updated = admin.put(
        f"{BASE}/scenarios/{scenario['id']}", shop=shop, json={"steps": steps, "name": "改名"}
    )
    assert updated.status_code == 200, updated.json
    assert updated.json["name"] == "改名"
    assert [s["id"] for s in updated.json["steps"]] == [s["id"] for s in steps]
    assert [s["delay_days"] for s in updated.json["steps"]] == [12, 5]
    assert updated.json["trigger_params"] == {"order": "first", "kind": "one_off"}

    on = admin.post(
        f"{BASE}/scenarios/{scenario['id']}/status", shop=shop, json={"status": "active"}
    )
    assert on.json["status"] == "active"
    listed = admin.get(f"{BASE}/scenarios", shop=shop).json["scenarios"]
    assert [(s["id"], s["status"], s["stats"]["entered"]) for s in listed] == [
        (scenario["id"], "active", 0)
    ]
    off = admin.post(
        f"{BASE}/scenarios/{scenario['id']}/status", shop=shop, json={"status": "paused"}
    )
    assert off.json["status"] == "paused"
    assert admin.delete(f"{BASE}/scenarios/{scenario['id']}", shop=shop).status_code == 204
    assert db.session.scalar(select(func.count()).select_from(Scenario)) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"trigger": "whenever"}, "trigger"),
        ({"holdout_percent": 95}, "holdout_percent"),
        ({"trigger_params": {"order": "nth"}}, "trigger_params.n"),
        ({"exit_rules": [{"rule": "eventually"}]}, "exit_rules[0]"),
        (
            {"entry_definition": {"match": "all", "conditions": [{"field": "nope"}]}},
            "entry_definition",
        ),
        (
            {"steps": [{"delay_days": -1, "message": {"type": "text", "text": "x"}}]},
            "steps[0].delay_days",
        ),
        (
            {"steps": [{"at_time": "25:00", "message": {"type": "text", "text": "x"}}]},
            "steps[0].at_time",
        ),
        (
            {
                "steps": [
                    {"at_time": "10:00", "delay_hours": 3, "message": {"type": "text", "text": "x"}}
                ]
            },
            "steps[0].delay_hours",
        ),
        (
            {"steps": [{"message": {"type": "text", "text": "{nickname}さん"}}]},
            "steps[0].message.text",
        ),
        ({"steps": [{"message": {"type": "text", "text": ""}}]}, "steps[0].message.text"),
        (
            {"steps": [{"message": {"type": "image", "image_url": "http://x/a.png"}}]},
            "steps[0].message.image_url",
        ),
        (
            {"steps": [{"message": {"type": "flex", "title": "t", "button_label": "go"}}]},
            "steps[0].message.button_url",
        ),
        (
            {"steps": [{"delay_source": "cancellation", "message": {"type": "text", "text": "x"}}]},
            "steps[0].delay_source",
        ),
        (
            {"steps": [{"coupon_offer_id": 999999, "message": {"type": "text", "text": "x"}}]},
            "steps[0].coupon_offer_id",
        ),
        ({"segment_id": 999999}, "segment_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    admin: AdminClient, shop: Shop, change: dict[str, Any], field: str
) -> None:
    response = admin.post(f"{BASE}/scenarios", shop=shop, json=body(**change))
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_scenario"
    assert field in response.json["details"]["fields"], response.json
    assert db.session.scalar(select(func.count()).select_from(Scenario)) == 0


def test_a_body_that_is_not_an_object_and_bad_query_values_are_400(
    admin: AdminClient, shop: Shop
) -> None:
    scenario = make_scenario(shop)
    assert (
        admin.post(
            f"{BASE}/scenarios", shop=shop, data="[1]", content_type="application/json"
        ).status_code
        == 400
    )
    assert (
        admin.post(
            f"{BASE}/scenarios/{scenario.id}/status", shop=shop, json={"status": "gone"}
        ).status_code
        == 400
    )
    assert (
        admin.get(f"{BASE}/scenarios/{scenario.id}/enrollments?state=x", shop=shop).status_code
        == 400
    )
    assert (
        admin.get(f"{BASE}/scenarios/{scenario.id}/scheduled?page=zero", shop=shop).status_code
        == 400
    )
    assert admin.post(f"{BASE}/preview", shop=shop, json={"reason": "bored"}).status_code == 400
    leftover = {**body(), "reason": "leftover", "units_left": "two"}
    refused = admin.post(f"{BASE}/preview", shop=shop, json=leftover)
    assert refused.status_code == 400
    assert "units_left" in str(refused.json)
    assert admin.post(f"{BASE}/templates/nope", shop=shop).status_code == 404


def test_a_scenario_without_steps_cannot_be_switched_on(admin: AdminClient, shop: Shop) -> None:
    created = admin.post(f"{BASE}/scenarios", shop=shop, json=body(steps=[])).json
    response = admin.post(
        f"{BASE}/scenarios/{created['id']}/status", shop=shop, json={"status": "active"}
    )
    assert response.status_code == 400
    assert "steps" in response.json["details"]["fields"]


def test_a_scenario_people_entered_cannot_be_deleted(admin: AdminClient, shop: Shop) -> None:
    friend = make_friend(shop)
    scenario = make_scenario(shop, trigger="manual")
    services.enroll(shop, scenario, customer_id=friend.customer.id, trigger_key="k", now=utcnow())
    db.session.commit()
    response = admin.delete(f"{BASE}/scenarios/{scenario.id}", shop=shop)
    assert response.status_code == 409
    assert response.json["error"] == "scenario_in_use"


def test_the_gallery_creates_a_draft_with_its_coupon_offer(admin: AdminClient, shop: Shop) -> None:
    listed = admin.get(f"{BASE}/templates?locale=en", shop=shop).json["templates"]
    assert {t["key"] for t in listed} >= {
        "upsell_one_off",
        "reactivation",
        "retention",
        "link_incentive",
        "dormant_winback",
    }
    assert listed[0]["name"].isascii()

    created = admin.post(f"{BASE}/templates/reactivation", shop=shop)
    assert created.status_code == 201
    scenario = created.json
    assert (scenario["status"], scenario["trigger"], scenario["template_key"]) == (
        "draft",
        "subscription_cancelled",
        "reactivation",
    )
    coupon_step = scenario["steps"][1]
    assert coupon_step["delay_source"] == "cancellation"
    offers = admin.get(f"{BASE}/options", shop=shop).json["offers"]
    assert [(o["id"], o["valid_hours"]) for o in offers] == [(coupon_step["coupon_offer_id"], 24)]


def test_the_preview_shows_each_message_and_when_it_really_goes(
    admin: AdminClient, shop: Shop
) -> None:
    ProductFactory(shop=shop, title="酵素ドリンク")
    offer = OfferFactory(shop=shop, value=20, valid_hours=72)
    make_friend(shop)  # the channel with the default rules: 21:00-09:00, 2 per 7 days
    db.session.commit()
    data = body()
    data["steps"][1]["coupon_offer_id"] = offer.id
    data["steps"].insert(
        1,
        {
            "name": "夜",
            "delay_days": 6,
            "at_time": "22:00",
            "message": {"type": "text", "text": "夜"},
        },
    )

    response = admin.post(f"{BASE}/preview", shop=shop, json=data)

    assert response.status_code == 200, response.json
    steps = response.json["steps"]
    assert [s["day"] for s in steps] == [5, 6, 10]
    first = steps[0]["messages"][0]
    assert first == {"type": "text", "text": "山田 花子様、酵素ドリンクの使い方です"}
    assert steps[1]["held_by"] == "quiet_hours"
    assert steps[1]["sends_at"].endswith("00:00:00+00:00")  # 09:00 in Tokyo
    assert steps[2]["held_by"] == "frequency_cap"  # a third message within 7 days
    card = steps[2]["messages"][0]
    assert card["type"] == "flex"
    assert "20%OFF" in str(card["contents"])
    assert "KZSAMPLE1" in str(card["contents"])
    assert response.json["rules"] == {
        "quiet_hours": ["21:00", "09:00"],
        "frequency_cap": 2,
        "frequency_cap_days": 7,
    }


def test_people_can_be_listed_and_removed_and_steps_cancelled(
    admin: AdminClient, shop: Shop
) -> None:
    first, second = make_friend(shop), make_friend(shop)
    scenario = make_scenario(
        shop,
        trigger="manual",
        steps=[
            {"delay_days": 1, "message": {"type": "text", "text": "1"}},
            {"delay_days": 2, "message": {"type": "text", "text": "2"}},
        ],
    )
    now = utcnow()
    for friend in (first, second):
        services.enroll(shop, scenario, customer_id=friend.customer.id, trigger_key="k", now=now)
    db.session.commit()

    people = admin.get(f"{BASE}/scenarios/{scenario.id}/enrollments", shop=shop).json
    assert people["total"] == 2
    assert {p["name"] for p in people["enrollments"]} == {"山田 花子"}
    one = people["enrollments"][0]["id"]
    removed = admin.post(f"{BASE}/enrollments/{one}/remove", shop=shop)
    assert removed.json == {"id": one, "state": "exited", "exit_reason": ExitReason.REMOVED}
    again = admin.post(f"{BASE}/enrollments/{one}/remove", shop=shop)
    assert again.json["exit_reason"] == ExitReason.REMOVED

    waiting = admin.get(f"{BASE}/scenarios/{scenario.id}/scheduled", shop=shop).json
    assert waiting["total"] == 1  # the removed person's step was cancelled
    row_id = waiting["scheduled"][0]["id"]
    cancelled = admin.post(f"{BASE}/scheduled/{row_id}/cancel", shop=shop)
    assert cancelled.json["status"] == ScheduledStatus.CANCELLED
    # Skipping a step schedules the next one for that person.
    waiting = admin.get(f"{BASE}/scenarios/{scenario.id}/scheduled", shop=shop).json
    assert [s["position"] for s in waiting["scheduled"]] == [2]
    assert admin.post(f"{BASE}/scheduled/{row_id}/cancel", shop=shop).status_code == 409
    everything = admin.get(f"{BASE}/scenarios/{scenario.id}/scheduled?status=all", shop=shop).json
    assert everything["total"] == 3


def test_enrolling_the_current_audience(admin: AdminClient, shop: Shop) -> None:
    vip = [make_friend(shop, customer=CustomerFactory(shop=shop, tags=["VIP"])) for _ in range(3)]
    make_friend(shop)  # not VIP
    scenario = make_scenario(
        shop,
        trigger="manual",
        entry_definition={
            "match": "all",
            "conditions": [{"field": "customer_tag", "op": "any", "value": ["VIP"]}],
        },
    )
    assert admin.get(f"{BASE}/scenarios/{scenario.id}/audience", shop=shop).json == {
        "count": 3,
        "reachable": 3,
    }

    response = admin.post(f"{BASE}/scenarios/{scenario.id}/enroll", shop=shop)
    again = admin.post(f"{BASE}/scenarios/{scenario.id}/enroll", shop=shop)

    assert response.status_code == 202
    assert response.json["entered"] == 3
    assert again.json["entered"] == 0
    rows = db.session.scalars(select(Enrollment).where(Enrollment.scenario_id == scenario.id)).all()
    assert {r.customer_id for r in rows} == {f.customer.id for f in vip}
    assert {r.state for r in rows} == {EnrollmentState.ACTIVE}
    assert db.session.scalar(select(func.count()).select_from(ScheduledMessage)) == 3


def admin_routes_with_ids(app: Flask) -> list[tuple[str, str]]:
    return [
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(f"{BASE}/") and "<int:" in rule.rule
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


def test_another_shops_ids_are_not_found_on_any_campaigns_route(
    app: Flask, admin: AdminClient, shop: Shop
) -> None:
    other = ShopFactory()
    friend: Friend = make_friend(other)
    scenario = make_scenario(other, trigger="manual")
    enrollment = services.enroll(
        other, scenario, customer_id=friend.customer.id, trigger_key="k", now=utcnow()
    )
    db.session.commit()
    assert enrollment is not None
    row = db.session.scalar(
        select(ScheduledMessage).where(ScheduledMessage.enrollment_id == enrollment.id)
    )
    assert row is not None
    ids = {"scenario_id": scenario.id, "enrollment_id": enrollment.id, "scheduled_id": row.id}
    routes = admin_routes_with_ids(app)
    assert len(routes) >= 10

    for method, rule in routes:
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids[m.group(1)]), rule)
        response = admin.request(method, path, shop=shop, json=body(status="paused"))
        assert response.status_code == 404, (method, rule, response.json)
    db.session.expire_all()
    assert db.session.get(Scenario, scenario.id).status == "active"
    assert db.session.get(Enrollment, enrollment.id).state == EnrollmentState.ACTIVE
    assert db.session.get(ScheduledMessage, row.id).status == ScheduledStatus.SCHEDULED


def test_an_order_trigger_takes_this_shops_collections_only(admin: AdminClient, shop: Shop) -> None:
    mine = sync.replace_collection(
        shop, sync.CollectionData(shopify_id=51, title="定期便"), now=utcnow()
    )
    theirs = sync.replace_collection(
        ShopFactory(), sync.CollectionData(shopify_id=52, title="他店"), now=utcnow()
    )
    db.session.commit()

    refused = admin.post(
        f"{BASE}/scenarios", shop=shop, json=body(trigger_params={"collection_ids": [theirs.id]})
    )
    assert refused.status_code == 400
    assert "trigger_params.collection_ids" in refused.json["details"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(Scenario)) == 0

    saved = admin.post(
        f"{BASE}/scenarios", shop=shop, json=body(trigger_params={"collection_ids": [mine.id]})
    )
    assert saved.status_code == 201, saved.json
    assert saved.json["trigger_params"]["collection_ids"] == [mine.id]
    options = admin.get(f"{BASE}/options", shop=shop).json
    assert options["collections"] == [{"id": mine.id, "title": "定期便"}]
