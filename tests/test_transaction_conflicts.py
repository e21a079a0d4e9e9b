"""Transactions that lose a race with another connection run again at once.

These tests need real concurrent connections, so they use a database of their own (committed
data, like the browser tests' live server), not the per-test outer transaction.
On SQLite the race is a reader that another connection's commit made stale; on PostgreSQL (run
here at REPEATABLE READ or SERIALIZABLE) a transaction that another one's update invalidated.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import flask_migrate
import pytest
from flask import Flask
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from server import create_app
from server.db import CONFLICT_ATTEMPTS, db, is_postgresql, run_in_transaction
from server.inbox.models import Message, Sender
from server.ingest.models import WebhookEvent
from server.line.models import LineChannel
from server.shops.models import Shop
from tests.conftest import base_config, create_database, worker_name
from tests.line.helpers import sign, text_message, webhook_body

SECRET = "fedcba9876543210fedcba9876543210"
CHANNEL_KEY = "conflict-test"


@pytest.fixture(scope="module")
def own_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    url = create_database(f"conflicts_{worker_name()}", tmp_path_factory.mktemp("conflicts"))
    # PostgreSQL at REPEATABLE READ: a transaction that updates a row another one changed since
    # its snapshot fails with a serialization failure, the conflict read committed never shows.
    options = {"isolation_level": "REPEATABLE READ"} if url.startswith("postgres") else {}
    app = create_app(base_config(url, SQLALCHEMY_ENGINE_OPTIONS=options))
    with app.app_context():
        flask_migrate.upgrade()
        shop = Shop(domain="conflict-test.myshopify.com", name="競合テスト")
        db.session.add(shop)
        db.session.flush()
        db.session.add(LineChannel(shop_id=shop.id, channel_key=CHANNEL_KEY, channel_secret=SECRET))
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def ctx(own_app: Flask) -> Iterator[None]:
    with own_app.app_context():
        yield
        db.session.remove()


def shop_name() -> str:
    return db.session.scalar(select(Shop.name).where(Shop.domain == "conflict-test.myshopify.com"))


def set_shop_name_elsewhere(name: str) -> None:
    """Another connection (the web process, say) commits a change."""
    with db.engine.connect() as other:
        other.execute(
            text("UPDATE shops SET name = :name WHERE domain = 'conflict-test.myshopify.com'"),
            {"name": name},
        )
        other.commit()


def begin_racy_read() -> None:
    """Read the shop row in a transaction that another connection's commit can invalidate."""
    if is_postgresql(db.engine):  # read committed never conflicts on a read
        db.session.execute(text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
    shop_name()


def test_a_transaction_that_lost_a_race_runs_again_and_commits(ctx: None) -> None:
    runs: list[str] = []

    def work() -> str:
        begin_racy_read()
        if not runs:
            set_shop_name_elsewhere("他の接続")  # commits between our read and our write
        runs.append("run")
        db.session.execute(
            text("UPDATE shops SET currency = 'JPY' WHERE domain = 'conflict-test.myshopify.com'")
        )
        db.session.flush()
        return shop_name()

    assert run_in_transaction(work) == "他の接続"  # the second run saw the other commit
    assert runs == ["run", "run"]
    db.session.remove()
    assert shop_name() == "他の接続"


def test_an_error_that_is_not_a_conflict_is_not_run_again(ctx: None) -> None:
    runs: list[int] = []

    def work() -> None:
        runs.append(1)
        db.session.add(Shop(domain="conflict-test.myshopify.com", name="重複"))
        db.session.flush()

    with pytest.raises(IntegrityError):
        run_in_transaction(work)
    assert runs == [1]
    assert db.session.scalar(select(func.count()).select_from(Shop)) == 1


def test_a_conflict_that_keeps_happening_gives_up_after_the_last_attempt(ctx: None) -> None:
    runs: list[int] = []

    def work() -> None:
        begin_racy_read()
        set_shop_name_elsewhere(f"毎回{len(runs)}")
        runs.append(1)
        db.session.execute(
            text("UPDATE shops SET name = 'こちら' WHERE domain = 'conflict-test.myshopify.com'")
        )
        db.session.flush()

    with pytest.raises(OperationalError):
        run_in_transaction(work)
    assert len(runs) == CONFLICT_ATTEMPTS
    assert shop_name() == f"毎回{CONFLICT_ATTEMPTS - 1}"  # none of our writes landed


_changes = itertools.count(1)


def commit_elsewhere_after_first(
    match: Callable[[str], bool], change: Callable[[], None]
) -> Callable[[], None]:
    """Once a statement matching `match` ran on the app's connections, another connection
    commits `change` at once: the transaction that ran it now holds a stale read."""
    fired = threading.Event()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not fired.is_set() and match(statement):
            fired.set()
            change()

    event.listen(db.engine, "after_cursor_execute", after)
    return lambda: event.remove(db.engine, "after_cursor_execute", after)


def rename_shop_elsewhere() -> None:
    set_shop_name_elsewhere(f"並行する更新{next(_changes)}")  # a new value: a real change


def touch_unprocessed_events_elsewhere() -> None:
    """Another connection changes the stored events the task is about to update."""
    with db.engine.connect() as other:
        other.execute(
            text("UPDATE webhook_events SET last_error = :note WHERE processed_at IS NULL"),
            {"note": f"elsewhere {next(_changes)}"},
        )
        other.commit()


def post_message(app: Flask, text_: str) -> tuple[int, str]:
    body = webhook_body([text_message("U" + "c" * 32, text_)])
    headers = {"Content-Type": "application/json", "X-Line-Signature": sign(SECRET, body)}
    response = app.test_client().post(f"/line/webhook/{CHANNEL_KEY}", data=body, headers=headers)
    return response.status_code, response.get_data(as_text=True)


def test_a_webhook_whose_read_went_stale_is_still_stored_not_refused(
    own_app: Flask, ctx: None
) -> None:
    # The webhook reads the channel, then stores the event: a commit in between. On SQLite the
    # store then conflicts and runs again; PostgreSQL lets it through. Either way: stored, 200.
    stop = commit_elsewhere_after_first(lambda s: "FROM line_channels" in s, rename_shop_elsewhere)
    try:
        status, body = post_message(own_app, "営業時間は？")
    finally:
        stop()
    assert (status, body) == (200, "")  # not 503: LINE redelivers only if the shop opted in
    events = db.session.scalars(select(WebhookEvent).where(WebhookEvent.source == "line")).all()
    assert [e.payload["message"]["text"] for e in events][-1:] == ["営業時間は？"]


def test_a_message_whose_processing_went_stale_is_processed_at_once(
    own_app: Flask, ctx: None
) -> None:
    # The task reads the stored event, then updates it after another connection changed it: a
    # conflict on both databases. Without running again at once, huey's retry would come 30
    # seconds later and staff would not see the message.
    stop = commit_elsewhere_after_first(
        lambda s: "WHERE webhook_events.id = " in s, touch_unprocessed_events_elsewhere
    )
    try:
        status, _ = post_message(own_app, "工場見学はできますか？")
    finally:
        stop()
    assert status == 200
    db.session.remove()
    stored = db.session.scalars(
        select(WebhookEvent).where(WebhookEvent.source == "line").order_by(WebhookEvent.id.desc())
    ).first()
    assert stored is not None
    assert stored.payload["message"]["text"] == "工場見学はできますか？"
    assert stored.processed_at is not None
    assert stored.last_error is None
    texts = db.session.scalars(
        select(Message.text).where(Message.sender == Sender.CUSTOMER).order_by(Message.id)
    ).all()
    assert texts[-1] == "工場見学はできますか？"
