from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, ShopScoped, TimestampMixin


class Customer(ShopScoped, TimestampMixin, Model):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("shop_id", "shopify_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shopify_id: Mapped[int] = mapped_column(BigInteger)
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(default=list)
    locale: Mapped[str | None] = mapped_column(String(16))
    accepts_marketing: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(32), default="enabled")
    shopify_created_at: Mapped[datetime | None]
    shopify_updated_at: Mapped[datetime | None]
    # customers/redact erases the personal fields above and sets this; the row stays so that
    # anonymous aggregates (order counts, revenue) keep adding up.
    redacted_at: Mapped[datetime | None]
    # Deleted in Shopify (customers/delete); kept for the order history until customers/redact.
    deleted_at: Mapped[datetime | None]
    # When the customer first carried one of the shop's subscriber tags, and when the last one
    # was removed (subscriptions.py derives subscriber status from these and other sources).
    subscription_tag_since: Mapped[datetime | None]
    subscription_tag_ended_at: Mapped[datetime | None]

    orders: Mapped[list[Order]] = relationship(back_populates="customer", lazy="raise_on_sql")

    @property
    def display_name(self) -> str:
        # Japanese order: family name first.
        return " ".join(part for part in (self.last_name, self.first_name) if part) or (
            self.email or f"#{self.shopify_id}"
        )


