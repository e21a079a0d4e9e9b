"""/api/admin/segments through the real app: the builder's fields, live counts equal to hand
counts, saved segments with live counts, 400s naming the part of the definition, 404s."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from server.commerce import sync
from server.db import db, utcnow
from server.segments import filters
from server.segments.models import Segment
from server.shops.models import Shop
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.line import LineUserFactory
from tests.factories.shops import ShopFactory

BASE = "/api/admin/segments"
REPEAT = {"match": "all", "conditions": [{"field": "order_count", "op": "gte", "value": 2}]}


@pytest.fixture
def store(app_ctx: None) -> Shop:
    """Five customers and one unlinked friend:
    a: 3 orders, VIP, linked + following     b: 2 orders, linked + blocked
    c: 1 order, linked + following           d: 2 orders, no LINE friend
    e: no orders, VIP                        f: an unlinked following friend
    """
    shop = ShopFactory()
    now = utcnow()

    def customer(orders: int, tags: list[str] | None = None) -> Any:
        c = CustomerFactory(shop=shop, tags=tags or [])
        for i in range(orders):
            OrderFactory(customer=c, processed_at=now - timedelta(days=10 + i), total_price=4000)
        return c

    a, b, c = customer(3, ["VIP"]), customer(2), customer(1)
    customer(2)
    customer(0, ["VIP"])
    LineUserFactory(shop=shop, customer_id=a.id)
    LineUserFactory(shop=shop, customer_id=b.id, blocked_at=now)
    LineUserFactory(shop=shop, customer_id=c.id)
    LineUserFactory(shop=shop)
    other = ShopFactory()
    OrderFactory(customer=CustomerFactory(shop=other, tags=["VIP"]))
    OrderFactory(customer=CustomerFactory(shop=other, tags=["VIP"]))
    db.session.commit()
    return shop


@pytest.mark.parametrize(
    ("definition", "count", "reachable"),
    [
        ({"match": "all", "conditions": []}, 6, 3),  # five customers + one friend; a, c, f
        (REPEAT, 3, 1),  # a, b, d; only a can be sent to
        (
            {
                "match": "all",
                "conditions": [{"field": "customer_tag", "op": "any", "value": ["VIP"]}],
            },
            2,
            1,
        ),
        ({"match": "all", "conditions": [{"field": "linked", "op": "is", "value": True}]}, 3, 2),
        ({"match": "all", "conditions": [{"field": "following", "op": "is", "value": True}]}, 3, 3),
        (
            {
                "match": "any",
                "conditions": [
                    {"field": "total_spent", "op": "gte", "value": 12000},
                    {"field": "order_count", "op": "eq", "value": 1},
                ],
            },
            2,
            2,
        ),
    ],
)
def test_live_counts_equal_the_hand_count(
    admin: AdminClient, store: Shop, definition: dict[str, Any], count: int, reachable: int
) -> None:
    response = admin.post(f"{BASE}/count", shop=store, json={"definition": definition})
    assert response.status_code == 200, response.json
    assert response.json == {"count": count, "reachable": reachable}


def test_the_builder_is_offered_every_field_the_segments_package_supports(
    admin: AdminClient, store: Shop
) -> None:
    collection = sync.replace_collection(
        store, sync.CollectionData(shopify_id=41, title="スキンケア"), now=utcnow()
    )
    sync.replace_collection(
        ShopFactory(), sync.CollectionData(shopify_id=42, title="他店"), now=utcnow()
    )
    db.session.commit()
    answer = admin.get(f"{BASE}/fields", shop=store, query_string={"locale": "en"}).json
    assert {f["field"] for f in answer["fields"]} == set(filters.FIELDS)
    assert answer["collections"] == [{"id": collection.id, "title": "スキンケア"}]
    order_count = next(f for f in answer["fields"] if f["field"] == "order_count")
    assert order_count["ops"] == list(filters.NUMBER_OPS)
    assert {c["value"] for c in answer["cells"]} == set(filters.CELLS)
    assert answer["cells"][0]["label"] == "Loyal, will buy again"
    assert {s["survey"] for s in answer["surveys"]} == {"nine_segment", "cancellation"}
    assert answer["currency"] == "JPY"


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        ({"match": "some", "conditions": []}, "definition.match"),
        (
            {"match": "all", "conditions": [{"field": "age", "op": "gte", "value": 1}]},
            "definition.conditions[0].field",
        ),
        (
            {"match": "all", "conditions": [{"field": "order_count", "op": "like", "value": 1}]},
            "definition.conditions[0].op",
        ),
        (
            {"match": "all", "conditions": [{"field": "order_count", "op": "gte", "value": "2"}]},
            "definition.conditions[0].value",
        ),
        (
            {
                "match": "all",
                "conditions": [{"field": "last_order_at", "op": "before", "value": "2026-13-01"}],
            },
            "definition.conditions[0].value",
        ),
        (
            {
                "match": "all",
                "conditions": [{"field": "bought_collection", "op": "any", "value": []}],
            },
            "definition.conditions[0].value",
        ),
        (
            {
                "match": "all",
                "conditions": [
                    {"field": "bought_collection", "op": "any", "value": ["スキンケア"]}
                ],
            },
            "definition.conditions[0].value[0]",
        ),
        ("everyone", "definition"),
    ],
)
def test_a_bad_definition_is_a_400_naming_the_part(
    admin: AdminClient, store: Shop, definition: Any, path: str
) -> None:
    for url in (f"{BASE}/count", BASE):
        response = admin.post(url, shop=store, json={"name": "x", "definition": definition})
        assert response.status_code == 400
        assert response.json["error"] == "invalid_segment"
        assert path in response.json["details"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(Segment)) == 0


def test_saved_segments_show_live_counts(admin: AdminClient, store: Shop) -> None:
    made = admin.post(BASE, shop=store, json={"name": "リピーター", "definition": REPEAT})
    assert made.status_code == 201
    assert (made.json["count"], made.json["reachable"]) == (3, 1)

    # A new repeat buyer shows up in the list's count without editing the segment.
    c = CustomerFactory(shop=store)
    OrderFactory.create_batch(2, customer=c)
    db.session.commit()
    [listed] = admin.get(BASE, shop=store).json["segments"]
    assert listed["count"] == 4
    assert listed["last_count"] == 4

    renamed = admin.put(f"{BASE}/{made.json['id']}", shop=store, json={"name": "常連"})
    assert renamed.json["name"] == "常連"
    assert renamed.json["definition"] == REPEAT
    assert admin.get(f"{BASE}/{made.json['id']}", shop=store).json["count"] == 4

    sample = admin.post(f"{BASE}/sample", shop=store, json={"definition": REPEAT}).json
    assert len(sample["members"]) == 4


def test_names_are_required(admin: AdminClient, store: Shop) -> None:
    response = admin.post(BASE, shop=store, json={"name": " ", "definition": REPEAT})
    assert response.status_code == 400
    assert "name" in response.json["details"]["fields"]
    missing = admin.post(BASE, shop=store, json={"name": "x"})
    assert missing.status_code == 400
    assert "definition" in missing.json["details"]["fields"]


def test_a_segment_in_use_by_a_broadcast_cannot_be_deleted(admin: AdminClient, store: Shop) -> None:
    made = admin.post(BASE, shop=store, json={"name": "リピーター", "definition": REPEAT}).json
    admin.post(
        "/api/admin/broadcasts",
        shop=store,
        json={"name": "b", "segment_id": made["id"], "message": {"type": "text", "text": "hi"}},
    )
    refused = admin.delete(f"{BASE}/{made['id']}", shop=store)
    assert refused.status_code == 409
    unused = admin.post(BASE, shop=store, json={"name": "未使用", "definition": REPEAT}).json
    assert admin.delete(f"{BASE}/{unused['id']}", shop=store).status_code == 204


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_shops_segment_is_a_404(admin: AdminClient, store: Shop, method: str) -> None:
    other = ShopFactory()
    db.session.commit()
    theirs = admin.post(BASE, shop=other, json={"name": "他店", "definition": REPEAT}).json
    response = admin.request(method, f"{BASE}/{theirs['id']}", shop=store, json={"name": "x"})
    assert response.status_code == 404
    assert response.json["error"] == "not_found"
    db.session.expire_all()
    assert db.session.get(Segment, theirs["id"]).name == "他店"  # type: ignore[union-attr]
