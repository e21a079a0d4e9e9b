from __future__ import annotations

from sqlalchemy import text

from server.db import db
from tests.factories.shops import ShopFactory


def test_tokens_round_trip_and_are_not_stored_in_plaintext(app_ctx: None) -> None:
    shop = ShopFactory(access_token="shpat_secret_value", refresh_token="shprt_refresh_value")
    db.session.flush()
    db.session.expire(shop)

    assert shop.access_token == "shpat_secret_value"
    assert shop.refresh_token == "shprt_refresh_value"
    stored = db.session.execute(
        text("SELECT access_token, refresh_token FROM shops WHERE id = :id"), {"id": shop.id}
    ).one()
    assert "shpat_secret_value" not in stored.access_token
    assert "shprt_refresh_value" not in stored.refresh_token
    assert stored.access_token.startswith("gAAAA")  # a Fernet token


def test_two_encryptions_of_one_value_differ(app_ctx: None) -> None:
    from server.crypto import encrypt

    assert encrypt("same") != encrypt("same")
