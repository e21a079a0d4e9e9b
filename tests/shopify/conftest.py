"""Helpers for the Shopify tests: signed webhook deliveries and documented sample payloads."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import API_SECRET
from tests.fakes.shopify_api import ShopifyStandIn

# The long-standing orders/* sample (PROTOCOLS.md §3.4), in JPY, with the 2026-10 line-item
# field `selling_plan_id`.
ORDER_SAMPLE: dict[str, Any] = {
    "id": 820982911946154508,
    "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
    "email": "jon@doe.ca",
    "contact_email": "jon@doe.ca",
    "name": "#9999",
    "order_number": 1234,
    "created_at": "2026-04-06T08:09:03+09:00",
    "updated_at": "2026-04-06T08:09:03+09:00",
    "processed_at": "2026-04-06T08:09:03+09:00",
    "cancelled_at": None,
    "cancel_reason": None,
    "currency": "JPY",
    "presentment_currency": "JPY",
    "total_price": "4030",
    "subtotal_price": "3930",
    "total_discounts": "50",
    "total_line_items_price": "3980",
    "financial_status": "paid",
    "fulfillment_status": None,
    "tags": "LINE, 定期便",
    "source_name": "web",
    "discount_codes": [{"code": "WELCOME10", "amount": "50", "type": "fixed_amount"}],
    "line_items": [
        {
            "id": 866550311766439020,
            "admin_graphql_api_id": "gid://shopify/LineItem/866550311766439020",
            "product_id": 632910392,
            "variant_id": 808950810,
            "title": "酵素ドリンク",
            "variant_title": "500ml",
            "sku": "ENZ-500",
            "quantity": 1,
            "price": "1990",
            "total_discount": "0",
            "selling_plan_id": 4000000001,
        },
        {
            "id": 141249953214522974,
            "product_id": 632910393,
            "variant_id": 808950811,
            "title": "シェイカー",
            "variant_title": None,
            "sku": "SHK-1",
            "quantity": 1,
            "price": "1990",
            "total_discount": "50",
            "selling_plan_id": None,
        },
    ],
    "customer": {
        "id": 115310627314723954,
        "admin_graphql_api_id": "gid://shopify/Customer/115310627314723954",
        "email": "john@test.com",
        "first_name": "John",
        "last_name": "Smith",
        "state": "enabled",
        "tags": "",
        "created_at": "2026-01-01T00:00:00+09:00",
        "updated_at": "2026-04-06T08:09:03+09:00",
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
    },
    "refunds": [],
}

CUSTOMER_SAMPLE: dict[str, Any] = {
    "id": 706405506930370084,
    "email": "bob@biller.com",
    "first_name": "Bob",
    "last_name": "Biller",
    "phone": "+819012345678",
    "state": "enabled",
    "tags": "VIP, 定期購入",
    "created_at": "2026-01-01T00:00:00+09:00",
    "updated_at": "2026-03-01T00:00:00+09:00",
    "email_marketing_consent": {"state": "not_subscribed"},
}

PRODUCT_SAMPLE: dict[str, Any] = {
    "id": 788032119674292922,
    "title": "酵素ドリンク",
    "handle": "enzyme-drink",
    "body_html": "<p>毎朝の一杯</p>",
    "product_type": "drink",
    "vendor": "Kizuna",
    "tags": "定期便, 人気",
    "status": "active",
    "updated_at": "2026-03-01T00:00:00+09:00",
    "image": {"src": "https://cdn.shopify.com/s/files/enzyme.png"},
    "variants": [
        {
            "id": 642667041472713922,
            "title": "500ml",
            "sku": "ENZ-500",
            "position": 1,
            "price": "1990",
            "compare_at_price": "2490",
            "inventory_quantity": 12,
        },
    ],
}


def sample(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(base)
    payload.update(changes)
    return payload


def sign(body: bytes, secret: str = API_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


SendWebhook = Callable[..., TestResponse]


@pytest.fixture
def send_webhook(client: FlaskClient) -> SendWebhook:
    """POST a webhook the way Shopify does: raw JSON body, base64 HMAC, the X-Shopify-* headers."""

    def send(
        topic: str,
        payload: dict[str, Any] | bytes,
        *,
        shop: str,
        webhook_id: str | None = None,
        secret: str = API_SECRET,
        headers: dict[str, str | None] | None = None,
        api_version: str = "2026-10",
    ) -> TestResponse:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent: dict[str, str | None] = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign(body, secret),
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": api_version,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": "2026-04-06T00:00:00.000000Z",
        }
        sent.update(headers or {})
        return client.post(
            "/webhooks/shopify",
            data=body,
            headers={k: v for k, v in sent.items() if v is not None},
        )

    return send


@pytest.fixture
def shop_details(shopify_api: ShopifyStandIn) -> ShopifyStandIn:
    """The stand-in answering the install follow-ups: shop details and an empty history."""
    shopify_api.on_graphql(
        "ShopDetails",
        {
            "shop": {
                "name": "絆テストストア",
                "email": "owner@example.jp",
                "currencyCode": "JPY",
                "ianaTimezone": "Asia/Tokyo",
                "primaryDomain": {"host": "shop.example.jp"},
            }
        },
    )
    shopify_api.enable_bulk_operations({"products": [], "customers": [], "orders": []})
    return shopify_api
