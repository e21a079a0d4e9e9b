"""Order history as arrays, the sparse matrices the recommenders share, and repurchase timing.

Pure: numpy/scipy in, numpy/scipy out; no database, no Flask, so tests, the offline evaluation and
the benchmark call these directly. Times are float days since the Unix epoch (UTC): intervals are
plain subtractions, and "now" is `Interactions.as_of`. Everything stays sparse: a shop with 50k
products must never need a dense products x products matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import lapack

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.int32]

# Pairs (co-bought item pairs) computed per block in item_similarity: bounds its peak memory.
BLOCK_PAIRS = 20_000_000


@dataclass(frozen=True)
class Interactions:
    """One shop's order lines: line n is customer `users[n]` buying `items[n]` in `baskets[n]`.

    Customers and products are dense indices (0..n_users-1, 0..n_items-1); the caller keeps the
    mapping to its own ids. `as_of` is the moment the model is trained for (the end of the history):
    recency and "due to reorder" are measured from it.
    """

    users: IndexArray
    items: IndexArray
    times: FloatArray
    baskets: NDArray[np.int64]
    quantities: NDArray[np.float32]
    n_users: int
    n_items: int
    as_of: float
    # Segment (tier, RFM cell...) per customer, -1 for none: cold-start popularity per segment.
    user_segments: NDArray[np.int32] | None = None

    def __len__(self) -> int:
        return int(self.users.size)


def make_interactions(
    users: ArrayLike,
    items: ArrayLike,
    times: ArrayLike,
    baskets: ArrayLike | None = None,
    quantities: ArrayLike | None = None,
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    as_of: float | None = None,
    user_segments: ArrayLike | None = None,
) -> Interactions:
    """Check and pack order lines. Without `baskets`, one basket = one customer on one day."""
    u = np.asarray(users, dtype=np.int32)
    i = np.asarray(items, dtype=np.int32)
    t = np.asarray(times, dtype=np.float64)
    if not (u.shape == i.shape == t.shape) or u.ndim != 1:
        raise ValueError("users, items and times must be 1-d arrays of the same length")
    if baskets is None:
        # The Ta-Feng convention (no order ids): a customer's purchases on one day are one basket.
        day = np.floor(t).astype(np.int64)
        day -= day.min() if day.size else 0
        span = int(day.max()) + 1 if day.size else 1
        b = np.unique(u.astype(np.int64) * span + day, return_inverse=True)[1]
    else:
        b = np.asarray(baskets, dtype=np.int64)
    q = (
        np.ones(u.size, dtype=np.float32)
        if quantities is None
        else np.asarray(quantities, dtype=np.float32)
    )
    nu = int(u.max()) + 1 if n_users is None and u.size else (n_users or 0)
    ni = int(i.max()) + 1 if n_items is None and i.size else (n_items or 0)
    if u.size and (u.min() < 0 or u.max() >= nu or i.min() < 0 or i.max() >= ni):
        raise ValueError("user or item index out of range")
    seg = None if user_segments is None else np.asarray(user_segments, dtype=np.int32)
    if seg is not None and seg.size != nu:
        raise ValueError("user_segments needs one entry per user")
    end = float(t.max()) if as_of is None and t.size else float(as_of or 0.0)
    return Interactions(u, i, t, b.reshape(-1), q, nu, ni, end, seg)


def before(interactions: Interactions, cutoff: float) -> Interactions:
    """The lines strictly before `cutoff`, trained as of the cutoff; same index spaces."""
    keep = interactions.times < cutoff
    return Interactions(
        interactions.users[keep],
        interactions.items[keep],
        interactions.times[keep],
        interactions.baskets[keep],
        interactions.quantities[keep],
        interactions.n_users,
        interactions.n_items,
        float(cutoff),
        interactions.user_segments,
    )


@dataclass(frozen=True)
class Baskets:
    """Each basket once: which items it holds (binary), whose it is, and when."""

    matrix: sp.csr_matrix
    users: IndexArray
    times: FloatArray


def baskets_of(interactions: Interactions) -> Baskets:
    ids, first, inverse = np.unique(interactions.baskets, return_index=True, return_inverse=True)
    matrix = sp.csr_matrix(
        (np.ones(len(interactions), dtype=np.float32), (inverse, interactions.items)),
        shape=(ids.size, interactions.n_items),
    )
    matrix.data[:] = 1.0  # two lines of one product in one order are one purchase
    return Baskets(matrix, interactions.users[first], interactions.times[first])


def user_items(interactions: Interactions) -> sp.csr_matrix:
    """Binary customers x products: who ever bought what."""
    m = sp.csr_matrix(
        (np.ones(len(interactions), dtype=np.float32), (interactions.users, interactions.items)),
        shape=(interactions.n_users, interactions.n_items),
    )
    m.data[:] = 1.0
    return m


def decayed_history(
    baskets: Baskets,
    n_users: int,
    as_of: float,
    half_life_days: float | None,
    basket_decay: float = 1.0,
) -> sp.csr_matrix:
    """Customers x products: the time-decayed share of each customer's baskets holding the product.

    A basket bought `d` days before `as_of` weighs 0.5 ** (d / half_life_days), times
    basket_decay ** r where r counts the customer's newer baskets (0 = their last one); without
    either this is the plain personal purchase frequency. Dividing by the customer's total
    basket weight keeps a loyal and a new customer on the same 0..1 scale.
    """
    n_baskets = baskets.users.size
    if half_life_days is None:
        weights = np.ones(n_baskets)
    else:
        weights = np.exp2(-np.maximum(as_of - baskets.times, 0.0) / half_life_days)
    if basket_decay != 1.0 and n_baskets:
        weights = weights * basket_decay ** newest_first_rank(baskets.users, baskets.times)
    owner = sp.csr_matrix(
        (weights.astype(np.float32), (baskets.users, np.arange(n_baskets))),
        shape=(n_users, n_baskets),
    )
    history = sp.csr_matrix(owner @ baskets.matrix)
    totals = np.bincount(baskets.users, weights=weights, minlength=n_users)
    return row_scaled(history, 1.0 / np.maximum(totals, 1e-12))


def newest_first_rank(users: IndexArray, times: FloatArray) -> NDArray[np.int64]:
    """For each basket, how many of its customer's baskets are newer (0 = the newest)."""
    order = np.lexsort((-times, users))
    owners = users[order]
    counts = np.bincount(owners)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    rank = np.empty(users.size, dtype=np.int64)
    rank[order] = np.arange(users.size) - starts[owners]
    return rank


