from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from server import create_app
from server.errors import Conflict
from tests.conftest import base_config


def test_unknown_paths_get_a_json_404(client: FlaskClient) -> None:
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.json["error"] == "not_found"


def test_a_wrong_method_gets_a_json_405(client: FlaskClient) -> None:
    response = client.delete("/healthz")

    assert response.status_code == 405
    assert response.json["error"] == "method_not_allowed"


def test_a_domain_error_becomes_its_status_and_code(tmp_path: Path) -> None:
    app = create_app(base_config(f"sqlite:///{tmp_path / 'errors.sqlite3'}"))

    class OfferClosed(Conflict):
        code = "offer_closed"

    @app.get("/_test/offer-closed")
    def offer_closed() -> None:
        raise OfferClosed("the offer ended", offer_id=3)

    response = app.test_client().get("/_test/offer-closed")

    assert response.status_code == 409
    assert response.json == {
        "error": "offer_closed",
        "message": "the offer ended",
        "details": {"offer_id": 3},
    }
