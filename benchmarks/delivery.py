"""LINE delivery benchmarks: personalised pushes per second from one worker process, and one
identical message to 100,000 friends by multicast, end to end.

    .venv/bin/python benchmarks/delivery.py [--db sqlite|postgresql://...] [--pushes 10000]
        [--multicast 100000] [--latency-ms 20] [--only push|multicast] [--profile PREFIX]

The real code runs: the schema comes from the migrations, rows are created by
`delivery.deliver` / `deliver_many` in the caller's transaction, its commit puts the send task
on the real huey queue, and this process then works as the worker (dequeue, execute: what
`flask worker` does) until the queue is empty; requests go through `server.line.client` (the
line-bot-sdk v3 ApiClient) to a stand-in LINE API in another process that answers every
request after `--latency-ms` (push and multicast honour X-Line-Retry-Key: a repeated key is 409).

`--db postgresql://user@host:port/name` creates a scratch database `<name>_bench_<pid>` on
that server and drops it afterwards; the default is a SQLite file in a temp directory.

Printed: the stand-in's raw rate with the same client and thread count (the baseline), the
pipeline's pushes per second and the ratio, the 100k multicast's phases and total, the LINE
requests the stand-in saw (duplicates and missing recipients must be 0), and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import bench_app, postgres_database  # noqa: E402

PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"


# The stand-in LINE API (runs in its own process) -------------------------------------------


class StandIn:
    """The part of LINE's contract the benchmark exercises, kept cheap enough to answer
    thousands of requests a second on one core."""

    def __init__(self) -> None:
        self.accepted: dict[str, str] = {}  # retry key -> request id
        self.delivered: Counter[str] = Counter()  # recipient -> times accepted
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.per_second: Counter[int] = Counter()  # pushes started per wall-clock second
        self.in_flight = 0
        self.max_in_flight = 0
        self.ids = 461230966842064897

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        self.requests[f"{method} {path}"] += 1
        if path == "/_stats":
            stats = {
                "requests": dict(self.requests),
                "statuses": dict(self.statuses),
                "recipients": len(self.delivered),
                "accepted": sum(self.delivered.values()),
                "duplicates": sum(n - 1 for n in self.delivered.values() if n > 1),
                "max_in_flight": self.max_in_flight,
                "peak_push_per_second": max(self.per_second.values(), default=0),
            }
            return 200, stats, {}
        if path == "/_reset":
            self.__init__()  # type: ignore[misc]
            return 200, {}, {}
        if not headers.get("authorization", "").startswith("Bearer "):
            return 401, {"message": "Authentication failed."}, {}
        if path == "/v2/bot/message/quota":
            return 200, {"type": "none"}, {}
        if path == "/v2/bot/message/quota/consumption":
            return 200, {"totalUsage": 0}, {}
        if path in (PUSH, MULTICAST):
            data = json.loads(body)
            if path == PUSH:
                self.per_second[int(time.time())] += 1
            key = headers.get("x-line-retry-key")
            if key is not None and key in self.accepted:
                extra = {"x-line-accepted-request-id": self.accepted[key]}
                return 409, {"message": "The retry key is already accepted"}, extra
            request_id = str(uuid.uuid4())
            if key is not None:
                self.accepted[key] = request_id
            recipients = [data["to"]] if path == PUSH else data["to"]
            for to in recipients:
                self.delivered[to] += 1
            if path == MULTICAST:
                return 200, {}, {"x-line-request-id": request_id}
            sent = []
            for _ in data["messages"]:
                self.ids += 1
                sent.append({"id": str(self.ids), "quoteToken": "q"})
            return 200, {"sentMessages": sent}, {"x-line-request-id": request_id}
        return 404, {"message": f"not in the benchmark stand-in: {method} {path}"}, {}


def serve(port: int, latency: float) -> None:
    state = StandIn()
    reasons = {200: "OK", 401: "Unauthorized", 404: "Not Found", 409: "Conflict"}

    class Connection(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = self.buffer[:end].decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                size = int(headers.get("content-length") or 0)
                if len(self.buffer) < end + 4 + size:
                    return
                body = self.buffer[end + 4 : end + 4 + size]
                self.buffer = self.buffer[end + 4 + size :]
                status, payload, extra = state.handle(method, path.split("?")[0], headers, body)
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                state.statuses[str(status)] += 1
                delay = 0 if path.startswith("/_") else latency
                asyncio.get_running_loop().call_later(delay, self.answer, status, payload, extra)

        def answer(self, status: int, payload: Any, extra: dict[str, str]) -> None:
            state.in_flight -= 1
            raw = json.dumps(payload).encode()
            head = [f"HTTP/1.1 {status} {reasons.get(status, 'Error')}"]
            head += ["Content-Type: application/json", f"Content-Length: {len(raw)}"]
            head += [f"{k}: {v}" for k, v in extra.items()]
            if not self.transport.is_closing():
                self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + raw)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            Connection, "127.0.0.1", port, backlog=1024
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


@contextmanager
def stand_in(latency_ms: float) -> Iterator[str]:
    process = subprocess.Popen(  # noqa: S603 - this very script, as the stand-in
        [sys.executable, __file__, "--serve", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def stats(base_url: str, reset: bool = False) -> dict[str, Any]:
    import urllib3

    response = urllib3.request("GET", base_url + ("/_reset" if reset else "/_stats"))
    return dict(json.loads(response.data))


# The app, its database and the worker --------------------------------------------------------


@contextmanager
def database(option: str, tmp: str) -> Iterator[str]:
    if not option.startswith("postgres"):
        yield f"sqlite:///{tmp}/delivery.sqlite3"
        return
    with postgres_database(option, f"bench_{os.getpid()}") as own:
        yield own


def make_app(url: str, line_url: str) -> Any:
    return bench_app(
        url,
        HUEY_IMMEDIATE=False,  # the commit enqueues; run_worker() below works the queue
        LINE_DELIVERY="api",
        LINE_API_BASE_URL=line_url,
        LINE_HTTP_TIMEOUT=(3.05, 10.0),
    )


def seed(friends: int, label: str) -> tuple[int, list[int]]:
    from sqlalchemy import insert

    from server.db import db
    from server.line.models import LineChannel, LineUser
    from server.shops.models import Shop

    now = datetime.now(UTC)
    shop = Shop(domain=f"bench-{label}.myshopify.com", name=label, installed_at=now)
    db.session.add(shop)
    db.session.flush()
    db.session.add(
        LineChannel(
            shop_id=shop.id,
            channel_key=uuid.uuid4().hex,
            channel_id="2000123456",
            channel_secret="0123456789abcdef0123456789abcdef",  # noqa: S106 - a stand-in's
            channel_access_token=f"bench-token-{label}",
            quiet_hours_start="00:00",  # off: the benchmark may run at any hour
            quiet_hours_end="00:00",
        )
    )
    ids: list[int] = []
    for start in range(0, friends, 10_000):
        rows = [
            {
                "shop_id": shop.id,
                "line_user_id": f"U{label[:1]}{n:031x}",
                "display_name": f"友だち{n}",
                "followed_at": now,
            }
            for n in range(start, min(friends, start + 10_000))
        ]
        ids += db.session.scalars(insert(LineUser).returning(LineUser.id), rows).all()
    db.session.commit()
    return shop.id, ids


PROFILE: str | None = None  # --profile: where the worker phase's cProfile stats go


def run_worker(label: str = "worker") -> int:
    """What `flask worker` does with each task: dequeue and execute until the queue is empty."""
    from server.jobs import huey

    profiler = None
    if PROFILE:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    done = 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
        done += 1
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{PROFILE}.{label}")
        print(f"  (profiled: {PROFILE}.{label}; the figures above include cProfile's overhead)")
    return done


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


# The measurements ----------------------------------------------------------------------------


def baseline(line_url: str, requests: int) -> float:
    """The stand-in's raw push rate with the same client, thread count and payload shape."""
    from concurrent.futures import ThreadPoolExecutor

    from server.line import client, delivery

    t = client.target("bench-token-baseline")
    bodies = [
        {"to": f"U{n:032x}", "messages": [{"type": "text", "text": f"友だち{n}さん、こんにちは"}]}
        for n in range(requests)
    ]

    def one(body: dict[str, Any]) -> int:
        return client.send(t, "push", body, retry_key=str(uuid.uuid4())).status

    with ThreadPoolExecutor(max_workers=delivery.SEND_THREADS) as pool:
        list(pool.map(one, bodies[:200]))  # warm the connection pool
        started = time.perf_counter()
        statuses = Counter(pool.map(one, bodies[200:]))
        elapsed = time.perf_counter() - started
    assert statuses == {200: requests - 200}, statuses
    return (requests - 200) / elapsed


