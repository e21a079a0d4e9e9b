"""Installing Kizuna: the embedded path (session token → token exchange) and the
authorization-code path, tokens at rest, uninstall and reinstall."""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from server.commerce.models import Order
from server.db import db, utcnow
from server.shopify import signatures
from server.shopify.models import BackfillRun, OAuthState
from server.shops.models import Shop
from server.shops.services import find_shop
from tests.conftest import API_KEY, API_SECRET, session_token_for
from tests.factories.commerce import OrderFactory
from tests.factories.shops import ShopFactory
from tests.fakes.shopify_api import ShopifyStandIn

DOMAIN = "kizuna-test.myshopify.com"
HOST = base64.b64encode(b"admin.shopify.com/store/kizuna-test").decode().rstrip("=")


def embedded_load(
    client: FlaskClient, token: str | None, *, shop: str = DOMAIN, **extra: str
) -> Any:
    params = {"embedded": "1", "shop": shop, "host": HOST, "locale": "ja", **extra}
    if token is not None:
        params["id_token"] = token
    return client.get("/", query_string=params)


# -- embedded: Shopify-managed installation + token exchange ----------------------------------


def test_the_first_embedded_load_exchanges_the_session_token_for_an_expiring_offline_token(
    client: FlaskClient, shop_details: ShopifyStandIn, app_ctx: None
) -> None:
    response = embedded_load(client, session_token_for(DOMAIN))

    assert response.status_code == 200
    assert (
        "frame-ancestors https://kizuna-test.myshopify.com https://admin.shopify.com;"
        in (response.headers["Content-Security-Policy"])
    )
    (exchange,) = shop_details.token_requests
    assert exchange.grant_type == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert exchange.params["requested_token_type"] == (
        "urn:shopify:params:oauth:token-type:offline-access-token"
    )
    assert exchange.params["expiring"] == 1
    shop = find_shop(DOMAIN)
    assert shop is not None
    assert shop.installed
    assert shop.access_token is not None
    assert shop.access_token.startswith("shpat_")
    assert shop.refresh_token is not None
    assert shop.access_token_expires_at is not None
    assert timedelta(minutes=55) < shop.access_token_expires_at - utcnow() <= timedelta(hours=1)
    # After the commit: details fetched and the history import started.
    assert shop.name == "絆テストストア"
    assert shop.settings["storefront_domains"] == ["shop.example.jp"]  # where links may lead
    assert db.session.scalar(BackfillRun.for_shop(shop)) is not None


def test_tokens_are_encrypted_at_rest(
    client: FlaskClient, shop_details: ShopifyStandIn, app_ctx: None
) -> None:
    embedded_load(client, session_token_for(DOMAIN))
    shop = find_shop(DOMAIN)
    assert shop is not None

    stored = db.session.execute(
        text("SELECT access_token, refresh_token FROM shops WHERE id = :id"), {"id": shop.id}
    ).one()

    assert shop.access_token not in stored[0]
    assert shop.refresh_token not in stored[1]
    assert stored[0].startswith("gAAAA")  # a Fernet token


def test_later_loads_reuse_the_stored_token(
    client: FlaskClient, shop_details: ShopifyStandIn, app_ctx: None
) -> None:
    embedded_load(client, session_token_for(DOMAIN))
    embedded_load(client, session_token_for(DOMAIN))

    assert len(shop_details.token_requests) == 1


def test_a_load_without_a_session_token_bounces_to_app_bridge(
    client: FlaskClient, shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    response = embedded_load(client, None)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/session-token"
    reload = parse_qs(location.query)["shopify-reload"][0]
    assert reload.startswith("/?")
    assert "id_token" not in reload
    bounce = client.get(response.headers["Location"])
    assert bounce.status_code == 200
    assert b"app-bridge.js" in bounce.data
    assert API_KEY.encode() in bounce.data
    assert find_shop(DOMAIN) is None


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"exp": int((utcnow() - timedelta(minutes=5)).timestamp())}, id="expired"),
        pytest.param({"aud": "someone-elses-app"}, id="foreign-audience"),
        pytest.param({"iss": "https://other.myshopify.com/admin"}, id="iss-is-not-dest"),
        pytest.param({"secret": "shpss_forged_0123456789abcdef0123456789abcd"}, id="forged"),
    ],
)
def test_a_bad_session_token_never_installs(
    client: FlaskClient, shopify_api: ShopifyStandIn, app_ctx: None, claims: dict[str, Any]
) -> None:
    response = embedded_load(client, session_token_for(DOMAIN, **claims))

    assert response.status_code in (302, 401)
    assert shopify_api.token_requests == []
    assert find_shop(DOMAIN) is None


