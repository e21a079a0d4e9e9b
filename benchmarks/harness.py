"""What the benchmarks share: the real app with throwaway secrets, and a PostgreSQL database of
their own beside the one DATABASE_URL names (never the one it names)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def bench_app(url: str, **config: Any) -> Any:
    """The app on the database at `url`; tasks run in-process unless `config` says otherwise."""
    from cryptography.fernet import Fernet

    from server import create_app
    from server.config import _sqlalchemy_url

    return create_app(
        {
            "SECRET_KEY": "bench",
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SHOPIFY_API_KEY": "bench",
            "SHOPIFY_API_SECRET": "bench-secret",
            "APP_URL": "http://127.0.0.1",
            "DATABASE_URL": url,
            "SQLALCHEMY_DATABASE_URI": _sqlalchemy_url(url),
            "HUEY_IMMEDIATE": True,
            **config,
        }
    )


@contextmanager
def postgres_database(server_url: str, suffix: str, *, keep: bool = False) -> Iterator[str]:
    """The URL of database `<server_url's database>_<suffix>`, made empty for this run and
    dropped after it. With `keep`, an existing one is reused and it is left for the next run."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from server.config import _sqlalchemy_url

    base = make_url(_sqlalchemy_url(server_url))
    name = f"{base.database}_{suffix}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists and not keep:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        if not exists or not keep:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
