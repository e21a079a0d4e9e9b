"""Recommendations at shop scale: training time, peak memory, serving lookups, the due refresh.

    .venv/bin/python benchmarks/recommendations.py [--only medium|large]

Synthetic shops (generated here, seeded): orders over a year, about three lines an order,
customers with a few regulars (bought again), a home category, and long-tailed popularity.
Goals (issue 6): medium shop, 100k customers x 5k products x 1M lines: training <= 60 s, peak
memory <= 4 GB, lookup p99 <= 5 ms; large shop, 1M customers x 50k products (10M lines):
training <= 10 min, <= 8 GB, and refreshing only the customers due today.

Training is production's own path on arrays (production.fit, the reorder schedule, every
customer's stored list: what services.train_shop runs between loading and writing). Each shop
runs in a forked child, so its peak RSS is its own (data generation included). The lookup is
serving.recommendations_for, the LIFF API's read path, on a SQLite file holding the shop's
products and every customer's stored list as train_shop writes it (services.stored_items:
kinds, anchors, dates); no order history, so the owned-non-consumables subquery reads nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
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


def _lookups(lines: Interactions, lists: production.Lists) -> dict:
    """p50/p99 of serving.recommendations_for over LOOKUPS random customers."""
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from server.commerce.models import Customer, Product, ProductVariant
    from server.db import db, utcnow
    from server.recommendations import serving
    from server.recommendations.models import CustomerRecommendation, RecommendationModel
    from server.recommendations.services import stored_items
    from server.shops.models import Shop

    tmp = Path(tempfile.mkdtemp(prefix="kizuna-bench-recs-"))
    app = bench_app(f"sqlite:///{tmp / 'bench.sqlite3'}")
    with app.app_context():
        upgrade()
        shop = Shop(domain="bench.myshopify.com", name="bench", installed_at=utcnow(), settings={})
        db.session.add(shop)
        db.session.flush()
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
                    {
                        "shop_id": shop.id,
                        "customer_id": 1 + u,
                        "computed_at": now,
                        "items": items,
                    }
                    for u, items in zip(users, stored, strict=True)
                ],
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
        shop_id = shop.id
        customers = np.random.default_rng(1).choice(lines.n_users, LOOKUPS, replace=False)
        seconds = []
        with click.progressbar(customers.tolist(), label="  lookups", file=sys.stderr) as bar:
            for u in bar:
                db.session.expunge_all()  # every request starts from an empty session
                began = time.perf_counter()
                requested = db.session.get(Shop, shop_id)
                customer = db.session.get(Customer, 1 + u)
                recs = serving.recommendations_for(
                    requested, customer, limit=10, lang="ja", now=now
                )
                seconds.append(time.perf_counter() - began)
                assert len(recs) == 10
    ms = np.array(seconds) * 1000.0
    return {
        "lookup_p50_ms": float(np.percentile(ms, 50)),
        "lookup_p99_ms": float(np.percentile(ms, 99)),
    }


GOALS = {"medium": (60.0, 4096.0), "large": (600.0, 8192.0)}


def _run(name: str) -> None:
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
    if name == "medium":
        out = _lookups(lines, composed)
        print(
            f"{name}: lookup p50 {out['lookup_p50_ms']:.2f} ms, p99 {out['lookup_p99_ms']:.2f} "
            f"ms over {LOOKUPS:,} customers (goal <= 5 ms); load {_load()}",
            flush=True,
        )


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=list(SHOPS), default=None)
    args = parser.parse_args()
    context = multiprocessing.get_context("fork")
    failed = 0
    for name in [args.only] if args.only else list(SHOPS):
        child = context.Process(target=_run, args=(name,))
        child.start()
        child.join()
        failed += child.exitcode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
