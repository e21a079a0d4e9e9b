"""One driver per backfill run: the worker task, the resume job and the CLI claim the run's lease
before importing; a live holder keeps it, a stale one (no heartbeat for 5 minutes) is taken over,
and a driver that lost it writes nothing more."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from huey.api import Task

from server.commerce.models import Order
from server.db import db, utcnow
from server.jobs import huey
from server.shopify import backfill, cli, lease, tasks
from server.shopify.models import BackfillRun
from server.shops.models import Shop
from tests.fakes.shopify_api import ShopifyStandIn
from tests.shopify.test_backfill import count, history
from tests.shopify.test_tokens import committed_app  # noqa: F401 - a database of its own

STALE = lease.LEASE_TIMEOUT + timedelta(seconds=1)


@pytest.fixture
def run(shop: Shop) -> BackfillRun:
    huey.storage.flush_schedule()  # the in-memory queue of immediate mode outlives a test
    run = backfill.start(shop, now=utcnow())
    db.session.commit()
    return run


def continuations(run: BackfillRun) -> list[Task]:
    """The worker's scheduled next calls of advance_backfill for `run`."""
    return [
        t for t in huey.scheduled() if t.name.endswith("advance_backfill") and t.args[0] == run.id
    ]


def test_a_second_driver_is_refused_while_the_first_holds_a_live_lease(
    shopify_api: ShopifyStandIn, shop: Shop, run: BackfillRun
) -> None:
    shopify_api.enable_bulk_operations(history())
    first = lease.claim(run, now=utcnow())
    assert first is not None

    assert lease.claim(run, now=utcnow() + lease.LEASE_TIMEOUT - timedelta(seconds=1)) is None
    tasks.advance_backfill(run.id)  # the worker, or the resume job, while the CLI imports
    tasks.resume_backfills.call_local()

    db.session.refresh(run)
    assert run.driver_token == first.token
    assert run.status == "pending"  # nobody but the holder moved it
    assert shopify_api.graphql_calls == []
    assert continuations(run) == []
    assert lease.claim(run, now=utcnow(), token=first.token) == first  # the holder goes on


def test_a_driver_whose_heartbeat_is_stale_is_taken_over(
    shopify_api: ShopifyStandIn, shop: Shop, run: BackfillRun
) -> None:
    shopify_api.enable_bulk_operations(history())
    crashed = lease.claim(run, now=utcnow() - STALE)
    assert crashed is not None

    tasks.resume_backfills.call_local()

    db.session.refresh(run)
    assert run.driver_token not in (None, crashed.token)
    assert run.status == "running"  # counted and the products export started
    (continuation,) = continuations(run)
    assert continuation.args == (run.id, run.driver_token)  # it keeps the run while it waits
    asked = len(shopify_api.graphql_calls)
    with pytest.raises(lease.LeaseLost):
        backfill.step(shop, run, crashed, now=utcnow())  # the crashed one wakes up: too late
    assert len(shopify_api.graphql_calls) == asked  # it stopped before polling Shopify


def test_the_worker_keeps_the_run_while_shopify_works_and_releases_it_when_done(
    shopify_api: ShopifyStandIn, shop: Shop, run: BackfillRun
) -> None:
    shopify_api.enable_bulk_operations(history(), polls_until_done=2)

    tasks.advance_backfill(run.id)
    for _ in range(20):
        if not (pending := continuations(run)):
            break
        huey.storage.flush_schedule()
        db.session.refresh(run)
        assert run.driver_token == pending[0].args[1]  # held across the wait
        assert lease.claim(run, now=utcnow()) is None  # so the resume job stays out
        tasks.advance_backfill.call_local(*pending[0].args)

    db.session.refresh(run)
    assert run.status == "completed"
    assert (run.driver_token, run.driver_heartbeat_at) == (None, None)
    assert len(shopify_api.calls("bulkOperationRunQuery")) == 3
    assert count(Order, shop) == 7


def test_a_driver_that_lost_its_lease_mid_import_stops_and_writes_nothing_more(
    shopify_api: ShopifyStandIn, shop: Shop, run: BackfillRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill, "BATCH_ROOTS", 3)
    shopify_api.enable_bulk_operations(history(orders=8))
    slow = lease.claim(run, now=utcnow())
    assert slow is not None
    original = backfill._orders
    taken: dict[str, Any] = {}

    def taken_over_before_the_second_batch(*args: Any) -> int:
        if run.imported["orders"] == 3 and not taken:
            # Between two of the slow driver's batches its heartbeat went stale and another
            # driver claimed the run; the slow one goes on converting this batch.
            taken["lease"] = lease.claim(run, now=utcnow() + STALE)
        return original(*args)

    monkeypatch.setattr(
        backfill,
        "_CONVERTERS",
        {**backfill._CONVERTERS, "orders": taken_over_before_the_second_batch},
    )

    def drive_slowly() -> None:
        for _ in range(20):
            backfill.step(shop, run, slow, now=utcnow())

    with pytest.raises(lease.LeaseLost):
        drive_slowly()

    db.session.refresh(run)
    assert taken["lease"] is not None
    assert run.driver_token == taken["lease"].token
    assert (run.stage, run.lines_done, run.imported["orders"]) == ("orders", 6, 3)
    assert count(Order, shop) == 3  # the batch converted after the takeover was rolled back
    downloads = len(shopify_api.graphql_calls)
    with pytest.raises(lease.LeaseLost):
        backfill.step(shop, run, slow, now=utcnow())
    assert len(shopify_api.graphql_calls) == downloads  # asked Shopify nothing more

    monkeypatch.setattr(backfill, "_CONVERTERS", {**backfill._CONVERTERS, "orders": original})
    for _ in range(20):
        if backfill.step(shop, run, taken["lease"], now=utcnow()) == "done":
            break
    assert run.status == "completed"
    assert (run.imported["orders"], count(Order, shop)) == (8, 8)