def bench_pushes(app: Any, line_url: str, n: int, base_rate: float) -> float:
    from sqlalchemy import select

    from server.db import db
    from server.line import delivery
    from server.line.models import LineUser
    from server.shops.models import Shop

    shop_id, _ = seed(n, "push")
    shop = db.session.get(Shop, shop_id)
    users = list(db.session.scalars(select(LineUser).where(LineUser.shop_id == shop_id)))
    stats(line_url, reset=True)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for user in users:
        text = f"{user.display_name}さん、いつもありがとうございます。今週のおすすめです。"
        delivery.deliver(shop, user, [{"type": "text", "text": text}], kind="promotional", now=now)
    db.session.commit()  # enqueues the send task(s)
    created = time.perf_counter() - started
    db.session.expunge_all()
    sending = time.perf_counter()
    tasks = run_worker("push")
    sent_in = time.perf_counter() - sending
    shop = db.session.get(Shop, shop_id)
    counts = delivery.status_counts(shop, since=now)  # type: ignore[arg-type]
    seen = stats(line_url)
    rate = n / sent_in
    print(f"  rows created by deliver() in the caller's transaction: {n / created:8,.0f}/s")
    print(
        f"  worker: {n:,} personalised pushes in {sent_in:.2f} s = {rate:8,.0f}/s"
        f"  ({rate / base_rate:.2f}× the raw client rate; {tasks} task(s))"
    )
    print(f"  statuses: {counts}")
    print(
        f"  stand-in: {seen['requests'].get('POST ' + PUSH, 0):,} push requests,"
        f" {seen['recipients']:,} recipients, duplicates {seen['duplicates']},"
        f" missing {n - seen['recipients']}, peak {seen['peak_push_per_second']:,}/s,"
        f" max in flight {seen['max_in_flight']}"
    )
    assert counts == {"sent": n}, counts
    assert seen["duplicates"] == 0, seen
    assert seen["recipients"] == n, seen
    return rate


