"""Rotating the app's client secret: for up to an hour Shopify may still sign with the old one
(PROTOCOLS.md §3.1), so webhooks, OAuth redirects, App Proxy requests and session tokens signed
with SHOPIFY_API_SECRET_OLD are accepted while it is set, and refused once it is unset. What the
app sends to Shopify uses the new secret."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.db import db
from server.ingest.models import WebhookEvent
from server.shops.models import Shop
from server.shops.services import find_shop
from tests.conftest import API_SECRET, session_token_for
from tests.factories.shops import ShopFactory
from tests.fakes.shopify_api import ShopifyStandIn
from tests.shopify.conftest import ORDER_SAMPLE, SendWebhook
from tests.shopify.test_install import (
    DOMAIN,
    callback,
    embedded_load,
    install_flow,
)
from tests.shopify.test_proxy import proxied

NEW_SECRET = "shpss_new_fedcba9876543210fedcba9876543210"
OLD_SECRET = API_SECRET  # the helpers sign with API_SECRET: here it is the one being retired
STRANGER = "shpss_stranger_00000000000000000000000000000"


@pytest.fixture
def rotating(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "SHOPIFY_API_SECRET", NEW_SECRET)
    monkeypatch.setitem(app.config, "SHOPIFY_API_SECRET_OLD", OLD_SECRET)


@pytest.fixture
def rotated(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rotation is over: only the new secret is configured."""
    monkeypatch.setitem(app.config, "SHOPIFY_API_SECRET", NEW_SECRET)
    monkeypatch.setitem(app.config, "SHOPIFY_API_SECRET_OLD", "")


def stored_events() -> int:
    return db.session.query(WebhookEvent).count()


@pytest.mark.usefixtures("rotating")
@pytest.mark.parametrize("secret", [OLD_SECRET, NEW_SECRET])
def test_webhooks_signed_with_either_secret_are_stored(
    send_webhook: SendWebhook, shop: Shop, secret: str
) -> None:
    response = send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain, secret=secret)

    assert response.status_code == 200
    assert stored_events() == 1


@pytest.mark.usefixtures("rotating")
def test_a_webhook_signed_with_a_third_secret_is_still_401(
    send_webhook: SendWebhook, shop: Shop
) -> None:
    response = send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain, secret=STRANGER)

    assert response.status_code == 401
    assert stored_events() == 0


@pytest.mark.usefixtures("rotated")
def test_after_the_rotation_the_old_secret_is_refused_everywhere(
    client: FlaskClient, send_webhook: SendWebhook, shop: Shop
) -> None:
    webhook = send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain, secret=OLD_SECRET)
    install = client.get(
        "/auth/install",
        query_string=_signed({"shop": shop.domain, "timestamp": str(int(time.time()))}),
    )
    proxy = proxied(client, shop.domain, secret=OLD_SECRET)
    admin = client.get(
        "/api/admin/shop",
        headers={"Authorization": f"Bearer {session_token_for(shop.domain, OLD_SECRET)}"},
    )

    assert (webhook.status_code, install.status_code, proxy.status_code) == (401, 401, 401)
    assert admin.status_code == 401
    assert admin.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert stored_events() == 0


@pytest.mark.usefixtures("rotating")
def test_the_code_grant_signed_with_the_old_secret_completes_with_the_new_one(
    client: FlaskClient,
    shop_details: ShopifyStandIn,
    app_ctx: None,
) -> None:
    state, _ = install_flow(client)  # /auth/install signed with the old secret
    code = shop_details.issue_authorization_code(DOMAIN)

    response = callback(client, state, code)  # signed with the old secret too

    assert response.status_code == 302
    (grant,) = [r for r in shop_details.token_requests if r.grant_type == "authorization_code"]
    assert grant.params["client_secret"] == NEW_SECRET  # what we send is always the new one
    shop = find_shop(DOMAIN)
    assert shop is not None
    assert shop.installed


@pytest.mark.usefixtures("rotating")
def test_a_callback_signed_with_a_third_secret_is_refused(
    client: FlaskClient,
    shop_details: ShopifyStandIn,
    app_ctx: None,
) -> None:
    state, _ = install_flow(client)
    params = {"code": "x", "shop": DOMAIN, "state": state, "timestamp": str(int(time.time()))}

    response = client.get("/auth/callback", query_string=_signed(params, STRANGER))

    assert response.status_code == 401
    assert find_shop(DOMAIN) is None


def test_the_documented_proxy_example_verifies_as_the_old_secret(
    client: FlaskClient, app: Flask, app_ctx: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PROTOCOLS.md §4's worked example is signed with "hush"; here "hush" is being retired.
    ShopFactory(domain="shop-name.myshopify.com")
    monkeypatch.setattr("shopify_app.verify.app_proxy.time.time", lambda: 1317327555 + 30)
    monkeypatch.setitem(app.config, "SHOPIFY_API_SECRET", NEW_SECRET)
    monkeypatch.setitem(app.config, "SHOPIFY_API_SECRET_OLD", "hush")
    query = (
        "extra=1&extra=2&logged_in_customer_id=1&path_prefix=%2Fapps%2Fawesome_reviews"
        "&shop=shop-name.myshopify.com&timestamp=1317327555"
        "&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
    )

    assert client.get(f"/proxy/status?{query}").json["customer_id"] == "1"
    monkeypatch.setitem(app.config, "SHOPIFY_API_SECRET_OLD", "")
    assert client.get(f"/proxy/status?{query}").status_code == 401


@pytest.mark.usefixtures("rotating")
def test_proxy_requests_signed_with_either_secret_pass_and_a_third_does_not(
    client: FlaskClient, shop: Shop
) -> None:
    assert proxied(client, shop.domain, customer="7", secret=OLD_SECRET).status_code == 200
    assert proxied(client, shop.domain, customer="7", secret=NEW_SECRET).status_code == 200
    assert proxied(client, shop.domain, customer="7", secret=STRANGER).status_code == 401


@pytest.mark.usefixtures("rotating")
@pytest.mark.parametrize("secret", [OLD_SECRET, NEW_SECRET])
def test_session_tokens_signed_with_either_secret_open_the_admin_api(
    client: FlaskClient, shop: Shop, secret: str
) -> None:
    token = session_token_for(shop.domain, secret)

    response = client.get("/api/admin/shop", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.json["domain"] == shop.domain


@pytest.mark.usefixtures("rotating")
def test_the_old_secret_does_not_rescue_a_bad_token(client: FlaskClient, shop: Shop) -> None:
    # Expired, or signed by neither secret: still 401 with the retry header.
    for token in (
        session_token_for(shop.domain, OLD_SECRET, exp=int(time.time()) - 60),
        session_token_for(shop.domain, STRANGER),
        session_token_for(shop.domain, OLD_SECRET, iss="https://elsewhere.myshopify.com/admin"),
    ):
        response = client.get("/api/admin/shop", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


@pytest.mark.usefixtures("rotating")
def test_an_embedded_load_with_an_old_secret_token_installs_through_token_exchange(
    client: FlaskClient,
    shop_details: ShopifyStandIn,
    app_ctx: None,
) -> None:
    response = embedded_load(client, session_token_for(DOMAIN, OLD_SECRET))

    assert response.status_code == 200
    (exchange,) = shop_details.token_requests
    assert exchange.params["client_secret"] == NEW_SECRET
    shop = find_shop(DOMAIN)
    assert shop is not None
    assert shop.installed


def _signed(params: dict[str, str], secret: str = OLD_SECRET) -> dict[str, str]:
    from server.shopify import signatures

    return {**params, "hmac": signatures.query_hmac(params, secret=secret)}
