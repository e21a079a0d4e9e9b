"""Privacy requests Shopify forwards (mandatory compliance webhooks):
https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance

- customers/data_request → `export_customer`: everything Kizuna holds on the customer, kept as a
  ComplianceRequest the merchant downloads from the admin and hands over (they have 30 days);
- customers/redact → `redact_customer`: the customer's personal data erased everywhere (profile,
  order contact fields, LINE link and profile, earlier exports); anonymous aggregates (order
  counts and amounts, what was bought) stay so reports keep adding up;
- shop/redact → `redact_shop`: every row of the shop's data deleted; the Shop row stays as a
  tombstone without personal data.

Other features add their own data through the listener tuples in server/shopify/topics.py
(CUSTOMER_EXPORT_LISTENERS, CUSTOMER_REDACT_LISTENERS), called by the topic handlers.
Everything here is idempotent: Shopify may deliver each request more than once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update

from server.commerce.models import Customer, Order, SubscriptionContract
from server.commerce.subscriptions import subscription_status
from server.db import db
from server.line.models import LineUser

from .models import ComplianceRequest, Shop


def find_customer(shop: Shop, shopify_customer_id: int | None) -> Customer | None:
    if shopify_customer_id is None:
        return None
    return db.session.scalar(
        Customer.for_shop(shop).where(Customer.shopify_id == shopify_customer_id)
    )


def export_customer(
    shop: Shop, customer: Customer | None, *, orders_requested: Iterable[int], now: datetime
) -> dict[str, Any]:
    """Everything Kizuna stores about the customer, as plain JSON."""
    order_ids = {int(i) for i in orders_requested}
    orders: list[Order] = []
    if customer is not None or order_ids:
        criteria = []
        if customer is not None:
            criteria.append(Order.customer_id == customer.id)
        if order_ids:
            criteria.append(Order.shopify_id.in_(sorted(order_ids)))
        orders = list(
            db.session.scalars(
                Order.for_shop(shop).where(or_(*criteria)).order_by(Order.processed_at)
            )
        )
    export: dict[str, Any] = {
        "shop": shop.domain,
        "generated_at": now.isoformat(),
        "customer": None,
        "orders": [
            {
                "id": o.shopify_id,
                "name": o.name,
                "email": o.email,
                "processed_at": o.processed_at.isoformat(),
                "currency": o.currency,
                "total_price_minor": o.total_price,
                "total_refunded_minor": o.total_refunded,
                "cancelled_at": o.cancelled_at.isoformat() if o.cancelled_at else None,
                "discount_codes": o.discount_codes,
                "lines": [
                    {
                        "title": line.title,
                        "variant_title": line.variant_title,
                        "sku": line.sku,
                        "quantity": line.quantity,
                        "price_minor": line.price,
                        "subscription": line.selling_plan_id is not None,
                    }
                    for line in o.lines
                ],
            }
            for o in orders
        ],
    }
    if customer is not None:
        status = subscription_status(shop, customer, now=now)
        line_user = db.session.scalar(
            LineUser.for_shop(shop).where(LineUser.customer_id == customer.id)
        )
        export["customer"] = {
            "id": customer.shopify_id,
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone": customer.phone,
            "tags": customer.tags,
            "locale": customer.locale,
            "accepts_marketing": customer.accepts_marketing,
            "subscription": {
                "active": status.active,
                "state": status.state,
                "source": status.source,
                "since": status.since.isoformat() if status.since else None,
                "cancelled_at": status.cancelled_at.isoformat() if status.cancelled_at else None,
            },
            "subscription_contracts": [
                {
                    "id": c.shopify_id,
                    "status": c.status,
                    "created_at": _iso(c.shopify_created_at),
                    "ended_at": _iso(c.ended_at),
                }
                for c in contracts_of(shop, customer)
            ],
            "line": (
                {
                    "line_user_id": line_user.line_user_id,
                    "display_name": line_user.display_name,
                    "language": line_user.language,
                    "followed_at": _iso(line_user.followed_at),
                    "linked_at": _iso(line_user.linked_at),
                }
                if line_user is not None
                else None
            ),
        }
    return export


def record_data_request(
    shop: Shop,
    *,
    shopify_customer_id: int | None,
    data_request_id: int | None,
    orders_requested: list[int],
    export: dict[str, Any],
    now: datetime,
) -> ComplianceRequest:
    """Keep the export for the merchant. A redelivered request updates the same row."""
    request = None
    if data_request_id is not None:
        request = db.session.scalar(
            ComplianceRequest.for_shop(shop).where(
                ComplianceRequest.topic == "customers/data_request",
                ComplianceRequest.data_request_id == data_request_id,
            )
        )
    if request is None:
        request = ComplianceRequest(
            shop_id=shop.id,
            topic="customers/data_request",
            data_request_id=data_request_id,
            received_at=now,
        )
        db.session.add(request)
    request.shopify_customer_id = shopify_customer_id
    request.orders_requested = orders_requested
    request.export = export
    request.status = "done"
    request.completed_at = now
    request.summary = (
        f"customer: {'yes' if export.get('customer') else 'not found'}, "
        f"orders: {len(export.get('orders', []))}"
    )
    db.session.flush()
    return request


def redact_customer(
    shop: Shop,
    customer: Customer | None,
    *,
    shopify_customer_id: int | None,
    orders_to_redact: Iterable[int],
    now: datetime,
) -> dict[str, int]:
    """Erase the customer's personal data. Returns what was touched (counts, for the log)."""
    order_ids = sorted({int(i) for i in orders_to_redact})
    touched = {"customer": 0, "orders": 0, "line_users": 0, "exports": 0}
    if customer is not None:
        customer.email = None
        customer.first_name = None
        customer.last_name = None
        customer.phone = None
        customer.locale = None
        customer.tags = []
        customer.accepts_marketing = False
        customer.redacted_at = customer.redacted_at or now
        touched["customer"] = 1
        touched["line_users"] = db.session.execute(
            update(LineUser)
            .where(LineUser.shop_id == shop.id, LineUser.customer_id == customer.id)
            .values(customer_id=None, linked_at=None, display_name=None, picture_url=None)
        ).rowcount  # type: ignore[attr-defined]
    criteria = []
    if customer is not None:
        criteria.append(Order.customer_id == customer.id)
    if order_ids:
        criteria.append(Order.shopify_id.in_(order_ids))
    if criteria:
        touched["orders"] = db.session.execute(
            update(Order)
            .where(Order.shop_id == shop.id, or_(*criteria))
            .values(email=None)
            .execution_options(synchronize_session="fetch")
        ).rowcount  # type: ignore[attr-defined]
    if shopify_customer_id is not None:
        for request in db.session.scalars(
            ComplianceRequest.for_shop(shop).where(
                ComplianceRequest.shopify_customer_id == shopify_customer_id,
                ComplianceRequest.export.is_not(None),
            )
        ):
            request.export = None
            request.status = "redacted"
            touched["exports"] += 1
    db.session.add(
        ComplianceRequest(
            shop_id=shop.id,
            topic="customers/redact",
            shopify_customer_id=shopify_customer_id,
            orders_requested=order_ids,
            status="done",
            received_at=now,
            completed_at=now,
            summary=", ".join(f"{k}: {v}" for k, v in touched.items()),
        )
    )
    db.session.flush()
    return touched