def test_a_worker_that_fails_mid_import_lets_go_and_its_retry_resumes(
    shopify_api: ShopifyStandIn, shop: Shop, run: BackfillRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill, "BATCH_ROOTS", 3)
    shopify_api.enable_bulk_operations(history(orders=8), polls_until_done=1)
    original = backfill._orders
    calls = {"n": 0}

    def fails_on_the_third_batch(*args: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("database went away")
        return original(*args)

    monkeypatch.setattr(
        backfill, "_CONVERTERS", {**backfill._CONVERTERS, "orders": fails_on_the_third_batch}
    )
    with pytest.raises(RuntimeError):
        drive_with_the_task(run)

    db.session.refresh(run)
    assert (run.stage, run.imported["orders"], run.driver_token) == ("orders", 6, None)
    drive_with_the_task(run)  # huey's retry: claims at once, no five-minute wait

    db.session.refresh(run)
    assert run.status == "completed"
    assert (run.imported["orders"], count(Order, shop)) == (8, 8)


def drive_with_the_task(run: BackfillRun) -> None:
    """The real task, then its scheduled continuations, until none is left."""
    tasks.advance_backfill.call_local(run.id)
    for _ in range(20):
        pending = continuations(run)
        if not pending:
            return
        huey.storage.flush_schedule()
        tasks.advance_backfill.call_local(*pending[0].args)


def test_the_cli_watches_a_run_that_a_live_worker_holds(
    app: Flask,
    shopify_api: ShopifyStandIn,
    shop: Shop,
    run: BackfillRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shopify_api.enable_bulk_operations(history(), polls_until_done=2)
    tasks.advance_backfill(run.id)  # the worker started, and waits for Shopify
    db.session.refresh(run)
    worker_token = run.driver_token
    assert worker_token is not None
    stepped_by: list[str] = []
    looks: list[float] = []
    original_step = backfill.step

    def step(shop: Shop, run: BackfillRun, held: lease.Lease, **kwargs: Any) -> str:
        stepped_by.append(held.token)
        return original_step(shop, run, held, **kwargs)

    def the_worker_goes_on(seconds: float) -> None:
        # While the CLI sleeps between looks, the worker's scheduled continuation runs.
        looks.append(seconds)
        if len(looks) > 30:
            raise AssertionError("the import never finished")
        pending = continuations(run)
        huey.storage.flush_schedule()
        for task in pending:
            tasks.advance_backfill.call_local(*task.args)

    monkeypatch.setattr(backfill, "step", step)
    monkeypatch.setattr(cli.time, "sleep", the_worker_goes_on)

    result = CliRunner().invoke(
        app.cli,
        ["shopify", "backfill", "--shop", shop.domain, "--poll", "0"],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    assert "is importing this history; watching its progress" in result.output
    assert "100% orders (1 products, 3 customers, 7 orders)" in result.output
    assert "imported 1 products, 3 customers, 7 orders" in result.output
    assert stepped_by
    assert set(stepped_by) == {worker_token}  # the CLI never imported itself
    assert len(shopify_api.calls("bulkOperationRunQuery")) == 3
    assert count(Order, shop) == 7


def test_the_cli_takes_over_from_a_worker_that_stopped_heartbeating(
    app: Flask, shopify_api: ShopifyStandIn, shop: Shop, run: BackfillRun
) -> None:
    shopify_api.enable_bulk_operations(history())
    assert lease.claim(run, now=utcnow() - STALE) is not None  # a worker that died

    result = CliRunner().invoke(
        app.cli,
        ["shopify", "backfill", "--shop", shop.domain, "--poll", "0"],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    assert "watching" not in result.output
    assert "imported 1 products, 3 customers, 7 orders" in result.output
    db.session.refresh(run)
    assert (run.status, run.driver_token) == ("completed", None)


def test_drivers_racing_for_a_free_run_get_exactly_one_lease(
    committed_app: tuple[Flask, ShopifyStandIn],  # noqa: F811 - the fixture imported above
) -> None:
    app, _ = committed_app
    with app.app_context():
        racing = Shop(domain="race.myshopify.com", installed_at=utcnow(), settings={})
        db.session.add(racing)
        db.session.flush()
        run_id = backfill.start(racing, now=utcnow()).id
        db.session.commit()
    start = threading.Barrier(4)
    leases: list[lease.Lease | None] = []
    errors: list[BaseException] = []

    def driver() -> None:
        with app.app_context():
            try:
                run = db.session.get(
                    BackfillRun, run_id
                )  # each read the row first, as the task does
                assert run is not None
                start.wait()
                leases.append(lease.claim(run, now=utcnow()))
            except BaseException as error:
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=driver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    (winner,) = [held for held in leases if held is not None]
    assert len(leases) == 4
    with app.app_context():
        row = db.session.get(BackfillRun, run_id)
        assert row is not None
        assert row.driver_token == winner.token
