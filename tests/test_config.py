from __future__ import annotations

import re
from pathlib import Path

import pytest

from server import create_app
from server.config import DEFAULTS, ConfigError, load, validate
from tests.conftest import base_config

README = Path(__file__).resolve().parent.parent / "README.md"


def test_a_missing_required_setting_stops_the_app_at_start_and_names_it() -> None:
    config = load({})
    with pytest.raises(ConfigError) as error:
        validate(config)
    message = str(error.value)
    for name in (
        "SECRET_KEY",
        "ENCRYPTION_KEY",
        "SHOPIFY_API_KEY",
        "SHOPIFY_API_SECRET",
        "APP_URL",
    ):
        assert f"{name} is not set" in message


def test_create_app_refuses_to_start_without_the_api_secret(tmp_path: Path) -> None:
    config = base_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", SHOPIFY_API_SECRET="")
    with pytest.raises(ConfigError, match="SHOPIFY_API_SECRET is not set"):
        create_app(config)


def test_an_encryption_key_that_is_not_a_fernet_key_is_refused() -> None:
    config = load({"ENCRYPTION_KEY": "hunter2"})
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY must be a Fernet key"):
        validate(config)


def test_line_delivery_accepts_only_api_or_outbox() -> None:
    with pytest.raises(ConfigError, match="LINE_DELIVERY must be"):
        validate({**load({}), "LINE_DELIVERY": "smtp"})


def test_nothing_is_read_from_the_environment_until_load_is_called() -> None:
    assert load({"REDIS_URL": "redis://x"})["REDIS_URL"] == "redis://x"
    assert load({})["SHOPIFY_API_BASE_URL"] == "https://{shop}"


def test_postgres_urls_get_the_psycopg_driver() -> None:
    assert load({"DATABASE_URL": "postgres://u@h/db"})["SQLALCHEMY_DATABASE_URI"] == (
        "postgresql+psycopg://u@h/db"
    )


def test_readme_documents_every_environment_variable_with_its_default() -> None:
    readme = README.read_text(encoding="utf-8")
    for name in DEFAULTS:
        assert re.search(rf"^\| `{name}` \|", readme, re.MULTILINE), f"{name} missing from README"
