"""LIFF benchmarks: first-screen bytes, time until the card is visible, /api/liff/me under load.

    make liff && .venv/bin/python benchmarks/liff.py [--customers 100000] [--runs 300] [--loads 10]

1. The JS + CSS the first screen downloads (what index.html references, not lazy chunks such
   as the LIFF mock), gzipped at level 9. Goal: ≤ 100 KB including the LIFF SDK.
2. Time from navigation until the membership card is visible, in Debian's Chromium on loopback
   (a fresh browser context per load, so nothing is cached; then warm loads in one context).
   Same-run baseline: loading /healthz in the same browser. Goal: ≤ 1 s.
3. `GET /api/liff/me` p50/p95 with `--customers` customers (two orders each) in the database, ID
   token verified on every request. Same-run baseline: `GET /healthz`. Goal: p95 ≤ 30 ms.

Uses DATABASE_URL when it is set (PostgreSQL), else a fresh SQLite file in a temp directory;
the schema comes from the migrations. LINE's JWKS endpoint is a local stand-in.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import bench_app  # noqa: E402

BUILD = ROOT / "server" / "static" / "liff"
LIFF_ID = "2000000009-BenchLif"
LOGIN_CHANNEL = "2000000009"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def report(name: str, samples: list[float], baseline: float | None = None) -> None:
    p50, p95 = statistics.median(samples), percentile(samples, 95)
    ratio = f"  ({p95 / baseline:5.1f}× baseline p95)" if baseline else ""
    print(f"  {name:<40} p50 {p50:8.2f} ms   p95 {p95:8.2f} ms{ratio}", flush=True)


# -- 1. bytes ------------------------------------------------------------------------------------


def first_screen_bytes() -> None:
    index = BUILD / "index.html"
    if not index.exists():
        raise SystemExit("No LIFF build: run `make liff` first.")
    html = index.read_text(encoding="utf-8")
    assets = re.findall(r'(?:src|href)="/liff/(assets/[^"]+\.(?:js|css))"', html)
    print("1. First screen, JS + CSS referenced by index.html (gzip -9):")
    total_raw = total_gz = 0
    for asset in assets:
        data = (BUILD / asset).read_bytes()
        packed = len(gzip.compress(data, compresslevel=9))
        total_raw += len(data)
        total_gz += packed
        print(f"  {asset:<42} {len(data) / 1024:8.1f} KB raw {packed / 1024:8.1f} KB gzip")
    lazy = sorted(p.name for p in (BUILD / "assets").iterdir() if f"assets/{p.name}" not in assets)
    print(
        f"  total {total_raw / 1024:.1f} KB raw, {total_gz / 1024:.1f} KB gzipped "
        f"(goal ≤ 100 KB: {total_gz / 1024 / 100:.0%} of it); lazy, not loaded: {lazy}"
    )


# -- the app with data -----------------------------------------------------------------------------


def build_app(url: str, jwks_url: str) -> object:
    return bench_app(url, TESTING=False, LINE_API_BASE_URL=jwks_url, LOG_LEVEL="WARNING")


def seed(customers: int, now: datetime) -> tuple[str, str]:
    """A shop with `customers` customers, two orders each, LINE friends and members.
    Returns the LINE user ids of a linked member and of an unlinked friend."""
    from sqlalchemy import insert, select

    from server.commerce.models import Customer, Order
    from server.db import db
    from server.line.models import LineChannel, LineUser
    from server.membership import services as membership
    from server.membership.models import Member, Tier
    from server.shops.models import Shop

    shop = Shop(domain="bench-liff.myshopify.com", name="ベンチ堂", installed_at=now)
    db.session.add(shop)
    db.session.flush()
    db.session.add(
        LineChannel(
            shop_id=shop.id, channel_key="bench", login_channel_id=LOGIN_CHANNEL, liff_id=LIFF_ID
        )
    )
    for name, threshold in (("REGULAR", 0), ("SILVER", 10_000), ("GOLD", 30_000)):
        db.session.add(Tier(shop_id=shop.id, name=name, threshold=threshold))
    rng = random.Random(5)
    batch = 5000
    print(f"  seeding {customers:,} customers, {2 * customers:,} orders…", flush=True)
    for start in range(0, customers, batch):
        size = min(batch, customers - start)
        db.session.execute(
            insert(Customer),
            [
                {
                    "shop_id": shop.id,
                    "shopify_id": 1_000_000 + start + i,
                    "first_name": "花子",
                    "last_name": "山田",
                    "email": f"c{start + i}@example.jp",
                    "tags": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(size)
            ],
        )
    ids = list(db.session.scalars(select(Customer.id).where(Customer.shop_id == shop.id)))
    orders = []
    for n, customer_id in enumerate(ids):
        for k in range(2):
            orders.append(
                {
                    "shop_id": shop.id,
                    "shopify_id": 5_000_000 + 2 * n + k,
                    "customer_id": customer_id,
                    "name": f"#{2 * n + k}",
                    "total_price": rng.randint(1000, 20000),
                    "financial_status": "paid",
                    "processed_at": now - timedelta(days=rng.randint(1, 500)),
                    "discount_codes": [],
                    "tags": [],
                    "extra": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
        if len(orders) >= batch:
            db.session.execute(insert(Order), orders)
            orders = []
    if orders:
        db.session.execute(insert(Order), orders)
    db.session.execute(
        insert(LineUser),
        [
            {
                "shop_id": shop.id,
                "line_user_id": f"U{i:032x}",
                "customer_id": customer_id,
                "display_name": "はなこ",
                "created_at": now,
                "updated_at": now,
            }
            for i, customer_id in enumerate(ids[: customers // 2])
        ],
    )
    db.session.execute(
        insert(LineUser),
        [
            {
                "shop_id": shop.id,
                "line_user_id": f"U{'f' * 31}1",
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    print("  enrolling members…", flush=True)
    membership.enrol_customers_with_orders(shop, now=now)
    membership.refresh_all_tiers(shop, now=now)
    member = db.session.scalar(select(Member).where(Member.customer_id == ids[7]))
    assert member is not None
    membership.award_bonus(shop, member, 100, key="link", note="bench", now=now)
    db.session.commit()
    return f"U{7:032x}", f"U{'f' * 31}1"


# -- 2 and 3 ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()

    first_screen_bytes()

    import flask_migrate
    from pytest_httpserver import HTTPServer
    from werkzeug.serving import make_server

    from server.db import db
    from tests.liff.tokens import make_keys, mint

    keys = make_keys()
    certs = HTTPServer(host="127.0.0.1", port=0)
    certs.start()
    certs.expect_request("/oauth2/v2.1/certs").respond_with_json(keys.jwks)
    tmp = tempfile.mkdtemp(prefix="kizuna-bench-liff-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3"
    app = build_app(url, certs.url_for("/").rstrip("/"))
    now = datetime.now(UTC)
    with app.app_context():  # type: ignore[attr-defined]
        flask_migrate.upgrade()
        started = time.perf_counter()
        member_user, _ = seed(args.customers, now)
        print(
            f"  seeded in {time.perf_counter() - started:.1f} s ({db.engine.dialect.name})",
            flush=True,
        )

    token = mint(keys, aud=LOGIN_CHANNEL, sub=member_user, lifetime=timedelta(hours=1))
    headers = {"Authorization": f"Bearer {token}", "X-Liff-Id": LIFF_ID}
    client = app.test_client()  # type: ignore[attr-defined]
    body = client.get("/api/liff/me", headers=headers).get_json()
    assert body["linked"], body

    print(f"\n3. GET /api/liff/me with {args.customers:,} customers ({args.runs} requests):")
    baseline = timed(lambda: client.get("/healthz"), args.runs)
    report("GET /healthz (baseline)", baseline)
    me = timed(lambda: client.get("/api/liff/me", headers=headers), args.runs)
    report("GET /api/liff/me", me, percentile(baseline, 95))
    print(f"  goal p95 ≤ 30 ms: {'met' if percentile(me, 95) <= 30 else 'NOT met'}")

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on stderr
    server = make_server("127.0.0.1", 0, app, threaded=True)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    from playwright.sync_api import sync_playwright

    print(f"\n2. Until the card is visible, Chromium on loopback ({args.loads} loads each):")
    init = f"window.__KIZUNA_LIFF_MOCK__ = {json.dumps({'idToken': token, 'language': 'ja'})};"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )

        def load(context, path: str, selector: str) -> float:  # type: ignore[no-untyped-def]
            page = context.new_page()
            start = time.perf_counter()
            page.goto(base + path)
            page.wait_for_selector(selector, state="visible")
            elapsed = (time.perf_counter() - start) * 1000
            page.close()
            return elapsed

        cold, blank = [], []
        for _ in range(args.loads):
            context = browser.new_context(viewport={"width": 360, "height": 740})
            blank.append(load(context, "/healthz", "body"))
            context.close()
            context = browser.new_context(viewport={"width": 360, "height": 740})
            context.add_init_script(init)
            cold.append(load(context, f"/liff/{LIFF_ID}/", "[data-screen=card]"))
            context.close()
        context = browser.new_context(viewport={"width": 360, "height": 740})
        context.add_init_script(init)
        warm = [load(context, f"/liff/{LIFF_ID}/", "[data-screen=card]") for _ in range(args.loads)]
        context.close()
        browser.close()
    report("open /healthz (baseline, cold context)", blank)
    report("card visible, cold (nothing cached)", cold, percentile(blank, 95))
    report("card visible, warm (assets cached)", warm, percentile(blank, 95))
    print(f"  goal ≤ 1 s: {'met' if percentile(cold, 95) <= 1000 else 'NOT met'} (cold p95)")
    server.shutdown()
    certs.stop()


if __name__ == "__main__":
    main()