def test_a_session_token_for_another_shop_is_refused(
    client: FlaskClient, shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    response = embedded_load(client, session_token_for("other.myshopify.com"))

    assert response.status_code == 401
    assert shopify_api.token_requests == []


def test_shopify_refusing_the_exchange_bounces_for_a_fresh_token(
    client: FlaskClient, shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    shopify_api.fail_token_endpoint(400)

    response = embedded_load(client, session_token_for(DOMAIN))

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/session-token?")
    assert find_shop(DOMAIN) is None


def test_in_app_links_keep_the_embedded_parameters(
    client: FlaskClient, shop_details: ShopifyStandIn, app_ctx: None
) -> None:
    page = embedded_load(client, session_token_for(DOMAIN)).get_data(as_text=True)

    assert "<ui-nav-menu>" in page
    assert f'href="/settings?shop={DOMAIN}&amp;host={HOST}&amp;embedded=1&amp;locale=ja"' in page
    assert '<ui-title-bar title="' in page
    assert 'src="https://cdn.shopify.com/shopifycloud/app-bridge.js"' in page


# -- uninstall and reinstall -------------------------------------------------------------------


def test_uninstall_then_reinstall_restores_the_shop_with_its_data(
    client: FlaskClient, shop_details: ShopifyStandIn, app_ctx: None, send_webhook: Any
) -> None:
    embedded_load(client, session_token_for(DOMAIN))
    shop = find_shop(DOMAIN)
    assert shop is not None
    order = OrderFactory(customer__shop=shop)
    db.session.commit()

    send_webhook("app/uninstalled", {"id": 1, "myshopify_domain": DOMAIN}, shop=DOMAIN)
    db.session.expire_all()
    assert not shop.installed
    assert shop.access_token is None
    assert admin_status(client) == 401  # the admin API closes with the install

    embedded_load(client, session_token_for(DOMAIN))
    db.session.expire_all()
    assert shop.installed
    assert shop.access_token is not None
    assert db.session.get(Order, order.id) is not None
    assert len(shop_details.token_requests) == 2


def admin_status(client: FlaskClient) -> int:
    token = session_token_for(DOMAIN)
    return client.get("/api/admin/shop", headers={"Authorization": f"Bearer {token}"}).status_code


# -- authorization code grant -----------------------------------------------------------------


def signed(params: dict[str, str]) -> dict[str, str]:
    return {**params, "hmac": signatures.query_hmac(params, secret=API_SECRET)}


def test_the_documented_oauth_hmac_vectors_reproduce() -> None:
    callback = {
        "code": "0907a61c0c8d55e99db179b68161bc00",
        "shop": "some-shop.myshopify.com",
        "state": "0.6784241404160823",
        "timestamp": "1337178173",
    }
    assert signatures.query_hmac(callback, secret="hush") == (
        "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"
    )
    del callback["state"]
    assert signatures.query_hmac(callback, secret="hush") == (
        "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20"
    )


def install_flow(client: FlaskClient, shop: str = DOMAIN) -> tuple[str, Any]:
    start = client.get(
        "/auth/install", query_string=signed({"shop": shop, "timestamp": str(int(time.time()))})
    )
    assert start.status_code == 302
    return parse_qs(urlsplit(start.headers["Location"]).query)["state"][0], start


def test_install_redirects_to_the_grant_screen_with_a_single_use_state(
    client: FlaskClient, app_ctx: None
) -> None:
    state, start = install_flow(client)

    location = urlsplit(start.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        DOMAIN,
        "/admin/oauth/authorize",
    )
    query = parse_qs(location.query)
    assert query["client_id"] == [API_KEY]
    assert query["redirect_uri"] == ["https://kizuna.test/auth/callback"]
    assert "write_app_proxy" in query["scope"][0].split(",")
    assert "grant_options[]" not in query  # offline token
    assert db.session.scalar(select(OAuthState).where(OAuthState.state == state)) is not None


@pytest.mark.parametrize(
    "shop",
    ["evil.com", "shop.myshopify.com.evil.com", "-bad.myshopify.com", "UPPER.myshopify.com/x"],
)
def test_install_refuses_anything_but_a_myshopify_domain(
    client: FlaskClient, app_ctx: None, shop: str
) -> None:
    assert client.get("/auth/install", query_string={"shop": shop}).status_code == 400


def test_install_with_a_forged_hmac_is_refused(client: FlaskClient, app_ctx: None) -> None:
    params = signed({"shop": DOMAIN, "timestamp": str(int(time.time()))})
    params["hmac"] = "0" * 64

    assert client.get("/auth/install", query_string=params).status_code == 401


def test_install_from_inside_the_admin_iframe_breaks_out_first(
    client: FlaskClient, app_ctx: None
) -> None:
    response = client.get("/auth/install", query_string={"shop": DOMAIN, "embedded": "1"})

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "app-bridge.js" in body
    assert "https://kizuna.test/auth/install?shop=kizuna-test.myshopify.com" in body


def callback(client: FlaskClient, state: str, code: str, **overrides: str) -> Any:
    params = {
        "code": code,
        "host": HOST,
        "shop": DOMAIN,
        "state": state,
        "timestamp": str(int(time.time())),
    }
    params.update(overrides)
    return client.get("/auth/callback", query_string=signed(params))


def test_the_callback_exchanges_the_code_and_lands_in_the_embedded_app(
    client: FlaskClient, shop_details: ShopifyStandIn, app_ctx: None
) -> None:
    state, _ = install_flow(client)
    code = shop_details.issue_authorization_code(DOMAIN)

    response = callback(client, state, code)

    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"https://admin.shopify.com/store/kizuna-test/apps/{API_KEY}/"
    )
    (grant,) = [r for r in shop_details.token_requests if r.grant_type == "authorization_code"]
    assert grant.content_type.startswith("application/x-www-form-urlencoded")
    assert grant.params["expiring"] == "1"
    shop = find_shop(DOMAIN)
    assert shop is not None
    assert shop.installed
    assert shop.refresh_token is not None


def test_a_state_works_once(
    client: FlaskClient, shop_details: ShopifyStandIn, app_ctx: None
) -> None:
    state, _ = install_flow(client)
    callback(client, state, shop_details.issue_authorization_code(DOMAIN))
    with client.session_transaction() as cookie:  # even with the state cookie put back
        cookie["shopify_oauth_state"] = state
    replay = callback(client, state, shop_details.issue_authorization_code(DOMAIN))

    assert replay.status_code == 401


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p: {**p, "hmac": "f" * 64}, id="forged-hmac"),
        pytest.param(lambda p: {**p, "shop": "other.myshopify.com"}, id="another-shop"),
        pytest.param(lambda p: {**p, "state": "guessed"}, id="unknown-state"),
    ],
)
def test_a_tampered_callback_is_refused(
    client: FlaskClient, shopify_api: ShopifyStandIn, app_ctx: None, tamper: Any
) -> None:
    state, _ = install_flow(client)
    params = signed(
        {
            "code": shopify_api.issue_authorization_code(DOMAIN),
            "shop": DOMAIN,
            "state": state,
            "timestamp": str(int(time.time())),
        }
    )
    tampered = tamper(params)
    if "hmac" in tampered and tampered["hmac"] == params["hmac"]:
        tampered = signed({k: v for k, v in tampered.items() if k != "hmac"})

    response = client.get("/auth/callback", query_string=tampered)

    assert response.status_code == 401
    assert shopify_api.token_requests == []


