"""The App Proxy (/apps/kizuna/... → /proxy/...): signature, freshness, logged-in customer."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient

from server.shops.models import Shop
from tests.conftest import API_SECRET
from tests.factories.shops import ShopFactory


def proxy_signature(params: list[tuple[str, str]], secret: str) -> str:
    """The documented algorithm, written out independently of the app's code (PROTOCOLS.md §4)."""
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        grouped.setdefault(key, []).append(value)
    message = "".join(sorted(f"{k}={','.join(v)}" for k, v in grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def proxied(
    client: FlaskClient,
    shop: str,
    *,
    customer: str = "",
    path: str = "/proxy/status",
    timestamp: int | None = None,
    secret: str = API_SECRET,
    extra: list[tuple[str, str]] | None = None,
    tamper: dict[str, str] | None = None,
) -> Any:
    params = [
        ("shop", shop),
        ("logged_in_customer_id", customer),
        ("path_prefix", "/apps/kizuna"),
        ("timestamp", str(timestamp if timestamp is not None else int(time.time()))),
        *(extra or []),
    ]
    params.append(("signature", proxy_signature(params, secret)))
    if tamper:
        params = [(k, tamper.get(k, v)) for k, v in params]
    return client.get(f"{path}?{urlencode(params)}")


def test_the_documented_worked_examples_verify(
    client: FlaskClient, app_ctx: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ShopFactory(domain="shop-name.myshopify.com")
    monkeypatch.setattr("shopify_app.verify.app_proxy.time.time", lambda: 1317327555 + 30)
    base = (
        "extra=1&extra=2&path_prefix=%2Fapps%2Fawesome_reviews"
        "&shop=shop-name.myshopify.com&timestamp=1317327555"
    )
    logged_in = "4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
    anonymous = "e072b6d7e6622d85912a5214b860d3100dc1e73d9bc29f43796ac8c9ff8093cb"
    app = client.application
    old_secret = app.config["SHOPIFY_API_SECRET"]
    app.config["SHOPIFY_API_SECRET"] = "hush"
    try:
        signed_in = client.get(
            f"/proxy/status?{base}&logged_in_customer_id=1&signature={logged_in}"
        )
        visitor = client.get(f"/proxy/status?{base}&logged_in_customer_id=&signature={anonymous}")
        swapped = client.get(f"/proxy/status?{base}&logged_in_customer_id=2&signature={logged_in}")
    finally:
        app.config["SHOPIFY_API_SECRET"] = old_secret

    assert signed_in.status_code == 200
    assert signed_in.json == {
        "shop": "shop-name.myshopify.com",
        "logged_in": True,
        "customer_id": "1",
    }
    assert visitor.status_code == 200
    assert visitor.json["logged_in"] is False
    assert visitor.json["customer_id"] is None
    assert swapped.status_code == 401  # someone else's customer id under the same signature


def test_a_signed_request_reaches_the_shop_and_notes_the_storefront(
    client: FlaskClient, shop: Shop
) -> None:
    response = proxied(client, shop.domain, customer="7001", extra=[("extra", "1"), ("extra", "2")])

    assert response.status_code == 200
    assert response.json["customer_id"] == "7001"
    assert "storefront_seen_at" in shop.settings
    assert "Set-Cookie" not in response.headers  # the proxy strips cookies anyway


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"secret": "not-the-secret"}, id="forged"),
        pytest.param({"timestamp": int(time.time()) - 600}, id="stale"),
        pytest.param({"tamper": {"logged_in_customer_id": "1"}}, id="customer-swapped"),
        pytest.param({"tamper": {"signature": "0" * 64}}, id="zeros"),
    ],
)
def test_bad_signatures_get_401(client: FlaskClient, shop: Shop, kwargs: dict[str, Any]) -> None:
    response = proxied(client, shop.domain, **kwargs)

    assert response.status_code == 401
    assert response.json["error"] == "invalid_proxy_signature"


def test_an_unsigned_request_gets_401(client: FlaskClient, shop: Shop) -> None:
    assert client.get(f"/proxy/status?shop={shop.domain}").status_code == 401


def test_an_oauth_style_digest_is_not_a_proxy_signature(client: FlaskClient, shop: Shop) -> None:
    params = [
        ("logged_in_customer_id", ""),
        ("path_prefix", "/apps/kizuna"),
        ("shop", shop.domain),
        ("timestamp", str(int(time.time()))),
    ]
    oauth_style = hmac.new(
        API_SECRET.encode(), "&".join(f"{k}={v}" for k, v in params).encode(), hashlib.sha256
    ).hexdigest()

    response = client.get(f"/proxy/status?{urlencode([*params, ('signature', oauth_style)])}")

    assert response.status_code == 401


def test_a_repeated_shop_parameter_is_refused(client: FlaskClient, shop: Shop) -> None:
    other = ShopFactory()
    response = proxied(client, shop.domain, extra=[("shop", other.domain)])
    assert response.status_code == 401


def test_a_shop_that_uninstalled_gets_404(client: FlaskClient, app_ctx: None) -> None:
    from server.db import utcnow

    gone = ShopFactory(uninstalled_at=utcnow())
    assert proxied(client, gone.domain).status_code == 404
