"""Segment counts equal counts worked out by hand on a small fixture shop.

The people (customers + LINE friends not linked to a customer):

    A  customer, tags VIP, linked friend (following, ja); orders: 10 d (P1 ¥5,000),
       40 d (P2 ¥3,000), 100 d (P1 ¥5,000) → 3 orders, ¥13,000, RFM 5/3/2
    B  customer, linked friend (blocked, en); orders: 200 d (P3 ¥1,000), and a cancelled one 5 d ago
       (P1) → 1 order, ¥1,000, RFM 1/1/1
    C  customer, tags VIP + 定期購入, no LINE; 12 orders of P2 ¥10,000 every 20 d, the last 5 d ago
       → RFM 5/5/5
    D  customer, no orders, linked friend (following, ja)
    E  redacted customer with an order: in no segment, ever
    F1 friend, not linked, following, 9-segment cell loyal_active
    F2 friend, not linked, blocked, en
    F3 friend, not linked, following, answered the cancellation reason "leftover"

Collections: スキンケア holds P1 and P3, サプリ holds P2.

plus a second shop whose look-alike customers must never be counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.commerce import sync
from server.segments import services
from server.shops.models import Shop
from tests.factories.commerce import (
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
)
from tests.factories.line import LineUserFactory
from tests.factories.segments import NineSegmentProfileFactory, SurveyAnswerFactory
from tests.factories.shops import ShopFactory

NOW = datetime(2026, 4, 15, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo


@dataclass
class Fixture:
    shop: Shop
    p1: int
    p2: int
    p3: int
    skincare: int  # collection of P1 and P3
    supplements: int  # collection of P2


def _order(customer: Any, product: Any, days: float, total: int, **extra: Any) -> None:
    order = OrderFactory(
        customer=customer,
        processed_at=NOW - timedelta(days=days),
        total_price=total,
        subtotal_price=total,
        financial_status="paid",
        **extra,
    )
    OrderLineFactory(order=order, product_id=product.id, title=product.title, price=total)


def _build(shop: Shop) -> Fixture:
    p1 = ProductFactory(shop=shop, title="美容液", product_type="skincare", tags=["美白"])
    p2 = ProductFactory(
        shop=shop, title="プロテイン", product_type="supplement", tags=["プロテイン"]
    )
    p3 = ProductFactory(shop=shop, title="お試しセット", product_type="skincare", tags=["お試し"])

    a = CustomerFactory(shop=shop, tags=["VIP"], locale="ja")
    for days, product, total in ((10, p1, 5000), (40, p2, 3000), (100, p1, 5000)):
        _order(a, product, days, total)
    LineUserFactory(shop=shop, customer_id=a.id, language="ja", linked_at=NOW)

    b = CustomerFactory(shop=shop, tags=[], locale="en")
    _order(b, p3, 200, 1000)
    _order(b, p1, 5, 5000, cancelled_at=NOW - timedelta(days=4))
    LineUserFactory(shop=shop, customer_id=b.id, language="en", blocked_at=NOW - timedelta(days=1))

    c = CustomerFactory(shop=shop, tags=["VIP", "定期購入"])
    for i in range(12):
        _order(c, p2, 5 + 20 * i, 10000, is_subscription=True)

    d = CustomerFactory(shop=shop, tags=[])
    LineUserFactory(shop=shop, customer_id=d.id, language="ja")

    e = CustomerFactory(shop=shop, tags=["VIP"], redacted_at=NOW - timedelta(days=1))
    _order(e, p1, 3, 9000)

    f1 = LineUserFactory(shop=shop, language="ja")
    NineSegmentProfileFactory(line_user=f1, cell="loyal_active")
    LineUserFactory(shop=shop, language="en", blocked_at=NOW - timedelta(days=3))
    f3 = LineUserFactory(shop=shop, language="ja")
    SurveyAnswerFactory(line_user=f3, survey="cancellation", question="reason", answer="leftover")
    skincare = _collection(shop, "スキンケア", [p1, p3])
    supplements = _collection(shop, "サプリ", [p2])
    return Fixture(shop, p1.id, p2.id, p3.id, skincare, supplements)


def _collection(shop: Shop, title: str, products: list[Any]) -> int:
    record = sync.CollectionData(
        shopify_id=ProductFactory.build().shopify_id,
        title=title,
        product_ids=[p.shopify_id for p in products],
    )
    return sync.replace_collection(shop, record, now=NOW).id


@pytest.fixture
def data(app_ctx: None) -> Fixture:
    fixture = _build(ShopFactory(timezone="Asia/Tokyo"))
    _build(ShopFactory())  # a second shop with the same shapes: never counted
    return fixture


def cond(field: str, op: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value, **extra}


def all_of(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"match": "all", "conditions": list(conditions)}


def any_of(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"match": "any", "conditions": list(conditions)}


CASES: list[tuple[str, Any, int]] = [
    ("everyone", lambda f: all_of(), 7),
    ("two orders or more", lambda f: all_of(cond("order_count", "gte", 2)), 2),
    ("no orders (customers only)", lambda f: all_of(cond("order_count", "eq", 0)), 1),
    ("spent ¥10,000 or more", lambda f: all_of(cond("total_spent", "gte", 10000)), 2),
    (
        "spent between ¥1,000 and ¥13,000",
        lambda f: all_of(cond("total_spent", "between", [1000, 13000])),
        2,
    ),
    (
        "ordered within 30 days (cancelled orders do not count)",
        lambda f: all_of(cond("last_order_at", "within_days", 30)),
        2,
    ),
    (
        "last order more than 90 days ago",
        lambda f: all_of(cond("last_order_at", "over_days", 90)),
        1,
    ),
    ("never ordered", lambda f: all_of(cond("last_order_at", "none", None)), 1),
    (
        "first order since 2026-01-01 (Tokyo)",
        lambda f: all_of(cond("first_order_at", "since", "2026-01-01")),
        1,
    ),
    (
        "first order in 2025 (Tokyo days)",
        lambda f: all_of(cond("first_order_at", "between", ["2025-01-01", "2025-12-31"])),
        2,
    ),
    ("R = 5", lambda f: all_of(cond("rfm_r", "eq", 5)), 2),
    ("F ≥ 3", lambda f: all_of(cond("rfm_f", "gte", 3)), 2),
    ("M = 1", lambda f: all_of(cond("rfm_m", "eq", 1)), 1),
    ("M = 2", lambda f: all_of(cond("rfm_m", "eq", 2)), 1),
    (
        "bought P1 (not counting the cancelled order)",
        lambda f: all_of(cond("bought_product", "any", [f.p1])),
        1,
    ),
    ("never bought P2", lambda f: all_of(cond("bought_product", "none", [f.p2])), 2),
    (
        "bought a trial product (tag)",
        lambda f: all_of(cond("bought_product_tag", "any", ["お試し"])),
        1,
    ),
    (
        "bought a supplement (type)",
        lambda f: all_of(cond("bought_product_type", "any", ["supplement"])),
        2,
    ),
    (
        "bought from a collection (P1 or P3; not the cancelled order)",
        lambda f: all_of(cond("bought_collection", "any", [f.skincare])),
        2,
    ),
    (
        "bought from either collection",
        lambda f: all_of(cond("bought_collection", "any", [f.skincare, f.supplements])),
        3,
    ),
    (
        "never bought from a collection",
        lambda f: all_of(cond("bought_collection", "none", [f.skincare])),
        2,  # customers only: C and D
    ),
    (
        "bought from a collection within 30 days",
        lambda f: all_of(cond("bought_collection", "any", [f.skincare], within_days=30)),
        1,
    ),
    (
        "bought P1 within 30 days",
        lambda f: all_of(cond("bought_product", "any", [f.p1], within_days=30)),
        1,
    ),
    (
        "bought P1 within 5 days",
        lambda f: all_of(cond("bought_product", "any", [f.p1], within_days=5)),
        0,
    ),
    ("tagged VIP", lambda f: all_of(cond("customer_tag", "any", ["VIP"])), 2),
    (
        "tagged VIP and 定期購入",
        lambda f: all_of(cond("customer_tag", "all", ["VIP", "定期購入"])),
        1,
    ),
    ("not tagged VIP", lambda f: all_of(cond("customer_tag", "none", ["VIP"])), 2),
    ("linked", lambda f: all_of(cond("linked", "is", True)), 3),
    ("not linked", lambda f: all_of(cond("linked", "is", False)), 4),
    ("following", lambda f: all_of(cond("following", "is", True)), 4),
    ("blocked", lambda f: all_of(cond("blocked", "is", True)), 2),
    ("English", lambda f: all_of(cond("language", "in", ["en"])), 2),
    (
        "9-segment loyal_active",
        lambda f: all_of(cond("nine_segment_cell", "in", ["loyal_active"])),
        1,
    ),
    (
        "cancelled because of leftovers",
        lambda f: all_of(
            cond(
                "survey_answer",
                "in",
                {"survey": "cancellation", "question": "reason", "answers": ["leftover"]},
            )
        ),
        1,
    ),
    (
        "VIP or loyal_active",
        lambda f: any_of(
            cond("customer_tag", "any", ["VIP"]), cond("nine_segment_cell", "in", ["loyal_active"])
        ),
        3,
    ),
    (
        "following and (2+ orders or leftovers)",
        lambda f: all_of(
            cond("following", "is", True),
            any_of(
                cond("order_count", "gte", 2),
                cond(
                    "survey_answer",
                    "in",
                    {"survey": "cancellation", "question": "reason", "answers": ["leftover"]},
                ),
            ),
        ),
        2,
    ),
]


@pytest.mark.parametrize(("name", "definition", "expected"), CASES, ids=[c[0] for c in CASES])
def test_segment_counts_match_hand_counts(
    data: Fixture, name: str, definition: Any, expected: int
) -> None:
    assert services.count(data.shop, definition(data), now=NOW) == expected


def test_reachable_members_are_following_friends_only(data: Fixture) -> None:
    # Of the 7 people, A, D, F1 and F3 follow the account; C has no LINE, B and F2 blocked it.
    assert services.count_reachable(data.shop, all_of(), now=NOW) == 4
    assert (
        services.count_reachable(data.shop, all_of(cond("customer_tag", "any", ["VIP"])), now=NOW)
        == 1
    )


def test_one_person_matches_the_same_rule_as_the_count(data: Fixture) -> None:
    from sqlalchemy import select

    from server.commerce.models import Customer
    from server.db import db

    vip = all_of(cond("customer_tag", "any", ["VIP"]), cond("order_count", "gte", 3))
    customers = db.session.scalars(
        select(Customer).where(Customer.shop_id == data.shop.id).order_by(Customer.id)
    ).all()
    matching = [
        c.id
        for c in customers
        if services.matches(data.shop, vip, customer_id=c.id, line_user_id=None, now=NOW)
    ]
    members = services.member_query(data.shop, vip, now=NOW)
    assert matching == sorted(row.customer_id for row in db.session.execute(members))
    assert len(matching) == 2  # A and C; E (redacted) never
