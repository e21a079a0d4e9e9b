"""Serving: a customer's recommendations with their reasons, and who is due to reorder.

The public interface other features call (scenarios, the LIFF API, the admin, the rich menu):

- `recommendations_for(shop, customer, *, limit=10, lang="ja")` → `list[Recommendation]`
- `due_to_reorder(shop, *, now, within=timedelta(0))` → customer ids
- `reorders_due(shop, *, start, end)` → the run-outs in a period (customer, product, cycle)

Lists are precomputed (services.train_shop nightly, services.refresh_customer after an order)
and filtered here, at request time, so a product unpublished or sold out a minute ago is never
shown: unpublished or deleted products, products without an available variant, the shop's
exclusions, and non-consumables the customer already owns. What the filters remove is filled
from the best sellers (of the customer's tier when the model knows it), so a list is short only
when the shop has nothing else to show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    distinct,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from server.commerce.models import Customer, Order, OrderLine, Product, ProductVariant
from server.db import db, utcnow
from server.i18n import translate
from server.membership.models import Member, Tier
from server.shops.models import Shop

from .models import (
    CustomerRecommendation,
    RecommendationModel,
    RecommendationSettings,
    ReorderPrediction,
)

Kind = Literal["reorder", "discovery", "popular"]
KINDS: tuple[Kind, ...] = ("reorder", "discovery", "popular")

# A reorder is "due" (the reason names the days since the last purchase) from this long
# before its predicted run-out date; earlier it is shown as one of the customer's regulars.
DUE_SOON = timedelta(days=7)
# A run-out date this far in the past no longer makes a customer "due": they have stopped
# buying it or bought it elsewhere, and a reminder would be noise.
OVERDUE_LIMIT = timedelta(days=30)
BEST_SELLER_WINDOW = timedelta(days=180)
_BEST_SELLER_CACHE_SECONDS = 600.0
_best_sellers: dict[tuple[int, str], tuple[float, list[int]]] = {}
# Currencies without minor units (Shopify amounts are stored in minor units).
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD"})


@dataclass(frozen=True)
class Recommendation:
    product_id: int
    title: str
    price: Decimal  # in `currency` (JPY: whole yen)
    image_url: str | None
    product_url: str
    kind: Kind
    reason: str  # in the language asked for
    currency: str = "JPY"
    subscribable: bool = False  # has a selling plan (the LIFF app tags it)


def recommendations_for(
    shop: Shop,
    customer: Customer | None,
    *,
    limit: int = 10,
    lang: str = "ja",
    now: datetime | None = None,
) -> list[Recommendation]:
    """The customer's recommendations, best first, at most `limit`, reasons in `lang`.

    Reads only, in two indexed queries: the customer's facts (stored list, tier, the latest
    model's best sellers, the shop's exclusions), then the current state of the products
    those name (published, first available variant, owned by the customer, subscribable).
    Both statements are built once, with the same SQL text on every call (the products as
    one array parameter), so PostgreSQL plans each once per connection (psycopg prepares a
    statement after a few runs) and SQLite reuses its prepared statement. No stored list
    yet: the cold start, best sellers of the customer's tier. `customer` None (a LINE friend
    who has not linked) gets the best sellers. Another shop's customer gets that shop's
    nothing: every query is scoped by `shop`.
    """
    now = now or utcnow()
    if limit <= 0:
        return []
    mine = customer if customer is not None and customer.shop_id == shop.id else None
    facts = _facts(shop, mine)
    stored = list(facts.items or [])
    popular, by_tier = _popular_for(shop, facts, now=now)
    entries = stored + [{"p": product_id, "k": "popular", "t": by_tier} for product_id in popular]
    wanted = {int(e["p"]) for e in entries} | {int(e["a"]) for e in stored if e.get("a")}
    cards = _cards(shop, wanted, mine)
    excluded = set(facts.excluded or [])
    out: list[Recommendation] = []
    seen: set[int] = set()
    for entry in entries:
        product_id = int(entry["p"])
        card = cards.get(product_id)
        if card is None or product_id in seen or product_id in excluded:
            continue
        if card.owned or not card.published or card.price is None:
            continue  # an owned non-consumable, unpublished, or sold out (no variant to buy)
        seen.add(product_id)
        kind: Kind = entry["k"] if entry["k"] in KINDS else "popular"
        out.append(
            Recommendation(
                product_id=product_id,
                title=card.title,
                price=to_decimal(card.price, shop.currency),
                image_url=card.image_url,
                product_url=_url(shop, card.handle),
                kind=kind,
                reason=_reason(entry, kind, cards, facts.tier_name, lang=lang, now=now),
                currency=shop.currency,
                subscribable=card.subscribable,
            )
        )
        if len(out) >= limit:
            break
    return out


def due_to_reorder(shop: Shop, *, now: datetime, within: timedelta = timedelta(0)) -> list[int]:
    """Ids of the customers with a product predicted to run out by `now + within`.

    One range scan of the (shop, due_at) index over the stored predictions; nobody is scored.
    Run-outs more than OVERDUE_LIMIT ago, products bought on a subscription (it reorders by
    itself) and products no longer published do not count. Predictions are refreshed nightly
    and after each of the customer's orders, so a customer who just reordered drops out.
    """
    rows = db.session.scalars(
        select(ReorderPrediction.customer_id)
        .distinct()
        .join(Product, Product.id == ReorderPrediction.product_id)
        .where(
            *_counted(shop),
            ReorderPrediction.due_at <= now + within,
            ReorderPrediction.due_at > now - OVERDUE_LIMIT,
        )
        .order_by(ReorderPrediction.customer_id)
    )
    return list(rows)


@dataclass(frozen=True)
class DueReorder:
    customer_id: int
    product_id: int
    last_purchased_at: datetime  # identifies the purchase cycle the run-out belongs to
    due_at: datetime


def reorders_due(shop: Shop, *, start: datetime, end: datetime) -> list[DueReorder]:
    """The predicted run-outs in [start, end) (the "due to reorder" scenario trigger asks for
    one day of the shop's zone), by the same rules as `due_to_reorder`; one range scan."""
    rows = db.session.execute(
        select(
            ReorderPrediction.customer_id,
            ReorderPrediction.product_id,
            ReorderPrediction.last_purchased_at,
            ReorderPrediction.due_at,
        )
        .join(Product, Product.id == ReorderPrediction.product_id)
        .where(
            *_counted(shop),
            ReorderPrediction.due_at >= start,
            ReorderPrediction.due_at < end,
        )
        .order_by(
            ReorderPrediction.customer_id, ReorderPrediction.due_at, ReorderPrediction.product_id
        )
    )
    return [DueReorder(*row) for row in rows]


def _counted(shop: Shop) -> tuple[ColumnElement[bool], ...]:
    """Predictions that make a customer due: not on a subscription, for a published product."""
    return (
        ReorderPrediction.shop_id == shop.id,
        ReorderPrediction.subscribed.is_(False),
        Product.shop_id == shop.id,
        Product.status == "active",
        Product.deleted_at.is_(None),
    )


def product_url(shop: Shop, product: Product) -> str:
    return _url(shop, product.handle)


def _url(shop: Shop, handle: str) -> str:
    return f"https://{shop.domain}/products/{handle}"


def to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor) if currency in ZERO_DECIMAL else Decimal(minor).scaleb(-2)


