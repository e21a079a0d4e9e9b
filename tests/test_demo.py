from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import func, select

from server.commerce.models import Customer, Order, OrderLine, Product
from server.db import db
from server.demo.seed import DEMO_DOMAIN, seed_demo_shop
from server.line.models import LineUser
from server.shops.models import Shop

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def count(model: type, *where: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def digest() -> str:
    rows = db.session.execute(
        select(
            Order.shopify_id, Order.total_price, Order.processed_at, Order.cancelled_at
        ).order_by(Order.shopify_id)
    ).all()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_the_demo_shop_is_a_realistic_japanese_d2c_brand(app_ctx: None) -> None:
    result = seed_demo_shop(now=NOW)
    shop = result.shop

    assert result.created
    assert shop.domain == DEMO_DOMAIN
    assert shop.is_demo
    assert shop.currency == "JPY"
    assert result.products == 40
    assert result.customers == 2000
    assert result.orders >= 10_000
    assert count(Product, Product.subscribable.is_(True)) >= 10
    assert {p for p in db.session.scalars(select(Product.product_type).distinct())} >= {
        "サプリメント",
        "スキンケア",
    }
    first = db.session.scalar(select(func.min(Order.processed_at)))
    assert first is not None
    assert (NOW - first).days >= 500
    subscription = count(Order, Order.is_subscription.is_(True))
    cancelled = count(Order, Order.cancelled_at.is_not(None))
    assert 0.2 < subscription / result.orders < 0.8
    assert 0.01 < cancelled / result.orders < 0.05
    assert count(OrderLine, OrderLine.selling_plan_id.is_not(None)) > 0
    repeaters = db.session.scalar(
        select(func.count()).select_from(
            select(Order.customer_id)
            .group_by(Order.customer_id)
            .having(func.count() >= 2)
            .subquery()
        )
    )
    assert repeaters
    assert repeaters > 800
    linked = count(LineUser, LineUser.customer_id.is_not(None))
    assert 0 < linked < result.line_users  # part of the friends are linked
    prices = db.session.scalars(select(OrderLine.price)).all()
    assert all(isinstance(p, int) for p in prices[:100])  # yen as integers


def test_a_second_run_changes_nothing(app_ctx: None) -> None:
    seed_demo_shop(now=NOW)
    before = (count(Shop), count(Customer), count(Order), count(OrderLine), count(LineUser))

    again = seed_demo_shop(now=NOW)

    assert not again.created
    assert (count(Shop), count(Customer), count(Order), count(OrderLine), count(LineUser)) == before


def test_the_demo_is_deterministic(app: Flask) -> None:
    with app.app_context():
        seed_demo_shop(now=NOW, customers=300)
        first = digest()
        db.session.rollback()
        assert count(Shop) == 0
        seed_demo_shop(now=NOW, customers=300)
        assert digest() == first


def test_the_demo_cli_seeds_and_reports(app: Flask) -> None:
    runner = app.test_cli_runner()

    result = runner.invoke(args=["demo", "--customers", "200"])

    assert result.exit_code == 0, result.output
    assert "Seeded はなまる堂" in result.output
    with app.app_context():
        assert count(Customer) == 200