def row_scaled(matrix: sp.csr_matrix, factors: FloatArray) -> sp.csr_matrix:
    out = matrix.copy()
    out.data = (out.data * np.repeat(factors, np.diff(out.indptr))).astype(np.float32)
    return out


def distinct(values: NDArray[Any]) -> NDArray[Any]:
    """np.unique(values) by sorting: numpy 2's hash-based np.unique (no return_* flags) takes
    seconds on a million int64 keys, a sort milliseconds."""
    ordered = np.sort(values, axis=None)
    keep = np.ones(ordered.size, dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def top_k_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row (ties: any of them)."""
    matrix = sp.csr_matrix(matrix)
    matrix.eliminate_zeros()
    lengths = np.diff(matrix.indptr)
    if lengths.size == 0 or lengths.max() <= k:
        return matrix
    n_rows, n_cols = matrix.shape
    if matrix.nnz * 8 > n_rows * n_cols and matrix.data.min() > 0:
        # Dense enough: a partition per row is linear, the sort below is not.
        dense = matrix.toarray()
        best = np.argpartition(-dense, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(dense, best, axis=1)
        rows = np.repeat(np.arange(n_rows), k)
        keep = values.ravel() != 0
        return sp.csr_matrix(
            (values.ravel()[keep], (rows[keep], best.ravel()[keep])), shape=matrix.shape
        )
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    order = np.lexsort((-matrix.data, rows))  # grouped by row, largest first
    rank = np.arange(order.size) - matrix.indptr[rows[order]]
    keep = np.sort(order[rank < k])
    return sp.csr_matrix(
        (matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape
    )


def item_similarity(
    user_item: sp.csr_matrix, *, neighbours: int, alpha: float = 0.5, pop_penalty: float = 0.0
) -> sp.csr_matrix:
    """Products x products: for each product, its `neighbours` most co-bought products.

    s(i, j) = c(i, j) / (c(i) ** alpha * c(j) ** (1 - alpha) * c(j) ** pop_penalty), where c(i, j)
    counts customers who bought both: alpha 0.5 is the cosine, 1 the conditional probability
    P(j | i); pop_penalty > 0 demotes best sellers that co-occur with everything (RP3beta's beta).
    The diagonal is dropped: buying again is the repeat component's job. Rows are computed and
    pruned block by block, so memory follows the kept neighbours, not the full co-occurrence.
    """
    x = sp.csr_matrix(user_item, dtype=np.float32)
    x.data[:] = 1.0
    xt = sp.csr_matrix(x.T)
    buyers = np.diff(xt.indptr).astype(np.float64)
    basket_sizes = np.diff(x.indptr).astype(np.float64)
    pairs = xt @ basket_sizes  # upper bound on the non-zeros of each row of the co-occurrence
    safe = np.maximum(buyers, 1.0)
    row_factor = safe**-alpha
    col_factor = safe ** -(1.0 - alpha + pop_penalty)
    blocks: list[sp.csr_matrix] = []
    n_items = x.shape[1]
    start = 0
    cumulative = np.cumsum(pairs)
    while start < n_items:
        done = cumulative[start - 1] if start else 0.0
        stop = int(np.searchsorted(cumulative, done + BLOCK_PAIRS, side="right"))
        stop = min(max(stop, start + 1), n_items)
        block = sp.csr_matrix(xt[start:stop] @ x)
        rows = np.repeat(np.arange(start, stop), np.diff(block.indptr))
        block.data = (
            block.data * row_factor[rows] * col_factor[block.indices] * (block.indices != rows)
        ).astype(np.float32)
        blocks.append(top_k_per_row(block, neighbours))
        start = stop
    if not blocks:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    return sp.csr_matrix(sp.vstack(blocks, format="csr"))


def top_items(user_item: sp.csr_matrix, limit: int) -> IndexArray:
    """The `limit` products with the most buyers (ties: lower index), in index order."""
    buyers = np.diff(sp.csc_matrix(user_item).indptr)
    ranked = np.argsort(-buyers, kind="stable")[:limit]
    return np.sort(ranked[buyers[ranked] > 0]).astype(np.int32)


def ease_weights(user_item: sp.csr_matrix, items: IndexArray, l2: float) -> NDArray[np.float32]:
    """EASE (Steck 2019) over the products `items`: B = I - P / diag(P), P = (X'X + l2 I)^-1.

    Dense: len(items)^2 float32 (10k products are 400 MB), so callers cap `items`.
    """
    x = sp.csr_matrix(user_item[:, items], dtype=np.float32)
    x.data[:] = 1.0
    gram = np.asarray((x.T @ x).toarray(), dtype=np.float32)
    gram[np.diag_indices_from(gram)] += l2
    weights = spd_inverse(gram)
    diag = np.diag(weights).copy()
    weights /= -diag
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


def sparse_ease(
    user_item: sp.csr_matrix, *, l2: float, max_items: int, neighbours: int
) -> sp.csr_matrix:
    """Products x products: EASE over the `max_items` best sellers, each row pruned to its
    `neighbours` largest weights by magnitude, signs kept (a negative weight is EASE saying
    "bought this, so not that", and dropping them biases the sums towards best sellers). The
    dense matrix lives only while it is pruned, so what the model keeps (and stores) is as
    small as an item-kNN's."""
    n_items = user_item.shape[1]
    items = top_items(user_item, max_items)
    if items.size == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    weights = ease_weights(user_item, items, l2)
    k = min(neighbours, items.size)
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    vals: list[NDArray[np.float32]] = []
    for start in range(0, items.size, 1024):
        chunk = weights[start : start + 1024]
        best = np.argpartition(-np.abs(chunk), k - 1, axis=1)[:, :k] if k < items.size else None
        if best is None:
            best = np.broadcast_to(np.arange(items.size), chunk.shape)
        picked = np.take_along_axis(chunk, best, axis=1)
        keep = picked != 0
        rows.append(np.repeat(np.arange(start, start + chunk.shape[0]), k)[keep.ravel()])
        cols.append(np.asarray(best).ravel()[keep.ravel()])
        vals.append(picked[keep])
    del weights
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (items[r], items[c])), shape=(n_items, n_items)
    )


def spd_inverse(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    """Inverse of a symmetric positive definite matrix, in place (Cholesky: half an LU's work)."""
    if matrix.size == 0:
        return matrix
    factor, info = lapack.spotrf(matrix, lower=0, overwrite_a=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky failed ({info}); raise l2")
    inverse, info = lapack.spotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"inverse failed ({info})")
    # potri fills the upper triangle only: mirror it block by block, in place (no n x n copy).
    n = inverse.shape[0]
    for start in range(0, n, 1024):
        stop = min(start + 1024, n)
        block = inverse[start:stop, start:stop]
        block[np.tril_indices(stop - start, -1)] = block.T[np.tril_indices(stop - start, -1)]
        inverse[stop:, start:stop] = inverse[start:stop, stop:].T
    return np.asarray(inverse, dtype=np.float32)


def popularity(interactions: Interactions, window_days: float | None) -> FloatArray:
    """Baskets holding each product in the last `window_days` before `as_of` (None: all time).

    Counted per order, not per unit: one wholesaler buying 500 units is not 500 fans.
    """
    keep = (
        np.ones(len(interactions), dtype=bool)
        if window_days is None
        else interactions.times >= interactions.as_of - window_days
    )
    pairs = distinct(interactions.baskets[keep] * interactions.n_items + interactions.items[keep])
    return np.bincount(pairs % interactions.n_items, minlength=interactions.n_items).astype(
        np.float64
    )


@dataclass(frozen=True)
class ReorderSchedule:
    """When each customer should run out of each product they buy again; sorted by `due_at`.

    One row per (customer, product) with a known cycle. Products nobody ever bought twice (and
    without a merchant-set usage period) have no row: they are not consumables, and "time to
    reorder" would be noise.
    """

    users: IndexArray
    items: IndexArray
    last_at: FloatArray
    cycle_days: FloatArray
    due_at: FloatArray
    purchases: IndexArray  # purchase occasions of this customer for this product
    repeat_share: FloatArray  # share of the product's buyers who bought it again

    def __len__(self) -> int:
        return int(self.users.size)


@dataclass(frozen=True)
class ItemCycles:
    """What the shop's history says about each product's repurchase cycle (the prior).

    Sums over every interval between two purchase occasions of one customer: days, units bought
    at the start of the interval, how many intervals; and buyers / repeat buyers. Kept with a
    trained model, so one customer's schedule can be recomputed after an order (fold-in).
    """

    gap_days: FloatArray
    gap_units: FloatArray
    intervals: FloatArray
    buyers: FloatArray
    repeaters: FloatArray


@dataclass(frozen=True)
class _Occasions:
    """Purchase occasions (one customer, one product, one day), grouped per (customer, product)."""

    pair_user: IndexArray
    pair_item: IndexArray
    pair_count: NDArray[np.int64]
    pair_gaps: FloatArray  # days between first and last occasion
    pair_units: FloatArray  # units bought at the start of each interval, summed
    last_at: FloatArray
    last_units: FloatArray
    gap_item: IndexArray  # per interval: the product
    gaps: FloatArray
    gap_units: FloatArray


def _occasions(interactions: Interactions) -> _Occasions:
    pair_key = interactions.users.astype(np.int64) * interactions.n_items + interactions.items
    order = np.lexsort((interactions.times, pair_key))  # one key fewer: a third faster
    u = interactions.users[order]
    i = interactions.items[order]
    t = interactions.times[order]
    q = np.maximum(interactions.quantities[order].astype(np.float64), 1.0)
    day = np.floor(t)
    new_occasion = np.ones(u.size, dtype=bool)
    new_occasion[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1]) | (day[1:] != day[:-1])
    occasion = np.cumsum(new_occasion) - 1
    occ_u, occ_i, occ_t = u[new_occasion], i[new_occasion], t[new_occasion]
    occ_q = np.bincount(occasion, weights=q)
    new_pair = np.ones(occ_u.size, dtype=bool)
    new_pair[1:] = (occ_u[1:] != occ_u[:-1]) | (occ_i[1:] != occ_i[:-1])
    pair = np.cumsum(new_pair) - 1
    n_pairs = int(pair[-1]) + 1 if pair.size else 0
    # Interval k runs from occasion k to k+1 of the same pair; its quantity is the one bought at k.
    same = ~new_pair[1:]
    gaps = (occ_t[1:] - occ_t[:-1])[same]
    gap_units = occ_q[:-1][same]
    gap_pair = pair[1:][same]
    last = np.r_[np.flatnonzero(new_pair)[1:], occ_u.size] - 1
    return _Occasions(
        pair_user=occ_u[new_pair].astype(np.int32),
        pair_item=occ_i[new_pair].astype(np.int32),
        pair_count=np.bincount(pair, minlength=n_pairs),
        pair_gaps=_sum_by(gap_pair, gaps, n_pairs),
        pair_units=_sum_by(gap_pair, gap_units, n_pairs),
        last_at=occ_t[last],
        last_units=occ_q[last],
        gap_item=occ_i[1:][same].astype(np.int32),
        gaps=gaps,
        gap_units=np.asarray(gap_units, dtype=np.float64),
    )


def _sum_by(labels: NDArray[Any], weights: NDArray[Any], n: int) -> FloatArray:
    return np.asarray(np.bincount(labels, weights=weights, minlength=n), dtype=np.float64)


def item_cycles(interactions: Interactions) -> ItemCycles:
    """Each product's repurchase statistics over the whole history."""
    n = interactions.n_items
    if len(interactions) == 0:
        zeros = np.zeros(n)
        return ItemCycles(zeros, zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy())
    occ = _occasions(interactions)
    return ItemCycles(
        gap_days=_sum_by(occ.gap_item, occ.gaps, n),
        gap_units=_sum_by(occ.gap_item, occ.gap_units, n),
        intervals=np.bincount(occ.gap_item, minlength=n).astype(np.float64),
        buyers=np.bincount(occ.pair_item, minlength=n).astype(np.float64),
        repeaters=np.bincount(occ.pair_item[occ.pair_count > 1], minlength=n).astype(np.float64),
    )


def reorder_schedule(
    interactions: Interactions,
    *,
    prior_weight: float = 2.0,
    use_quantities: bool = True,
    cycles: ItemCycles | None = None,
    usage_days: FloatArray | None = None,
    usage_weight: float = 5.0,
) -> ReorderSchedule:
    """Predict each customer's next purchase of each repeat product.

    The cycle is the customer's own (days between purchase occasions), shrunk towards the
    product's typical cycle with `prior_weight` pseudo-intervals, so a one-time buyer gets the
    product's cycle and a regular gets their own. The product's cycle comes from `cycles` (the
    whole shop's history; default: computed from `interactions`), itself shrunk towards the
    merchant's `usage_days` per unit (NaN = unknown) with `usage_weight` pseudo-intervals; a
    product with a usage period but no observed repeat still gets a schedule. With
    `use_quantities`, days are counted per unit bought (two bags last twice as long as one),
    and the next cycle scales with the last quantity. Purchases of one product on one day are
    one occasion.
    """
    empty_i = np.zeros(0, dtype=np.int32)
    empty_f = np.zeros(0)
    if len(interactions) == 0:
        return ReorderSchedule(empty_i, empty_i, empty_f, empty_f, empty_f, empty_i, empty_f)
    cycles = cycles or item_cycles(interactions)
    occ = _occasions(interactions)
    gap_days, gap_units, intervals = cycles.gap_days, cycles.gap_units, cycles.intervals
    if usage_days is not None:
        known_usage = np.isfinite(usage_days) & (usage_days > 0)
        weight = np.where(known_usage, usage_weight, 0.0)
        # Pseudo-intervals of one unit lasting usage_days each.
        gap_days = gap_days + weight * np.where(known_usage, usage_days, 0.0)
        gap_units = gap_units + weight
        intervals = intervals + weight
    item = occ.pair_item
    known = intervals[item] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        item_cycle = gap_days / intervals  # days per purchase
        item_units_per_gap = gap_units / intervals
        prior_days = prior_weight * item_cycle[item]
        if use_quantities:
            days_per_unit = (occ.pair_gaps + prior_days) / (
                occ.pair_units + prior_weight * item_units_per_gap[item]
            )
            cycle = occ.last_units * days_per_unit
        else:
            cycle = (occ.pair_gaps + prior_days) / (occ.pair_count - 1 + prior_weight)
    cycle = np.maximum(np.nan_to_num(cycle, nan=1.0), 1.0)  # same-day rebuys are one occasion
    sel = np.flatnonzero(known)
    due = occ.last_at[sel] + cycle[sel]
    by_due = sel[np.argsort(due, kind="stable")]
    repeat_share = cycles.repeaters / np.maximum(cycles.buyers, 1.0)
    return ReorderSchedule(
        occ.pair_user[by_due],
        occ.pair_item[by_due],
        occ.last_at[by_due],
        cycle[by_due],
        occ.last_at[by_due] + cycle[by_due],
        occ.pair_count[by_due].astype(np.int32),
        repeat_share[item[by_due]],
    )


def due_between(schedule: ReorderSchedule, start: float, end: float) -> NDArray[np.intp]:
    """Rows of the schedule falling due in [start, end): a binary search, nobody is scored."""
    lo = int(np.searchsorted(schedule.due_at, start, side="left"))
    hi = int(np.searchsorted(schedule.due_at, end, side="left"))
    return np.arange(lo, max(lo, hi))


def cycle_progress(
    schedule: ReorderSchedule, as_of: float, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Customers x products: how far through its cycle each repeat product is at `as_of`, minus 1.

    0 means due (or overdue), -1 means just bought; pairs without a known cycle are 0 (no
    evidence either way). Stored as "minus 1" so the matrix stays sparse.
    """
    progress = np.clip((as_of - schedule.last_at) / schedule.cycle_days, 0.0, 1.0) - 1.0
    return sp.csr_matrix(
        (progress.astype(np.float32), (schedule.users, schedule.items)), shape=shape
    )
