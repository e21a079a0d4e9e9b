"""Webhook ingest: orders/create through gunicorn on loopback, against a bare 200 route.

    .venv/bin/python benchmarks/webhooks.py [--seconds 10] [--rate 200] [--workers 4]

One gunicorn serves the real app (create_app) plus a bare `POST /bench/ok` that answers 200 and
does nothing: the same-run baseline. Each signed orders/create delivery goes the production
path: HMAC check (Shopify's package) → shop lookup → WebhookEvent insert (unique webhook id) →
commit → huey enqueue → 200. No worker consumes the queue during the run (ingest is measured).

Two measurements, each for the webhook and for the bare route:
1. fixed rate (`--rate` req/s for `--seconds`): achieved webhooks/s and p50/p99 latency;
2. saturation (16 concurrent connections for `--seconds`): the most webhooks/s the server takes.
Goal (issue 3): webhook/bare ratio ≥ 0.5 and p99 < 50 ms at 200 req/s.

Uses DATABASE_URL/REDIS_URL when set (PostgreSQL/Redis), else fresh SQLite files for the app and
for huey in a temp directory; the schema comes from the migrations.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "shpss_bench_0123456789abcdef0123456789abcdef"  # noqa: S105 - a throwaway test secret
SHOP = "bench-shop.myshopify.com"


def create_bench_app() -> Any:
    """The real app plus the bare baseline route (gunicorn loads this by name)."""
    from server import create_app

    app = create_app()

    @app.post("/bench/ok")
    def bare_ok() -> tuple[str, int]:
        return "", 200

    return app


def order_payload(n: int) -> bytes:
    from tests.shopify.conftest import ORDER_SAMPLE

    payload = dict(ORDER_SAMPLE, id=10_000_000 + n, name=f"#{10_000 + n}")
    return json.dumps(payload).encode()


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def fixed_rate(url: str, make: Any, rate: int, seconds: float) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(n: int) -> None:
            nonlocal failures
            body, headers = make(n)
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    failures += 1
            latencies.append((time.perf_counter() - start) * 1000)

        tasks = []
        begin = time.perf_counter()
        total = int(rate * seconds)
        for n in range(total):
            delay = begin + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    return {
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 99),
        "failures": failures,
    }


async def saturate(url: str, make: Any, seconds: float, concurrency: int = 16) -> dict[str, float]:
    import aiohttp

    done = 0
    failures = 0
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    counter = iter(range(10**9))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def loop() -> None:
            nonlocal done, failures
            while time.perf_counter() < stop:
                body, headers = make(next(counter))
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    failures += response.status != 200
                latencies.append((time.perf_counter() - start) * 1000)
                done += 1

        begin = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - begin
    return {
        "rate": done / elapsed,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 99),
        "failures": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kizuna-bench-webhooks-"))
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "SECRET_KEY": "bench",
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SHOPIFY_API_KEY": "bench-key",
        "SHOPIFY_API_SECRET": SECRET,
        "APP_URL": "http://127.0.0.1",
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}",
        "HUEY_SQLITE_PATH": str(tmp / "huey.sqlite3"),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    database = env["DATABASE_URL"]
    flask = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "server"]
    subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [*flask, "db", "upgrade"], env=env, check=True, capture_output=True
    )
    seed = (
        "from server import create_app; from server.db import db, utcnow; "
        "from server.shops.models import Shop\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    db.session.add(Shop(domain='{SHOP}', name='bench', installed_at=utcnow(),"
        " settings={}))\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", seed], env=env, check=True, cwd=ROOT)  # noqa: S603

    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
            "benchmarks.webhooks:create_bench_app()",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)  # every worker up

        base = f"http://127.0.0.1:{port}"
        bodies = [order_payload(n) for n in range(256)]  # distinct orders, signed like Shopify

        def webhook(n: int) -> tuple[bytes, dict[str, str]]:
            body = bodies[n % len(bodies)]
            return body, {
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Hmac-Sha256": sign(body),
                "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-API-Version": "2026-10",
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                "X-Shopify-Event-Id": str(uuid.uuid4()),
                "X-Shopify-Triggered-At": "2026-04-06T00:00:00Z",
            }

        def bare(n: int) -> tuple[bytes, dict[str, str]]:
            return bodies[n % len(bodies)], {"Content-Type": "application/json"}

        # Warm up both paths (imports, connection pools, SQLite page cache).
        asyncio.run(fixed_rate(f"{base}/webhooks/shopify", webhook, 50, 1))
        asyncio.run(fixed_rate(f"{base}/bench/ok", bare, 50, 1))

        print(
            f"Webhook ingest — gunicorn {args.workers} sync workers on loopback, "
            f"{'PostgreSQL' if database.startswith('postgres') else 'SQLite'}, "
            f"huey {'Redis' if os.environ.get('REDIS_URL') else 'SQLite'}; "
            f"{os.cpu_count()} CPUs shared with the load generator",
            flush=True,
        )
        results = {}
        for name, url, make in (
            ("bare 200", f"{base}/bench/ok", bare),
            ("orders/create", f"{base}/webhooks/shopify", webhook),
        ):
            fixed = asyncio.run(fixed_rate(url, make, args.rate, args.seconds))
            most = asyncio.run(saturate(url, make, args.seconds))
            results[name] = (fixed, most)
            print(
                f"  {name:<14} at {args.rate} req/s: {fixed['rate']:7.1f}/s  "
                f"p50 {fixed['p50']:6.2f} ms  p99 {fixed['p99']:6.2f} ms  "
                f"failures {fixed['failures']:.0f}"
                f"   | saturated (16 conns): {most['rate']:7.1f}/s  p50 {most['p50']:6.2f} ms  "
                f"p99 {most['p99']:6.2f} ms  failures {most['failures']:.0f}",
                flush=True,
            )
        (web_fixed, web_most), (bare_fixed, bare_most) = (
            results["orders/create"],
            results["bare 200"],
        )
        print(
            f"  ratio webhooks/bare at {args.rate} req/s: "
            f"{web_fixed['rate'] / bare_fixed['rate']:.2f}; "
            f"saturated: {web_most['rate'] / bare_most['rate']:.2f}"
        )
        ok = web_fixed["p99"] < 50 and web_fixed["rate"] / bare_fixed["rate"] >= 0.5
        print(
            f"  goal (ratio ≥ 0.5, p99 < 50 ms at {args.rate} req/s): {'met' if ok else 'NOT met'}"
        )
        stored = _count_events(env)
        print(f"  events stored: {stored} (every accepted delivery, once)")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    return 0


def _count_events(env: dict[str, str]) -> int:
    code = (
        "from server import create_app; from server.db import db; "
        "from server.ingest.models import WebhookEvent; from sqlalchemy import func, select\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    print(db.session.scalar(select(func.count()).select_from(WebhookEvent)))\n"
    )
    out = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    return int(out.stdout.strip() or 0)


if __name__ == "__main__":
    raise SystemExit(main())