def format_price(amount: Decimal, currency: str, lang: str) -> str:
    """¥3,980 / $12.50, as the LINE carousel and the LIFF app show money."""
    if currency == "JPY":
        return f"¥{amount:,.0f}"
    digits = 0 if currency in ZERO_DECIMAL else 2
    return f"{amount:,.{digits}f} {currency}"


# Pieces ------------------------------------------------------------------------------------------


def latest_model(shop: Shop) -> RecommendationModel | None:
    return db.session.scalar(
        RecommendationModel.for_shop(shop)
        .order_by(RecommendationModel.trained_at.desc(), RecommendationModel.id.desc())
        .limit(1)
    )


class _Facts(NamedTuple):
    items: list[Any] | None  # the stored list
    tier_id: int | None
    tier_name: str | None
    popular: dict[str, Any] | None  # the latest model's best sellers
    excluded: list[Any] | None


def _tier(column: Any) -> Any:
    return (
        select(column)
        .join(Member, Member.tier_id == Tier.id)
        .where(
            Member.shop_id == bindparam("shop_id"),
            Member.customer_id == bindparam("customer_id"),
            Tier.shop_id == bindparam("shop_id"),
        )
        .limit(1)
        .scalar_subquery()
    )


# Built once: a lookup binds the shop and the customer (None matches no row) and runs it.
_FACTS = select(
    select(CustomerRecommendation.items)
    .where(
        CustomerRecommendation.shop_id == bindparam("shop_id"),
        CustomerRecommendation.customer_id == bindparam("customer_id"),
    )
    .scalar_subquery(),
    _tier(Tier.id),
    _tier(Tier.name),
    select(RecommendationModel.popular)
    .where(RecommendationModel.shop_id == bindparam("shop_id"))
    .order_by(RecommendationModel.trained_at.desc(), RecommendationModel.id.desc())
    .limit(1)
    .scalar_subquery(),
    select(RecommendationSettings.excluded_product_ids)
    .where(RecommendationSettings.shop_id == bindparam("shop_id"))
    .scalar_subquery(),
)


