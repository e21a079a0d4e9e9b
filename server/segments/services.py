"""Saved segments, live counts and membership checks. Services flush; the caller commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select

from server.commerce.models import Collection, Customer, Product
from server.db import db
from server.errors import Conflict, Invalid, NotFound
from server.line.models import LineUser
from server.membership.models import Tier
from server.shops.models import Shop

from . import filters
from .filters import Person
from .models import Segment

EVERYONE: dict[str, Any] = {"match": "all", "conditions": []}


def dialect() -> str:
    return db.session.get_bind().dialect.name


def member_query(shop: Shop, definition: dict[str, Any], *, now: datetime) -> Select[Any]:
    """SELECT (customer_id, line_user_id) of the members of a validated definition."""
    return filters.compile_definition(shop, definition, now=now, dialect=dialect())


def count(shop: Shop, definition: dict[str, Any], *, now: datetime) -> int:
    """How many people the definition matches right now (validated first)."""
    clean = filters.validate(definition)
    query = member_query(shop, clean, now=now).subquery()
    return db.session.scalar(select(func.count()).select_from(query)) or 0


def reachable_query(shop: Shop, definition: dict[str, Any], *, now: datetime) -> Select[Any]:
    """Members who can receive a LINE message: a followed, not blocked friend. One row per friend:
    (line_user_id, customer_id)."""
    members = member_query(shop, filters.validate(definition), now=now).subquery()
    return (
        select(LineUser.id.label("line_user_id"), members.c.customer_id)
        .join(members, members.c.line_user_id == LineUser.id)
        .where(
            LineUser.shop_id == shop.id,
            LineUser.followed_at.is_not(None),
            LineUser.blocked_at.is_(None),
        )
    )


def count_reachable(shop: Shop, definition: dict[str, Any], *, now: datetime) -> int:
    query = reachable_query(shop, definition, now=now).subquery()
    return db.session.scalar(select(func.count()).select_from(query)) or 0


def matches(
    shop: Shop,
    definition: dict[str, Any] | None,
    *,
    customer_id: int | None,
    line_user_id: int | None,
    now: datetime,
) -> bool:
    """Whether one person is in the definition (no definition: everyone is)."""
    if not definition or not definition.get("conditions"):
        return True
    person = Person(customer_id=customer_id, line_user_id=line_user_id)
    query = filters.compile_definition(
        shop, filters.validate(definition), now=now, dialect=dialect(), person=person
    )
    return db.session.scalar(select(func.count()).select_from(query.subquery())) > 0  # type: ignore[operator]


def sample(
    shop: Shop, definition: dict[str, Any], *, now: datetime, limit: int = 20
) -> list[dict[str, Any]]:
    """A few members with names, for the builder's preview."""
    members = member_query(shop, filters.validate(definition), now=now).subquery()
    rows = db.session.execute(
        select(
            members.c.customer_id,
            members.c.line_user_id,
            Customer.last_name,
            Customer.first_name,
            Customer.email,
            LineUser.display_name,
        )
        .select_from(members)
        .outerjoin(Customer, Customer.id == members.c.customer_id)
        .outerjoin(LineUser, LineUser.id == members.c.line_user_id)
        .order_by(members.c.customer_id.desc(), members.c.line_user_id.desc())
        .limit(limit)
    ).all()
    out = []
    for customer_id, line_user_id, last, first, email, display in rows:
        name = " ".join(part for part in (last, first) if part) or display or email or ""
        out.append({"customer_id": customer_id, "line_user_id": line_user_id, "name": name})
    return out


# Saved segments ------------------------------------------------------------------------------


def list_segments(shop: Shop) -> Sequence[Segment]:
    return db.session.scalars(Segment.for_shop(shop).order_by(Segment.name, Segment.id)).all()


def find_segment(shop: Shop, segment_id: int) -> Segment | None:
    return db.session.scalar(Segment.for_shop(shop).where(Segment.id == segment_id))


def get_segment(shop: Shop, segment_id: int) -> Segment:
    segment = find_segment(shop, segment_id)
    if segment is None:
        raise NotFound(f"segment {segment_id} not found")
    return segment


def create_segment(
    shop: Shop, *, name: str, definition: dict[str, Any], description: str = ""
) -> Segment:
    segment = Segment(
        shop_id=shop.id,
        name=_name(name),
        description=description[:1000],
        definition=filters.validate(definition),
    )
    db.session.add(segment)
    db.session.flush()
    return segment


def update_segment(
    shop: Shop,
    segment: Segment,
    *,
    name: str | None = None,
    definition: dict[str, Any] | None = None,
    description: str | None = None,
) -> Segment:
    if name is not None:
        segment.name = _name(name)
    if definition is not None:
        segment.definition = filters.validate(definition)
        segment.last_count = None
    if description is not None:
        segment.description = description[:1000]
    db.session.flush()
    return segment


def delete_segment(shop: Shop, segment: Segment, *, in_use: bool) -> None:
    """Delete a saved segment. Raises Conflict while a scenario or broadcast still uses it."""
    if in_use:
        raise Conflict("this segment is used by a scenario or a broadcast", segment_id=segment.id)
    db.session.delete(segment)
    db.session.flush()


def refresh_count(shop: Shop, segment: Segment, *, now: datetime) -> int:
    segment.last_count = count(shop, segment.definition, now=now)
    segment.last_counted_at = now
    db.session.flush()
    return segment.last_count


def _name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned or len(cleaned) > 255:
        raise Invalid("name: give a name of 1 to 255 characters", path="name")
    return cleaned


# What the builder offers ---------------------------------------------------------------------


def options(shop: Shop) -> dict[str, Any]:
    """Values the builder can pick from: products, collections, product tags and types,
    customer tags, membership tiers (lowest first)."""
    products = db.session.execute(
        select(Product.id, Product.title)
        .where(Product.shop_id == shop.id, Product.deleted_at.is_(None))
        .order_by(Product.title)
        .limit(1000)
    ).all()
    collections = db.session.execute(
        select(Collection.id, Collection.title)
        .where(Collection.shop_id == shop.id)
        .order_by(Collection.title)
        .limit(1000)
    ).all()
    product_types = db.session.scalars(
        select(Product.product_type)
        .where(and_(Product.shop_id == shop.id, Product.product_type != ""))
        .distinct()
    ).all()
    product_tags: set[str] = set()
    for tags in db.session.scalars(select(Product.tags).where(Product.shop_id == shop.id)):
        product_tags.update(tags or [])
    customer_tags: set[str] = set()
    # Distinct tag lists are few even when customers are many.
    for tags in db.session.scalars(
        select(Customer.tags).where(Customer.shop_id == shop.id).distinct().limit(5000)
    ):
        customer_tags.update(tags or [])
    tiers = db.session.execute(
        select(Tier.id, Tier.name).where(Tier.shop_id == shop.id).order_by(Tier.threshold)
    ).all()
    return {
        "products": [{"id": pid, "title": title} for pid, title in products],
        "tiers": [{"id": tid, "name": name} for tid, name in tiers],
        "collections": [{"id": cid, "title": title} for cid, title in collections],
        "product_types": sorted(product_types),
        "product_tags": sorted(product_tags),
        "customer_tags": sorted(customer_tags),
    }
