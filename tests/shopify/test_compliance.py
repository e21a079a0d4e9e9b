"""The mandatory compliance topics: data requests, customer erasure, shop erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from server.commerce.models import Customer, Order, OrderLine, Product
from server.db import db, utcnow
from server.ingest.models import WebhookEvent
from server.line.models import LineUser
from server.shopify import topics
from server.shops.models import ComplianceRequest, Shop
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory, OrderFactory, OrderLineFactory, ProductFactory
from tests.factories.line import LineUserFactory
from tests.factories.shops import ShopFactory
from tests.shopify.conftest import ORDER_SAMPLE, SendWebhook


@pytest.fixture
def customer(shop: Shop) -> Customer:
    customer = CustomerFactory(
        shop=shop, shopify_id=191167, email="john@example.com", phone="555-625-1199", tags=["VIP"]
    )
    order = OrderFactory(
        customer=customer, shopify_id=299938, email="john@example.com", total_price=5000
    )
    OrderLineFactory(order=order, title="酵素ドリンク", price=5000)
    LineUserFactory(shop=shop, customer_id=customer.id, display_name="ジョン", linked_at=utcnow())
    db.session.commit()
    return customer


def data_request(shop: Shop, request_id: int = 9999) -> dict[str, Any]:
    return {
        "shop_id": 954889,
        "shop_domain": shop.domain,
        "orders_requested": [299938, 280263],
        "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
        "data_request": {"id": request_id},
    }


def redact_request(shop: Shop) -> dict[str, Any]:
    return {
        "shop_id": 954889,
        "shop_domain": shop.domain,
        "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
        "orders_to_redact": [299938, 280263, 220458],
    }


def test_compliance_topics_need_a_valid_signature(send_webhook: SendWebhook, shop: Shop) -> None:
    for topic, payload in (
        ("customers/data_request", data_request(shop)),
        ("customers/redact", redact_request(shop)),
        ("shop/redact", {"shop_id": 1, "shop_domain": shop.domain}),
    ):
        response = send_webhook(topic, payload, shop=shop.domain, secret="not-the-app-secret")
        assert response.status_code == 401


def test_a_data_request_produces_an_export_the_merchant_downloads(
    send_webhook: SendWebhook,
    shop: Shop,
    customer: Customer,
    admin: AdminClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        topics,
        "CUSTOMER_EXPORT_LISTENERS",
        (("membership", lambda s, c, *, now: {"points": 120}),),
    )
    assert (
        send_webhook("customers/data_request", data_request(shop), shop=shop.domain).status_code
        == 200
    )
    send_webhook("customers/data_request", data_request(shop), shop=shop.domain)  # Shopify retries

    notice = admin.get("/api/admin/onboarding", shop=shop).json
    assert notice["privacy_requests_waiting"] == 1
    listed = admin.get("/api/admin/privacy/requests", shop=shop).json["requests"]
    assert len(listed) == 1
    (request,) = listed
    assert (request["topic"], request["customer_id"], request["downloadable"]) == (
        "customers/data_request",
        "191167",
        True,
    )
    download = admin.get(f"/api/admin/privacy/requests/{request['id']}/export", shop=shop)
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    export = download.json
    assert export["customer"]["email"] == "john@example.com"
    assert export["customer"]["line"]["display_name"] == "ジョン"
    assert [o["id"] for o in export["orders"]] == [299938]
    assert export["orders"][0]["lines"][0]["title"] == "酵素ドリンク"
    assert export["membership"] == {"points": 120}
    assert admin.get("/api/admin/onboarding", shop=shop).json["privacy_requests_waiting"] == 0


def test_another_shop_cannot_download_the_export(
    send_webhook: SendWebhook, shop: Shop, customer: Customer, admin: AdminClient
) -> None:
    send_webhook("customers/data_request", data_request(shop), shop=shop.domain)
    request_id = db.session.scalar(select(ComplianceRequest.id))
    other = ShopFactory()

    response = admin.get(f"/api/admin/privacy/requests/{request_id}/export", shop=other)

    assert response.status_code == 404
    assert admin.get("/api/admin/privacy/requests", shop=other).json == {"requests": []}


def test_customer_redact_erases_personal_data_everywhere_and_keeps_aggregates(
    send_webhook: SendWebhook, shop: Shop, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    erased_by_features: list[int] = []
    monkeypatch.setattr(
        topics,
        "CUSTOMER_REDACT_LISTENERS",
        (lambda s, c, *, now: erased_by_features.append(c.id),),
    )
    send_webhook("customers/data_request", data_request(shop), shop=shop.domain)

    response = send_webhook("customers/redact", redact_request(shop), shop=shop.domain)
    send_webhook("customers/redact", redact_request(shop), shop=shop.domain)  # again: harmless

    assert response.status_code == 200
    db.session.expire_all()
    row = db.session.get(Customer, customer.id)
    assert row is not None
    assert (row.email, row.first_name, row.last_name, row.phone, row.tags) == (
        None,
        None,
        None,
        None,
        [],
    )
    assert row.redacted_at is not None
    line_user = db.session.scalar(LineUser.for_shop(shop))
    assert line_user is not None
    assert (line_user.customer_id, line_user.display_name, line_user.linked_at) == (
        None,
        None,
        None,
    )
    orders = list(db.session.scalars(Order.for_shop(shop)))
    assert [o.email for o in orders] == [None]
    assert sum(o.total_price for o in orders) == 5000  # the anonymous aggregate stays
    exports = list(
        db.session.scalars(
            ComplianceRequest.for_shop(shop).where(
                ComplianceRequest.topic == "customers/data_request"
            )
        )
    )
    assert [e.export for e in exports] == [None]
    assert erased_by_features == [customer.id, customer.id]
    redacts = list(
        db.session.scalars(
            ComplianceRequest.for_shop(shop).where(ComplianceRequest.topic == "customers/redact")
        )
    )
    assert redacts
    assert "john" not in (redacts[0].summary or "")


def test_a_redacted_customer_is_not_refilled_by_a_later_webhook(
    send_webhook: SendWebhook, shop: Shop, customer: Customer
) -> None:
    send_webhook("customers/redact", redact_request(shop), shop=shop.domain)
    late = {
        "id": 191167,
        "email": "john@example.com",
        "first_name": "John",
        "last_name": "Smith",
        "tags": "",
        "updated_at": "2099-01-01T00:00:00Z",
    }
    send_webhook("customers/update", late, shop=shop.domain)

    db.session.expire_all()
    row = db.session.get(Customer, customer.id)
    assert row is not None
    assert (row.email, row.first_name) == (None, None)


def test_webhook_payloads_are_not_kept_after_processing(
    send_webhook: SendWebhook, shop: Shop
) -> None:
    send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain)

    (event,) = db.session.scalars(select(WebhookEvent))
    assert "john@test.com" not in str(event.payload)


def test_shop_redact_deletes_the_shops_data_and_nothing_comes_back(
    send_webhook: SendWebhook, shop: Shop, customer: Customer
) -> None:
    ProductFactory(shop=shop)
    other = ShopFactory()
    CustomerFactory(shop=other)
    send_webhook("app/uninstalled", {"id": 1, "myshopify_domain": shop.domain}, shop=shop.domain)

    response = send_webhook(
        "shop/redact", {"shop_id": 1, "shop_domain": shop.domain}, shop=shop.domain
    )
    send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain)  # a late straggler

    assert response.status_code == 200
    db.session.expire_all()
    for model in (Customer, Order, OrderLine, Product, LineUser, ComplianceRequest):
        assert (
            db.session.scalar(
                select(func.count()).select_from(model).where(model.shop_id == shop.id)
            )
            == 0
        )
    tombstone = db.session.get(Shop, shop.id)
    assert tombstone is not None
    assert tombstone.redacted_at is not None
    assert (tombstone.name, tombstone.email, tombstone.access_token) == ("", None, None)
    assert (
        db.session.scalar(
            select(func.count()).select_from(Customer).where(Customer.shop_id == other.id)
        )
        == 1
    )


def test_shop_redact_is_ignored_for_a_shop_that_came_back(
    send_webhook: SendWebhook, shop: Shop, customer: Customer
) -> None:
    send_webhook("shop/redact", {"shop_id": 1, "shop_domain": shop.domain}, shop=shop.domain)

    assert db.session.get(Customer, customer.id) is not None


def test_export_of_an_unknown_customer_still_answers(send_webhook: SendWebhook, shop: Shop) -> None:
    send_webhook("customers/data_request", data_request(shop), shop=shop.domain)

    request = db.session.scalar(select(ComplianceRequest))
    assert request is not None
    assert request.export is not None
    assert request.export["customer"] is None
    assert request.summary == "customer: not found, orders: 0"
    _: datetime = request.received_at
