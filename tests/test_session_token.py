"""Session-token authentication of /api/admin (Shopify's documented claims and checks)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from flask import Flask
from jwt.warnings import InsecureKeyLengthWarning

from server.db import utcnow
from server.shops.models import Shop
from tests.conftest import API_KEY, API_SECRET, AdminClient, session_token_for
from tests.factories.shops import ShopFactory

RETRY = "X-Shopify-Retry-Invalid-Session-Request"
FORGED_SECRET = "shpss_forged_0123456789abcdef0123456789abcd"


def call(admin: AdminClient, token: str) -> object:
    return admin.client.get("/api/admin/shop", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def installed(app_ctx: None) -> Shop:
    return ShopFactory()


def test_a_valid_token_identifies_the_shop(admin: AdminClient, installed: Shop) -> None:
    response = call(admin, session_token_for(installed.domain))

    assert response.status_code == 200
    assert response.json["domain"] == installed.domain


def seconds_from_now(seconds: int) -> int:
    return int((utcnow() + timedelta(seconds=seconds)).timestamp())


# Times are computed when the test runs, not when it is collected: a loaded machine can take
# longer than a token's lifetime between the two.
@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(lambda: {"exp": seconds_from_now(-30)}, id="expired"),
        pytest.param(lambda: {"nbf": seconds_from_now(60)}, id="not-yet-valid"),
        pytest.param(lambda: {"aud": "another-apps-key"}, id="foreign-audience"),
        pytest.param(
            lambda: {"secret": "shpss_forged_0123456789abcdef0123456789abcd"}, id="forged"
        ),
        pytest.param(lambda: {"iss": "https://elsewhere.myshopify.com/admin"}, id="iss-not-dest"),
        pytest.param(lambda: {"dest": "https://evil.example.com"}, id="dest-not-a-shop"),
    ],
)
def test_bad_tokens_get_401_json_and_the_retry_header(
    admin: AdminClient, installed: Shop, claims: Callable[[], dict[str, Any]]
) -> None:
    response = call(admin, session_token_for(installed.domain, **claims()))

    assert response.status_code == 401
    assert response.json["error"] == "invalid_session_token"
    assert response.headers[RETRY] == "1"


def test_clock_skew_within_ten_seconds_is_accepted(admin: AdminClient, installed: Shop) -> None:
    skewed = int((utcnow() - timedelta(seconds=5)).timestamp())
    assert call(admin, session_token_for(installed.domain, exp=skewed)).status_code == 200


def test_an_unsigned_token_is_refused(admin: AdminClient, installed: Shop) -> None:
    now = int(utcnow().timestamp())
    claims = {
        "iss": f"https://{installed.domain}/admin",
        "dest": f"https://{installed.domain}",
        "aud": API_KEY,
        "exp": now + 60,
        "nbf": now - 5,
        "sub": "1",
    }
    unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]

    assert call(admin, unsigned).status_code == 401


def test_a_missing_token_gets_401(admin: AdminClient, installed: Shop) -> None:
    response = admin.client.get("/api/admin/shop")

    assert response.status_code == 401
    assert response.headers[RETRY] == "1"


def test_a_token_for_a_shop_that_never_installed_gets_401(
    admin: AdminClient, app_ctx: None
) -> None:
    assert call(admin, session_token_for("stranger.myshopify.com")).status_code == 401


def test_a_token_for_an_uninstalled_shop_gets_401(admin: AdminClient, app_ctx: None) -> None:
    gone = ShopFactory(uninstalled_at=utcnow())
    assert call(admin, session_token_for(gone.domain)).status_code == 401


def admin_api_requests(app: Flask) -> list[tuple[str, str]]:
    """Every method of every /api/admin route, ids filled with 1 (auth runs before lookup)."""
    return [
        (method, re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/admin")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


def test_every_admin_api_route_needs_a_valid_session_token(
    app: Flask, admin: AdminClient, installed: Shop
) -> None:
    requests = admin_api_requests(app)
    assert len(requests) > 50  # the whole admin API, not a handful
    forged = session_token_for(installed.domain, secret=FORGED_SECRET)

    for method, path in requests:
        for headers in ({}, {"Authorization": f"Bearer {forged}"}):
            response = admin.client.open(path, method=method, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.json["error"] == "invalid_session_token", (method, path)
            assert response.headers[RETRY] == "1", (method, path)


def test_a_token_signed_with_another_algorithm_is_refused(
    admin: AdminClient, installed: Shop
) -> None:
    now = int(utcnow().timestamp())
    claims = {
        "iss": f"https://{installed.domain}/admin",
        "dest": f"https://{installed.domain}",
        "aud": API_KEY,
        "exp": now + 60,
        "nbf": now - 5,
        "sub": "1",
    }
    # The right secret, but HS512: the algorithm is ours to choose, never the token's.
    with pytest.warns(InsecureKeyLengthWarning):  # our secret is short for HS512: fine here
        same_secret = jwt.encode(claims, API_SECRET, algorithm="HS512")

    assert call(admin, same_secret).status_code == 401
    assert call(admin, jwt.encode(claims, API_SECRET, algorithm="HS256")).status_code == 200


@pytest.mark.parametrize("claim", ["exp", "nbf", "aud", "iss", "dest"])
def test_a_token_missing_a_required_claim_is_refused(
    admin: AdminClient, installed: Shop, claim: str
) -> None:
    signed = session_token_for(installed.domain)
    claims = jwt.decode(signed, options={"verify_signature": False})
    del claims[claim]

    response = call(admin, jwt.encode(claims, API_SECRET, algorithm="HS256"))

    assert response.status_code == 401
    assert response.headers[RETRY] == "1"


def test_a_not_before_within_ten_seconds_is_accepted_and_beyond_it_refused(
    admin: AdminClient, installed: Shop
) -> None:
    assert (
        call(admin, session_token_for(installed.domain, nbf=seconds_from_now(5))).status_code == 200
    )
    assert (
        call(admin, session_token_for(installed.domain, nbf=seconds_from_now(25))).status_code
        == 401
    )
    assert (
        call(admin, session_token_for(installed.domain, exp=seconds_from_now(-25))).status_code
        == 401
    )