def _facts(shop: Shop, customer: Customer | None) -> _Facts:
    """What the lookup needs besides the products, in one statement of scalar subqueries,
    each an indexed read of one row."""
    customer_id = customer.id if customer is not None else None
    # On the session's connection (its transaction): the ORM layer has nothing to add to a
    # select of plain columns, and costs a quarter of the statement's time.
    row = (
        db.session.connection()
        .execute(_FACTS, {"shop_id": shop.id, "customer_id": customer_id})
        .one()
    )
    return _Facts(*row)


def _popular_for(shop: Shop, facts: _Facts, *, now: datetime) -> tuple[list[int], bool]:
    """Best sellers for the cold start and to fill: (product ids, whether they are the tier's)."""
    popular = facts.popular
    if popular:
        if facts.tier_id is not None and str(facts.tier_id) in popular:
            return [int(i) for i in popular[str(facts.tier_id)]], True
        return [int(i) for i in popular.get("all", [])], False
    return best_sellers(shop, now=now), False


def best_sellers(shop: Shop, *, now: datetime, limit: int = 30) -> list[int]:
    """Products in the most orders over the last 180 days (before any model is trained).

    Cached per shop for ten minutes; counted per order, not per unit.
    """
    key = (shop.id, shop.domain)
    cached = _best_sellers.get(key)
    if cached and time.monotonic() - cached[0] < _BEST_SELLER_CACHE_SECONDS:
        return cached[1][:limit]
    ids = [
        product_id
        for product_id in db.session.scalars(
            select(OrderLine.product_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                Order.shop_id == shop.id,
                OrderLine.shop_id == shop.id,
                Order.processed_at > now - BEST_SELLER_WINDOW,
                Order.cancelled_at.is_(None),
                OrderLine.product_id.is_not(None),
            )
            .group_by(OrderLine.product_id)
            .order_by(func.count(distinct(OrderLine.order_id)).desc(), OrderLine.product_id)
            .limit(limit)
        )
        if product_id is not None
    ]
    _best_sellers[key] = (time.monotonic(), ids)
    return ids


class _Card(NamedTuple):
    """A product as the lookup reads it now (the filters run on these, at request time)."""

    title: str
    handle: str
    image_url: str | None
    published: bool
    price: int | None  # of the first available variant; None: sold out
    owned: bool  # a non-consumable the customer already bought
    subscribable: bool