def bench_multicast(app: Any, line_url: str, n: int) -> float:
    from sqlalchemy import select

    from server.db import db
    from server.line import delivery
    from server.line.models import LineUser
    from server.shops.models import Shop

    shop_id, _ = seed(n, "multicast")
    stats(line_url, reset=True)
    now = datetime.now(UTC)
    started = time.perf_counter()
    shop = db.session.get(Shop, shop_id)
    # The columns deliver_many reads (its Recipient), as a caller with 100,000 friends would.
    recipients = db.session.execute(
        select(LineUser.id, LineUser.shop_id, LineUser.line_user_id, LineUser.blocked_at).where(
            LineUser.shop_id == shop_id
        )
    ).all()
    loaded = time.perf_counter()
    message = [{"type": "text", "text": "【はなまる堂】週末限定セール開催中！全品10%オフ 🎉"}]
    delivery.deliver_many(shop, recipients, message, kind="promotional", now=now)  # type: ignore[arg-type]
    db.session.commit()
    created = time.perf_counter()
    db.session.expunge_all()
    tasks = run_worker("multicast")
    done = time.perf_counter()
    shop = db.session.get(Shop, shop_id)
    counts = delivery.status_counts(shop, since=now)  # type: ignore[arg-type]
    seen = stats(line_url)
    total = done - started
    print(
        f"  {n:,} friends: load {loaded - started:.2f} s, rows created {created - loaded:.2f} s,"
        f" claimed + sent + results written {done - created:.2f} s ({tasks} task(s))"
    )
    print(f"  end to end: {total:.2f} s  (goal ≤ 10 s)")
    print(f"  statuses: {counts}")
    print(
        f"  stand-in: {seen['requests'].get('POST ' + MULTICAST, 0):,} multicast requests,"
        f" {seen['recipients']:,} recipients, duplicates {seen['duplicates']},"
        f" missing {n - seen['recipients']}"
    )
    assert counts == {"sent": n}, counts
    assert seen["duplicates"] == 0, seen
    assert seen["recipients"] == n, seen
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", help="sqlite, or a postgresql:// server URL")
    parser.add_argument("--pushes", type=int, default=10_000)
    parser.add_argument("--multicast", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--only", choices=("push", "multicast"))
    parser.add_argument(
        "--profile", metavar="PREFIX", help="cProfile the worker phases into PREFIX.push/.multicast"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    if args.serve:
        serve(0, args.latency_ms / 1000)
        return

    tmp = tempfile.mkdtemp(prefix="kizuna-bench-delivery-")
    os.environ["HUEY_SQLITE_PATH"] = f"{tmp}/huey.sqlite3"  # a queue of our own
    os.environ.pop("REDIS_URL", None)
    import flask_migrate

    print(f"LINE delivery benchmark ({load()})")
    with stand_in(args.latency_ms) as line_url, database(args.db, tmp) as url:
        app = make_app(url, line_url)
        with app.app_context():
            from server.db import db
            from server.line import delivery

            flask_migrate.upgrade()
            print(
                f"  database {db.engine.dialect.name}; stand-in answers in {args.latency_ms:g} ms;"
                f" {delivery.SEND_THREADS} sending threads"
            )
            if args.only in (None, "push"):
                print("Personalised pushes, one worker process")
                base_rate = baseline(line_url, 5_000)
                print(f"  baseline: raw client → stand-in {base_rate:8,.0f} pushes/s")
                bench_pushes(app, line_url, args.pushes, base_rate)
            if args.only in (None, "multicast"):
                print("One identical message by multicast (500 per request)")
                bench_multicast(app, line_url, args.multicast)
    print(f"done ({load()})")


if __name__ == "__main__":
    main()
