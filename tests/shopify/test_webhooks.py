"""POST /webhooks/shopify: verify, store, commit, enqueue, answer — and the processing behind it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from server.commerce.models import Customer, Order, Product
from server.db import db
from server.ingest.models import WebhookEvent
from server.shopify import topics
from server.shops.models import Shop
from tests.shopify.conftest import (
    CUSTOMER_SAMPLE,
    ORDER_SAMPLE,
    PRODUCT_SAMPLE,
    SendWebhook,
    sample,
    sign,
)


def events() -> list[WebhookEvent]:
    return list(db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def order_of(shop: Shop, shopify_id: int = ORDER_SAMPLE["id"]) -> Order | None:
    return db.session.scalar(Order.for_shop(shop).where(Order.shopify_id == shopify_id))


# -- the endpoint --------------------------------------------------------------------------------


def test_a_signed_order_is_stored_processed_and_answered_200(
    send_webhook: SendWebhook, shop: Shop
) -> None:
    response = send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain, webhook_id="w-1")

    assert response.status_code == 200
    (event,) = events()
    assert (event.source, event.event_id, event.topic) == ("shopify", "w-1", "orders/create")
    assert event.shop_id == shop.id
    assert event.api_version == "2026-10"
    assert event.triggered_at == datetime(2026, 4, 6, tzinfo=UTC)
    assert event.correlation_id
    assert event.processed_at is not None
    assert event.payload == {"processed": True}  # personal data not kept once processed
    order = order_of(shop)
    assert order is not None
    assert (order.name, order.total_price, order.total_discounts) == ("#9999", 4030, 50)
    assert order.discount_codes == ["WELCOME10"]
    assert order.tags == ["LINE", "定期便"]
    assert order.is_subscription
    assert {line.sku: line.selling_plan_id for line in order.lines} == {
        "ENZ-500": 4000000001,
        "SHK-1": None,
    }
    assert order.customer is not None
    customer = db.session.get(Customer, order.customer_id)
    assert customer is not None
    assert (customer.email, customer.accepts_marketing) == ("john@test.com", True)


def test_a_redelivery_is_a_no_op(send_webhook: SendWebhook, shop: Shop) -> None:
    first = send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain, webhook_id="same")
    again = send_webhook(
        "orders/create", sample(ORDER_SAMPLE, name="#changed"), shop=shop.domain, webhook_id="same"
    )

    assert (first.status_code, again.status_code) == (200, 200)
    assert len(events()) == 1
    order = order_of(shop)
    assert order is not None
    assert order.name == "#9999"


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("shpss_forged_0123456789abcdef0123456789abcd", id="wrong-secret"),
    ],
)
def test_a_forged_signature_gets_401_and_changes_nothing(
    send_webhook: SendWebhook, shop: Shop, secret: str
) -> None:
    response = send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain, secret=secret)

    assert response.status_code == 401
    assert response.json["error"] == "invalid_webhook_signature"
    assert events() == []
    assert order_of(shop) is None


def test_a_hex_digest_instead_of_base64_is_refused(send_webhook: SendWebhook, shop: Shop) -> None:
    import hashlib
    import hmac

    from tests.conftest import API_SECRET

    body = json.dumps(ORDER_SAMPLE).encode()
    hex_digest = hmac.new(API_SECRET.encode(), body, hashlib.sha256).hexdigest()

    response = send_webhook(
        "orders/create", body, shop=shop.domain, headers={"X-Shopify-Hmac-Sha256": hex_digest}
    )

    assert response.status_code == 401


def test_the_signature_covers_the_raw_bytes_not_the_reserialised_json(
    send_webhook: SendWebhook, shop: Shop
) -> None:
    spaced = json.dumps(ORDER_SAMPLE, indent=2).encode()  # same JSON, different bytes
    compact_signature = sign(json.dumps(ORDER_SAMPLE).encode())

    ok = send_webhook("orders/create", spaced, shop=shop.domain)
    forged = send_webhook(
        "orders/create",
        spaced,
        shop=shop.domain,
        headers={"X-Shopify-Hmac-Sha256": compact_signature},
    )

    assert ok.status_code == 200
    assert forged.status_code == 401


def test_a_missing_signature_is_400(send_webhook: SendWebhook, shop: Shop) -> None:
    response = send_webhook(
        "orders/create", ORDER_SAMPLE, shop=shop.domain, headers={"X-Shopify-Hmac-Sha256": None}
    )
    assert response.status_code == 400
    assert events() == []


@pytest.mark.parametrize(
    "header", ["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id"]
)
def test_missing_headers_are_400(send_webhook: SendWebhook, shop: Shop, header: str) -> None:
    response = send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain, headers={header: None})

    assert response.status_code == 400
    assert header in response.json["message"]
    assert events() == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_400(
    send_webhook: SendWebhook, shop: Shop, body: bytes
) -> None:
    response = send_webhook("orders/create", body, shop=shop.domain)

    assert response.status_code == 400
    assert response.json["error"] == "malformed_webhook"
    assert events() == []


def test_a_foreign_shop_domain_is_400(send_webhook: SendWebhook, shop: Shop) -> None:
    response = send_webhook("orders/create", ORDER_SAMPLE, shop="evil.example.com")
    assert response.status_code == 400


def test_an_unknown_shop_gets_200_and_nothing_runs(
    send_webhook: SendWebhook, app_ctx: None
) -> None:
    response = send_webhook("orders/create", ORDER_SAMPLE, shop="stranger.myshopify.com")

    assert response.status_code == 200
    (event,) = events()
    assert event.shop_id is None
    assert event.processed_at is None
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_get_is_not_allowed(client: Any, shop: Shop) -> None:
    assert client.get("/webhooks/shopify").status_code == 405


def test_the_database_down_answers_503_so_shopify_retries(
    send_webhook: SendWebhook, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(**_: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr("server.shopify.webhooks.insert_event", down)

    response = send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain)

    assert response.status_code == 503
    assert response.json["error"] == "unavailable"


def test_a_failing_handler_keeps_the_event_for_the_sweep(
    send_webhook: SendWebhook, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.shopify.tasks import sweep_unprocessed_shopify_events

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("worker crashed")

    monkeypatch.setitem(topics.ALL_TOPICS, "orders/create", broken)
    response = send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain)

    assert response.status_code == 200  # Shopify is answered; the work is ours now
    (event,) = events()
    assert event.processed_at is None
    assert event.attempts >= 1
    assert event.last_error == "RuntimeError: worker crashed"
    assert event.payload["id"] == ORDER_SAMPLE["id"]

    monkeypatch.setitem(topics.ALL_TOPICS, "orders/create", topics.on_order)
    event.received_at = datetime(2026, 1, 1, tzinfo=UTC)  # old enough for the sweep
    db.session.commit()
    sweep_unprocessed_shopify_events.call_local()

    db.session.refresh(event)
    assert event.processed_at is not None
    assert order_of(shop) is not None


# -- processing: idempotent, out of order -------------------------------------------------------


def test_an_older_update_arriving_late_changes_nothing(
    send_webhook: SendWebhook, shop: Shop
) -> None:
    newer = sample(
        ORDER_SAMPLE,
        updated_at="2026-04-07T10:00:00+09:00",
        cancelled_at="2026-04-07T10:00:00+09:00",
        cancel_reason="customer",
        financial_status="refunded",
    )
    older = sample(ORDER_SAMPLE, updated_at="2026-04-06T09:00:00+09:00", financial_status="paid")

    send_webhook("orders/cancelled", newer, shop=shop.domain)
    send_webhook("orders/updated", older, shop=shop.domain)

    order = order_of(shop)
    assert order is not None
    assert order.cancelled
    assert order.financial_status == "refunded"


def test_an_update_for_an_unknown_order_creates_it(send_webhook: SendWebhook, shop: Shop) -> None:
    send_webhook("orders/updated", sample(ORDER_SAMPLE, id=42, name="#42"), shop=shop.domain)

    order = order_of(shop, 42)
    assert order is not None
    assert order.name == "#42"


def test_refunds_count_once_whatever_the_order_of_arrival(
    send_webhook: SendWebhook, shop: Shop
) -> None:
    refund = {
        "id": 509562969,
        "order_id": ORDER_SAMPLE["id"],
        "transactions": [{"amount": "1990", "kind": "refund", "status": "success"}],
    }
    early = send_webhook("refunds/create", refund, shop=shop.domain)  # before the order exists
    assert early.status_code == 200
    send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain)
    send_webhook("refunds/create", refund, shop=shop.domain)
    send_webhook("refunds/create", refund, shop=shop.domain)
    updated = sample(
        ORDER_SAMPLE,
        updated_at="2026-04-08T00:00:00+09:00",
        refunds=[{"id": 509562969, "transactions": refund["transactions"]}],
    )
    send_webhook("orders/updated", updated, shop=shop.domain)

    order = order_of(shop)
    assert order is not None
    assert order.total_refunded == 1990
    assert order.net_total == 4030 - 1990
    waiting = [e for e in events() if e.topic == "refunds/create" and e.processed_at is None]
    assert len(waiting) == 1  # the early one waits for its retry
    assert waiting[0].last_error is not None
    assert "has not arrived yet" in waiting[0].last_error


def test_order_listeners_hear_each_applied_change(
    send_webhook: SendWebhook, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard: list[tuple[str | None, bool]] = []

    def listener(listening_shop: Shop, order: Order, *, now: datetime) -> None:
        assert listening_shop.id == shop.id
        heard.append((order.financial_status, order.cancelled))

    monkeypatch.setattr(topics, "ORDER_LISTENERS", (listener,))
    send_webhook(
        "orders/create", sample(ORDER_SAMPLE, financial_status="pending"), shop=shop.domain
    )
    paid = sample(ORDER_SAMPLE, financial_status="paid", updated_at="2026-04-06T09:00:00+09:00")
    send_webhook("orders/paid", paid, shop=shop.domain)
    send_webhook(
        "orders/paid", sample(paid, updated_at="2026-04-06T08:30:00+09:00"), shop=shop.domain
    )

    assert heard == [("pending", False), ("paid", False)]  # the stale one is not heard


def test_orders_delete_removes_the_order(send_webhook: SendWebhook, shop: Shop) -> None:
    send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain)
    send_webhook("orders/delete", {"id": ORDER_SAMPLE["id"]}, shop=shop.domain)
    assert order_of(shop) is None


def test_customers_and_products_are_upserted(send_webhook: SendWebhook, shop: Shop) -> None:
    send_webhook("customers/create", CUSTOMER_SAMPLE, shop=shop.domain)
    send_webhook("products/update", PRODUCT_SAMPLE, shop=shop.domain)
    send_webhook(
        "customers/update",
        sample(CUSTOMER_SAMPLE, tags="VIP", updated_at="2026-03-02T00:00:00+09:00"),
        shop=shop.domain,
    )

    customer = db.session.scalar(Customer.for_shop(shop))
    assert customer is not None
    assert (customer.last_name, customer.phone, customer.tags) == (
        "Biller",
        "+819012345678",
        ["VIP"],
    )
    product = db.session.scalar(Product.for_shop(shop))
    assert product is not None
    assert (product.title, product.tags, product.image_url) == (
        "酵素ドリンク",
        ["定期便", "人気"],
        "https://cdn.shopify.com/s/files/enzyme.png",
    )
    (variant,) = product.variants
    assert (variant.price, variant.compare_at_price, variant.sku) == (1990, 2490, "ENZ-500")

    send_webhook("products/delete", {"id": PRODUCT_SAMPLE["id"]}, shop=shop.domain)
    send_webhook("customers/delete", {"id": CUSTOMER_SAMPLE["id"]}, shop=shop.domain)
    db.session.expire_all()
    assert not db.session.get(Product, product.id).published  # type: ignore[union-attr]
    assert db.session.get(Customer, customer.id).deleted_at is not None  # type: ignore[union-attr]


def test_another_shops_webhook_never_touches_this_shop(
    send_webhook: SendWebhook, shop: Shop
) -> None:
    from tests.factories.shops import ShopFactory

    other = ShopFactory()
    send_webhook("orders/create", ORDER_SAMPLE, shop=other.domain)

    assert order_of(shop) is None
    assert order_of(other) is not None


def test_a_malformed_payload_fails_the_event_with_a_clear_error(
    send_webhook: SendWebhook, shop: Shop
) -> None:
    response = send_webhook("orders/create", {"name": "#1"}, shop=shop.domain)

    assert response.status_code == 200
    (event,) = events()
    assert event.processed_at is None
    assert event.last_error == "PayloadError: the payload has no id"


def test_uninstall_forgets_tokens_and_a_duplicate_is_harmless(
    send_webhook: SendWebhook, shop: Shop
) -> None:
    payload = {"id": 690933842, "name": "Super Toys", "myshopify_domain": shop.domain}
    send_webhook("app/uninstalled", payload, shop=shop.domain)
    send_webhook("app/uninstalled", payload, shop=shop.domain)

    db.session.expire_all()
    assert not shop.installed
    assert shop.access_token is None
    assert shop.refresh_token is None


def test_scopes_update_records_the_granted_scopes(send_webhook: SendWebhook, shop: Shop) -> None:
    send_webhook(
        "app/scopes_update",
        {"id": 1, "previous": ["read_orders"], "current": ["read_orders", "write_discounts"]},
        shop=shop.domain,
    )
    db.session.expire_all()
    assert shop.scopes == "read_orders,write_discounts"


def test_subscription_contract_webhooks_track_the_contract(
    send_webhook: SendWebhook, shop: Shop
) -> None:
    from server.commerce.models import SubscriptionContract
    from server.commerce.subscriptions import subscription_status

    contract = {
        "admin_graphql_api_id": "gid://shopify/SubscriptionContract/5",
        "id": 5,
        "customer_id": 77,
        "status": "active",
        "created_at": "2026-02-01T00:00:00+09:00",
        "updated_at": "2026-02-01T00:00:00+09:00",
    }
    send_webhook("subscription_contracts/create", contract, shop=shop.domain)
    cancelled = sample(contract, status="cancelled", updated_at="2026-03-01T00:00:00+09:00")
    send_webhook("subscription_contracts/cancel", cancelled, shop=shop.domain)
    send_webhook("subscription_contracts/update", contract, shop=shop.domain)  # stale retry

    row = db.session.scalar(SubscriptionContract.for_shop(shop))
    assert row is not None
    assert row.status == "cancelled"
    customer = db.session.get(Customer, row.customer_id)
    assert customer is not None
    status = subscription_status(shop, customer, now=datetime(2026, 4, 1, tzinfo=UTC))
    assert (status.active, status.source) == (False, "contract")
    assert status.cancelled_at == datetime(2026, 2, 28, 15, 0, tzinfo=UTC)


def test_subscription_listeners_hear_a_cancellation_by_tag(
    send_webhook: SendWebhook, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.settings = {"subscriber_tags": ["定期購入"]}
    db.session.commit()
    heard: list[bool] = []
    monkeypatch.setattr(
        topics,
        "SUBSCRIPTION_LISTENERS",
        (lambda _s, _c, status, *, now: heard.append(status.active),),
    )

    send_webhook("customers/create", CUSTOMER_SAMPLE, shop=shop.domain)
    dropped = sample(CUSTOMER_SAMPLE, tags="VIP", updated_at="2026-03-05T00:00:00+09:00")
    send_webhook("customers/update", dropped, shop=shop.domain)

    assert heard == [True, False]


def test_an_older_payload_without_selling_plans_asks_graphql_for_them(
    send_webhook: SendWebhook, shop: Shop, shopify_api: Any
) -> None:
    payload = sample(ORDER_SAMPLE)
    for item in payload["line_items"]:
        del item["selling_plan_id"]  # API versions before 2026-10 do not send it
    first_line = payload["line_items"][0]["id"]
    shopify_api.on_graphql(
        "OrderSellingPlans",
        {
            "order": {
                "id": f"gid://shopify/Order/{ORDER_SAMPLE['id']}",
                "lineItems": {
                    "nodes": [
                        {
                            "id": f"gid://shopify/LineItem/{first_line}",
                            "sellingPlan": {
                                "sellingPlanId": "gid://shopify/SellingPlan/4000000001",
                                "name": "定期便（30日ごと）",
                            },
                        },
                        {"id": "gid://shopify/LineItem/141249953214522974", "sellingPlan": None},
                    ]
                },
            }
        },
    )

    send_webhook("orders/create", payload, shop=shop.domain, api_version="2025-04")

    order = order_of(shop)
    assert order is not None
    assert order.is_subscription
    plans = {line.shopify_id: line.selling_plan_name for line in order.lines}
    assert plans[first_line] == "定期便（30日ごと）"
    assert len(shopify_api.calls("OrderSellingPlans")) == 1