def _ids_in(dialect: str) -> ColumnElement[bool]:
    """Product.id in the `ids` parameter, bound whole (an array on PostgreSQL, a JSON list
    on SQLite): an expanding IN would render other SQL for every length of list, each one
    planned afresh (the planning took twice as long as running the query on PostgreSQL)."""
    if dialect == "postgresql":
        return Product.id == any_(bindparam("ids", type_=ARRAY(Integer)))
    listed = func.json_each(bindparam("ids", type_=JSON)).table_valued("value")
    return Product.id.in_(select(listed.c.value))


def _cards_statement(dialect: str) -> Select[Any]:
    return select(
        Product.id,
        Product.title,
        Product.handle,
        Product.image_url,
        and_(Product.status == "active", Product.deleted_at.is_(None)),
        select(ProductVariant.price)
        # By product only: the product is the shop's, and SQLite would rather walk the (shop,
        # shopify id) index, every variant of the shop for each product.
        .where(ProductVariant.product_id == Product.id, ProductVariant.available.is_(True))
        .order_by(ProductVariant.position, ProductVariant.id)
        .limit(1)
        .correlate(Product)
        .scalar_subquery(),
        and_(
            Product.consumable.is_(False),
            Product.id.in_(
                select(OrderLine.product_id)
                .join(Order, Order.id == OrderLine.order_id)
                .where(
                    Order.shop_id == bindparam("shop_id"),
                    Order.customer_id == bindparam("customer_id"),
                    Order.cancelled_at.is_(None),
                    OrderLine.product_id.is_not(None),
                )
            ),
        ),
        Product.subscribable,
    ).where(Product.shop_id == bindparam("shop_id"), _ids_in(dialect))


_CARDS: dict[str, Select[Any]] = {}  # per dialect, built on first use


def _cards(shop: Shop, ids: set[int], customer: Customer | None) -> dict[int, _Card]:
    """The products `ids` of the shop as they are now, one query by primary key, with the
    first available variant's price and whether the customer owns it (non-consumables,
    uncancelled orders) as subqueries on indexed columns."""
    if not ids:
        return {}
    customer_id = customer.id if customer is not None else None
    connection = db.session.connection()
    dialect = connection.dialect.name
    statement = _CARDS.get(dialect)
    if statement is None:
        statement = _CARDS[dialect] = _cards_statement(dialect)
    rows = connection.execute(
        statement, {"shop_id": shop.id, "customer_id": customer_id, "ids": sorted(ids)}
    )
    return {
        product_id: _Card(title, handle, image, bool(published), price, bool(owned), bool(sub))
        for product_id, title, handle, image, published, price, owned, sub in rows
    }


def _reason(
    entry: dict[str, Any],
    kind: Kind,
    cards: dict[int, _Card],
    tier_name: str | None,
    *,
    lang: str,
    now: datetime,
) -> str:
    if kind == "reorder":
        last, due = _day(entry.get("l")), _day(entry.get("d"))
        today = now.astimezone(UTC).date()
        if last is not None and (due is None or due <= today + DUE_SOON):
            days = max(1, (today - last).days)
            return translate("recommendations.reason.reorder_due", locale=lang, days=days)
        return translate("recommendations.reason.reorder_again", locale=lang)
    if kind == "discovery":
        anchor = cards.get(int(entry["a"])) if entry.get("a") is not None else None
        if anchor is not None:
            return translate(
                "recommendations.reason.discovery", locale=lang, product=_short(anchor.title)
            )
        return translate("recommendations.reason.discovery_plain", locale=lang)
    if entry.get("t") and tier_name is not None:
        return translate("recommendations.reason.popular_tier", locale=lang, tier=tier_name)
    return translate("recommendations.reason.popular", locale=lang)


def _short(title: str, limit: int = 24) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "…"


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
