"""Configuration from the environment: read when `load` is called, never at import."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"

REQUIRED = ("SECRET_KEY", "ENCRYPTION_KEY", "SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "APP_URL")

# Every variable the app reads, with its default (None = required, "" = optional and empty).
# README.md documents the same list; tests/test_config.py keeps the two in step.
DEFAULTS: dict[str, str | None] = {
    "DATABASE_URL": f"sqlite:///{INSTANCE_DIR / 'kizuna.sqlite3'}",
    "REDIS_URL": "",
    "SECRET_KEY": None,
    "ENCRYPTION_KEY": None,
    "APP_URL": None,
    "SHOPIFY_API_KEY": None,
    "SHOPIFY_API_SECRET": None,
    "SHOPIFY_API_SECRET_OLD": "",
    "SHOPIFY_SCOPES": (
        "read_products,read_customers,read_orders,read_all_orders,write_discounts,"
        "read_discounts,read_own_subscription_contracts,write_app_proxy"
    ),
    "SHOPIFY_API_VERSION": "2025-04",
    "SHOPIFY_API_BASE_URL": "https://{shop}",
    "LINE_DELIVERY": "",
    "LINE_API_BASE_URL": "https://api.line.me",
    "LINE_LOGIN_BASE_URL": "https://access.line.me",
    "KIZUNA_DEMO": "",
    "HUEY_SQLITE_PATH": str(INSTANCE_DIR / "huey.sqlite3"),
    "LOG_LEVEL": "INFO",
}


class ConfigError(RuntimeError):
    """The environment does not describe a runnable app. The message says what to set."""


def load(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {name: environ.get(name, default) for name, default in DEFAULTS.items()}
    return {
        **values,
        "DEMO": _flag(values["KIZUNA_DEMO"]),
        "SQLALCHEMY_DATABASE_URI": _sqlalchemy_url(values["DATABASE_URL"] or ""),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "MIGRATIONS_DIR": PROJECT_ROOT / "migrations",
    }


def validate(config: Mapping[str, Any]) -> None:
    """Fail at start, loudly and with every problem at once, rather than at the first request."""
    problems = [f"{name} is not set" for name in REQUIRED if not config.get(name)]
    key = config.get("ENCRYPTION_KEY")
    if key and not all(_is_fernet_key(part) for part in str(key).split(",")):
        problems.append(
            "ENCRYPTION_KEY must be a Fernet key (32 url-safe base64 bytes), or several joined "
            'by commas, newest first; make one with: python -c "from cryptography.fernet import '
            'Fernet; print(Fernet.generate_key().decode())"'
        )
    if config.get("LINE_DELIVERY") not in ("", "api", "outbox"):
        problems.append("LINE_DELIVERY must be 'api' or 'outbox'")
    app_url = str(config.get("APP_URL") or "")
    if app_url and not app_url.startswith(("https://", "http://")):
        problems.append("APP_URL must be an absolute http(s) URL")
    if problems:
        raise ConfigError("Kizuna cannot start: " + "; ".join(problems) + ".")


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _sqlalchemy_url(url: str) -> str:
    # Heroku-style URLs say postgres://; SQLAlchemy wants the driver named (psycopg 3).
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _is_fernet_key(value: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(value.strip().encode())) == 32
    except (binascii.Error, ValueError):
        return False
