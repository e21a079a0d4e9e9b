"""The production pipeline on arrays: fit the shop's configuration, compose each customer's
stored list (kinds, anchors, dates), fold one customer in after an order, keep the model.

Pure (numpy/scipy): services.py reads the database, calls these, and writes the rows.

A configuration is one servable algorithm with two parameter sets, each tuned on the shop's
validation split: `all` ranks everything the customer may buy next (repeats included) and `new`
ranks products they never bought ("you may also like"). A stored list walks the `all`
ranking: its repeat slots become "reorder" entries, and its other slots take the `new`
ranking's products in order, explained by the customer's product that points to them most
("customers who bought X") or, when nothing does, shown as "popular".
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from .algorithms import (
    DEFAULT_RECOMMENDER,
    RECOMMENDERS,
    SERVABLE,
    Cache,
    Servable,
    _PopularityTable,
    cached,
)
from .training import (
    FloatArray,
    Interactions,
    ItemCycles,
    ReorderSchedule,
    item_cycles,
    item_similarity,
    reorder_schedule,
    top_k_per_row,
    user_items,
)

STORED = 30  # entries stored per customer (the serving filters need spares)
NEW_STORED = 20
TOP = 10  # what a LINE carousel shows
MAX_REORDERS_IN_TOP = 7  # the first ten keep room for discovery when there is some
EXPLAIN_SOURCES = 30  # per product, the products that point to it most, kept for reasons
POPULAR_STORED = 30
COMPOSE_BATCH = 20_000


@dataclass(frozen=True)
class Config:
    algorithm: str = DEFAULT_RECOMMENDER
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # {"all": ..., "new": ...}

    def __post_init__(self) -> None:
        if self.algorithm not in SERVABLE:
            raise ValueError(f"{self.algorithm!r} cannot run in production (one of {SERVABLE})")

    def for_setting(self, setting: str) -> dict[str, Any]:
        return dict(self.params.get(setting) or {})


@dataclass
class Production:
    config: Config
    every: Servable  # the `all` model
    new: Servable  # the `new` model (the same object when both settings agree)
    explain: sp.csr_matrix  # products x products: row i = products pointing to i, by weight
    cycles: ItemCycles
    usage_days: FloatArray
    popular: _PopularityTable


def fit(
    config: Config,
    interactions: Interactions,
    usage_days: FloatArray | None = None,
    *,
    cache: Cache | None = None,
) -> Production:
    cache = {} if cache is None else cache
    factory = RECOMMENDERS[config.algorithm]
    every: Servable = factory(**config.for_setting("all")).fit(interactions, cache=cache)  # type: ignore[assignment]
    if config.for_setting("new") == config.for_setting("all"):
        new = every
    else:
        new = factory(**config.for_setting("new")).fit(interactions, cache=cache)  # type: ignore[assignment]
    similarity = getattr(new, "_similarity", None)
    if not isinstance(similarity, sp.csr_matrix) or similarity.shape[0] != interactions.n_items:
        similarity = item_similarity(user_items(interactions), neighbours=50)
    window = getattr(new, "popularity_window_days", getattr(new, "window_days", 30.0))
    return Production(
        config=config,
        every=every,
        new=new,
        explain=top_k_per_row(sp.csr_matrix(similarity.T), EXPLAIN_SOURCES),
        cycles=cached(cache, (id(interactions), "cycles"), lambda: item_cycles(interactions)),
        usage_days=_usage(usage_days, interactions.n_items),
        popular=_PopularityTable(interactions, window, 50.0),
    )


def _usage(usage_days: FloatArray | None, n_items: int) -> FloatArray:
    if usage_days is None:
        return np.full(n_items, np.nan)
    return np.asarray(usage_days, dtype=np.float64)


def fold_in(production: Production, interactions: Interactions) -> Production:
    """The same model reading other customers (their own index space, the same products)."""
    every = production.every.fold_in(interactions)
    new = every if production.new is production.every else production.new.fold_in(interactions)
    return Production(
        production.config,
        every,
        new,
        production.explain,
        production.cycles,
        production.usage_days,
        production.popular,
    )


def schedule(production: Production, interactions: Interactions) -> ReorderSchedule:
    """Run-out dates of the customers of `interactions`, with the shop-wide cycles as prior."""
    return reorder_schedule(
        interactions, cycles=production.cycles, usage_days=production.usage_days
    )


def popular_lists(production: Production) -> dict[int, list[int]]:
    """Best sellers per segment index (-1: shop-wide), as product indices."""
    table = production.popular
    out = {-1: _top(table.overall)}
    for segment, row in table.by_segment.items():
        out[int(segment)] = _top(row)
    return out


def _top(row: FloatArray) -> list[int]:
    order = np.argsort(-row, kind="stable")[:POPULAR_STORED]
    return [int(i) for i in order if row[i] > 0]


# Composing the stored lists ----------------------------------------------------------------------


class Entry(NamedTuple):
    """A tuple, not a dataclass: a nightly run builds millions of them."""

    item: int
    kind: str  # reorder | discovery | popular
    anchor: int | None = None  # discovery: the customer's product that led here
    last: float | None = None  # reorder: last purchase, days since 1970
    due: float | None = None  # reorder: predicted run-out, days since 1970


def compose(
    production: Production,
    interactions: Interactions,
    users: NDArray[Any],
    reorders: ReorderSchedule,
) -> list[list[Entry]]:
    """Each customer's stored list (see the module docstring), for customers `users` of
    `interactions` (the data the production's customer side was read from)."""
    n_items = interactions.n_items
    seen = user_items(interactions)
    seen_keys = _pair_keys(seen, n_items)
    last_keys, last_times = _last_purchase(interactions)
    due_keys = reorders.users.astype(np.int64) * n_items + reorders.items
    due_order = np.argsort(due_keys, kind="stable")
    due_keys, due_at = due_keys[due_order], reorders.due_at[due_order]
    out: list[list[Entry]] = []
    for start in range(0, users.size, COMPOSE_BATCH):
        chunk = users[start : start + COMPOSE_BATCH].astype(np.int64)
        every, new = _rank(production, chunk)
        every_keys = chunk[:, None] * n_items + every
        repeat = (every >= 0) & _member(every_keys, seen_keys)
        last = _lookup(every_keys, last_keys, last_times)
        due = _lookup(every_keys, due_keys, due_at)
        anchors = _anchors(production.explain, seen, chunk, new)
        # Whole arrays to Python lists once: per-row numpy access is most of a row's cost.
        rows = zip(
            every.tolist(),
            repeat.tolist(),
            _nones(last),
            _nones(due),
            new.tolist(),
            anchors.tolist(),
            strict=True,
        )
        out.extend(_merge(*row) for row in rows)
    return out


def _nones(values: FloatArray) -> list[list[float | None]]:
    """Rows as lists, NaN as None."""
    return [[None if v != v else v for v in row] for row in values.tolist()]


def _rank(
    production: Production, users: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    if production.new is production.every:
        every, new = production.every.recommend_both(users, STORED)
        return every, new[:, :NEW_STORED]
    every = production.every.recommend(users, STORED, exclude_seen=False)
    new = production.new.recommend(users, NEW_STORED, exclude_seen=True)
    return every, new


def _merge(
    every: list[int],
    repeat: list[bool],
    last: list[float | None],
    due: list[float | None],
    new: list[int],
    anchors: list[int],
) -> list[Entry]:
    fresh = [
        Entry(i, "discovery", a) if a >= 0 else Entry(i, "popular")
        for i, a in zip(new, anchors, strict=True)
        if i >= 0
    ]
    taken: set[int] = set()
    entries: list[Entry] = []
    cursor = 0
    for position, item in enumerate(every):
        if item < 0:
            break
        if repeat[position]:
            entries.append(Entry(item, "reorder", None, last[position], due[position]))
            taken.add(item)
            continue
        while cursor < len(fresh) and fresh[cursor].item in taken:
            cursor += 1
        if cursor < len(fresh):
            entries.append(fresh[cursor])
            taken.add(fresh[cursor].item)
            cursor += 1
    entries.extend(e for e in fresh[cursor:] if e.item not in taken)
    return _leave_room(entries)[:STORED]


def _leave_room(entries: list[Entry]) -> list[Entry]:
    """At most MAX_REORDERS_IN_TOP reorders among the first TOP while other kinds exist."""
    top, rest = entries[:TOP], entries[TOP:]
    reorders = [e for e in top if e.kind == "reorder"]
    if len(reorders) <= MAX_REORDERS_IN_TOP:
        return entries
    others_later = [e for e in rest if e.kind != "reorder"]
    moved = min(len(reorders) - MAX_REORDERS_IN_TOP, len(others_later))
    if moved == 0:
        return entries
    pushed = reorders[len(reorders) - moved :]
    pulled = others_later[:moved]
    new_top = [e for e in top if e not in pushed] + pulled
    new_rest = pushed + [e for e in rest if e not in pulled]
    return new_top + new_rest


def _pair_keys(matrix: sp.csr_matrix, n_items: int) -> NDArray[np.int64]:
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return np.sort(rows * n_items + matrix.indices)


def _member(keys: NDArray[np.int64], sorted_keys: NDArray[np.int64]) -> NDArray[np.bool_]:
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    position = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return np.asarray(sorted_keys[position] == keys)


def _lookup(
    keys: NDArray[np.int64], sorted_keys: NDArray[np.int64], values: FloatArray
) -> FloatArray:
    out = np.full(keys.shape, np.nan)
    if sorted_keys.size == 0:
        return out
    position = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    hit = sorted_keys[position] == keys
    out[hit] = values[position[hit]]
    return out


def _last_purchase(interactions: Interactions) -> tuple[NDArray[np.int64], FloatArray]:
    """Sorted (customer, product) keys and the time each pair was last bought."""
    keys = interactions.users.astype(np.int64) * interactions.n_items + interactions.items
    if keys.size == 0:
        return keys, np.zeros(0)
    order = np.lexsort((interactions.times, keys))
    keys, times = keys[order], interactions.times[order]
    last = np.ones(keys.size, dtype=bool)
    last[:-1] = keys[1:] != keys[:-1]
    return keys[last], times[last]


def _anchors(
    explain: sp.csr_matrix, seen: sp.csr_matrix, users: NDArray[np.int64], new: NDArray[np.int64]
) -> NDArray[np.int64]:
    """For each recommended new product, the customer's own product that points to it most
    (explain[i] lists the products j by their weight towards i), or -1."""
    n_rows, width = new.shape
    anchors = np.full((n_rows, width), -1, dtype=np.int64)
    if n_rows == 0 or explain.nnz == 0:
        return anchors
    n_items = explain.shape[0]
    seen_keys = _pair_keys(sp.csr_matrix(seen[users]), n_items)
    pair = np.flatnonzero(new.ravel() >= 0)
    items = new.ravel()[pair]
    counts = np.diff(explain.indptr)[items]
    owner = np.repeat(pair, counts)  # expanded: one row per (pair, candidate source)
    starts = np.repeat(explain.indptr[items] - np.cumsum(counts) + counts, counts)
    offsets = np.arange(owner.size) + starts
    sources = explain.indices[offsets].astype(np.int64)
    weights = explain.data[offsets]
    row_of = owner // width
    valid = _member(row_of * n_items + sources, seen_keys) & (weights > 0)
    owner, sources, weights = owner[valid], sources[valid], weights[valid]
    if owner.size == 0:
        return anchors
    order = np.lexsort((-weights, owner))
    owner, sources = owner[order], sources[order]
    first = np.ones(owner.size, dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    flat = anchors.ravel()
    flat[owner[first]] = sources[first]
    return flat.reshape(n_rows, width)


# Keeping the model ------------------------------------------------------------------------------


def save_state(production: Production, extra: dict[str, NDArray[Any]] | None = None) -> bytes:
    """The item side as an .npz (numbers only, loaded without pickle) plus `extra` arrays."""
    arrays: dict[str, NDArray[Any]] = dict(extra or {})
    meta = {
        "algorithm": production.config.algorithm,
        "params": production.config.params,
        "shared": production.new is production.every,
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    models = {"every": production.every} | (
        {} if production.new is production.every else {"new": production.new}
    )
    for prefix, model in models.items():
        for name in model.item_state:
            _put(arrays, f"{prefix}.{name}", getattr(model, name))
    _put(arrays, "explain", production.explain)
    _put(arrays, "cycles", production.cycles)
    _put(arrays, "popular", production.popular)
    arrays["usage_days"] = production.usage_days
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def load_state(blob: bytes) -> tuple[Production, dict[str, NDArray[Any]]]:
    """The production model saved by save_state (no customers yet: fold_in reads them) and
    the extra arrays."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    config = Config(meta["algorithm"], meta["params"])
    factory = RECOMMENDERS[config.algorithm]
    models: dict[str, Any] = {}
    for prefix, setting in (("every", "all"), ("new", "new")):
        if prefix == "new" and meta["shared"]:
            models["new"] = models["every"]
            continue
        model: Any = factory(**config.for_setting(setting))
        for name in model.item_state:
            setattr(model, name, _take(arrays, f"{prefix}.{name}", getattr(model, name)))
        models[prefix] = model
    explain = _take(arrays, "explain", sp.csr_matrix((0, 0)))
    cycles = _take(arrays, "cycles", None)
    popular = _take(arrays, "popular", None)
    usage_days = arrays.pop("usage_days")
    extra = {k: v for k, v in arrays.items() if "." not in k}
    production = Production(
        config, models["every"], models["new"], explain, cycles, usage_days, popular
    )
    return production, extra


def _put(arrays: dict[str, NDArray[Any]], key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, np.ndarray):
        arrays[key] = value
    elif sp.issparse(value):
        matrix = sp.csr_matrix(value)
        arrays[f"{key}.csr_data"] = matrix.data
        arrays[f"{key}.csr_indices"] = matrix.indices
        arrays[f"{key}.csr_indptr"] = matrix.indptr
        arrays[f"{key}.csr_shape"] = np.array(matrix.shape, dtype=np.int64)
    elif isinstance(value, ItemCycles):
        for name in ("gap_days", "gap_units", "intervals", "buyers", "repeaters"):
            arrays[f"{key}.cycles_{name}"] = getattr(value, name)
    elif isinstance(value, _PopularityTable):
        arrays[f"{key}.table_overall"] = value.overall
        segments = sorted(value.by_segment)
        arrays[f"{key}.table_segments"] = np.array(segments, dtype=np.int64)
        arrays[f"{key}.table_rows"] = (
            np.stack([value.by_segment[s] for s in segments])
            if segments
            else np.zeros((0, value.overall.size))
        )
    else:
        raise TypeError(f"cannot store {key} ({type(value).__name__})")


def _take(arrays: dict[str, NDArray[Any]], key: str, default: Any) -> Any:
    if key in arrays:
        return arrays.pop(key)
    if f"{key}.csr_data" in arrays:
        shape = tuple(int(n) for n in arrays.pop(f"{key}.csr_shape"))
        return sp.csr_matrix(
            (
                arrays.pop(f"{key}.csr_data"),
                arrays.pop(f"{key}.csr_indices"),
                arrays.pop(f"{key}.csr_indptr"),
            ),
            shape=shape,
        )
    if f"{key}.cycles_gap_days" in arrays:
        return ItemCycles(
            *(
                arrays.pop(f"{key}.cycles_{name}")
                for name in ("gap_days", "gap_units", "intervals", "buyers", "repeaters")
            )
        )
    if f"{key}.table_overall" in arrays:
        table = _PopularityTable.__new__(_PopularityTable)
        table.overall = arrays.pop(f"{key}.table_overall")
        segments = arrays.pop(f"{key}.table_segments").tolist()
        rows = arrays.pop(f"{key}.table_rows")
        table.by_segment = {int(s): rows[n] for n, s in enumerate(segments)}
        return table
    return default
