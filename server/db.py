"""Database base pieces: the `db` extension, column types, the ShopScoped mixin, commit().

Nothing here imports a feature. Models live in their feature packages and subclass `Base`
(through `db.Model`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self, TypeVar

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, ForeignKey, MetaData, Select, TypeDecorator, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, registry

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

    from .shops.models import Shop

log = logging.getLogger(__name__)
R = TypeVar("R")

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


# SQLITE_BUSY, when SQLite answers it at once: a transaction that read, then tried to write while
# another connection writes or has committed since, cannot go on (waiting could not help, so
# busy_timeout does not wait). PostgreSQL's serialization failure and deadlock: the server rolled
# the transaction back. Each succeeds when simply run again.
_SQLITE_BUSY = 5
_PG_RETRYABLE = frozenset({"40001", "40P01"})
CONFLICT_ATTEMPTS = 5


def is_transient_conflict(error: BaseException | None) -> bool:
    """Whether `error`, or the error that caused it (a failed flush leaves the session to raise
    PendingRollbackError later), is a conflict with another transaction."""
    while error is not None:
        if isinstance(error, sa.exc.OperationalError):
            orig = error.orig
            code = getattr(orig, "sqlite_errorcode", None)
            if code is not None:
                return code & 0xFF == _SQLITE_BUSY  # the primary code of SQLITE_BUSY_SNAPSHOT too
            return getattr(orig, "sqlstate", None) in _PG_RETRYABLE
        error = error.__cause__ or error.__context__
    return False


def run_in_transaction(work: Callable[[], R], *, attempts: int = CONFLICT_ATTEMPTS) -> R:
    """Run `work` and commit; on a transient conflict roll back and run it again from the start.

    `work` must be safe to repeat (tasks are by contract). Without this, a worker that read a
    row just before the web process committed would fail, and huey's retry would come only
    after its retry delay.
    """
    for attempt in range(1, attempts + 1):
        try:
            result = work()
            db.session.commit()
            return result
        except BaseException as error:
            db.session.rollback()
            if attempt == attempts or not is_transient_conflict(error):
                raise
            log.info("transaction conflict (attempt %d of %d); running it again", attempt, attempts)
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not secrets
    raise AssertionError("unreachable")


def is_postgresql(bind: sa.engine.Engine | sa.engine.Connection) -> bool:
    return bind.dialect.name == "postgresql"
