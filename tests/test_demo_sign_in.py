"""The demo's local sign-in exists only with KIZUNA_DEMO=1, and only on the loopback interface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient

from server import create_app
from server.db import db
from server.demo.seed import DEMO_DOMAIN, seed_demo_shop
from tests.conftest import base_config, create_database

LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from tests.conftest import worker_name

    url = create_database(f"demo_{worker_name()}", tmp_path_factory.mktemp("demo"))
    app = create_app(base_config(url, DEMO=True))
    with app.app_context():
        flask_migrate.upgrade()
        seed_demo_shop(now=datetime(2026, 11, 1, tzinfo=UTC), customers=100)
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def demo_client(demo_app: Flask) -> FlaskClient:
    return demo_app.test_client()


def sign_in(client: FlaskClient) -> None:
    response = client.post("/demo/sign-in", base_url="http://127.0.0.1:8000", environ_base=LOOPBACK)
    assert response.status_code == 302


def test_without_demo_mode_the_sign_in_does_not_exist(client: FlaskClient) -> None:
    assert client.get("/demo/sign-in", environ_base=LOOPBACK).status_code == 404
    assert client.post("/demo/sign-in", environ_base=LOOPBACK).status_code == 404
    assert client.get("/demo/session-token", environ_base=LOOPBACK).status_code == 404


def test_without_demo_mode_the_admin_home_does_not_open_without_shopify(
    client: FlaskClient,
) -> None:
    response = client.get("/", environ_base=LOOPBACK)

    assert response.status_code == 400
    assert "DEMO" not in response.get_data(as_text=True)


def test_the_sign_in_page_is_clearly_marked_as_demo(demo_client: FlaskClient) -> None:
    response = demo_client.get(
        "/demo/sign-in", base_url="http://127.0.0.1:8000", environ_base=LOOPBACK
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "DEMO" in page
    assert "デモモード" in page
    assert DEMO_DOMAIN in page


def test_the_demo_answers_only_on_loopback(demo_client: FlaskClient) -> None:
    from_lan = demo_client.get(
        "/demo/sign-in", base_url="http://127.0.0.1:8000", environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    other_host = demo_client.get(
        "/demo/sign-in", base_url="http://kizuna.example.com", environ_base=LOOPBACK
    )

    assert from_lan.status_code == 404
    assert other_host.status_code == 404


def test_signing_in_opens_the_admin_and_its_api(demo_client: FlaskClient) -> None:
    assert demo_client.get("/", base_url="http://127.0.0.1:8000").status_code == 302
    sign_in(demo_client)

    home = demo_client.get("/", base_url="http://127.0.0.1:8000", environ_base=LOOPBACK)
    token = demo_client.get(
        "/demo/session-token", base_url="http://127.0.0.1:8000", environ_base=LOOPBACK
    ).json["token"]
    shop = demo_client.get("/api/admin/shop", headers={"Authorization": f"Bearer {token}"})

    assert home.status_code == 200
    assert shop.status_code == 200
    assert shop.json["domain"] == DEMO_DOMAIN
    assert shop.json["counts"]["customers"] == 100


def test_a_session_token_needs_the_sign_in_first(demo_client: FlaskClient) -> None:
    response = demo_client.get(
        "/demo/session-token", base_url="http://127.0.0.1:8000", environ_base=LOOPBACK
    )
    assert response.status_code == 401