def test_a_stale_callback_is_refused(
    client: FlaskClient, shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    state, _ = install_flow(client)
    old = str(int(time.time()) - 600)

    response = callback(client, state, shopify_api.issue_authorization_code(DOMAIN), timestamp=old)

    assert response.status_code == 401


def test_a_callback_without_the_state_cookie_is_refused(
    app: Flask, shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    state, _ = install_flow(app.test_client())
    stranger = app.test_client()  # another browser: no signed state cookie

    response = callback(stranger, state, shopify_api.issue_authorization_code(DOMAIN))

    assert response.status_code == 401


def test_a_grant_missing_required_scopes_is_refused(
    client: FlaskClient, shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    shopify_api.scopes = "read_orders"  # the merchant edited the scope list
    state, _ = install_flow(client)

    response = callback(client, state, shopify_api.issue_authorization_code(DOMAIN))

    assert response.status_code == 401
    assert "read_customers" in response.json["message"]
    assert find_shop(DOMAIN) is None


def test_a_known_shop_installs_with_its_existing_row(
    client: FlaskClient, shop_details: ShopifyStandIn, app_ctx: None
) -> None:
    existing = ShopFactory(domain=DOMAIN, uninstalled_at=utcnow(), access_token=None)
    db.session.commit()
    state, _ = install_flow(client)

    callback(client, state, shop_details.issue_authorization_code(DOMAIN))

    db.session.expire_all()
    assert existing.installed
    assert db.session.scalar(select(Shop).where(Shop.domain == DOMAIN)) is existing


@pytest.mark.parametrize(("locale", "word"), [("ja", "設定"), ("en", "Settings")])
def test_the_embedded_admin_speaks_the_locale_shopify_passes(
    client: FlaskClient, shop_details: ShopifyStandIn, app_ctx: None, locale: str, word: str
) -> None:
    page = embedded_load(client, session_token_for(DOMAIN), locale=locale).get_data(as_text=True)

    assert f'<html lang="{locale}">' in page
    assert f">{word}</a>" in page


# -- rules of issue 3 that had no test of their own ---------------------------------------------


def test_a_stale_signed_install_request_is_refused(client: FlaskClient, app_ctx: None) -> None:
    old = signed({"shop": DOMAIN, "timestamp": str(int(time.time()) - 600)})

    response = client.get("/auth/install", query_string=old)

    assert response.status_code == 401
    assert db.session.scalar(select(OAuthState)) is None


def test_a_state_older_than_ten_minutes_is_refused(
    client: FlaskClient, shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    state, _ = install_flow(client)
    stored = db.session.scalar(select(OAuthState).where(OAuthState.state == state))
    assert stored is not None
    stored.created_at = utcnow() - timedelta(minutes=11)
    db.session.commit()

    response = callback(client, state, shopify_api.issue_authorization_code(DOMAIN))

    assert response.status_code == 401
    assert shopify_api.token_requests == []


@pytest.mark.parametrize("shop", ["evil.com", "kizuna-test.myshopify.com.evil.com"])
def test_a_signed_callback_for_a_foreign_domain_is_refused(
    client: FlaskClient, shopify_api: ShopifyStandIn, app_ctx: None, shop: str
) -> None:
    state, _ = install_flow(client)

    response = callback(client, state, shopify_api.issue_authorization_code(DOMAIN), shop=shop)

    assert response.status_code == 400
    assert shopify_api.token_requests == []


def test_a_callback_host_outside_the_shopify_admin_is_not_a_redirect_target(
    client: FlaskClient, shop_details: ShopifyStandIn, app_ctx: None
) -> None:
    state, _ = install_flow(client)
    evil = base64.b64encode(b"evil.example/store/kizuna-test").decode().rstrip("=")

    response = callback(client, state, shop_details.issue_authorization_code(DOMAIN), host=evil)

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).netloc == "kizuna.test"


@pytest.mark.parametrize("path", ["/auth/install", "/auth/callback"])
def test_repeated_query_parameters_are_refused(
    client: FlaskClient, app_ctx: None, path: str
) -> None:
    query = f"shop={DOMAIN}&shop=other.myshopify.com&code=x&state=y&timestamp=1&hmac=0"

    assert client.get(f"{path}?{query}").status_code == 400
