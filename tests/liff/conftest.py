"""Fixtures for the LIFF API: LINE's key endpoint stood in locally, tokens, a client that calls
the API the way the LIFF app does (ID token + X-Liff-Id), and a linked member."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer

from server.commerce.models import Customer
from server.db import db, utcnow
from server.liff_api import id_token
from server.line.models import LineChannel, LineUser
from server.membership import services as membership
from server.membership.models import Member
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory
from tests.factories.line import LineUserFactory
from tests.fakes.shopify_api import admin_schema
from tests.liff.tokens import LineKeys, make_channel, make_keys, mint


@pytest.fixture
def line_keys(
    app: Flask, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LineKeys]:
    """LINE's JWKS endpoint, served locally; the app's LINE_API_BASE_URL points at it."""
    keys = make_keys()
    httpserver.expect_request("/oauth2/v2.1/certs", method="GET").respond_with_json(keys.jwks)
    monkeypatch.setitem(app.config, "LINE_API_BASE_URL", httpserver.url_for("/").rstrip("/"))
    id_token.clear_key_cache()
    yield keys
    id_token.clear_key_cache()


@dataclass
class Visitor:
    """A LINE user of one shop, with the channel their LIFF app runs on."""

    shop: Shop
    channel: LineChannel
    line_user: LineUser
    customer: Customer | None
    member: Member | None


class LiffClient:
    def __init__(self, client: FlaskClient, keys: LineKeys) -> None:
        self.client = client
        self.keys = keys

    def token(self, visitor: Visitor, **claims: Any) -> str:
        return mint(
            self.keys,
            aud=visitor.channel.login_channel_id or "",
            sub=visitor.line_user.line_user_id,
            **claims,
        )

    def open(
        self,
        method: str,
        path: str,
        *,
        as_visitor: Visitor,
        token: str | None = None,
        liff_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = {
            "Authorization": f"Bearer {token or self.token(as_visitor)}",
            "X-Liff-Id": liff_id or as_visitor.channel.liff_id or "",
        }
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, *, as_visitor: Visitor, **kwargs: Any) -> Any:
        return self.open("GET", path, as_visitor=as_visitor, **kwargs)

    def post(self, path: str, *, as_visitor: Visitor, **kwargs: Any) -> Any:
        return self.open("POST", path, as_visitor=as_visitor, **kwargs)


@pytest.fixture
def liff(client: FlaskClient, line_keys: LineKeys) -> LiffClient:
    return LiffClient(client, line_keys)


def make_visitor(shop: Shop, *, linked: bool = True, channel: LineChannel | None = None) -> Visitor:
    channel = (
        channel
        or db.session.query(LineChannel).filter_by(shop_id=shop.id).first()
        or make_channel(shop)
    )
    customer = CustomerFactory(shop=shop) if linked else None
    line_user = LineUserFactory(
        shop=shop,
        customer_id=customer.id if customer else None,
        linked_at=utcnow() if customer else None,
    )
    member = membership.ensure_member(shop, customer, now=utcnow()) if customer else None
    db.session.commit()
    return Visitor(shop, channel, line_user, customer, member)


@pytest.fixture
def visitor(shop: Shop) -> Visitor:
    return make_visitor(shop)


@pytest.fixture
def stranger(shop: Shop) -> Visitor:
    """A LINE friend of the shop who has not linked a store account."""
    return make_visitor(shop, linked=False)


_discount_ids = count(1)


def discount_created(variables: dict[str, Any], call: Any) -> dict[str, Any]:
    root = call.root_fields[0]
    node = {"id": f"gid://shopify/DiscountCodeNode/{next(_discount_ids)}"}
    return {root: {"codeDiscountNode": node, "userErrors": []}}


@pytest.fixture
def shopify(shopify_api: Any) -> Any:
    """The Shopify stand-in, creating discount codes as Shopify does."""
    # Parse the 3 MB Admin schema now: done during the first request, it can outlast the
    # client's read timeout on a busy machine and make the client retry.
    admin_schema()
    shopify_api.on_graphql("discountCodeBasicCreate", discount_created)
    shopify_api.on_graphql("discountCodeFreeShippingCreate", discount_created)
    return shopify_api
