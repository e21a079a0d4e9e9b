"""Database base pieces: the `db` extension, column types, the ShopScoped mixin, commit().

Nothing here imports a feature. Models live in their feature packages and subclass `Base`
(through `db.Model`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, ForeignKey, MetaData, Select, TypeDecorator, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, registry

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

    from .shops.models import Shop

# Alembic needs every constraint named to alter it on SQLite (batch mode recreates tables).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database.

    PostgreSQL keeps the zone (timestamptz); SQLite keeps none, so values are stored as UTC
    and given their zone back on the way out. Naive datetimes are refused: a naive time in
    this app is a bug (the shop's zone or UTC? nobody can tell later).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={
            datetime: UTCDateTime(),
            dict[str, Any]: JSONType,
            list[Any]: JSONType,
            list[str]: JSONType,
        },
    )


db = SQLAlchemy(model_class=Base)

# Models subclass `Model` (Flask-SQLAlchemy's db.Model); type checkers see the plain Base.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ShopScoped:
    """A row that belongs to one shop. `Model.for_shop(shop)` is the query to start from.

    Every read of shop-owned data goes through `for_shop` (or filters on `shop_id`
    explicitly), so a query for shop A can never return shop B's rows.
    """

    @declared_attr
    def shop_id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr receives the class
        return mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)

    @classmethod
    def for_shop(cls, shop: Shop | int) -> Select[Self]:
        shop_id = shop if isinstance(shop, int) else shop.id
        return select(cls).where(cls.shop_id == shop_id)


def commit() -> None:
    """Commit the current transaction; tasks queued with `enqueue_after_commit` leave after it.

    The outermost caller (a view, a task, a CLI command) owns the transaction and calls this
    once; services only flush.
    """
    db.session.commit()


def is_postgresql(bind: sa.engine.Engine | sa.engine.Connection) -> bool:
    return bind.dialect.name == "postgresql"