class Product(ShopScoped, TimestampMixin, Model):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("shop_id", "shopify_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shopify_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(512))
    handle: Mapped[str] = mapped_column(String(512), default="")
    product_type: Mapped[str] = mapped_column(String(255), default="")
    vendor: Mapped[str] = mapped_column(String(255), default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active/draft/archived
    image_url: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    # Sold with a selling plan (subscription) as well as one-off.
    subscribable: Mapped[bool] = mapped_column(default=False)
    # Used up and bought again (supplements, skincare) vs owned once (a shaker). Merchant-set;
    # recommendations skip owned non-consumables and time reorders by `usage_days`.
    consumable: Mapped[bool] = mapped_column(default=True)
    usage_days: Mapped[int | None]  # how long one unit lasts, when known
    shopify_updated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]

    variants: Mapped[list[ProductVariant]] = relationship(
        back_populates="product", lazy="selectin", order_by="ProductVariant.position"
    )

    @property
    def published(self) -> bool:
        return self.status == "active" and self.deleted_at is None


class ProductVariant(ShopScoped, TimestampMixin, Model):
    __tablename__ = "product_variants"
    __table_args__ = (UniqueConstraint("shop_id", "shopify_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    shopify_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(512), default="")
    sku: Mapped[str | None] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(default=1)
    price: Mapped[int]  # minor units of the shop currency
    compare_at_price: Mapped[int | None]
    inventory_quantity: Mapped[int | None]
    available: Mapped[bool] = mapped_column(default=True)

    product: Mapped[Product] = relationship(back_populates="variants")


class Collection(ShopScoped, TimestampMixin, Model):
    """A Shopify collection (custom or smart), for "bought from collection X" in segments and
    scenario triggers. Its products come from the Admin API (server/shopify/collections.py)."""

    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("shop_id", "shopify_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shopify_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(512))
    handle: Mapped[str] = mapped_column(String(512), default="")
    smart: Mapped[bool] = mapped_column(default=False)  # membership follows rules (tags, type…)
    shopify_updated_at: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]  # when its product list was last read in full


class CollectionProduct(ShopScoped, Model):
    """A product in a collection, by Shopify product id: a product imported after the
    collection (the backfill runs alongside) still counts once it arrives."""

    __tablename__ = "collection_products"

    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    product_shopify_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


ORDERS_COUNTED = "cancelled_at IS NULL AND customer_id IS NOT NULL"
# As SQLAlchemy writes `is_subscription.is_(True)` on each database: SQLite uses a partial index
# only for a query whose WHERE repeats its terms.
ON_PLAN_POSTGRESQL = "is_subscription IS true AND customer_id IS NOT NULL"
ON_PLAN_SQLITE = "is_subscription IS 1 AND customer_id IS NOT NULL"


class Order(ShopScoped, TimestampMixin, Model):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_id"),
        Index(
            "ix_orders_shop_id_customer_id_processed_at", "shop_id", "customer_id", "processed_at"
        ),
        # Every column of the per-customer totals that segments read for a whole shop (count,
        # spent, first and last order of the orders not cancelled): the database reads them
        # from this index alone, in customer order, without visiting the table.
        Index(
            "ix_orders_customer_totals",
            "shop_id",
            "customer_id",
            "processed_at",
            "total_price",
            "total_refunded",
            postgresql_where=text(ORDERS_COUNTED),
            sqlite_where=text(ORDERS_COUNTED),
        ),
        # Each customer's last subscription order, live and cancelled (subscription states
        # for a whole shop), from this index alone: a fifth of the orders, in customer order.
        Index(
            "ix_orders_subscription_orders",
            "shop_id",
            "customer_id",
            "processed_at",
            "cancelled_at",
            postgresql_where=text(ON_PLAN_POSTGRESQL),
            sqlite_where=text(ON_PLAN_SQLITE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shopify_id: Mapped[int] = mapped_column(BigInteger)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), default="")  # "#1001"
    email: Mapped[str | None] = mapped_column(String(320))
    currency: Mapped[str] = mapped_column(String(3), default="JPY")
    subtotal_price: Mapped[int] = mapped_column(default=0)
    total_discounts: Mapped[int] = mapped_column(default=0)
    total_price: Mapped[int] = mapped_column(default=0)
    total_refunded: Mapped[int] = mapped_column(default=0)
    financial_status: Mapped[str | None] = mapped_column(String(32))
    fulfillment_status: Mapped[str | None] = mapped_column(String(32))
    discount_codes: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[list[str]] = mapped_column(default=list)
    source_name: Mapped[str | None] = mapped_column(String(64))
    # At least one line was bought on a selling plan (a subscription order).
    is_subscription: Mapped[bool] = mapped_column(default=False)
    processed_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    # Out-of-order webhooks: the newer Shopify updated_at wins.
    shopify_updated_at: Mapped[datetime | None]
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)

    customer: Mapped[Customer | None] = relationship(back_populates="orders")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", lazy="selectin", cascade="all, delete-orphan"
    )

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def net_total(self) -> int:
        return 0 if self.cancelled else self.total_price - self.total_refunded


class OrderLine(ShopScoped, Model):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("shop_id", "shopify_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    shopify_id: Mapped[int] = mapped_column(BigInteger)
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    variant_id: Mapped[int | None] = mapped_column(
        ForeignKey("product_variants.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(512), default="")
    variant_title: Mapped[str | None] = mapped_column(String(512))
    sku: Mapped[str | None] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(default=1)
    price: Mapped[int] = mapped_column(default=0)  # unit price, minor units
    total_discount: Mapped[int] = mapped_column(default=0)
    # Subscription marker: the selling plan this line was bought on (None = one-off).
    selling_plan_id: Mapped[int | None] = mapped_column(BigInteger)
    selling_plan_name: Mapped[str | None] = mapped_column(String(255))

    order: Mapped[Order] = relationship(back_populates="lines")


class SubscriptionContract(ShopScoped, TimestampMixin, Model):
    """A Shopify subscription contract seen through subscription_contracts/* webhooks or the API.

    Shopify sends these only for contracts the app itself owns, so for most shops (another app
    sells the subscriptions) there are none and subscriber status comes from tags and
    selling-plan orders instead.
    """

    __tablename__ = "subscription_contracts"
    __table_args__ = (UniqueConstraint("shop_id", "shopify_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shopify_id: Mapped[int] = mapped_column(BigInteger)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))  # active paused cancelled expired failed
    shopify_created_at: Mapped[datetime | None]
    # Out-of-order webhooks: the newer Shopify updated_at wins.
    shopify_updated_at: Mapped[datetime | None]
    # When the contract was seen leaving the active/paused states.
    ended_at: Mapped[datetime | None]
    next_billing_date: Mapped[datetime | None]
