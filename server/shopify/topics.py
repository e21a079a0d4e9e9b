"""Webhook topic → handler, and the listener tuples other features extend.

Every topic in shopify.app.toml has a handler in TOPICS and every handler's topic is in the toml
(tests/shopify/test_app_toml.py checks both ways). Handlers run in the worker
(tasks.process_shopify_event), inside the task's transaction, and must be idempotent: Shopify
delivers at least once, out of order, and retries with the *original* payload. The commerce
upserts make a stale payload change nothing (the newer `updated_at` wins).

Extending (add your function to the tuple with a one-line edit):

- ORDER_LISTENERS: `(shop, order, *, now) -> None`, called after an order create/update/paid/
  cancel or a refund changed the stored order. The order can come again (any topic, any
  number of times): look at its state (`financial_status`, `cancelled_at`, `total_refunded`),
  not at which webhook fired. Backfilled history does not call listeners.
- CUSTOMER_REDACT_LISTENERS: `(shop, customer, *, now) -> None`, called for customers/redact
  *before* Kizuna erases its own copy (so the LINE link and customer id still lead to your rows);
  erase the customer's personal data in your tables.
- CUSTOMER_EXPORT_LISTENERS: `(shop, customer, *, now) -> dict`, called for
  customers/data_request; the dict is merged into the export under your feature's key.
- SUBSCRIPTION_LISTENERS: `(shop, customer, status, *, now) -> None`, called when a webhook
  turned a customer into a subscriber or ended their subscription (status.active says which).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from server.campaigns import services as campaign_services
from server.campaigns import triggers as campaign_triggers
from server.commerce import sync
from server.commerce.models import Customer, Order
from server.commerce.subscriptions import NEVER, SubscriptionStatus, subscription_status
from server.coupons import services as coupon_services
from server.db import db
from server.ingest.models import WebhookEvent
from server.membership import services as membership_services
from server.recommendations import services as recommendation_services
from server.shops import privacy
from server.shops.models import Shop
from server.shops.services import mark_uninstalled

from . import collections, payloads
from .errors import ShopifyError

log = logging.getLogger(__name__)

OrderListener = Callable[..., None]  # (shop: Shop, order: Order, *, now: datetime) -> None
CustomerListener = Callable[..., None]  # (shop: Shop, customer: Customer, *, now: datetime)
ExportListener = Callable[..., dict[str, Any]]
SubscriptionListener = Callable[..., None]  # (shop, customer, status, *, now)

ORDER_LISTENERS: tuple[OrderListener, ...] = (
    membership_services.on_order,  # points and tier (issue 5)
    coupon_services.on_order,  # coupon redemptions (issue 5)
    campaign_triggers.on_order,  # scenario entries and "ordered again" exits (issue 7)
    recommendation_services.on_order,  # the customer's list and reorder dates (issue 6)
)
CUSTOMER_REDACT_LISTENERS: tuple[CustomerListener, ...] = (
    campaign_services.redact_customer,  # scenario enrollments end, their answers go (issue 7)
    recommendation_services.redact_customer,  # lists and reorder dates derived from orders
)
CUSTOMER_EXPORT_LISTENERS: tuple[tuple[str, ExportListener], ...] = (
    ("membership", membership_services.export_customer),
    ("campaigns", campaign_services.export_customer),
)
SUBSCRIPTION_LISTENERS: tuple[SubscriptionListener, ...] = (
    campaign_triggers.on_subscription_change,  # started/cancelled scenarios (issue 7)
)

Handler = Callable[[Shop, WebhookEvent, datetime], None]


class OrderNotYetKnown(ShopifyError):
    """A refund for an order whose own webhook has not arrived yet: the event is retried."""

    code = "order_not_yet_known"


# -- orders ------------------------------------------------------------------------------------

ORDER_SELLING_PLANS = """
query OrderSellingPlans($id: ID!) {
  order(id: $id) {
    id
    lineItems(first: 250) { nodes { id sellingPlan { sellingPlanId name } } }
  }
}
"""


def on_order(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    record = payloads.order(event.payload, shop.currency)
    if payloads.lines_lack_selling_plans(event.payload):
        _fill_selling_plans(shop, record)
    before = _status_of(shop, record.customer.shopify_id if record.customer else None, now)
    applied, _stale = sync.upsert_orders(shop, [record], now=now)
    for order in applied:
        _notify_order(shop, order, now)
    _notify_subscription_change(shop, before, now)


def on_order_deleted(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    sync.delete_order(shop, payloads.required_id(event.payload))


def on_refund(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    payload = event.payload
    order_id = payloads.required_id(payload, "order_id")
    order = sync.find_order(shop, order_id)
    if order is None:
        raise OrderNotYetKnown(f"refund for order {order_id}, which has not arrived yet")
    amount = payloads.refund_amount(payload, order.currency)
    if sync.add_refund(order, payloads.required_id(payload), amount):
        db.session.flush()
        _notify_order(shop, order, now)


def _notify_order(shop: Shop, order: Order, now: datetime) -> None:
    for listener in ORDER_LISTENERS:
        listener(shop, order, now=now)


def _fill_selling_plans(shop: Shop, record: sync.OrderData) -> None:
    # Payloads before API version 2026-10 do not carry selling_plan_id on line items:
    # https://shopify.dev/changelog/orders-webhooks-now-include-selling_plan_id-on-line-items
    from .client import graphql

    data = graphql(shop, ORDER_SELLING_PLANS, {"id": f"gid://shopify/Order/{record.shopify_id}"})
    nodes = ((data.get("order") or {}).get("lineItems") or {}).get("nodes") or []
    plans = {
        payloads.gid_to_id(n["id"]): n.get("sellingPlan") for n in nodes if n.get("sellingPlan")
    }
    for line in record.lines:
        plan = plans.get(line.shopify_id)
        if plan:
            line.selling_plan_id = payloads.gid_to_id(plan.get("sellingPlanId")) or -1
            line.selling_plan_name = plan.get("name")


# -- customers, products --------------------------------------------------------------------------


def on_customer(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    record = payloads.customer(event.payload)
    before = _status_of(shop, record.shopify_id, now)
    sync.upsert_customers(shop, [record], now=now)
    _notify_subscription_change(shop, before, now)


def on_customer_deleted(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    sync.mark_customer_deleted(shop, payloads.required_id(event.payload), now=now)


def on_product(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    sync.upsert_products(shop, [payloads.product(event.payload, shop.currency)])


def on_product_deleted(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    sync.mark_product_deleted(shop, payloads.required_id(event.payload), now=now)


def on_collection(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    # The payload has no products: read the collection as it is now (a stale retry reads the
    # same current state, so order does not matter).
    collections.sync_collection(shop, payloads.required_id(event.payload), now=now)


def on_collection_deleted(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    sync.delete_collection(shop, payloads.required_id(event.payload))


def on_subscription_contract(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    record = payloads.contract(event.payload)
    before = _status_of(shop, record.customer_shopify_id, now)
    sync.upsert_contract(shop, record, now=now)
    _notify_subscription_change(shop, before, now)


# -- the app itself -------------------------------------------------------------------------------


def on_app_uninstalled(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    if mark_uninstalled(shop, now=now):
        log.info("shop %s uninstalled Kizuna", shop.id)


def on_bulk_operation_finish(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    from . import backfill

    operation_id = str(event.payload.get("admin_graphql_api_id") or "")
    backfill.bulk_operation_finished(shop, operation_id, now=now)


def on_scopes_update(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    current = event.payload.get("current")
    if isinstance(current, list):
        shop.scopes = ",".join(str(s) for s in current)


# -- privacy (mandatory compliance topics) --------------------------------------------------------


def on_customers_data_request(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    payload = event.payload
    shopify_customer_id = payloads.gid_to_id((payload.get("customer") or {}).get("id"))
    orders = [int(i) for i in payload.get("orders_requested") or []]
    customer = privacy.find_customer(shop, shopify_customer_id)
    export = privacy.export_customer(shop, customer, orders_requested=orders, now=now)
    if customer is not None:
        for name, provide in CUSTOMER_EXPORT_LISTENERS:
            export[name] = provide(shop, customer, now=now)
    privacy.record_data_request(
        shop,
        shopify_customer_id=shopify_customer_id,
        data_request_id=payloads.gid_to_id((payload.get("data_request") or {}).get("id")),
        orders_requested=orders,
        export=export,
        now=now,
    )


def on_customers_redact(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    payload = event.payload
    shopify_customer_id = payloads.gid_to_id((payload.get("customer") or {}).get("id"))
    customer = privacy.find_customer(shop, shopify_customer_id)
    if customer is not None:
        for listener in CUSTOMER_REDACT_LISTENERS:
            listener(shop, customer, now=now)
    touched = privacy.redact_customer(
        shop,
        customer,
        shopify_customer_id=shopify_customer_id,
        orders_to_redact=[int(i) for i in payload.get("orders_to_redact") or []],
        now=now,
    )
    log.info("customers/redact for shop %s: %s", shop.id, touched)


def on_shop_redact(shop: Shop, event: WebhookEvent, now: datetime) -> None:
    if shop.installed:  # reinstalled since the uninstall: Shopify would not ask; keep the data
        log.warning("shop/redact for shop %s, which is installed again: ignored", shop.id)
        return
    deleted = privacy.redact_shop(shop, keep_event_id=event.id, now=now)
    log.info("shop/redact for shop %s: deleted %s", shop.id, deleted)


TOPICS: dict[str, Handler] = {
    "orders/create": on_order,
    "orders/updated": on_order,
    "orders/paid": on_order,
    "orders/cancelled": on_order,
    "orders/fulfilled": on_order,
    "orders/delete": on_order_deleted,
    "refunds/create": on_refund,
    "customers/create": on_customer,
    "customers/update": on_customer,
    "customers/delete": on_customer_deleted,
    "products/create": on_product,
    "products/update": on_product,
    "products/delete": on_product_deleted,
    "collections/create": on_collection,
    "collections/update": on_collection,
    "collections/delete": on_collection_deleted,
    "app/uninstalled": on_app_uninstalled,
    "app/scopes_update": on_scopes_update,
    "bulk_operations/finish": on_bulk_operation_finish,
    "subscription_contracts/create": on_subscription_contract,
    "subscription_contracts/update": on_subscription_contract,
    "subscription_contracts/activate": on_subscription_contract,
    "subscription_contracts/pause": on_subscription_contract,
    "subscription_contracts/cancel": on_subscription_contract,
    "subscription_contracts/expire": on_subscription_contract,
    "subscription_contracts/fail": on_subscription_contract,
}

COMPLIANCE_TOPICS: dict[str, Handler] = {
    "customers/data_request": on_customers_data_request,
    "customers/redact": on_customers_redact,
    "shop/redact": on_shop_redact,
}

ALL_TOPICS: dict[str, Handler] = {**TOPICS, **COMPLIANCE_TOPICS}


def handle(shop: Shop, event: WebhookEvent, *, now: datetime) -> None:
    """Run the event's handler. Unknown topics are logged and dropped (a toml/table mismatch,
    which a test prevents); a redacted shop's data topics are ignored so nothing comes back."""
    handler = ALL_TOPICS.get(event.topic)
    if handler is None:
        log.warning("no handler for Shopify topic %s (event %s)", event.topic, event.id)
        return
    if shop.redacted_at is not None and event.topic not in COMPLIANCE_TOPICS:
        return
    handler(shop, event, now)


# -- subscriber changes ---------------------------------------------------------------------------


def _status_of(
    shop: Shop, shopify_customer_id: int | None, now: datetime
) -> tuple[int, SubscriptionStatus] | None:
    if not SUBSCRIPTION_LISTENERS or shopify_customer_id is None:
        return None
    customer = privacy.find_customer(shop, shopify_customer_id)
    if customer is None:
        return (shopify_customer_id, NEVER)
    return (shopify_customer_id, subscription_status(shop, customer, now=now))


def _notify_subscription_change(
    shop: Shop, before: tuple[int, SubscriptionStatus] | None, now: datetime
) -> None:
    if before is None:
        return
    shopify_customer_id, old = before
    customer: Customer | None = privacy.find_customer(shop, shopify_customer_id)
    if customer is None:
        return
    new = subscription_status(shop, customer, now=now)
    if new.active != old.active:
        for listener in SUBSCRIPTION_LISTENERS:
            listener(shop, customer, new, now=now)
