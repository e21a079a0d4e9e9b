"""Recommendations at shop scale: training time, peak memory, serving lookups, the due refresh.

    .venv/bin/python benchmarks/recommendations.py [--only small|medium|large]
        [--database sqlite] [--database postgresql]      (PostgreSQL: DATABASE_URL=postgresql://...)

Synthetic shops (generated here, seeded): orders over a year, about three lines an order,
customers with a few regulars (bought again), a home category, and long-tailed popularity.
Goals (issue 6): medium shop, 100k customers x 5k products x 1M lines: training <= 60 s, peak
memory <= 4 GB, lookup p99 <= 5 ms; large shop, 1M customers x 50k products (10M lines):
training <= 10 min, <= 8 GB, and refreshing only the customers due today. Without --only
both run, one after the other; `small` is a smoke test of the script (no goals).

Training is production's own path on arrays (production.fit, the reorder schedule, every
customer's stored list: what services.train_shop runs between loading and writing). Each shop
runs in a forked child, so its peak RSS is its own (data generation included). The due
refresh folds the due customers' lines into the trained item side and composes their lists
alone. Lookups (every shop but the large one, on each --database): the shop's products and
every customer's stored list as train_shop writes them (services.stored_items: kinds,
anchors, dates), no order history (the owned-non-consumables subquery reads nothing), then
the same 2,000 customers three ways: serving.recommendations_for with the shop and customer
in hand (as the LIFF view has them), the same with their two loads first (this script's
figure before 2026-12-03 evening), and GET /api/liff/recommendations through the Flask test
client with a real ES256 ID token per customer (verified on every request against a JWKS
stand-in served from another process, so no server thread competes for the GIL).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import bench_app  # noqa: E402
from server.recommendations import production  # noqa: E402
from server.recommendations.training import (  # noqa: E402
    Interactions,
    due_between,
    make_interactions,
)

START_DAY = 20_000.0  # 2024-10-04, days since 1970
SPAN_DAYS = 365.0
LINES_PER_ORDER = 3
REGULARS = 4


def synthetic_shop(
    n_customers: int, n_products: int, n_lines: int, *, seed: int = 0
) -> Interactions:
    """Order lines of a synthetic shop: each line is one of the customer's regulars (45%),
    a product of their home category (30%) or any product by shop-wide popularity (25%);
    popularity is Zipf-like everywhere. Every customer has at least one order."""
    rng = np.random.default_rng(seed)
    n_orders = max(n_customers, n_lines // LINES_PER_ORDER)
    activity = rng.lognormal(0.0, 1.0, n_customers)
    owner = np.concatenate(
        [
            np.arange(n_customers),
            rng.choice(n_customers, n_orders - n_customers, p=activity / activity.sum()),
        ]
    )
    size = 1 + rng.poisson(LINES_PER_ORDER - 1, n_orders)
    order = np.repeat(np.arange(n_orders), size)
    if order.size < n_lines:  # rare: top up with one-line orders of random customers
        extra = n_lines - order.size
        order = np.concatenate([order, n_orders + np.arange(extra)])
        owner = np.concatenate([owner, rng.integers(0, n_customers, extra)])
    order = order[:n_lines]
    users = owner[order]
    times = (START_DAY + rng.uniform(0.0, SPAN_DAYS, order.max() + 1))[order]

    categories = max(1, n_products // 50)
    per_category = -(-n_products // categories)
    within = _zipf_weights(per_category, 0.8)
    home = rng.integers(0, categories, n_customers)

    # Product c + categories * j is the j-th best seller of category c.
    def in_category(category: np.ndarray) -> np.ndarray:
        rank = rng.choice(per_category, category.size, p=within)
        return np.minimum(category + categories * rank, n_products - 1)

    regulars = in_category(np.repeat(home, REGULARS)).reshape(n_customers, REGULARS)
    shop_wide = rng.permutation(n_products)
    kind = rng.random(n_lines)
    items = np.empty(n_lines, dtype=np.int64)
    regular = kind < 0.45
    items[regular] = regulars[users[regular], rng.integers(0, REGULARS, int(regular.sum()))]
    homely = (kind >= 0.45) & (kind < 0.75)
    items[homely] = in_category(home[users[homely]])
    anywhere = kind >= 0.75
    items[anywhere] = shop_wide[
        rng.choice(n_products, int(anywhere.sum()), p=_zipf_weights(n_products, 1.0))
    ]
    return make_interactions(
        users,
        items,
        times,
        order,
        rng.integers(1, 3, n_lines),
        n_users=n_customers,
        n_items=n_products,
        as_of=START_DAY + SPAN_DAYS,
    )


def _zipf_weights(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / (np.arange(n) + 10.0) ** exponent
    return weights / weights.sum()


SHOPS = {
    "small": (5_000, 500, 50_000),  # a smoke test of the script, no goals
    "medium": (100_000, 5_000, 1_000_000),
    "large": (1_000_000, 50_000, 10_000_000),
}
COMPOSE_CHUNK = 20_000
LOOKUPS = 2_000


def _timed(label: str, work: Callable[[], Any]) -> tuple[Any, float]:
    print(f"  {label}...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    out = work()
    return out, time.perf_counter() - began


def _compose_all(
    fitted: production.Production, lines: Interactions, schedule: Any
) -> production.Lists:
    """Every customer's list in one call, as services.train_shop composes them."""
    return production.compose(fitted, lines, np.arange(lines.n_users), schedule)


