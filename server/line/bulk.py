"""Set-based writes of many rows of one table, for the delivery pipeline's batches.

A 100,000-recipient multicast writes 100,000 rows and then settles each of them once, a
request (500 rows) at a time. Row-at-a-time statements (or SQLAlchemy's multi-row INSERT ..
RETURNING, which binds twelve parameters a row) spend most of that time parsing and binding,
so on PostgreSQL:
- new rows go in with COPY, their ids drawn from the table's sequence beforehand;
- changed rows are written with one `UPDATE .. FROM unnest(<one array per column>)` per set of
  columns and UPDATE_CHUNK rows: one small statement whatever the batch size.
Rows given identical values share one statement everywhere; SQLite (one local writer, no
round trips to speak of) gets the portable forms: `WHERE id IN (..)` and executemany.
"""

from __future__ import annotations

import gc
import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, Integer, Table, bindparam, func, insert, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from server.db import db, is_postgresql

INSERT_CHUNK = 5000  # rows per executemany batch (SQLite)
UPDATE_CHUNK = 5000  # rows per UPDATE statement
ID_CHUNK = 2000  # ids per IN (..) list (SQLite allows 32,766 parameters)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch makes its many objects (row dicts,
    detached rows, requests). Each full collection walks every object alive, and with
    100,000 rows in hand those walks took over half of deliver_many's time (10.5 s of which
    GC ~5.8 s, benchmarks/delivery.py). Reference counting still frees what goes unused; the
    collector resumes after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def insert_rows(table: Table, rows: list[dict[str, Any]], *, key: str) -> list[int]:
    """Insert `rows` (dicts with the same keys, no `id`) and return their new ids, in order.
    `key` names a column whose values are distinct among `rows`."""
    if not rows:
        return []
    if is_postgresql(db.session.get_bind()):
        return _copy(table, rows)
    # RETURNING in any order (asking for parameter order makes SQLite insert row by row);
    # `key` tells the rows apart.
    statement = insert(table).returning(table.c[key], table.c.id)
    ids: dict[Any, int] = {}
    for start in range(0, len(rows), INSERT_CHUNK):
        ids.update(
            (k, i) for k, i in db.session.execute(statement, rows[start : start + INSERT_CHUNK])
        )
    return [ids[row[key]] for row in rows]


def _copy(table: Table, rows: list[dict[str, Any]]) -> list[int]:
    sequence = f"{table.name}_id_seq"
    ids = list(
        db.session.scalars(
            text("SELECT nextval(:sequence) FROM generate_series(1, :n)"),
            {"sequence": sequence, "n": len(rows)},
        )
    )
    ids.sort()  # the rows of one call keep their order in id order
    names = list(rows[0])
    columns = ", ".join(f'"{name}"' for name in ["id", *names])
    connection = db.session.connection().connection.driver_connection
    statement = f"COPY {table.name} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row_id, values in zip(ids, rows, strict=True):
            copy.write_row([row_id, *values.values()])  # every row has the keys in one order
    return ids


def update_rows(table: Table, changes: dict[int, dict[str, Any]]) -> int:
    """Write each row's new values (row id -> {column: value}); returns the rows changed.

    Rows given identical values (the recipients of one multicast, a batch deferred to the
    same time) share one `UPDATE .. WHERE id IN (..)`; the others are grouped by the set of
    columns they change and written set-based (PostgreSQL) or by executemany (SQLite)."""
    same: dict[Any, list[int]] = defaultdict(list)
    own: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for row_id, values in changes.items():
        try:
            key = tuple(sorted(values.items()))
            hash(key)
        except TypeError:  # a list value (sent message ids): this row's own
            own[tuple(sorted(values))].append((row_id, values))
            continue
        same[key].append(row_id)
    for key, ids in same.items():
        if len(ids) == 1:
            values = dict(key)
            own[tuple(sorted(values))].append((ids[0], values))
    postgresql = is_postgresql(db.session.get_bind())
    changed = 0
    for key, ids in same.items():
        if len(ids) > 1:
            changed += _update_same(table, dict(key), ids, postgresql=postgresql)
    for columns, items in own.items():
        for start in range(0, len(items), UPDATE_CHUNK):
            chunk = items[start : start + UPDATE_CHUNK]
            if postgresql:
                changed += _update_from_arrays(table, columns, chunk)
            else:
                changed += _update_many(table, columns, chunk)
    return changed


def update_same(table: Table, values: dict[str, Any], ids: list[int]) -> int:
    """Give every row in `ids` the same new values (the recipients of one request)."""
    return _update_same(table, values, ids, postgresql=is_postgresql(db.session.get_bind()))


def _update_same(table: Table, values: dict[str, Any], ids: list[int], *, postgresql: bool) -> int:
    changed = 0
    if postgresql:  # one array parameter, not one placeholder per id for the driver to parse
        for start in range(0, len(ids), UPDATE_CHUNK):
            chunk = ids[start : start + UPDATE_CHUNK]
            where = table.c.id == func.any(bindparam("ids", chunk, type_=ARRAY(Integer)))
            result = db.session.execute(update(table).where(where).values(values))
            changed += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return changed
    for start in range(0, len(ids), ID_CHUNK):
        result = db.session.execute(
            update(table).where(table.c.id.in_(ids[start : start + ID_CHUNK])).values(values)
        )
        changed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return changed


def _update_from_arrays(
    table: Table, columns: tuple[str, ...], items: list[tuple[int, dict[str, Any]]]
) -> int:
    dialect = db.session.get_bind().dialect
    arrays: dict[str, Any] = {"ids": [row_id for row_id, _ in items]}
    casts = ["CAST(:ids AS INTEGER[])"]
    sets = []
    for n, name in enumerate(columns):
        column = table.c[name]
        if isinstance(column.type, JSON):  # sent as text, parsed by the server
            arrays[f"c{n}"] = [_json(values[name]) for _, values in items]
            casts.append(f"CAST(:c{n} AS TEXT[])")
            sets.append(f'"{name}" = CAST(v.c{n} AS {column.type.compile(dialect)})')
        else:
            arrays[f"c{n}"] = [values[name] for _, values in items]
            casts.append(f"CAST(:c{n} AS {column.type.compile(dialect)}[])")
            sets.append(f'"{name}" = v.c{n}')
    names = ", ".join(["id", *(f"c{n}" for n in range(len(columns)))])
    statement = text(  # names from the table definition; every value is a bound array
        f"UPDATE {table.name} AS t SET {', '.join(sets)} "  # noqa: S608
        f"FROM unnest({', '.join(casts)}) AS v({names}) "
        # The id list again, so the rows are found by primary key whatever the planner
        # thinks of the unnest (it hash-joins the whole table otherwise).
        "WHERE t.id = v.id AND t.id = ANY(CAST(:ids AS INTEGER[]))"
    )
    return int(db.session.execute(statement, arrays).rowcount or 0)  # type: ignore[attr-defined]


def _update_many(
    table: Table, columns: tuple[str, ...], items: list[tuple[int, dict[str, Any]]]
) -> int:
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({c: bindparam(f"v_{c}") for c in columns})
    )
    params = [{"row_id": i, **{f"v_{c}": v[c] for c in columns}} for i, v in items]
    db.session.execute(statement, params)
    return len(items)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
