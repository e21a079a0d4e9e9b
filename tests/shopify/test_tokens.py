"""Expiring offline tokens: refresh before expiry, one refresh when several processes race,
and a refused refresh disconnects the shop."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import flask_migrate
import pytest
from flask import Flask
from pytest_httpserver import HTTPServer

from server import create_app
from server.db import db, utcnow
from server.shopify import tokens
from server.shopify.errors import ShopNotConnected
from server.shops.models import Shop
from tests.conftest import base_config, create_database, worker_name
from tests.factories.shops import ShopFactory
from tests.fakes.shopify_api import ShopifyStandIn


@pytest.fixture
def committed_app(
    tmp_path: Path, _shopify_server: HTTPServer
) -> Iterator[tuple[Flask, ShopifyStandIn]]:
    """An app on a database of its own whose rows are really committed, so several threads (as
    several worker processes would) see one another's writes."""
    app = create_app(base_config(create_database(f"tokens_{worker_name()}", tmp_path)))
    stand_in = ShopifyStandIn(_shopify_server, app)
    _shopify_server.clear()
    _shopify_server.expect_request(re.compile(r"^/.*")).respond_with_handler(stand_in.dispatch)
    app.config["SHOPIFY_API_BASE_URL"] = stand_in.base_url
    with app.app_context():
        flask_migrate.upgrade()
    yield app, stand_in
    _shopify_server.clear()
    with app.app_context():
        db.engine.dispose()


def shop_due_for_refresh(app: Flask, stand_in: ShopifyStandIn, domain: str) -> int:
    """An installed shop whose access token (issued by the stand-in, which now accepts only its
    own tokens) expires in two minutes: the next request refreshes it."""
    with app.app_context():
        shop = Shop(domain=domain, installed_at=utcnow(), settings={})
        db.session.add(shop)
        stand_in.connect(shop)
        shop.access_token_expires_at = utcnow() + timedelta(minutes=2)
        db.session.commit()
        shop_id = shop.id
    stand_in.strict_tokens = True
    return shop_id


def test_concurrent_refreshes_spend_the_single_use_refresh_token_once(
    committed_app: tuple[Flask, ShopifyStandIn],
) -> None:
    app, stand_in = committed_app
    shop_id = shop_due_for_refresh(app, stand_in, "race.myshopify.com")
    stand_in.refresh_retry_window = 0  # no grace: a second use of the refresh token fails
    stand_in.token_delay = 0.3  # a slow refresh, so the others arrive while it runs
    start = threading.Barrier(4)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        with app.app_context():
            try:
                row = db.session.get(Shop, shop_id)
                assert row is not None
                start.wait()
                results.append(tokens.access_token_for(row))
            except BaseException as error:
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    refreshes = [r for r in stand_in.token_requests if r.grant_type == "refresh_token"]
    assert len(refreshes) == 1
    assert len(set(results)) == 1
    with app.app_context():
        row = db.session.get(Shop, shop_id)
        assert row is not None
        assert row.installed
        assert row.access_token == results[0]
        assert row.token_lease_until is None
        assert stand_in._token_valid("race.myshopify.com", row.access_token)


def test_a_refresh_whose_lease_was_taken_over_mid_flight_does_not_log_the_shop_out(
    committed_app: tuple[Flask, ShopifyStandIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refreshes; Shopify rotates the token but A's answer is slow, A's lease runs out, B
    takes it over and spends the same refresh token: refused. That refusal must not mark the
    shop disconnected while A is about to store the new pair."""
    app, stand_in = committed_app
    shop_id = shop_due_for_refresh(app, stand_in, "slow.myshopify.com")
    stand_in.refresh_retry_window = 0  # no grace: the second use is refused at once
    stand_in.token_answer_delays = [2.0]  # A's answer arrives two seconds after the rotation
    monkeypatch.setattr(tokens, "LEASE", timedelta(seconds=0.2))
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def refresh(name: str, wait_for_a: bool) -> None:
        if wait_for_a:  # until Shopify has rotated A's token and A's lease has run out
            while not stand_in.token_requests:
                time.sleep(0.01)
            time.sleep(0.3)
        with app.app_context():
            try:
                row = db.session.get(Shop, shop_id)
                assert row is not None
                results[name] = tokens.access_token_for(row)
            except BaseException as error:
                errors.append(error)
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=refresh, args=("A", False)),
        threading.Thread(target=refresh, args=("B", True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    refreshes = [r for r in stand_in.token_requests if r.grant_type == "refresh_token"]
    assert [r.status for r in refreshes] == [200, 400]  # B's use of the spent token: refused
    assert results["A"] == results["B"]
    with app.app_context():
        row = db.session.get(Shop, shop_id)
        assert row is not None
        assert row.installed
        assert row.access_token == results["A"]
        assert stand_in._token_valid("slow.myshopify.com", row.access_token)


def test_a_refused_refresh_disconnects_the_shop(shopify_api: ShopifyStandIn, app_ctx: None) -> None:
    shop = ShopFactory()
    shopify_api.connect(shop)
    shopify_api.revoke(shop.domain)
    shop.access_token_expires_at = utcnow() + timedelta(minutes=1)
    db.session.flush()

    with pytest.raises(ShopNotConnected, match="refused the token refresh"):
        tokens.access_token_for(shop)

    db.session.expire_all()
    assert not shop.installed
    assert shop.access_token is None
    assert shop.refresh_token is None


def test_an_expired_refresh_token_means_the_merchant_must_open_the_app(
    shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    shop = ShopFactory(
        access_token_expires_at=utcnow() - timedelta(minutes=1),
        refresh_token_expires_at=utcnow() - timedelta(days=1),
    )

    with pytest.raises(ShopNotConnected, match="open the app"):
        tokens.access_token_for(shop)
    assert shopify_api.token_requests == []


def test_a_transient_refresh_failure_keeps_the_shop_connected(
    shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    from server.shopify.errors import ShopifyUnavailable

    shop = ShopFactory()
    shopify_api.connect(shop)
    shop.access_token_expires_at = utcnow() + timedelta(minutes=1)
    db.session.flush()
    shopify_api.fail_token_endpoint(503, 503, 503)

    with pytest.raises(ShopifyUnavailable):
        tokens.access_token_for(shop)

    db.session.expire_all()
    assert shop.installed
    assert shop.refresh_token is not None
    assert shop.token_lease_until is None  # released for the next try
    assert tokens.access_token_for(shop) != ""  # and the next try works


def test_the_periodic_task_refreshes_tokens_before_they_are_needed(
    shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    from server.shopify.tasks import refresh_expiring_tokens

    soon = ShopFactory()
    shopify_api.connect(soon)
    soon.access_token_expires_at = utcnow() + timedelta(minutes=10)
    later = ShopFactory()
    shopify_api.connect(later)
    db.session.commit()
    before = later.access_token

    refresh_expiring_tokens.call_local()

    db.session.expire_all()
    assert soon.access_token_expires_at is not None
    assert soon.access_token_expires_at > utcnow() + timedelta(minutes=50)
    assert later.access_token == before