def redact_shop(shop: Shop, *, keep_event_id: int | None, now: datetime) -> dict[str, int]:
    """Delete every row of the shop's data, in every feature's tables (any table with a
    `shop_id`), and strip the Shop row to a tombstone. `keep_event_id`: the webhook event being
    processed (its row must outlive the handler)."""
    deleted: dict[str, int] = {}
    for table in reversed(db.metadata.sorted_tables):
        if "shop_id" not in table.c or table.name == "shops":
            continue
        statement = delete(table).where(table.c.shop_id == shop.id)
        if table.name == "webhook_events" and keep_event_id is not None:
            statement = statement.where(table.c.id != keep_event_id)
        count = db.session.execute(statement).rowcount  # type: ignore[attr-defined]
        if count:
            deleted[table.name] = count
    db.session.expire_all()
    shop = db.session.get(Shop, shop.id)  # type: ignore[assignment]
    shop.name = ""
    shop.email = None
    shop.settings = {}
    shop.scopes = ""
    shop.access_token = None
    shop.access_token_expires_at = None
    shop.refresh_token = None
    shop.refresh_token_expires_at = None
    shop.redacted_at = now
    db.session.flush()
    return deleted


def contracts_of(shop: Shop, customer: Customer) -> list[SubscriptionContract]:
    return list(
        db.session.scalars(
            select(SubscriptionContract).where(
                SubscriptionContract.shop_id == shop.id,
                SubscriptionContract.customer_id == customer.id,
            )
        )
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
