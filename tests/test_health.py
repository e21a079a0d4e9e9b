from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from server import create_app
from server.version import __version__
from tests.conftest import base_config


def test_healthz_reports_database_queue_and_version(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["database"]["ok"] is True
    assert response.json["queue"]["ok"] is True
    assert response.json["version"] == __version__


def test_healthz_answers_503_with_json_when_the_database_is_unreachable(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "kizuna.sqlite3"
    app = create_app(base_config(f"sqlite:///{missing}"))

    response = app.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json["status"] == "down"
    assert response.json["database"] == {"ok": False, "backend": "sqlite", "error": "unreachable"}