def _due_refresh(fitted: production.Production, lines: Interactions, schedule: Any) -> dict:
    """The morning refresh: customers due to reorder today, found in the schedule by a binary
    search, their lines alone folded into the trained item side, their lists composed."""
    began = time.perf_counter()
    rows = due_between(schedule, lines.as_of, lines.as_of + 1.0)
    due = np.unique(schedule.users[rows])
    mine = np.isin(lines.users, due)
    local = np.searchsorted(due, lines.users[mine])
    theirs = make_interactions(
        local,
        lines.items[mine],
        lines.times[mine],
        lines.baskets[mine],
        lines.quantities[mine],
        n_users=due.size,
        n_items=lines.n_items,
        as_of=lines.as_of,
    )
    folded = production.fold_in(fitted, theirs)
    production.compose(folded, theirs, np.arange(due.size), production.schedule(folded, theirs))
    return {"due": int(due.size), "due_seconds": time.perf_counter() - began}


def _store_shop(lines: Interactions, lists: production.Lists) -> int:
    """The shop's products (one available variant each), customers and stored lists as
    train_shop writes them, the model row with its best sellers, and a LINE Login channel
    with a linked, enrolled friend for each customer the lookups ask for."""
    from sqlalchemy import insert

    from server.commerce.models import Customer, Product, ProductVariant
    from server.db import db, utcnow
    from server.line.models import LineChannel, LineUser
    from server.membership.models import Member
    from server.recommendations.models import CustomerRecommendation, RecommendationModel
    from server.recommendations.services import stored_items
    from server.shops.models import Shop

    shop = Shop(domain="bench.myshopify.com", name="bench", installed_at=utcnow(), settings={})
    db.session.add(shop)
    db.session.flush()
    db.session.add(
        LineChannel(
            shop_id=shop.id, channel_key="bench", login_channel_id=LOGIN_CHANNEL, liff_id=LIFF_ID
        )
    )
    now = utcnow()
    print("  storing products and lists...", file=sys.stderr, flush=True)
    db.session.execute(
        insert(Product),
        [
            {
                "id": 1 + p,
                "shop_id": shop.id,
                "shopify_id": 1 + p,
                "title": f"商品 {p}",
                "handle": f"p-{p}",
                "image_url": f"https://cdn.example/{p}.png",
            }
            for p in range(lines.n_items)
        ],
    )
    db.session.execute(
        insert(ProductVariant),
        [
            {"shop_id": shop.id, "product_id": 1 + p, "shopify_id": 1 + p, "price": 1980}
            for p in range(lines.n_items)
        ],
    )
    product_ids = np.arange(1, lines.n_items + 1)
    for start in range(0, lines.n_users, COMPOSE_CHUNK):
        users = range(start, min(start + COMPOSE_CHUNK, lines.n_users))
        stored = stored_items(lists.rows(slice(start, users.stop)), product_ids)
        db.session.execute(
            insert(Customer),
            [{"id": 1 + u, "shop_id": shop.id, "shopify_id": 1 + u} for u in users],
        )
        db.session.execute(
            insert(CustomerRecommendation),
            [
                {"shop_id": shop.id, "customer_id": 1 + u, "computed_at": now, "items": items}
                for u, items in zip(users, stored, strict=True)
            ],
        )
    asked = _asked(lines.n_users).tolist()
    db.session.execute(
        insert(LineUser),
        [
            {"shop_id": shop.id, "line_user_id": _line_user_id(u), "customer_id": 1 + u}
            for u in asked
        ],
    )
    db.session.execute(
        insert(Member),
        [{"shop_id": shop.id, "customer_id": 1 + u, "member_number": f"M{u:09d}"} for u in asked],
    )
    db.session.add(
        RecommendationModel(
            shop_id=shop.id,
            algorithm="hybrid",
            params={},
            trained_at=now,
            as_of=now,
            popular={"all": list(range(1, 31))},
        )
    )
    db.session.commit()
    return shop.id


