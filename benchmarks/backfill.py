"""History backfill: 100k orders through the real bulk-operation path from a local JSONL stand-in.

    .venv/bin/python benchmarks/backfill.py [--orders 100000] [--customers 20000] [--products 300]

The Shopify side is the test suite's stand-in (tests/fakes/shopify_api.py) on loopback: count
queries, bulkOperationRunQuery, currentBulkOperation, and the JSONL files, shaped like the bulk
API's output (children on their own lines with __parentId). The app side is the production code:
backfill.step() → stream the file → batches of BATCH_ROOTS (--batch) → upserts → commit per batch.

Prints the time per stage, orders/s, and as a same-run baseline the time to just download and
json-parse the orders file (what any importer must at least spend). Goal (issue 3): 100k orders
in ≤ 120 s. Uses DATABASE_URL when set (PostgreSQL), else a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import bench_app  # noqa: E402


def build_history(
    orders: int, customers: int, products: int, seed: int = 7
) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    product_lines: list[dict[str, Any]] = []
    for p in range(products):
        product_lines.append(
            {
                "id": f"gid://shopify/Product/{1_000 + p}",
                "title": f"商品 {p}",
                "handle": f"product-{p}",
                "productType": rng.choice(["drink", "supplement", "skincare"]),
                "vendor": "Kizuna",
                "tags": ["定期便"] if p % 5 == 0 else [],
                "status": "ACTIVE",
                "description": "説明",
                "updatedAt": "2026-01-01T00:00:00Z",
                "featuredImage": {"url": f"https://cdn.example/{p}.png"},
                "sellingPlanGroupsCount": {"count": 1 if p % 5 == 0 else 0},
            }
        )
        for v in range(2):
            product_lines.append(
                {
                    "id": f"gid://shopify/ProductVariant/{100_000 + p * 2 + v}",
                    "title": f"{v + 1}個",
                    "sku": f"SKU-{p}-{v}",
                    "position": v + 1,
                    "price": f"{rng.randint(10, 80) * 100}",
                    "compareAtPrice": None,
                    "inventoryQuantity": 10,
                    "availableForSale": True,
                    "__parentId": f"gid://shopify/Product/{1_000 + p}",
                }
            )
    customer_lines = [
        {
            "id": f"gid://shopify/Customer/{5_000_000 + c}",
            "firstName": "花子",
            "lastName": f"山田{c}",
            "tags": ["定期購入"] if c % 7 == 0 else [],
            "locale": "ja",
            "state": "ENABLED",
            "createdAt": "2023-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
            "defaultEmailAddress": {
                "emailAddress": f"c{c}@example.jp",
                "marketingState": "SUBSCRIBED",
            },
            "defaultPhoneNumber": None,
        }
        for c in range(customers)
    ]
    order_lines: list[dict[str, Any]] = []
    for o in range(orders):
        when = (start + timedelta(minutes=o * 9)).strftime("%Y-%m-%dT%H:%M:%SZ")
        gid = f"gid://shopify/Order/{9_000_000 + o}"
        order_lines.append(
            {
                "id": gid,
                "name": f"#{10_000 + o}",
                "email": f"c{o % customers}@example.jp",
                "processedAt": when,
                "createdAt": when,
                "updatedAt": when,
                "cancelledAt": None,
                "cancelReason": None,
                "displayFinancialStatus": "PAID",
                "displayFulfillmentStatus": "FULFILLED",
                "tags": [],
                "sourceName": "web",
                "discountCodes": ["WELCOME"] if o % 20 == 0 else [],
                "subtotalPriceSet": {"shopMoney": {"amount": "4980.0"}},
                "totalDiscountsSet": {"shopMoney": {"amount": "0.0"}},
                "totalPriceSet": {"shopMoney": {"amount": "4980.0"}},
                "customer": {
                    "id": f"gid://shopify/Customer/{5_000_000 + rng.randrange(customers)}"
                },
                "refunds": [],
            }
        )
        for li in range(rng.choice((1, 1, 2, 3))):
            p = rng.randrange(products)
            order_lines.append(
                {
                    "id": f"gid://shopify/LineItem/{50_000_000 + o * 4 + li}",
                    "title": f"商品 {p}",
                    "variantTitle": "1個",
                    "sku": f"SKU-{p}-0",
                    "quantity": 1,
                    "originalUnitPriceSet": {"shopMoney": {"amount": "2490.0"}},
                    "totalDiscountSet": {"shopMoney": {"amount": "0.0"}},
                    "product": {"id": f"gid://shopify/Product/{1_000 + p}"},
                    "variant": {"id": f"gid://shopify/ProductVariant/{100_000 + p * 2}"},
                    "sellingPlan": {
                        "sellingPlanId": "gid://shopify/SellingPlan/1",
                        "name": "30日ごと",
                    }
                    if p % 5 == 0
                    else None,
                    "__parentId": gid,
                }
            )
    return {"products": product_lines, "customers": customer_lines, "orders": order_lines}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--batch", type=int, help="roots per transaction (default: the app's)")
    args = parser.parse_args()
    logging.disable(logging.INFO)

    import flask_migrate
    from pytest_httpserver import HTTPServer

    from server.db import db, utcnow
    from server.shopify import backfill, lease
    from server.shopify.models import BackfillRun
    from server.shops.models import Shop
    from tests.fakes.shopify_api import ShopifyStandIn, admin_schema

    if args.batch:
        backfill.BATCH_ROOTS = args.batch
    tmp = Path(tempfile.mkdtemp(prefix="kizuna-bench-backfill-"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    app = bench_app(url)
    admin_schema()  # the stand-in validates every query: build its schema before timing
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    stand_in = ShopifyStandIn(server, app)
    server.expect_request(re.compile(r"^/.*")).respond_with_handler(stand_in.dispatch)
    app.config["SHOPIFY_API_BASE_URL"] = stand_in.base_url

    print(
        f"Building {args.orders:,} orders, {args.customers:,} customers, {args.products} products",
        flush=True,
    )
    history = build_history(args.orders, args.customers, args.products)
    stand_in.enable_bulk_operations(history)
    orders_file = stand_in.serve_jsonl(history["orders"])
    size_mb = len(stand_in.files[orders_file.rsplit("/", 1)[1]]) / 1e6

    with app.app_context():
        if url.startswith("postgres"):
            db.drop_all()
            db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
            db.session.commit()
        flask_migrate.upgrade()
        shop = Shop(domain="bench.myshopify.com", name="bench", installed_at=utcnow(), settings={})
        db.session.add(shop)
        stand_in.connect(shop)
        db.session.commit()

        # Baseline: download and parse the orders file, nothing else.
        from server import http

        began = time.perf_counter()
        parsed = 0
        with http.request("GET", orders_file, stream=True, timeout=(3, 60)) as response:
            for raw in response.iter_lines(chunk_size=1 << 16):
                if raw:
                    json.loads(raw)
                    parsed += 1
        baseline = time.perf_counter() - began

        run = backfill.start(shop, now=utcnow())
        held = lease.claim(run, now=utcnow())
        assert held is not None
        stage_began = {"products": time.perf_counter()}
        stage_time: dict[str, float] = {}
        began = time.perf_counter()
        outcome, last_stage, shown = "continue", run.stage, -1
        while outcome != "done":
            outcome = backfill.step(shop, run, held, now=utcnow())
            if run.stage != last_stage or outcome == "done":
                stage_time[last_stage] = time.perf_counter() - stage_began[last_stage]
                stage_began[run.stage] = time.perf_counter()
                last_stage = run.stage
            if run.percent // 10 != shown:
                shown = run.percent // 10
                print(f"  {run.percent:3d}% {run.stage}", flush=True)
        total = time.perf_counter() - began
        assert run.status == "completed", run.error
        counts = {k: int(v) for k, v in run.imported.items()}
        db.session.expire_all()
        stored = db.session.scalar(db.select(db.func.count()).select_from(BackfillRun))
    server.stop()

    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(
        f"\nBackfill on {database}, {os.cpu_count()} CPUs, batches of {backfill.BATCH_ROOTS} "
        f"roots: imported {counts}"
    )
    for stage, seconds in stage_time.items():
        print(f"  {stage:<10} {seconds:7.1f} s")
    print(
        f"  total      {total:7.1f} s   →  "
        f"{counts['orders'] / stage_time['orders']:,.0f} orders/s in the orders stage"
    )
    print(
        f"  baseline: download + json-parse of the orders file "
        f"({size_mb:.0f} MB, {parsed:,} lines): "
        f"{baseline:.1f} s ({stage_time['orders'] / baseline:.1f}× that for the full import)"
    )
    if counts["orders"] >= 100_000:
        print(f"  goal (100k orders ≤ 120 s): {'met' if total <= 120 else 'NOT met'}")
    assert stored == 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
