"""Background work on huey: the huey instance, @task, enqueue_after_commit, the worker command.

The huey object is the one thing built at import, because its consumer imports it by path:
Redis when REDIS_URL is set, huey's SQLite storage otherwise. Tests switch it to immediate
mode, which runs the real task functions synchronously.

Tasks run inside an app context and own their transaction: the wrapper commits when the task
returns and rolls back when it raises; a transaction that lost a race with another (SQLite's
stale snapshot, a PostgreSQL deadlock) runs again at once. Tasks take ids and must be safe to
run twice.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from flask import Flask, current_app, has_app_context
from flask.cli import with_appcontext
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.api import Task, TaskWrapper
from sqlalchemy import event
from sqlalchemy.orm import Session

from .config import DEFAULTS
from .db import db, run_in_transaction

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Every module that declares tasks. The worker imports them all before it starts (huey finds
# tasks by registration); tests/test_jobs.py checks this list against server/*/tasks.py.
TASK_MODULES: tuple[str, ...] = (
    "server.line.tasks",
    "server.membership.tasks",
    "server.coupons.tasks",
    "server.shopify.tasks",
    "server.campaigns.tasks",
    "server.recommendations.tasks",
)

_PENDING = "kizuna_pending_tasks"
_BATCHES = "kizuna_pending_batches"


def _make_huey() -> Huey:
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        return RedisHuey("kizuna", url=redis_url)
    path = Path(os.environ.get("HUEY_SQLITE_PATH") or str(DEFAULTS["HUEY_SQLITE_PATH"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("kizuna", filename=str(path))


huey = _make_huey()
_worker_app: Flask | None = None


def _app() -> Flask:
    global _worker_app  # one app per worker process, built on first use
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _worker_app is None:
        from . import create_app  # the consumer started by path has no app yet

        _worker_app = create_app()
    return _worker_app


def _in_app_transaction(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with _app().app_context():
            return run_in_transaction(lambda: fn(*args, **kwargs))

    return run


def task(**options: Any) -> Callable[[Callable[P, R]], TaskWrapper]:
    """Declare a background task: huey's `task()` around a function run in its own transaction."""

    def decorate(fn: Callable[P, R]) -> TaskWrapper:
        return huey.task(**options)(_in_app_transaction(fn))

    return decorate


def periodic(**schedule: str) -> Callable[[Callable[[], R]], TaskWrapper]:
    """Declare a periodic task, e.g. `@periodic(minute="*/5")`."""

    def decorate(fn: Callable[[], R]) -> TaskWrapper:
        return huey.periodic_task(crontab(**schedule))(_in_app_transaction(fn))

    return decorate


def enqueue_after_commit(task: TaskWrapper, *args: Any, **kwargs: Any) -> None:
    """Queue `task(*args, **kwargs)` to be sent once the current transaction commits.

    Sent earlier, a worker could look for a row that is not committed yet, or act on data that
    a rollback erased. A rollback drops the queued calls.
    """
    db.session.info.setdefault(_PENDING, []).append((task, args, kwargs))


def enqueue_batched_after_commit(task: TaskWrapper, item: Any, *, max_items: int) -> None:
    """Queue `item` for `task(items)`, a task taking one list: the items queued in one
    transaction leave after its commit as one call per `max_items` (in the order queued).

    A thousand rows made in one transaction then wake one task, not a thousand.
    """
    batches: dict[str, list[Any]] = db.session.info.setdefault(_BATCHES, {})
    items = batches.get(task.name)
    if items is None or len(items) >= max_items:
        items = batches[task.name] = []
        enqueue_after_commit(task, items)  # the list is read when the commit sends it
    items.append(item)


def _send_pending(session: Session) -> None:
    session.info.pop(_BATCHES, None)
    pending = session.info.pop(_PENDING, [])
    for queued_task, args, kwargs in pending:
        try:
            queued_task(*args, **kwargs)
        except Exception:
            # The data is committed; what the task would do is recorded in the database and a
            # periodic sweep picks it up (see ingest.tasks), so a queue outage loses nothing.
            log.exception("could not enqueue %s", getattr(queued_task, "name", queued_task))


def _drop_pending(session: Session, *_: Any) -> None:
    session.info.pop(_BATCHES, None)
    session.info.pop(_PENDING, None)


def queue_status() -> dict[str, Any]:
    if huey.immediate:
        return {"ok": True, "backend": "immediate"}
    backend = "redis" if isinstance(huey, RedisHuey) else "sqlite"
    try:
        return {"ok": True, "backend": backend, "pending": huey.pending_count()}
    except Exception as error:  # any storage failure means "down" to a health check
        log.warning("queue unreachable: %s", type(error).__name__)
        return {"ok": False, "backend": backend, "error": "unreachable"}


def init_app(app: Flask) -> None:
    if not event.contains(Session, "after_commit", _send_pending):
        event.listen(Session, "after_commit", _send_pending)
        event.listen(Session, "after_rollback", _drop_pending)
    huey.immediate = bool(app.config.get("HUEY_IMMEDIATE"))
    app.cli.add_command(worker)


def import_task_modules() -> None:
    for name in TASK_MODULES:
        importlib.import_module(name)


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Worker threads.")
@with_appcontext
def worker(workers: int) -> None:
    """Run the huey consumer: background tasks and periodic sweeps."""
    global _worker_app  # the CLI's app serves every task in this process
    _worker_app = current_app._get_current_object()  # type: ignore[attr-defined]
    import_task_modules()
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True)
    click.echo(f"Kizuna worker: {workers} threads on {type(huey.storage).__name__}")
    consumer.run()


__all__ = [
    "Task",
    "enqueue_after_commit",
    "enqueue_batched_after_commit",
    "huey",
    "periodic",
    "task",
]