LIFF_ID = "2000000009-BenchRec"
LOGIN_CHANNEL = "2000000009"


def _asked(n_users: int) -> np.ndarray:
    """The customers the lookups ask for (indices), the same on every run."""
    return np.random.default_rng(1).choice(n_users, min(LOOKUPS, n_users), replace=False)


def _line_user_id(user: int) -> str:
    return f"U{user:032x}"


def _time_service(shop_id: int, asked: list[int]) -> tuple[list[float], list[float]]:
    """serving.recommendations_for per customer, from an empty session: (the lookup alone,
    the lookup with the shop and the customer loaded first). A LIFF request has both in hand
    before the view runs (its authentication resolves them from the ID token); the second
    figure is the one this benchmark printed before 2026-12-03 evening."""
    from server.commerce.models import Customer
    from server.db import db, utcnow
    from server.recommendations import serving
    from server.shops.models import Shop

    now = utcnow()
    alone, loaded = [], []
    with click.progressbar(asked, label="  service lookups", file=sys.stderr) as bar:
        for u in bar:
            db.session.expunge_all()  # every request starts from an empty session
            began = time.perf_counter()
            shop = db.session.get(Shop, shop_id)
            customer = db.session.get(Customer, 1 + u)
            looked_up = time.perf_counter()
            recs = serving.recommendations_for(shop, customer, limit=10, lang="ja", now=now)
            done = time.perf_counter()
            alone.append(done - looked_up)
            loaded.append(done - began)
            assert len(recs) == 10
    db.session.remove()
    return alone, loaded


def _time_endpoint(app: Any, asked: list[int], keys: Any) -> list[float]:
    """GET /api/liff/recommendations through the Flask test client: the ID token verified,
    the friend, customer and member loaded, the list served, the JSON rendered."""
    from tests.liff.tokens import mint

    client = app.test_client()
    tokens = {u: mint(keys, aud=LOGIN_CHANNEL, sub=_line_user_id(u)) for u in asked}
    seconds = []
    with click.progressbar(asked, label="  endpoint lookups", file=sys.stderr) as bar:
        for u in bar:
            headers = {"Authorization": f"Bearer {tokens[u]}", "X-Liff-Id": LIFF_ID}
            began = time.perf_counter()
            response = client.get("/api/liff/recommendations?limit=10", headers=headers)
            seconds.append(time.perf_counter() - began)
            assert response.status_code == 200, response.get_data(as_text=True)
            assert len(response.get_json()["products"]) == 10
    return seconds


def _lookups(lines: Interactions, lists: production.Lists, database: str) -> dict:
    """p50/p99 of the service and of the LIFF endpoint over LOOKUPS random customers, on a
    fresh SQLite file or a PostgreSQL database beside DATABASE_URL's."""
    from contextlib import nullcontext

    from flask_migrate import upgrade

    from benchmarks.harness import postgres_database

    if database == "postgresql":
        server_url = os.environ.get("DATABASE_URL", "")
        if not server_url.startswith("postgresql"):
            raise SystemExit("--database postgresql needs DATABASE_URL=postgresql://...")
        place: Any = postgres_database(server_url, "bench_recs")
    else:
        tmp = Path(tempfile.mkdtemp(prefix="kizuna-bench-recs-"))
        place = nullcontext(f"sqlite:///{tmp / 'bench.sqlite3'}")
    with place as url, _line_keys() as (keys, jwks_url):
        app = bench_app(url, TESTING=False, LINE_API_BASE_URL=jwks_url, LOG_LEVEL="WARNING")
        asked = _asked(lines.n_users).tolist()
        with app.app_context():
            from sqlalchemy import text

            from server.db import db

            upgrade()
            shop_id = _store_shop(lines, lists)
            if database == "postgresql":  # fresh tables have no statistics yet; autovacuum
                db.session.execute(text("ANALYZE"))  # would have gathered them in production
                db.session.commit()
            alone, loaded = _time_service(shop_id, asked)
        endpoint = _time_endpoint(app, asked, keys)
        with app.app_context():
            db.engine.dispose()
    out = {}
    for name, seconds in (("alone", alone), ("loaded", loaded), ("endpoint", endpoint)):
        ms = np.array(seconds) * 1000.0
        out[f"{name}_p50_ms"] = float(np.percentile(ms, 50))
        out[f"{name}_p99_ms"] = float(np.percentile(ms, 99))
    return out


