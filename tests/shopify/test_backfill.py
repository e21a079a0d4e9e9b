"""History backfill by bulk operations: start, poll, stream JSONL in batches, upsert, resume."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from server.commerce.models import Customer, Order, OrderLine, Product
from server.db import db, utcnow
from server.shopify import backfill, lease
from server.shopify.models import BackfillRun
from server.shops.models import Shop
from tests.fakes.shopify_api import ShopifyStandIn


def history(orders: int = 7) -> dict[str, list[dict[str, Any]]]:
    products = [
        {
            "id": "gid://shopify/Product/1",
            "title": "酵素ドリンク",
            "handle": "enzyme",
            "productType": "drink",
            "vendor": "Kizuna",
            "tags": ["定期便"],
            "status": "ACTIVE",
            "description": "毎朝の一杯",
            "updatedAt": "2026-01-01T00:00:00Z",
            "featuredImage": {"url": "https://cdn.shopify.com/enzyme.png"},
            "sellingPlanGroupsCount": {"count": 1},
        },
        {
            "id": "gid://shopify/ProductVariant/11",
            "title": "500ml",
            "sku": "ENZ-500",
            "position": 1,
            "price": "1990",
            "compareAtPrice": None,
            "inventoryQuantity": 5,
            "availableForSale": True,
            "__parentId": "gid://shopify/Product/1",
        },
    ]
    customers = [
        {
            "id": f"gid://shopify/Customer/{100 + n}",
            "firstName": "花子",
            "lastName": f"山田{n}",
            "tags": ["定期購入"] if n == 0 else [],
            "locale": "ja",
            "state": "ENABLED",
            "createdAt": "2025-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
            "defaultEmailAddress": {
                "emailAddress": f"c{n}@example.jp",
                "marketingState": "SUBSCRIBED",
            },
            "defaultPhoneNumber": None,
        }
        for n in range(3)
    ]
    order_lines: list[dict[str, Any]] = []
    for n in range(orders):
        order_lines.append(
            {
                "id": f"gid://shopify/Order/{1000 + n}",
                "name": f"#{1000 + n}",
                "email": "c0@example.jp",
                "processedAt": f"2025-{1 + n % 12:02d}-05T01:00:00Z",
                "createdAt": f"2025-{1 + n % 12:02d}-05T01:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z",
                "cancelledAt": None,
                "cancelReason": None,
                "displayFinancialStatus": "PAID",
                "displayFulfillmentStatus": "FULFILLED",
                "tags": [],
                "sourceName": "web",
                "discountCodes": ["WELCOME"] if n == 0 else [],
                "subtotalPriceSet": {"shopMoney": {"amount": "1990.0"}},
                "totalDiscountsSet": {"shopMoney": {"amount": "0.0"}},
                "totalPriceSet": {"shopMoney": {"amount": "1990.0"}},
                "customer": {"id": f"gid://shopify/Customer/{100 + n % 3}"},
                "refunds": [
                    {
                        "id": "gid://shopify/Refund/9",
                        "totalRefundedSet": {"shopMoney": {"amount": "500.0"}},
                    }
                ]
                if n == 1
                else [],
            }
        )
        order_lines.append(
            {
                "id": f"gid://shopify/LineItem/{5000 + n}",
                "title": "酵素ドリンク",
                "variantTitle": "500ml",
                "sku": "ENZ-500",
                "quantity": 1,
                "originalUnitPriceSet": {"shopMoney": {"amount": "1990.0"}},
                "totalDiscountSet": {"shopMoney": {"amount": "0.0"}},
                "product": {"id": "gid://shopify/Product/1"},
                "variant": {"id": "gid://shopify/ProductVariant/11"},
                "sellingPlan": {"sellingPlanId": "gid://shopify/SellingPlan/7", "name": "30日ごと"}
                if n % 2 == 0
                else None,
                "__parentId": f"gid://shopify/Order/{1000 + n}",
            }
        )
    return {"products": products, "customers": customers, "orders": order_lines}


def drive(
    shop: Shop, run: BackfillRun, *, limit: int = 50, claimed_at: datetime | None = None
) -> list[str]:
    """Drive `run` the way the worker does: claim it, then step until done."""
    held = lease.claim(run, now=claimed_at or utcnow())
    assert held is not None
    outcomes = []
    for _ in range(limit):
        outcome = backfill.step(shop, run, held, now=utcnow())
        outcomes.append(outcome)
        if outcome == "done":
            break
    return outcomes


def count(model: Any, shop: Shop) -> int:
    return (
        db.session.scalar(select(func.count()).select_from(model).where(model.shop_id == shop.id))
        or 0
    )


def test_a_backfill_imports_products_customers_and_orders(
    shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    shopify_api.enable_bulk_operations(history(), polls_until_done=2)
    run = backfill.start(shop, now=utcnow())

    outcomes = drive(shop, run)

    assert run.status == "completed"
    assert run.percent == 100
    assert "wait" in outcomes  # it polled while Shopify was still RUNNING
    assert run.totals == {"products": 1, "customers": 3, "orders": 7}
    assert run.imported == {"products": 1, "customers": 3, "orders": 7}
    assert (count(Product, shop), count(Customer, shop), count(Order, shop)) == (1, 3, 7)
    assert count(OrderLine, shop) == 7
    product = db.session.scalar(Product.for_shop(shop))
    assert product is not None
    assert product.subscribable
    assert [v.sku for v in product.variants] == ["ENZ-500"]
    first = db.session.scalar(Order.for_shop(shop).where(Order.shopify_id == 1000))
    assert first is not None
    assert (first.total_price, first.discount_codes, first.is_subscription) == (
        1990,
        ["WELCOME"],
        True,
    )
    assert first.lines[0].product_id == product.id
    assert first.lines[0].selling_plan_name == "30日ごと"
    refunded = db.session.scalar(Order.for_shop(shop).where(Order.shopify_id == 1001))
    assert refunded is not None
    assert (refunded.total_refunded, refunded.is_subscription) == (500, False)
    runs = [c.variables.get("query", "") for c in shopify_api.calls("bulkOperationRunQuery")]
    assert [q.split("{")[1].strip() for q in runs] == ["products", "customers", "orders"]


def test_batches_are_committed_and_a_crash_resumes_where_it_stopped(
    shopify_api: ShopifyStandIn, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill, "BATCH_ROOTS", 3)
    shopify_api.enable_bulk_operations(history(orders=8))
    run = backfill.start(shop, now=utcnow())
    calls = {"n": 0}
    original = backfill._orders

    def crash_on_third_batch(*args: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return original(*args)

    monkeypatch.setattr(
        backfill, "_CONVERTERS", {**backfill._CONVERTERS, "orders": crash_on_third_batch}
    )
    with pytest.raises(RuntimeError):
        drive(shop, run)
    db.session.rollback()
    db.session.refresh(run)
    assert run.stage == "orders"
    assert run.imported["orders"] == 6  # two batches of three made it
    assert run.lines_done == 12  # each order is two lines (the order and its line item)
    # A killed worker releases nothing: its lease holds until the heartbeat is five minutes old.
    assert lease.claim(run, now=utcnow()) is None

    monkeypatch.setattr(backfill, "_CONVERTERS", {**backfill._CONVERTERS, "orders": original})
    drive(shop, run, claimed_at=utcnow() + lease.LEASE_TIMEOUT + timedelta(seconds=1))

    assert run.status == "completed"
    assert run.imported["orders"] == 8
    assert count(Order, shop) == 8
    assert count(OrderLine, shop) == 8


def test_a_failed_bulk_operation_fails_the_run_with_its_error_code(
    shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    shopify_api.enable_bulk_operations(history())
    shopify_api.on_graphql(
        "currentBulkOperation",
        lambda v, c: {
            "currentBulkOperation": {
                "id": "gid://shopify/BulkOperation/1",
                "status": "FAILED",
                "errorCode": "ACCESS_DENIED",
                "objectCount": "0",
                "rootObjectCount": "0",
                "fileSize": None,
                "url": None,
                "partialDataUrl": None,
            }
        },
    )
    run = backfill.start(shop, now=utcnow())

    drive(shop, run)

    assert run.status == "failed"
    assert run.error is not None
    assert "ACCESS_DENIED" in run.error


def test_running_twice_never_duplicates_rows(shopify_api: ShopifyStandIn, shop: Shop) -> None:
    shopify_api.enable_bulk_operations(history())
    drive(shop, backfill.start(shop, now=utcnow()))
    drive(shop, backfill.start(shop, now=utcnow(), force=True))

    assert (count(Product, shop), count(Customer, shop), count(Order, shop)) == (1, 3, 7)


def test_an_older_backfilled_order_does_not_undo_a_newer_webhook(
    shopify_api: ShopifyStandIn, shop: Shop, send_webhook: Any
) -> None:
    from tests.shopify.conftest import ORDER_SAMPLE, sample

    send_webhook(
        "orders/cancelled",
        sample(
            ORDER_SAMPLE,
            id=1000,
            cancelled_at="2026-02-01T00:00:00Z",
            updated_at="2026-02-01T00:00:00Z",
        ),
        shop=shop.domain,
    )
    shopify_api.enable_bulk_operations(history())
    drive(shop, backfill.start(shop, now=utcnow()))

    order = db.session.scalar(Order.for_shop(shop).where(Order.shopify_id == 1000))
    assert order is not None
    assert order.cancelled


def test_the_cli_shows_progress_and_imports(
    app: Flask, shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    shopify_api.enable_bulk_operations(history())
    db.session.commit()

    result = CliRunner().invoke(
        app.cli,
        ["shopify", "backfill", "--shop", shop.domain, "--poll", "0"],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    assert "100%" in result.output
    assert "imported 1 products, 3 customers, 7 orders" in result.output
    again = CliRunner().invoke(app.cli, ["shopify", "backfill", "--shop", shop.domain])
    assert "--restart" in again.output


def test_the_cli_refuses_an_unknown_shop(
    app: Flask, shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    result = CliRunner().invoke(app.cli, ["shopify", "backfill", "--shop", "nope.myshopify.com"])
    assert result.exit_code != 0
    assert "not an installed shop" in result.output


def test_the_admin_shows_percent_done_and_can_start_it(
    admin: Any, shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    shopify_api.enable_bulk_operations(history(), polls_until_done=3)

    assert admin.get("/api/admin/backfill", shop=shop).json == {"run": None}
    started = admin.post("/api/admin/backfill", shop=shop)

    assert started.status_code == 202
    run = started.json["run"]
    assert run["status"] == "running"  # counted, export started, Shopify still working
    assert run["totals"] == {"products": 1, "customers": 3, "orders": 7}
    assert 0 <= run["percent"] < 100
    onboarding = admin.get("/api/admin/onboarding", shop=shop).json
    history_step = next(s for s in onboarding["steps"] if s["key"] == "history")
    assert history_step["running"] is True
    assert history_step["done"] is False
    assert admin.get("/api/admin/shop", shop=shop).json["backfill"]["id"] == run["id"]


def test_a_shop_without_a_token_cannot_start_an_import(admin: Any, app_ctx: None) -> None:
    from tests.factories.shops import ShopFactory

    demo = ShopFactory(access_token=None, is_demo=True)

    response = admin.post("/api/admin/backfill", shop=demo)

    assert response.status_code == 409
    assert db.session.scalar(BackfillRun.for_shop(demo)) is None


def test_a_disconnected_shop_fails_the_run_instead_of_retrying_forever(
    shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    run = backfill.start(shop, now=utcnow())
    shop.uninstalled_at = utcnow()
    db.session.flush()

    assert drive(shop, run) == ["done"]
    assert run.status == "failed"
    assert run.error is not None
    assert "not installed" in run.error
