"""Seeding the demo shop: deterministic for a given day, idempotent, and fast (bulk inserts)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from server.commerce.models import Customer, Order, OrderLine, Product, ProductVariant
from server.db import db
from server.line.models import LineUser
from server.shops.models import Shop

from .catalog import CATALOG, FAMILY_NAMES, GIVEN_NAMES, SKINCARE, SUPPLEMENT, DemoProduct

DEMO_DOMAIN = "kizuna-demo.myshopify.com"
DEMO_NAME = "はなまる堂（デモ）"
HISTORY_DAYS = 548  # 18 months
SHIPPING_FEE = 660
FREE_SHIPPING_FROM = 5000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SeedResult:
    shop: Shop
    created: bool
    products: int
    customers: int
    orders: int
    line_users: int


def seed_demo_shop(
    *, now: datetime, customers: int = 2000, seed: int = 20260401, progress: Progress | None = None
) -> SeedResult:
    """Create the demo shop with its history, unless it exists already (then change nothing).

    The same `seed`, `customers` and day give the same data. Flushes; the caller commits.
    """
    say = progress or (lambda _msg: None)
    shop = db.session.scalar(select(Shop).where(Shop.domain == DEMO_DOMAIN))
    if shop is not None:
        return _result(shop, created=False)
    # Anchor on the day, not the instant, so two runs on one day give identical rows.
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(seed)
    shop = Shop(
        domain=DEMO_DOMAIN,
        name=DEMO_NAME,
        email="owner@hanamaru-demo.example",
        currency="JPY",
        timezone="Asia/Tokyo",
        locale="ja",
        installed_at=today - timedelta(days=HISTORY_DAYS),
        is_demo=True,
        settings={"subscriber_tags": ["定期購入"]},
    )
    db.session.add(shop)
    db.session.flush()

    say("products")
    products = _insert_products(shop, today)
    say("customers")
    people = _insert_customers(shop, rng, customers, today)
    say("orders")
    _insert_orders(shop, rng, people, products, today)
    say("LINE friends")
    _insert_line_users(shop, rng, people, today)
    db.session.flush()
    return _result(shop, created=True)


@dataclass
class _Person:
    id: int
    shopify_id: int
    kind: str  # subscriber / repeater / one_off / trial
    start: datetime
    churn_after: int | None  # subscription orders before cancelling
    affinity: str  # product type they favour
    tags: list[str]


@dataclass(frozen=True)
class _Item:
    product_id: int
    variant_id: int
    shopify_id: int
    variant_shopify_id: int
    spec: DemoProduct


def _insert_products(shop: Shop, today: datetime) -> list[_Item]:
    rows = [
        {
            "shop_id": shop.id,
            "shopify_id": 8_000_000_000 + i,
            "title": p.title,
            "handle": f"demo-product-{i:02d}",
            "product_type": p.product_type,
            "vendor": DEMO_NAME,
            "tags": list(p.tags),
            "status": "active",
            "subscribable": p.subscribable,
            "consumable": p.usage_days is not None,
            "usage_days": p.usage_days,
            "image_url": None,
            "description": "",
            "shopify_updated_at": today,
            "created_at": today,
            "updated_at": today,
        }
        for i, p in enumerate(CATALOG, start=1)
    ]
    db.session.execute(insert(Product), rows)
    ids = dict(
        db.session.execute(
            select(Product.shopify_id, Product.id).where(Product.shop_id == shop.id)
        ).all()
    )
    variants = [
        {
            "shop_id": shop.id,
            "product_id": ids[8_000_000_000 + i],
            "shopify_id": 9_000_000_000 + i,
            "title": "Default Title",
            "sku": f"HNM-{i:03d}",
            "position": 1,
            "price": p.price,
            "inventory_quantity": 0 if i % 17 == 0 else 500,
            "available": i % 17 != 0,
            "created_at": today,
            "updated_at": today,
        }
        for i, p in enumerate(CATALOG, start=1)
    ]
    db.session.execute(insert(ProductVariant), variants)
    variant_ids = dict(
        db.session.execute(
            select(ProductVariant.shopify_id, ProductVariant.id).where(
                ProductVariant.shop_id == shop.id
            )
        ).all()
    )
    return [
        _Item(
            ids[8_000_000_000 + i],
            variant_ids[9_000_000_000 + i],
            8_000_000_000 + i,
            9_000_000_000 + i,
            p,
        )
        for i, p in enumerate(CATALOG, start=1)
    ]


def _insert_customers(shop: Shop, rng: random.Random, count: int, today: datetime) -> list[_Person]:
    rows, plans = [], []
    for n in range(1, count + 1):
        kind = rng.choices(
            ("subscriber", "repeater", "one_off", "trial"), weights=(30, 34, 20, 16)
        )[0]
        # Acquisition skews older: a brand 18 months in has more customers from its first year.
        start = today - timedelta(
            days=1 + int((HISTORY_DAYS - 1) * rng.random() ** 0.6), minutes=rng.randint(0, 1439)
        )
        churn = rng.choice((None, None, None, 3, 4, 6, 9, 12)) if kind == "subscriber" else None
        affinity = rng.choices((SUPPLEMENT, SKINCARE, "mixed"), weights=(45, 40, 15))[0]
        family, given = rng.choice(FAMILY_NAMES), rng.choice(GIVEN_NAMES)
        tags = ["定期購入"] if kind == "subscriber" and churn is None else []
        rows.append(
            {
                "shop_id": shop.id,
                "shopify_id": 7_000_000_000 + n,
                "email": f"customer{n:05d}@example.jp",
                "first_name": given,
                "last_name": family,
                "phone": None,
                "tags": tags,
                "locale": "ja",
                "accepts_marketing": rng.random() < 0.6,
                "state": "enabled",
                "shopify_created_at": start,
                "shopify_updated_at": start,
                "created_at": start,
                "updated_at": start,
            }
        )
        plans.append((n, kind, start, churn, affinity, tags))
    db.session.execute(insert(Customer), rows)
    ids = dict(
        db.session.execute(
            select(Customer.shopify_id, Customer.id).where(Customer.shop_id == shop.id)
        ).all()
    )
    return [
        _Person(ids[7_000_000_000 + n], 7_000_000_000 + n, kind, start, churn, affinity, tags)
        for n, kind, start, churn, affinity, tags in plans
    ]


def _insert_orders(
    shop: Shop, rng: random.Random, people: list[_Person], items: list[_Item], today: datetime
) -> None:
    orders: list[dict[str, Any]] = []
    lines: list[tuple[int, list[tuple[_Item, int, bool]]]] = []
    for person in people:
        for placed_at, basket in _history(rng, person, items, today):
            orders.append(_order_row(shop, rng, person, placed_at, basket, len(orders) + 1))
            lines.append((len(orders), basket))
    db.session.execute(insert(Order), orders)
    order_ids = dict(
        db.session.execute(select(Order.shopify_id, Order.id).where(Order.shop_id == shop.id)).all()
    )
    line_rows = []
    for number, basket in lines:
        for position, (item, quantity, on_plan) in enumerate(basket):
            line_rows.append(
                {
                    "shop_id": shop.id,
                    "order_id": order_ids[6_000_000_000 + number],
                    "shopify_id": 5_000_000_000 + number * 10 + position,
                    "product_id": item.product_id,
                    "variant_id": item.variant_id,
                    "title": item.spec.title,
                    "variant_title": None,
                    "sku": None,
                    "quantity": quantity,
                    "price": item.spec.price,
                    "total_discount": item.spec.price * quantity // 10 if on_plan else 0,
                    "selling_plan_id": 4_000_000_001 if on_plan else None,
                    "selling_plan_name": "定期便（30日ごと・10%OFF）" if on_plan else None,
                }
            )
    for chunk in _chunks(line_rows, 5000):
        db.session.execute(insert(OrderLine), chunk)


def _history(
    rng: random.Random, person: _Person, items: list[_Item], today: datetime
) -> Iterable[tuple[datetime, list[tuple[_Item, int, bool]]]]:
    favourites = _favourites(rng, person, items)
    when = person.start
    if person.kind == "trial":
        trials = [i for i in items if "お試し" in i.spec.tags]
        yield when, [(rng.choice(trials), 1, False)]
        if rng.random() < 0.35:  # a third upgrade to the full size
            when += timedelta(days=rng.randint(6, 20))
            if when < today:
                yield when, [(favourites[0], 1, rng.random() < 0.5)]
        return
    if person.kind == "subscriber":
        plan_items = [i for i in favourites if i.spec.subscribable][:2] or favourites[:1]
        count = 0
        while when < today and (person.churn_after is None or count < person.churn_after):
            basket = [(item, 1, True) for item in plan_items]
            if rng.random() < 0.15:  # an add-on now and then
                basket.append((rng.choice(favourites), 1, False))
            yield when, _merge(basket)
            count += 1
            when += timedelta(
                days=rng.choice((28, 30, 30, 30, 31, 45, 60)), hours=rng.randint(-6, 6)
            )
        return
    visits = 1 if person.kind == "one_off" else rng.randint(3, 16)
    for _ in range(visits):
        if when >= today:
            return
        size = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        basket = [(rng.choice(favourites), rng.choice((1, 1, 1, 2)), False) for _ in range(size)]
        yield when, _merge(basket)
        when += timedelta(days=max(14, int(rng.gauss(40, 15))), hours=rng.randint(0, 23))


def _merge(basket: list[tuple[_Item, int, bool]]) -> list[tuple[_Item, int, bool]]:
    merged: dict[int, tuple[_Item, int, bool]] = {}
    for item, quantity, on_plan in basket:
        if item.product_id in merged:
            _, q, p = merged[item.product_id]
            merged[item.product_id] = (item, q + quantity, p or on_plan)
        else:
            merged[item.product_id] = (item, quantity, on_plan)
    return list(merged.values())


def _favourites(rng: random.Random, person: _Person, items: list[_Item]) -> list[_Item]:
    pool = [i for i in items if "お試し" not in i.spec.tags]
    if person.affinity != "mixed":
        pool = [i for i in pool if i.spec.product_type == person.affinity] + rng.sample(pool, 3)
    weights = [i.spec.weight for i in pool]
    chosen: list[_Item] = []
    while len(chosen) < 4:
        pick = rng.choices(pool, weights=weights)[0]
        if pick not in chosen:
            chosen.append(pick)
    return chosen


def _order_row(
    shop: Shop,
    rng: random.Random,
    person: _Person,
    placed_at: datetime,
    basket: list[tuple[_Item, int, bool]],
    number: int,
) -> dict[str, Any]:
    subtotal = sum(item.spec.price * quantity for item, quantity, _ in basket)
    discounts = sum(
        item.spec.price * quantity // 10 for item, quantity, on_plan in basket if on_plan
    )
    codes: list[str] = []
    if rng.random() < 0.06:
        codes = [rng.choice(("LINE500", "WELCOME10", "RESTART24"))]
        discounts += 500
    shipping = 0 if subtotal - discounts >= FREE_SHIPPING_FROM else SHIPPING_FEE
    total = max(0, subtotal - discounts) + shipping
    cancelled = rng.random() < 0.025
    refunded = total if not cancelled and rng.random() < 0.01 else 0
    return {
        "shop_id": shop.id,
        "shopify_id": 6_000_000_000 + number,
        "customer_id": person.id,
        "name": f"#{1000 + number}",
        "email": None,
        "currency": "JPY",
        "subtotal_price": subtotal,
        "total_discounts": discounts,
        "total_price": total,
        "total_refunded": refunded,
        "financial_status": "voided" if cancelled else ("refunded" if refunded else "paid"),
        "fulfillment_status": None if cancelled else "fulfilled",
        "discount_codes": codes,
        "tags": ["定期便"] if any(on_plan for *_, on_plan in basket) else [],
        "source_name": "web",
        "is_subscription": any(on_plan for *_, on_plan in basket),
        "processed_at": placed_at,
        "cancelled_at": placed_at + timedelta(hours=3) if cancelled else None,
        "cancel_reason": "customer" if cancelled else None,
        "shopify_updated_at": placed_at,
        "extra": {},
        "created_at": placed_at,
        "updated_at": placed_at,
    }


def _insert_line_users(
    shop: Shop, rng: random.Random, people: list[_Person], today: datetime
) -> None:
    rows = []
    for n, person in enumerate(people, start=1):
        if rng.random() > 0.7:  # 70% of customers are LINE friends
            continue
        followed = person.start + timedelta(days=rng.randint(0, 30))
        linked = rng.random() < 0.55
        rows.append(
            _line_user(shop, rng, n, min(followed, today), person.id if linked else None, today)
        )
    # Friends who never bought: found the account through an ad or a store visit.
    for n in range(len(people) + 1, len(people) + 1 + len(people) // 5):
        followed = today - timedelta(days=rng.randint(1, HISTORY_DAYS))
        rows.append(_line_user(shop, rng, n, followed, None, today))
    db.session.execute(insert(LineUser), rows)


def _line_user(
    shop: Shop,
    rng: random.Random,
    n: int,
    followed: datetime,
    customer_id: int | None,
    today: datetime,
) -> dict[str, Any]:
    blocked = followed + timedelta(days=rng.randint(1, 200)) if rng.random() < 0.08 else None
    if blocked is not None and blocked >= today:
        blocked = None
    return {
        "shop_id": shop.id,
        "line_user_id": f"U{rng.getrandbits(128):032x}",
        "display_name": f"{rng.choice(GIVEN_NAMES)}",
        "picture_url": None,
        "language": "ja" if rng.random() < 0.95 else "en",
        "followed_at": followed,
        "blocked_at": blocked,
        "customer_id": customer_id,
        "linked_at": followed + timedelta(days=1) if customer_id else None,
        "created_at": followed,
        "updated_at": followed,
    }


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _result(shop: Shop, *, created: bool) -> SeedResult:
    def count(model: Any) -> int:
        return (
            db.session.scalar(
                select(func.count()).select_from(model).where(model.shop_id == shop.id)
            )
            or 0
        )

    return SeedResult(shop, created, count(Product), count(Customer), count(Order), count(LineUser))