@contextmanager
def _line_keys() -> Iterator[tuple[Any, str]]:
    """A signing key and LINE's JWKS endpoint for it, served from another process: a server
    thread in this one would compete for the GIL with the requests timed here."""
    from tests.liff.tokens import make_keys

    keys = make_keys()
    context = multiprocessing.get_context("fork")
    ready = context.Queue()
    server = context.Process(target=_serve_jwks, args=(keys.jwks, ready), daemon=True)
    server.start()
    try:
        yield keys, ready.get(timeout=30)
    finally:
        server.terminate()
        server.join()


def _serve_jwks(jwks: dict[str, Any], ready: Any) -> None:
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        return Response(json.dumps(jwks), mimetype="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, app)
    ready.put(f"http://127.0.0.1:{server.server_port}")
    server.serve_forever()


GOALS = {"small": (60.0, 4096.0), "medium": (60.0, 4096.0), "large": (600.0, 8192.0)}


def _run(name: str, databases: list[str]) -> None:
    """One shop, in its own process; prints its numbers as soon as they are known."""
    n_customers, n_products, n_lines = SHOPS[name]
    print(
        f"{name}: {n_customers:,} customers x {n_products:,} products x {n_lines:,} lines",
        flush=True,
    )
    lines, _ = _timed("generating", lambda: synthetic_shop(n_customers, n_products, n_lines))
    config = production.Config("hybrid", {})
    fitted, fit = _timed("fitting", lambda: production.fit(config, lines))
    schedule, sched = _timed("reorder schedule", lambda: production.schedule(fitted, lines))
    composed, lists = _timed("composing every list", lambda: _compose_all(fitted, lines, schedule))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds, megabytes = GOALS[name]
    print(
        f"{name}: training {fit + sched + lists:.1f} s (fit {fit:.1f}, schedule {sched:.1f}, "
        f"lists for all {n_customers:,} customers {lists:.1f}; goal <= {seconds:.0f} s), "
        f"peak RSS {peak:,.0f} MB (goal <= {megabytes:,.0f}); load {_load()}",
        flush=True,
    )
    due = _due_refresh(fitted, lines, schedule)
    print(
        f"{name}: due today: {due['due']:,} of {n_customers:,} customers refreshed in "
        f"{due['due_seconds']:.2f} s (nobody else scored); load {_load()}",
        flush=True,
    )
    if name != "large":  # a million stored lists would take longer to write than to train
        for database in databases:
            out = _lookups(lines, composed, database)
            for part, what in (
                ("alone", "recommendations_for, shop and customer in hand"),
                ("loaded", "recommendations_for after loading the shop and customer"),
                ("endpoint", "GET /api/liff/recommendations, ID token verified"),
            ):
                print(
                    f"{name}: lookup ({database}, {what}) p50 {out[f'{part}_p50_ms']:.2f} ms, "
                    f"p99 {out[f'{part}_p99_ms']:.2f} ms over {min(LOOKUPS, n_customers):,} "
                    f"customers; load {_load()}",
                    flush=True,
                )


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=list(SHOPS), default=None)
    parser.add_argument(
        "--database",
        action="append",
        choices=["sqlite", "postgresql"],
        help="where the medium shop's lookups run (repeatable; default sqlite); postgresql "
        "makes a database beside DATABASE_URL's",
    )
    args = parser.parse_args()
    context = multiprocessing.get_context("fork")
    failed = 0
    for name in [args.only] if args.only else ["medium", "large"]:
        child = context.Process(target=_run, args=(name, args.database or ["sqlite"]))
        child.start()
        child.join()
        failed += child.exitcode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
