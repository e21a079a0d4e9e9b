from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from huey import Huey, RedisHuey, SqliteHuey

from server import jobs
from server.db import db
from server.shops.models import Shop
from tests.factories.shops import ShopFactory

SERVER = Path(__file__).resolve().parent.parent / "server"
seen: list[tuple[int, bool]] = []


@jobs.task()
def record_visible_shop(shop_id: int) -> None:
    seen.append((shop_id, db.session.get(Shop, shop_id) is not None))


batches: list[list[int]] = []


@jobs.task()
def record_batch(shop_ids: list[int]) -> None:
    batches.append(list(shop_ids))


def test_batched_items_of_one_transaction_leave_as_few_calls_after_the_commit(
    app_ctx: None,
) -> None:
    batches.clear()
    for n in range(5):
        jobs.enqueue_batched_after_commit(record_batch, n, max_items=2)
    assert batches == []

    db.session.commit()
    assert batches == [[0, 1], [2, 3], [4]]

    ShopFactory()  # the transaction that is rolled back did some work
    jobs.enqueue_batched_after_commit(record_batch, 9, max_items=2)
    db.session.rollback()
    jobs.enqueue_batched_after_commit(record_batch, 7, max_items=2)
    db.session.commit()
    assert batches[3:] == [[7]]  # the rolled-back item is gone, the next transaction is new


def test_every_tasks_module_is_imported_by_the_worker() -> None:
    on_disk = {
        "server." + ".".join(path.relative_to(SERVER).with_suffix("").parts)
        for path in SERVER.rglob("tasks.py")
    }
    assert set(jobs.TASK_MODULES) == on_disk
    jobs.import_task_modules()


def test_a_task_queued_in_a_transaction_runs_only_after_the_commit(app_ctx: None) -> None:
    seen.clear()
    shop = ShopFactory()
    jobs.enqueue_after_commit(record_visible_shop, shop.id)

    assert seen == []
    db.session.commit()
    assert seen == [(shop.id, True)]


def test_a_rollback_drops_the_queued_task(app_ctx: None) -> None:
    seen.clear()
    shop = ShopFactory()
    jobs.enqueue_after_commit(record_visible_shop, shop.id)

    db.session.rollback()
    db.session.commit()

    assert seen == []


def test_an_unreachable_queue_does_not_undo_the_commit(
    app_ctx: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def queue_down(*_args: object) -> None:
        raise ConnectionError("queue down")

    shop = ShopFactory()
    jobs.enqueue_after_commit(queue_down, shop.id)  # type: ignore[arg-type]
    db.session.commit()

    assert db.session.get(Shop, shop.id) is not None


def test_tasks_travel_through_the_configured_storage_to_a_worker(tmp_path: Path) -> None:
    # Redis in the PostgreSQL+Redis pass, huey's SQLite storage otherwise: both production setups.
    name = f"kizuna-test-{uuid.uuid4().hex}"
    queue: Huey = (
        RedisHuey(name, url=os.environ["REDIS_URL"])
        if os.environ.get("REDIS_URL")
        else SqliteHuey(name, filename=str(tmp_path / "huey.sqlite3"))
    )
    results: list[int] = []

    @queue.task()
    def add(a: int, b: int) -> None:
        results.append(a + b)

    add(2, 3)
    assert queue.pending_count() == 1
    queue.execute(queue.dequeue())
    assert results == [5]
    queue.storage.flush_all()
