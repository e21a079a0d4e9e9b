from __future__ import annotations

import re
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from server import models
from server.db import db

ROOT = Path(__file__).resolve().parent.parent


def test_there_is_a_single_migration_head(app: Flask) -> None:
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        script = ScriptDirectory.from_config(config)
        assert len(script.get_heads()) == 1


def test_the_migrated_schema_matches_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_every_models_module_is_registered() -> None:
    on_disk = {
        "server." + ".".join(path.relative_to(ROOT / "server").with_suffix("").parts)
        for path in (ROOT / "server").rglob("models.py")
        if path.parent != ROOT / "server"
    }
    assert set(models.MODEL_MODULES) == on_disk


def test_migration_files_are_dated() -> None:
    for path in (ROOT / "migrations" / "versions").glob("*.py"):
        assert re.match(r"^\d{8}_\d{4}_[0-9a-f]+_\w+\.py$", path.name), path.name
