"""The test harness: one app and one migrated database per test session (per xdist worker), and
a transaction per test that is rolled back afterwards, so code under test may commit freely.

DATABASE_URL (PostgreSQL) and REDIS_URL come from the environment when `make test` runs the
second pass; otherwise each worker gets its own SQLite file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import scoped_session, sessionmaker

from server import create_app
from server.db import db, utcnow
from server.shopify import session_token
from server.shops.models import Shop
from tests.fakes.line_api import _line_server, line_api  # noqa: F401 - fixtures for all
from tests.fakes.shopify_api import _shopify_server, shopify_api  # noqa: F401 - fixtures for all

API_KEY = "test-api-key"
API_SECRET = "shpss_test_0123456789abcdef0123456789abcdef"
ENCRYPTION_KEY = Fernet.generate_key().decode()


def base_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    from server.config import _sqlalchemy_url

    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "ENCRYPTION_KEY": ENCRYPTION_KEY,
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": API_SECRET,
        "APP_URL": "https://kizuna.test",
        "DATABASE_URL": database_url,
        "SQLALCHEMY_DATABASE_URI": _sqlalchemy_url(database_url),
        "HUEY_IMMEDIATE": True,
        "DEMO": False,
        **overrides,
    }


def create_database(name: str, tmp_dir: Path) -> str:
    """A fresh, empty database for this worker: a PostgreSQL database or a SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        path = tmp_dir / f"{name}.sqlite3"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    from server.config import _sqlalchemy_url

    base = make_url(_sqlalchemy_url(url))
    database = f"{base.database}_{name}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    return base.set(database=database).render_as_string(hide_password=False)


def worker_name() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return create_database(f"test_{worker_name()}", tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(base_config(database_url))
    with app.app_context():
        flask_migrate.upgrade()  # the schema comes from the migrations, as in production
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _transaction(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test in one outer transaction; commits inside it become savepoints."""
    if "app" not in request.fixturenames and "db_session" not in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("app")
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        db.session = scoped_session(factory, scopefunc=_app_ctx_id)
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def shop(app_ctx: None) -> Shop:
    from tests.factories.shops import ShopFactory

    return ShopFactory()


def session_token_for(shop_domain: str, secret: str = API_SECRET, **claims: Any) -> str:
    now = utcnow()
    payload = {
        "iss": f"https://{shop_domain}/admin",
        "dest": f"https://{shop_domain}",
        "aud": API_KEY,
        "sub": "42",
        "exp": int((now + timedelta(minutes=1)).timestamp()),
        "nbf": int((now - timedelta(seconds=5)).timestamp()),
        "iat": int(now.timestamp()),
        "jti": "test-jti",
        "sid": "test-sid",
        **claims,
    }
    return session_token.encode(payload, api_secret=secret)


class AdminClient:
    """Calls the admin API the way App Bridge does: a fresh session token per request."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def request(self, method: str, path: str, *, shop: Shop, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {session_token_for(shop.domain)}"}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, *, shop: Shop, **kwargs: Any) -> Any:
        return self.request("GET", path, shop=shop, **kwargs)

    def post(self, path: str, *, shop: Shop, **kwargs: Any) -> Any:
        return self.request("POST", path, shop=shop, **kwargs)

    def put(self, path: str, *, shop: Shop, **kwargs: Any) -> Any:
        return self.request("PUT", path, shop=shop, **kwargs)

    def delete(self, path: str, *, shop: Shop, **kwargs: Any) -> Any:
        return self.request("DELETE", path, shop=shop, **kwargs)


@pytest.fixture
def admin(client: FlaskClient) -> AdminClient:
    return AdminClient(client)
