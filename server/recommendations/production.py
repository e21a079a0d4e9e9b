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
from typing import Any

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

KINDS = ("reorder", "discovery", "popular")  # Lists.kinds holds an index into these
REORDER, DISCOVERY, POPULAR = 0, 1, 2
# Customers composed at once: their owned-products mask is this many cells (~16 MB of bools).
COMPOSE_CELLS = 1 << 24


@dataclass(frozen=True)
class Lists:
    """Every composed list as rows of STORED slots, row n for users[n] of `compose`; a list
    shorter than STORED ends with item -1. Arrays, not objects: a nightly run fills millions."""

    items: NDArray[np.int32]
    kinds: NDArray[np.int8]  # index into KINDS (-1: empty slot)
    anchors: NDArray[np.int32]  # discovery: the customer's product that led here, else -1
    last: FloatArray  # reorder: last purchase, days since 1970, else NaN
    due: FloatArray  # reorder: predicted run-out, days since 1970, else NaN

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def rows(self, part: slice) -> Lists:
        return Lists(*(getattr(self, name)[part] for name in FIELDS))


FIELDS = tuple(Lists.__dataclass_fields__)


def compose(
    production: Production,
    interactions: Interactions,
    users: NDArray[Any],
    reorders: ReorderSchedule,
) -> Lists:
    """Each customer's stored list (see the module docstring), for customers `users` of
    `interactions` (the data the production's customer side was read from).

    Whole batches of customers at once, as arrays: each list is the `all` ranking with its
    repeat slots kept as reorders and its other slots given, in order, to the `new` ranking
    (never bought, so never a reorder too); the `new` products left over follow; then at most
    MAX_REORDERS_IN_TOP reorders stay among the first TOP (`_leave_room`)."""
    n_items = interactions.n_items
    users = np.asarray(users, dtype=np.int64).reshape(-1)
    seen = user_items(interactions)
    last_keys, last_times = _last_purchase(interactions)
    due_keys = reorders.users.astype(np.int64) * n_items + reorders.items
    due_order = np.argsort(due_keys, kind="stable")
    due_keys, due_at = due_keys[due_order], reorders.due_at[due_order]
    explain = _by_weight(production.explain)
    out = Lists(
        items=np.full((users.size, STORED), -1, dtype=np.int32),
        kinds=np.full((users.size, STORED), -1, dtype=np.int8),
        anchors=np.full((users.size, STORED), -1, dtype=np.int32),
        last=np.full((users.size, STORED), np.nan),
        due=np.full((users.size, STORED), np.nan),
    )
    batch = max(1, min(COMPOSE_BATCH, COMPOSE_CELLS // max(1, n_items)))
    for start in range(0, users.size, batch):
        chunk = users[start : start + batch]
        every, new = _rank(production, chunk)
        owned = _owned(seen, chunk, n_items)
        rows = np.arange(chunk.size)[:, None]
        repeat = (every >= 0) & owned[rows, np.maximum(every, 0)]
        keys = chunk[:, None] * n_items + every
        last = np.full(every.shape, np.nan)
        due = np.full(every.shape, np.nan)
        last[repeat] = _lookup(keys[repeat], last_keys, last_times)
        due[repeat] = _lookup(keys[repeat], due_keys, due_at)
        anchors = _anchors(explain, owned, new)
        laid_out: tuple[NDArray[Any], ...] = _leave_room(
            *_merge(every, repeat, last, due, new, anchors)
        )
        for name, values in zip(FIELDS, laid_out, strict=True):
            getattr(out, name)[start : start + chunk.size] = values[:, :STORED]
    return out


def _rank(
    production: Production, users: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    if production.new is production.every:
        every, new = production.every.recommend_both(users, STORED)
        return every, new[:, :NEW_STORED]
    every = production.every.recommend(users, STORED, exclude_seen=False)
    new = production.new.recommend(users, NEW_STORED, exclude_seen=True)
    return every, new


Slots = tuple[NDArray[np.int64], NDArray[np.int8], NDArray[np.int64], FloatArray, FloatArray]


def _merge(
    every: NDArray[np.int64],
    repeat: NDArray[np.bool_],
    last: FloatArray,
    due: FloatArray,
    new: NDArray[np.int64],
    anchors: NDArray[np.int64],
) -> Slots:
    """Rows of (items, kinds, anchors, last, due), STORED + NEW_STORED wide, -1 at the end.

    Every slot gets a sort key: a reorder its position in `every`; the j-th new product the
    position of the j-th non-repeat slot of `every` (up to where `every` ends), or after all
    of `every` when those slots ran out; empty slots last. One stable sort per row lays them
    out (the keys are distinct)."""
    n_rows, width = every.shape
    ranked = np.logical_and.accumulate(every >= 0, axis=1)  # `every` stops at its first -1
    reorder = ranked & repeat
    other = ranked & ~repeat
    # Position of each non-repeat slot by its rank among them (width: none left).
    slot_of = np.full((n_rows, width + 1), width, dtype=np.int64)
    r, position = np.nonzero(other)
    slot_of[r, np.cumsum(other, axis=1)[r, position] - 1] = position
    fresh = new >= 0
    rank = np.cumsum(fresh, axis=1) - 1  # among the valid new products, in order
    placed = slot_of[np.arange(n_rows)[:, None], np.minimum(rank, width)]
    big = 2 * (width + new.shape[1]) + 1
    fresh_key = np.where(placed < width, placed, width + rank)
    keys = np.concatenate(
        [
            np.where(reorder, np.arange(width), big),
            np.where(fresh, fresh_key, big),
        ],
        axis=1,
    )
    order = np.argsort(keys, axis=1, kind="stable")
    empty = np.take_along_axis(keys, order, axis=1) == big
    nan = np.full(new.shape, np.nan)

    def laid_out(reorder_part: NDArray[Any], fresh_part: NDArray[Any], blank: Any) -> NDArray[Any]:
        values = np.take_along_axis(np.concatenate([reorder_part, fresh_part], axis=1), order, 1)
        values[empty] = blank
        return values

    kind_fresh = np.where(anchors >= 0, DISCOVERY, POPULAR).astype(np.int8)
    return (
        laid_out(every, new, -1),
        laid_out(np.full(every.shape, REORDER, dtype=np.int8), kind_fresh, -1),
        laid_out(np.full(every.shape, -1, dtype=np.int64), anchors, -1),
        laid_out(last, nan, np.nan),
        laid_out(due, nan, np.nan),
    )


def _leave_room(*slots: NDArray[Any]) -> Slots:
    """At most MAX_REORDERS_IN_TOP reorders among the first TOP while other kinds exist: the
    last surplus reorders of the top swap places with the first other entries after it.

    Each row reads: the top without those reorders, the pulled-up entries, the pushed-down
    reorders, the rest; a stable sort on (group, position) lays that out."""
    items, kinds = slots[0], slots[1]
    width = items.shape[1]
    valid = items >= 0
    top = valid & (np.arange(width) < TOP)
    rest = valid & ~top
    reorder = kinds == REORDER
    top_reorders = top & reorder
    rest_others = rest & ~reorder
    count = top_reorders.sum(axis=1, keepdims=True)
    moved = np.clip(
        np.minimum(count - MAX_REORDERS_IN_TOP, rest_others.sum(1, keepdims=True)), 0, None
    )
    pushed = top_reorders & (np.cumsum(top_reorders, axis=1) > count - moved)
    pulled = rest_others & (np.cumsum(rest_others, axis=1) <= moved)
    group = np.select([pulled, pushed, top, rest], [1, 2, 0, 3], default=4)
    order = np.argsort(group * width + np.arange(width), axis=1, kind="stable")
    return tuple(np.take_along_axis(s, order, axis=1) for s in slots)  # type: ignore[return-value]


def _owned(seen: sp.csr_matrix, users: NDArray[np.int64], n_items: int) -> NDArray[np.bool_]:
    """Customers x products: what each of `users` ever bought, as a dense mask."""
    rows = sp.csr_matrix(seen[users])
    owned = np.zeros((users.size, n_items), dtype=bool)
    owned[np.repeat(np.arange(users.size), np.diff(rows.indptr)), rows.indices] = True
    return owned


def _by_weight(explain: sp.csr_matrix) -> sp.csr_matrix:
    """`explain` with each row's positive entries heaviest first (ties: in stored order)."""
    matrix = sp.csr_matrix(explain)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    keep = matrix.data > 0
    order = np.lexsort((-matrix.data[keep], rows[keep]))
    rows, cols, data = rows[keep][order], matrix.indices[keep][order], matrix.data[keep][order]
    indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=matrix.shape[0]), out=indptr[1:])
    return sp.csr_matrix((data, cols, indptr), shape=matrix.shape)


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
    explain: sp.csr_matrix, owned: NDArray[np.bool_], new: NDArray[np.int64]
) -> NDArray[np.int64]:
    """For each recommended new product, the customer's own product that points to it most,
    or -1. `explain` is sorted by `_by_weight`: the first owned source of a row is the one."""
    n_rows, width = new.shape
    anchors = np.full((n_rows, width), -1, dtype=np.int64)
    if n_rows == 0 or explain.nnz == 0:
        return anchors
    pair = np.flatnonzero(new.ravel() >= 0)
    items = new.ravel()[pair]
    counts = np.diff(explain.indptr)[items]
    owner = np.repeat(pair, counts)  # expanded: one row per (pair, candidate source)
    offsets = np.arange(owner.size) + np.repeat(
        explain.indptr[items] - np.cumsum(counts) + counts, counts
    )
    sources = explain.indices[offsets]
    hit = np.flatnonzero(owned[owner // width, sources])
    if hit.size == 0:
        return anchors
    first = np.ones(hit.size, dtype=bool)
    first[1:] = owner[hit[1:]] != owner[hit[:-1]]
    anchors.ravel()[owner[hit[first]]] = sources[hit[first]]
    return anchors


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
