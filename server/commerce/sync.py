"""Writing Shopify's products, customers and orders into Kizuna's tables.

Webhooks (REST-shaped payloads) and the bulk backfill (GraphQL JSONL) are translated into the
plain records below by server/shopify (payloads.py, backfill.py); these functions upsert them in
batches, so one webhook and fifty thousand backfilled orders take the same path.

Rules:
- rows are keyed by (shop, Shopify id); a batch costs a few queries, not one per record;
- out-of-order delivery: a record older than the stored one (`updated_at`) changes nothing, so a
  stale retry of orders/updated never undoes a newer orders/cancelled; an equal one re-applies
  (idempotent);
- refunds are a map of refund id → amount, so refunds/create and the order's own `refunds` list
  can arrive in any order and any number of times without double counting;
- a customer erased by customers/redact stays erased: later payloads do not refill personal fields.
Functions flush; the caller (a task or a CLI command) commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, delete, insert, select

from server.db import db
from server.shops.models import Shop

from .models import (
    Collection,
    CollectionProduct,
    Customer,
    Order,
    OrderLine,
    Product,
    ProductVariant,
    SubscriptionContract,
)
from .subscriptions import mark_tags, subscriber_tags


@dataclass
class CustomerData:
    shopify_id: int
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    tags: list[str] = field(default_factory=list)
    locale: str | None = None
    accepts_marketing: bool = False
    state: str = "enabled"
    created_at: datetime | None = None
    updated_at: datetime | None = None
    complete: bool = True  # False: only the id is known (a bulk order line's customer { id })


@dataclass
class VariantData:
    shopify_id: int
    title: str = ""
    sku: str | None = None
    position: int = 1
    price: int = 0
    compare_at_price: int | None = None
    inventory_quantity: int | None = None
    available: bool = True


@dataclass
class ProductData:
    shopify_id: int
    title: str
    handle: str = ""
    product_type: str = ""
    vendor: str = ""
    tags: list[str] = field(default_factory=list)
    status: str = "active"
    image_url: str | None = None
    description: str = ""
    subscribable: bool | None = None  # None: the source does not say (REST payloads)
    updated_at: datetime | None = None
    variants: list[VariantData] = field(default_factory=list)


@dataclass
class LineData:
    shopify_id: int
    product_shopify_id: int | None
    variant_shopify_id: int | None
    title: str = ""
    variant_title: str | None = None
    sku: str | None = None
    quantity: int = 1
    price: int = 0
    total_discount: int = 0
    selling_plan_id: int | None = None
    selling_plan_name: str | None = None


@dataclass
class OrderData:
    shopify_id: int
    processed_at: datetime
    name: str = ""
    email: str | None = None
    currency: str = "JPY"
    subtotal_price: int = 0
    total_discounts: int = 0
    total_price: int = 0
    financial_status: str | None = None
    fulfillment_status: str | None = None
    discount_codes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    source_name: str | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    updated_at: datetime | None = None
    customer: CustomerData | None = None
    lines: list[LineData] = field(default_factory=list)
    refunds: dict[str, int] | None = None  # None: the source does not list refunds


@dataclass
class ContractData:
    shopify_id: int
    status: str
    customer_shopify_id: int | None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    next_billing_date: datetime | None = None


def is_stale(stored: datetime | None, incoming: datetime | None) -> bool:
    return stored is not None and incoming is not None and incoming < stored


# -- customers -------------------------------------------------------------------------------


def upsert_customers(
    shop: Shop, records: Sequence[CustomerData], *, now: datetime
) -> dict[int, Customer]:
    """Insert or update customers; returns them by Shopify id (stale records change nothing)."""
    known = _by_shopify_id(Customer, shop, [r.shopify_id for r in records])
    for record in records:
        customer = known.get(record.shopify_id)
        if customer is None:
            customer = Customer(shop_id=shop.id, shopify_id=record.shopify_id)
            db.session.add(customer)
            known[record.shopify_id] = customer
        elif not record.complete or is_stale(customer.shopify_updated_at, record.updated_at):
            continue
        if not record.complete:
            continue
        if customer.redacted_at is None:
            customer.email = record.email
            customer.first_name = record.first_name
            customer.last_name = record.last_name
            customer.phone = record.phone
        customer.tags = list(record.tags)
        customer.locale = record.locale
        customer.accepts_marketing = record.accepts_marketing
        customer.state = record.state
        customer.shopify_created_at = record.created_at or customer.shopify_created_at
        customer.shopify_updated_at = record.updated_at or customer.shopify_updated_at
        mark_tags(shop, customer, now=now)
    db.session.flush()
    return known


def mark_customer_deleted(shop: Shop, shopify_id: int, *, now: datetime) -> Customer | None:
    customer = _by_shopify_id(Customer, shop, [shopify_id]).get(shopify_id)
    if customer is not None and customer.deleted_at is None:
        customer.deleted_at = now
    return customer


# -- products ----------------------------------------------------------------------------------


def upsert_products(shop: Shop, records: Sequence[ProductData]) -> dict[int, Product]:
    known = _by_shopify_id(Product, shop, [r.shopify_id for r in records])
    variants = _by_shopify_id(
        ProductVariant, shop, [v.shopify_id for r in records for v in r.variants]
    )
    for record in records:
        product = known.get(record.shopify_id)
        if product is None:
            product = Product(shop_id=shop.id, shopify_id=record.shopify_id, title=record.title)
            db.session.add(product)
            known[record.shopify_id] = product
        elif is_stale(product.shopify_updated_at, record.updated_at):
            continue
        product.title = record.title
        product.handle = record.handle
        product.product_type = record.product_type
        product.vendor = record.vendor
        product.tags = list(record.tags)
        product.status = record.status
        product.image_url = record.image_url
        product.description = record.description
        if record.subscribable is not None:
            product.subscribable = record.subscribable
        product.shopify_updated_at = record.updated_at or product.shopify_updated_at
        product.deleted_at = None
        db.session.flush()  # the product id, for new variants
        for v in record.variants:
            variant = variants.get(v.shopify_id)
            if variant is None:
                variant = ProductVariant(
                    shop_id=shop.id, shopify_id=v.shopify_id, product_id=product.id, price=v.price
                )
                db.session.add(variant)
                variants[v.shopify_id] = variant
            variant.product_id = product.id
            variant.title = v.title
            variant.sku = v.sku
            variant.position = v.position
            variant.price = v.price
            variant.compare_at_price = v.compare_at_price
            variant.inventory_quantity = v.inventory_quantity
            variant.available = v.available
    db.session.flush()
    return known


def mark_product_deleted(shop: Shop, shopify_id: int, *, now: datetime) -> None:
    product = _by_shopify_id(Product, shop, [shopify_id]).get(shopify_id)
    if product is not None and product.deleted_at is None:
        product.deleted_at = now


# -- collections -------------------------------------------------------------------------------


@dataclass
class CollectionData:
    shopify_id: int
    title: str
    handle: str = ""
    smart: bool = False
    updated_at: datetime | None = None
    product_ids: list[int] = field(default_factory=list)  # Shopify product ids, all of them


def replace_collection(shop: Shop, record: CollectionData, *, now: datetime) -> Collection:
    """Store a collection and exactly the products listed (a full read of its products)."""
    collection = _by_shopify_id(Collection, shop, [record.shopify_id]).get(record.shopify_id)
    if collection is None:
        collection = Collection(shop_id=shop.id, shopify_id=record.shopify_id, title=record.title)
        db.session.add(collection)
    collection.title = record.title
    collection.handle = record.handle
    collection.smart = record.smart
    collection.shopify_updated_at = record.updated_at or collection.shopify_updated_at
    collection.synced_at = now
    db.session.flush()
    members = _table(CollectionProduct)
    stored = set(
        db.session.scalars(
            select(CollectionProduct.product_shopify_id).where(
                CollectionProduct.collection_id == collection.id
            )
        )
    )
    wanted = set(record.product_ids)
    for chunk in _chunks(sorted(stored - wanted), 500):
        db.session.execute(
            delete(members).where(
                members.c.collection_id == collection.id,
                members.c.product_shopify_id.in_(chunk),
            )
        )
    added = sorted(wanted - stored)
    if added:
        db.session.execute(
            insert(members),
            [
                {"shop_id": shop.id, "collection_id": collection.id, "product_shopify_id": p}
                for p in added
            ],
        )
    return collection


def delete_collection(shop: Shop, shopify_id: int) -> bool:
    """collections/delete, or a collection the API no longer finds; its members go with it."""
    result = db.session.execute(
        delete(Collection).where(Collection.shop_id == shop.id, Collection.shopify_id == shopify_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete_collections_except(shop: Shop, keep: Iterable[int]) -> int:
    """After a full read of the shop's collections: forget the ones it no longer has."""
    result = db.session.execute(
        delete(Collection).where(
            Collection.shop_id == shop.id, Collection.shopify_id.not_in(list(keep))
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- orders ------------------------------------------------------------------------------------


def upsert_orders(
    shop: Shop, records: Sequence[OrderData], *, now: datetime
) -> tuple[list[Order], list[Order]]:
    """Insert or update orders with their lines and customers.

    Returns (applied, skipped_as_stale): only applied orders changed.
    """
    customers = upsert_customers(shop, [r.customer for r in records if r.customer], now=now)
    known = _by_shopify_id(Order, shop, [r.shopify_id for r in records])
    product_ids = _ids_by_shopify_id(
        Product, shop, [ln.product_shopify_id for r in records for ln in r.lines]
    )
    variant_ids = _ids_by_shopify_id(
        ProductVariant, shop, [ln.variant_shopify_id for r in records for ln in r.lines]
    )
    applied: list[Order] = []
    stale: list[Order] = []
    for record in records:
        order = known.get(record.shopify_id)
        if order is None:
            order = Order(shop_id=shop.id, shopify_id=record.shopify_id, lines=[])
            db.session.add(order)
            known[record.shopify_id] = order
        elif is_stale(order.shopify_updated_at, record.updated_at):
            stale.append(order)
            continue
        customer = customers.get(record.customer.shopify_id) if record.customer else None
        order.customer_id = customer.id if customer is not None else None
        order.name = record.name
        order.email = record.email if customer is None or customer.redacted_at is None else None
        order.currency = record.currency
        order.subtotal_price = record.subtotal_price
        order.total_discounts = record.total_discounts
        order.total_price = record.total_price
        order.financial_status = record.financial_status
        order.fulfillment_status = record.fulfillment_status
        order.discount_codes = list(record.discount_codes)
        order.tags = list(record.tags)
        order.source_name = record.source_name
        order.processed_at = record.processed_at
        order.cancelled_at = record.cancelled_at
        order.cancel_reason = record.cancel_reason
        order.shopify_updated_at = record.updated_at or order.shopify_updated_at
        if record.refunds is not None:
            _set_refunds(order, dict(record.refunds))
        _replace_lines(shop, order, record.lines, product_ids, variant_ids)
        order.is_subscription = any(line.selling_plan_id for line in record.lines)
        applied.append(order)
    db.session.flush()
    return applied, stale


def import_orders(shop: Shop, records: Sequence[OrderData], *, now: datetime) -> int:
    """The backfill's path: `upsert_orders` for orders already stored, and for new ones plain
    multi-row INSERTs (orders with RETURNING ids, then their lines) instead of one ORM object per
    row, several times faster for a shop's whole history. Returns how many were written."""
    known = _ids_by_shopify_id(Order, shop, [r.shopify_id for r in records])
    existing = [r for r in records if r.shopify_id in known]
    fresh = list({r.shopify_id: r for r in records if r.shopify_id not in known}.values())
    applied, _stale = upsert_orders(shop, existing, now=now) if existing else ([], [])
    if not fresh:
        return len(applied)
    customer_ids = _ensure_customers(
        shop, [r.customer.shopify_id for r in fresh if r.customer], now=now
    )
    product_ids = _ids_by_shopify_id(
        Product, shop, [ln.product_shopify_id for r in fresh for ln in r.lines]
    )
    variant_ids = _ids_by_shopify_id(
        ProductVariant, shop, [ln.variant_shopify_id for r in fresh for ln in r.lines]
    )
    rows = []
    for r in fresh:
        refunds = dict(r.refunds or {})
        rows.append(
            {
                "shop_id": shop.id,
                "shopify_id": r.shopify_id,
                "customer_id": customer_ids.get(r.customer.shopify_id) if r.customer else None,
                "name": r.name,
                "email": r.email,
                "currency": r.currency,
                "subtotal_price": r.subtotal_price,
                "total_discounts": r.total_discounts,
                "total_price": r.total_price,
                "total_refunded": sum(refunds.values()),
                "financial_status": r.financial_status,
                "fulfillment_status": r.fulfillment_status,
                "discount_codes": list(r.discount_codes),
                "tags": list(r.tags),
                "source_name": r.source_name,
                "is_subscription": any(line.selling_plan_id for line in r.lines),
                "processed_at": r.processed_at,
                "cancelled_at": r.cancelled_at,
                "cancel_reason": r.cancel_reason,
                "shopify_updated_at": r.updated_at,
                "extra": {"refunds": refunds},
                "created_at": now,
                "updated_at": now,
            }
        )
    order_ids = {
        shopify_id: row_id
        for row_id, shopify_id in db.session.execute(
            insert(_table(Order)).returning(Order.id, Order.shopify_id), rows
        )
    }
    lines = [
        {
            "shop_id": shop.id,
            "order_id": order_ids[r.shopify_id],
            "shopify_id": ln.shopify_id,
            "product_id": product_ids.get(ln.product_shopify_id or 0),
            "variant_id": variant_ids.get(ln.variant_shopify_id or 0),
            "title": ln.title,
            "variant_title": ln.variant_title,
            "sku": ln.sku,
            "quantity": ln.quantity,
            "price": ln.price,
            "total_discount": ln.total_discount,
            "selling_plan_id": ln.selling_plan_id,
            "selling_plan_name": ln.selling_plan_name,
        }
        for r in fresh
        for ln in r.lines
    ]
    if lines:
        db.session.execute(insert(_table(OrderLine)), lines)
    return len(applied) + len(fresh)


def import_customers(shop: Shop, records: Sequence[CustomerData], *, now: datetime) -> int:
    """The backfill's path for customers: ORM upsert for known ones, bulk INSERT for new ones."""
    known = _ids_by_shopify_id(Customer, shop, [r.shopify_id for r in records])
    existing = [r for r in records if r.shopify_id in known]
    fresh = list({r.shopify_id: r for r in records if r.shopify_id not in known}.values())
    if existing:
        upsert_customers(shop, existing, now=now)
    tags = set(subscriber_tags(shop))
    if fresh:
        db.session.execute(
            insert(_table(Customer)),
            [
                {
                    "shop_id": shop.id,
                    "shopify_id": r.shopify_id,
                    "email": r.email,
                    "first_name": r.first_name,
                    "last_name": r.last_name,
                    "phone": r.phone,
                    "tags": list(r.tags),
                    "locale": r.locale,
                    "accepts_marketing": r.accepts_marketing,
                    "state": r.state,
                    "shopify_created_at": r.created_at,
                    "shopify_updated_at": r.updated_at,
                    "subscription_tag_since": now if tags & set(r.tags) else None,
                    "created_at": now,
                    "updated_at": now,
                }
                for r in fresh
            ],
        )
    return len(existing) + len(fresh)


def _ensure_customers(shop: Shop, shopify_ids: Iterable[int], *, now: datetime) -> dict[int, int]:
    """Row ids by Shopify id, creating bare rows for customers not seen yet (an order's buyer
    can be missing from the customer export, e.g. deleted since)."""
    wanted = set(shopify_ids)
    ids = _ids_by_shopify_id(Customer, shop, wanted)
    missing = sorted(wanted - set(ids))
    if missing:
        import_customers(shop, [CustomerData(i, complete=False) for i in missing], now=now)
        ids.update(_ids_by_shopify_id(Customer, shop, missing))
    return ids


def add_refund(order: Order, refund_id: int, amount: int) -> bool:
    """Record one refund (refunds/create). Returns False when it was already recorded."""
    refunds = dict((order.extra or {}).get("refunds", {}))
    if str(refund_id) in refunds:
        return False
    refunds[str(refund_id)] = amount
    _set_refunds(order, refunds)
    return True


def find_order(shop: Shop, shopify_id: int) -> Order | None:
    return _by_shopify_id(Order, shop, [shopify_id]).get(shopify_id)


def delete_order(shop: Shop, shopify_id: int) -> bool:
    result = db.session.execute(
        delete(Order).where(Order.shop_id == shop.id, Order.shopify_id == shopify_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _set_refunds(order: Order, refunds: dict[str, int]) -> None:
    order.extra = {**(order.extra or {}), "refunds": refunds}
    order.total_refunded = sum(refunds.values())


def _replace_lines(
    shop: Shop,
    order: Order,
    lines: Sequence[LineData],
    product_ids: dict[int, int],
    variant_ids: dict[int, int],
) -> None:
    existing = {line.shopify_id: line for line in order.lines}
    keep = []
    for data in lines:
        line = existing.pop(data.shopify_id, None) or OrderLine(
            shop_id=shop.id, shopify_id=data.shopify_id
        )
        line.product_id = product_ids.get(data.product_shopify_id or 0)
        line.variant_id = variant_ids.get(data.variant_shopify_id or 0)
        line.title = data.title
        line.variant_title = data.variant_title
        line.sku = data.sku
        line.quantity = data.quantity
        line.price = data.price
        line.total_discount = data.total_discount
        line.selling_plan_id = data.selling_plan_id
        line.selling_plan_name = data.selling_plan_name
        keep.append(line)
    order.lines = keep  # delete-orphan removes lines Shopify no longer lists


# -- subscription contracts ----------------------------------------------------------------------


def upsert_contract(shop: Shop, record: ContractData, *, now: datetime) -> SubscriptionContract:
    contract = _by_shopify_id(SubscriptionContract, shop, [record.shopify_id]).get(
        record.shopify_id
    )
    if contract is None:
        contract = SubscriptionContract(
            shop_id=shop.id, shopify_id=record.shopify_id, status=record.status
        )
        db.session.add(contract)
    elif is_stale(contract.shopify_updated_at, record.updated_at):
        return contract
    if record.customer_shopify_id is not None:
        customer = upsert_customers(
            shop, [CustomerData(record.customer_shopify_id, complete=False)], now=now
        )[record.customer_shopify_id]
        contract.customer_id = customer.id
    was_live = contract.status in ("active", "paused") and contract.id is not None
    contract.status = record.status
    contract.shopify_created_at = record.created_at or contract.shopify_created_at
    contract.shopify_updated_at = record.updated_at or contract.shopify_updated_at
    contract.next_billing_date = record.next_billing_date
    if record.status in ("active", "paused"):
        contract.ended_at = None
    elif contract.ended_at is None or was_live:
        contract.ended_at = record.updated_at or now
    db.session.flush()
    return contract


# -- helpers -----------------------------------------------------------------------------------


M = TypeVar("M", Customer, Product, ProductVariant, Order, SubscriptionContract, Collection)


def _by_shopify_id(model: type[M], shop: Shop, ids: Iterable[int | None]) -> dict[int, M]:
    wanted = sorted({i for i in ids if i})
    found: dict[int, M] = {}
    for chunk in _chunks(wanted, 500):
        for row in db.session.scalars(
            select(model).where(model.shop_id == shop.id, model.shopify_id.in_(chunk))
        ):
            found[row.shopify_id] = row
    return found


def _ids_by_shopify_id(
    model: type[Customer] | type[Order] | type[Product] | type[ProductVariant],
    shop: Shop,
    ids: Iterable[int | None],
) -> dict[int, int]:
    wanted = sorted({i for i in ids if i})
    found: dict[int, int] = {}
    for chunk in _chunks(wanted, 500):
        for shopify_id, row_id in db.session.execute(
            select(model.shopify_id, model.id).where(
                model.shop_id == shop.id, model.shopify_id.in_(chunk)
            )
        ):
            found[shopify_id] = row_id
    return found


def _table(model: type[Any]) -> Table:
    # Core inserts of the table, not the ORM entity: no per-row ORM bookkeeping in bulk.
    return cast(Table, model.__table__)


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
