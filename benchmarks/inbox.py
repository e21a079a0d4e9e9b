"""Inbox benchmarks: the conversation list with 50k conversations, and FAQ matching throughput.

    .venv/bin/python benchmarks/inbox.py [--conversations 50000] [--runs 200]

Uses DATABASE_URL when it is set (PostgreSQL), else a fresh SQLite file in a temp directory.
The schema comes from the migrations. Prints p50/p95 per list query and, as a same-run baseline,
a primary-key lookup of one conversation; then questions matched per second against the
normalisation alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import bench_app  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm caches and the statement cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def report(name: str, samples: list[float], baseline: float | None = None) -> None:
    p50, p95 = statistics.median(samples), percentile(samples, 95)
    ratio = f"  ({p95 / baseline:5.1f}× baseline p95)" if baseline else ""
    print(f"  {name:<42} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms{ratio}", flush=True)


def seed(n: int, now: datetime) -> int:
    from sqlalchemy import insert

    from server.commerce.models import Customer
    from server.db import db
    from server.inbox.models import Conversation, Message
    from server.line.models import LineUser
    from server.shops.models import Shop

    shop = Shop(domain="bench-inbox.myshopify.com", name="bench", installed_at=now)
    db.session.add(shop)
    db.session.flush()
    rng = random.Random(8)
    family = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
    given = ["花子", "太郎", "美咲", "健太", "陽菜", "翔", "結衣", "大輝", "さくら", "蓮"]
    texts = [
        "注文した商品がまだ届きません",
        "定期便の解約について相談したいです",
        "化粧水が肌に合わないみたいで",
        "領収書の宛名を変えたい",
        "ありがとうございました！",
        "ギフト用に包装できますか",
    ]
    batch = 5000
    for start in range(0, n, batch):
        size = min(batch, n - start)
        customers = [
            {
                "shop_id": shop.id,
                "shopify_id": 10_000_000 + start + i,
                "first_name": rng.choice(given),
                "last_name": rng.choice(family),
                "email": f"c{start + i}@example.jp",
                "tags": [],
            }
            for i in range(size)
        ]
        customer_ids = db.session.scalars(insert(Customer).returning(Customer.id), customers).all()
        users = [
            {
                "shop_id": shop.id,
                "line_user_id": f"U{start + i:032x}",
                "display_name": f"{rng.choice(given)}{start + i}",
                "followed_at": now,
                "customer_id": customer_ids[i] if i % 2 == 0 else None,
            }
            for i in range(size)
        ]
        user_ids = db.session.scalars(insert(LineUser).returning(LineUser.id), users).all()
        conversations = []
        for user_id in user_ids:
            status = rng.choices(["open", "waiting", "resolved"], weights=[1, 1, 8])[0]
            conversations.append(
                {
                    "shop_id": shop.id,
                    "line_user_id": user_id,
                    "status": status,
                    "priority": rng.choices([0, 1, 2], weights=[85, 14, 1])[0],
                    "assignee_id": rng.choice([None, None, "1", "2", "3"]),
                    "unread_count": rng.randint(0, 3) if status == "open" else 0,
                    "last_message_at": now - timedelta(minutes=rng.randint(0, 60 * 24 * 90)),
                    "last_message_text": rng.choice(texts),
                    "last_message_sender": "customer",
                }
            )
        conversation_ids = db.session.scalars(
            insert(Conversation).returning(Conversation.id), conversations
        ).all()
        messages = [
            {
                "shop_id": shop.id,
                "conversation_id": cid,
                "direction": "in" if k == 0 else "out",
                "type": "text",
                "text": rng.choice(texts),
                "sender": "customer" if k == 0 else "bot",
                "payload": {},
                "created_at": now - timedelta(minutes=rng.randint(0, 60 * 24 * 90)),
            }
            for cid in conversation_ids
            for k in range(2)
        ]
        db.session.execute(insert(Message), messages)
        db.session.commit()
        print(f"  seeded {start + size:,}/{n:,} conversations", flush=True)
    return shop.id


def bench_list(conversations: int, runs: int) -> None:
    import flask_migrate

    from server.db import db
    from server.inbox import services
    from server.shops.models import Shop

    url = os.environ.get("DATABASE_URL") or ""
    tmp = tempfile.mkdtemp(prefix="kizuna-bench-")
    if not url:
        url = f"sqlite:///{tmp}/inbox.sqlite3"
    os.environ.setdefault("HUEY_SQLITE_PATH", f"{tmp}/huey.db")
    app = bench_app(url)
    now = datetime.now(UTC)
    with app.app_context():
        print(f"Conversation list, {conversations:,} conversations on {db.engine.dialect.name}")
        if db.engine.dialect.name == "postgresql":
            print("  (PostgreSQL: the benchmark creates and drops its own shop's rows)")
        flask_migrate.upgrade()
        shop_id = seed(conversations, now)
        if db.engine.dialect.name == "postgresql":
            # Autovacuum would gather statistics within a minute of a bulk load like this one;
            # without them the planner guesses row counts and picks bad plans.
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        shop = db.session.get(Shop, shop_id)
        assert shop is not None
        some_id = db.session.scalar(
            services.Conversation.for_shop(shop)
            .with_only_columns(services.Conversation.id)
            .limit(1)
        )

        def lookup() -> object:
            db.session.expire_all()
            return services.get_conversation(shop, int(some_id or 0))

        baseline = timed(lookup, runs)
        report("baseline: one conversation by id", baseline)
        base95 = percentile(baseline, 95)
        cases = {
            "open, priority first (default view)": services.ListFilter(status="open"),
            "waiting": services.ListFilter(status="waiting"),
            "resolved": services.ListFilter(status="resolved"),
            "all statuses": services.ListFilter(status=None),
            "open + mine": services.ListFilter(status="open", assignee="me"),
            "open + unassigned": services.ListFilter(status="open", assignee="unassigned"),
            "search a name (all statuses)": services.ListFilter(status=None, q="佐藤"),
            "search message text (open)": services.ListFilter(status="open", q="解約"),
        }
        for name, f in cases.items():

            def run(f: services.ListFilter = f) -> object:
                db.session.expire_all()
                rows = services.list_conversations(shop, f, staff_id="1")
                services.counts(shop, staff_id="1")
                return [r.line_user.display_name for r in rows]

            report(f"{name} + counts", timed(run, runs), base95)
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("DELETE FROM shops WHERE id = :id"), {"id": shop_id})
            db.session.commit()


def bench_matching(seconds: float) -> None:
    from server.inbox import intents
    from server.inbox.matching import FaqIndex, normalise

    fixture = json.loads(
        (ROOT / "tests" / "inbox" / "fixtures" / "faq_ja.json").read_text(encoding="utf-8")
    )
    questions = [case["q"] for case in fixture["held_out"]]
    entries = [(e["key"], e["phrasings"]) for e in fixture["entries"]]
    print(f"\nFAQ matching throughput ({len(questions)} held-out questions, cycled)")

    def throughput(fn: Callable[[str], object]) -> float:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for q in questions:
                fn(q)
            count += len(questions)
        return count / (time.perf_counter() - start)

    base = throughput(normalise)
    print(f"  {'baseline: normalise() only':<42} {base:10,.0f} questions/s")
    for scale in (1, 20):
        big = [
            (f"{key}:{copy}", [f"{p}{'' if copy == 0 else f' {copy}'}" for p in phrasings])
            for copy in range(scale)
            for key, phrasings in entries
        ]
        start = time.perf_counter()
        index = FaqIndex(big + intents.index_entries())
        build_ms = (time.perf_counter() - start) * 1000
        rate = throughput(index.best)
        label = f"match, {len(big)} entries / {len(index)} phrasings"
        print(
            f"  {label:<42} {rate:10,.0f} questions/s  ({base / rate:4.1f}× slower than baseline;"
            f" index built in {build_ms:.1f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=2.0, help="per matching measurement")
    args = parser.parse_args()
    bench_list(args.conversations, args.runs)
    bench_matching(args.seconds)


if __name__ == "__main__":
    main()
