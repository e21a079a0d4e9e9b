"""Recommenders behind one protocol, and the registry production and the evaluation pick from.

Each algorithm is fitted on `Interactions` (one shop's history) and ranks products for customers
by index. `exclude_seen=True` is "you may also like" (only products the customer never bought);
`False` lets repeats in ("time to reorder"). Customers without history, or unknown to the model,
get the popularity ranking: the cold start. `search_space` lists the hyperparameter values the
evaluation tries, on its validation split; the first value of each is the default, and
`search_starts` are further starting points for the search.

A model has an item side (what it learnt about products: similarities, best sellers, cycles)
and a customer side (each customer's history as the model reads it). `fold_in` keeps the item
side and reads new customer histories, so production refreshes one customer's list after an
order without training again. Algorithms whose customer side cannot be read alone (TIFU-KNN
compares every customer with every other) or whose item side is too big to keep (a dense
EASE) are baselines only: `SERVABLE` lists the ones production may use.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self, TypeVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from .training import (
    FloatArray,
    IndexArray,
    Interactions,
    ItemCycles,
    baskets_of,
    cycle_progress,
    decayed_history,
    ease_weights,
    item_cycles,
    item_similarity,
    newest_first_rank,
    popularity,
    reorder_schedule,
    row_scaled,
    sparse_ease,
    top_items,
    top_k_per_row,
    user_items,
)

# Dense score cells per batch of customers (float32): ~64 MB whatever the catalogue size.
SCORE_CELLS = 1 << 24
# Sparse scores denser than 1 / DENSE_SHARE of the cells are ranked as dense rows.
DENSE_SHARE = 32
# Weight of all-time popularity (0..1) added to a customer's own products: orders equal shares.
TIE_BREAK = 1e-4

# Shared between fits on the same data (the tuner fits dozens of variants): expensive parts
# such as item similarities, keyed by what they depend on.
Cache = dict[Hashable, Any]
T = TypeVar("T")


def cached(cache: Cache | None, key: Hashable, build: Callable[[], T]) -> T:
    if cache is None:
        return build()
    if key not in cache:
        cache[key] = build()
    found: T = cache[key]
    return found


class Recommender(Protocol):
    search_space: ClassVar[dict[str, list[Any]]]
    search_starts: ClassVar[list[dict[str, Any]]]

    def fit(self, interactions: Interactions, *, cache: Cache | None = None) -> Self: ...

    def recommend(self, users: ArrayLike, k: int, *, exclude_seen: bool) -> NDArray[np.int64]:
        """Top-k product indices per customer, best first; -1 pads a short list."""
        ...

    def recommend_both(
        self, users: ArrayLike, k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(repeats allowed, new products only) from one scoring pass."""
        ...


class Servable(Recommender, Protocol):
    """What production needs beyond ranking: score customers from their own lines."""

    item_state: ClassVar[tuple[str, ...]]

    def fold_in(self, interactions: Interactions) -> Self: ...

    def scores(self, users: IndexArray) -> NDArray[np.float32]: ...


@dataclass(frozen=True)
class SparseScores:
    """Scores of some customers as a sparse part plus one of a few shared dense rows:
    score(u, i) = part[u, i] + base[base_row[u], i]. Every customer of a segment gets the same
    best sellers, so ranking needs only their own products and the head of that row's order,
    never a dense customers x products matrix."""

    part: sp.csr_matrix  # customers x products, entries > 0
    base: NDArray[np.float32]  # rows x products, >= 0
    base_row: IndexArray  # per customer

    def dense(self) -> NDArray[np.float32]:
        scores = np.asarray(self.part.toarray(), dtype=np.float32)
        scores += self.base[self.base_row]
        return scores


class _Scorer:
    """Shared ranking: scores per batch of customers, masking, top-k, popularity fill.

    Products a model gives no positive score come after those it does, ordered by all-time
    popularity, so every list is full and a cold customer still gets the best sellers.
    Subclasses build their item side in `_fit_items` and their customer side in `_fit_users`,
    and score in `_sparse_scores` (ranked without dense matrices) or, when their scores are
    dense anyway (EASE, TIFU-KNN), in `_scores`.
    """

    search_space: ClassVar[dict[str, list[Any]]] = {}
    search_starts: ClassVar[list[dict[str, Any]]] = []
    # Attributes that make up the item side (kept by production.save_state).
    item_state: ClassVar[tuple[str, ...]] = ("_fallback",)

    def __init__(self) -> None:
        self._seen = sp.csr_matrix((0, 0), dtype=np.float32)
        self._fallback: FloatArray = np.zeros(0)
        self._segments: IndexArray | None = None

    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.search_space}

    def fit(self, interactions: Interactions, *, cache: Cache | None = None) -> Self:
        counts = cached(
            cache, (id(interactions), "popularity", None), lambda: popularity(interactions, None)
        )
        self._fallback = counts / (counts.max() + 1.0) if counts.size else counts
        self._fit_items(interactions, cache)
        self._users(interactions)
        return self

    def fold_in(self, interactions: Interactions) -> Self:
        """This model (item side shared, not copied) reading the customers of `interactions`,
        whose products are indexed as in training and whose customers are numbered afresh."""
        if interactions.n_items != self._fallback.size:
            raise ValueError("fold_in needs the product index of the training data")
        clone = copy.copy(self)
        clone._users(interactions)
        return clone

    def _users(self, interactions: Interactions) -> None:
        self._seen = user_items(interactions)
        self._segments = interactions.user_segments
        self._fit_users(interactions)

    def _fit_items(self, interactions: Interactions, cache: Cache | None) -> None:
        return None

    def _fit_users(self, interactions: Interactions) -> None:
        return None

    def _sparse_scores(self, users: IndexArray) -> SparseScores | None:
        return None

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        parts = self._sparse_scores(users)
        if parts is None:
            raise NotImplementedError
        return parts.dense()

    def scores(self, users: IndexArray) -> NDArray[np.float32]:
        """Dense scores (customers x products) before masking and the popularity fill."""
        return self._scores(np.asarray(users, dtype=np.int32))

    def recommend(self, users: ArrayLike, k: int, *, exclude_seen: bool) -> NDArray[np.int64]:
        ranked = self._rank(users, k, (exclude_seen,))
        return ranked[0]

    def recommend_both(
        self, users: ArrayLike, k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        every, new = self._rank(users, k, (False, True))
        return every, new

    def _rank(self, users: ArrayLike, k: int, modes: tuple[bool, ...]) -> list[NDArray[np.int64]]:
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        n_users, n_items = self._seen.shape
        outs = [np.full((users.size, k), -1, dtype=np.int64) for _ in modes]
        if n_items == 0 or k <= 0:
            return outs
        fill = (self._fallback - 2.0).astype(np.float32)
        sparse = type(self)._sparse_scores is not _Scorer._sparse_scores
        batch = max(1, SCORE_CELLS // n_items)
        for start in range(0, users.size, batch):
            chunk = users[start : start + batch]
            if sparse:
                ranked = self._rank_sparse(chunk, k, modes, fill)
            else:
                known = np.flatnonzero((chunk >= 0) & (chunk < n_users))
                scores = np.zeros((chunk.size, n_items), dtype=np.float32)
                if known.size:
                    scores[known] = self._scores(chunk[known].astype(np.int32))
                # In place: unscored products rank after scored ones, by popularity.
                np.copyto(scores, np.broadcast_to(fill, scores.shape), where=~(scores > 0))
                ranked = self._top_dense(scores, chunk, known, k, modes)
            for out, best in zip(outs, ranked, strict=True):
                out[start : start + chunk.size] = best
        return outs

    def _rank_sparse(
        self, users: NDArray[np.int64], k: int, modes: tuple[bool, ...], fill: NDArray[np.float32]
    ) -> list[NDArray[np.int64]]:
        """Top-k from SparseScores, as ranking `dense()` with the fill would (ties: lower
        index first). Outside a customer's sparse part every product scores its base row's
        value (or the fill), so the best of those are the first products of that row's order
        that are not in the sparse part (nor bought, for new products only): the first
        k + (sparse entries) + (bought products) of the order always hold k of them."""
        n_users, n_items = self._seen.shape
        known = np.flatnonzero((users >= 0) & (users < n_users))
        parts = self._sparse_scores(users[known].astype(np.int32))
        if parts is None:
            raise NotImplementedError
        # Customers unknown to the model: no sparse part, and a zero base row (the fill).
        part = _rows_placed(parts.part, known, users.size)
        part.eliminate_zeros()
        base_row = np.full(users.size, parts.base.shape[0], dtype=np.int64)
        base_row[known] = parts.base_row
        base = np.vstack([parts.base, np.zeros((1, n_items), dtype=np.float32)])
        if part.nnz * DENSE_SHARE > users.size * n_items:
            # Most products scored anyway (a small catalogue): dense is faster. The shared rows
            # first, then each customer's part added in place: the same sums as part.toarray()
            # + base[base_row], without the two extra dense temporaries (most of the time).
            scores = np.take(base, base_row, axis=0)
            rows = np.repeat(np.arange(users.size), np.diff(part.indptr))
            scores[rows, part.indices] += part.data  # canonical csr: no (row, item) twice
            np.copyto(scores, np.broadcast_to(fill, scores.shape), where=~(scores > 0))
            return self._top_dense(scores, users, known, k, modes)
        seen = _rows_placed(self._seen[users[known]], known, users.size)
        outside = np.where(base > 0, base, fill[None, :]).astype(np.float32)
        head = np.argsort(-outside, axis=1, kind="stable")
        rows = np.repeat(np.arange(users.size), np.diff(part.indptr))
        values = part.data + base[base_row[rows], part.indices]
        lengths = np.minimum(k + np.diff(part.indptr) + np.diff(seen.indptr), n_items)
        head_rows = np.repeat(np.arange(users.size), lengths)
        position = np.arange(head_rows.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        head_items = head[base_row[head_rows], position]
        taken = np.zeros((users.size, n_items), dtype=bool)  # a batch is SCORE_CELLS at most
        taken[rows, part.indices] = True
        in_part = taken[head_rows, head_items]
        seen_rows = np.repeat(np.arange(users.size), np.diff(seen.indptr))
        taken[:] = False
        taken[seen_rows, seen.indices] = True
        outs = []
        for exclude_seen in modes:
            keep = ~taken[rows, part.indices] if exclude_seen else np.ones(rows.size, bool)
            top_rows, top_items, top_values = _top_per_row(
                rows[keep], part.indices[keep], values[keep], k
            )
            fresh = ~in_part & ~taken[head_rows, head_items] if exclude_seen else ~in_part
            r, i = head_rows[fresh], head_items[fresh]
            first = _rank_in_row(r, users.size) < k  # the head is in order already
            r, i = r[first], i[first]
            values_out = outside[base_row[r], i]
            r, i, _ = _top_per_row(
                np.r_[top_rows, r], np.r_[top_items, i], np.r_[top_values, values_out], k
            )
            best = np.full((users.size, k), -1, dtype=np.int64)
            best[r, _rank_in_row(r, users.size)] = i
            outs.append(best)
        return outs

    def _top_dense(
        self,
        scores: NDArray[np.float32],
        users: NDArray[np.int64],
        known: NDArray[np.intp],
        k: int,
        modes: tuple[bool, ...],
    ) -> list[NDArray[np.int64]]:
        """Top-k of filled dense scores per mode (new products only: bought ones masked)."""
        outs = []
        for exclude_seen in modes:
            if exclude_seen and known.size:
                seen = sp.csr_matrix(self._seen[users[known]])
                rows = known[np.repeat(np.arange(known.size), np.diff(seen.indptr))]
                scores[rows, seen.indices] = -np.inf
            best = np.full((users.size, k), -1, dtype=np.int64)
            top = top_k_indices(scores, k)
            top[~np.isfinite(np.take_along_axis(scores, top, axis=1))] = -1
            best[:, : top.shape[1]] = top
            outs.append(best)
        return outs


def _top_per_row(
    rows: NDArray[np.int64], items: NDArray[Any], values: NDArray[np.float32], k: int
) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[np.float32]]:
    """The k largest values of each row, grouped by row, best first; ties keep the input
    order (lower item first when the input is). One stable sort of a float key (row, then
    value), not a three-key lexsort."""
    scale = 2.0 * float(np.abs(values).max()) + 1.0 if values.size else 1.0
    order = np.argsort(rows - values.astype(np.float64) / scale, kind="stable")
    rows, items, values = rows[order], items[order], values[order]
    keep = _rank_in_row(rows, int(rows.max()) + 1 if rows.size else 0) < k
    return rows[keep], items[keep], values[keep]


def _rank_in_row(rows: NDArray[np.int64], n_rows: int) -> NDArray[np.int64]:
    """Position of each entry within its row, for entries grouped by row."""
    return np.arange(rows.size) - np.searchsorted(rows, np.arange(n_rows))[rows]


def _rows_placed(matrix: sp.spmatrix, rows: NDArray[np.intp], n_rows: int) -> sp.csr_matrix:
    """`matrix` with its row n moved to row rows[n] of an n_rows-row matrix."""
    coo = sp.coo_matrix(matrix)
    return sp.csr_matrix(
        (coo.data.astype(np.float32), (rows[coo.row], coo.col)), shape=(n_rows, matrix.shape[1])
    )


def top_k_indices(values: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    """Column indices of the k largest values of each row, largest first.

    A full argpartition of every row was most of the scoring time, so rows are cut into about
    4k blocks first: the k-th largest block maximum is a floor that at least k values reach,
    and usually few more, so only those are sorted (ties: lower index first). Rows where many
    values tie at the floor (a sea of zeros) take the argpartition instead (ties: any).
    """
    n_rows, n_cols = values.shape
    k = min(k, n_cols)
    out = np.zeros((n_rows, k), dtype=np.int64)
    if n_rows == 0 or k == 0:
        return out
    block = max(1, n_cols // (4 * k))
    maxima = np.maximum.reduceat(values, np.arange(0, n_cols, block), axis=1)
    floor = np.partition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k]
    candidates = values >= floor[:, None]
    wide = candidates.sum(axis=1) > 16 * k + 64
    if wide.any():
        which = np.flatnonzero(wide)
        sub = values[which]
        part = np.sort(np.argpartition(-sub, k - 1, axis=1)[:, :k], axis=1)
        order = np.argsort(-np.take_along_axis(sub, part, axis=1), axis=1, kind="stable")
        out[which] = np.take_along_axis(part, order, axis=1)
    narrow = np.flatnonzero(~wide)
    if narrow.size:
        flat = np.flatnonzero(candidates[narrow] if wide.any() else candidates)
        rows, cols = np.divmod(flat, n_cols)  # 1-d flatnonzero is ~10x faster than 2-d nonzero
        order = np.lexsort((cols, -values[narrow[rows], cols], rows))
        rows, cols = rows[order], cols[order]
        rank = np.arange(rows.size) - np.searchsorted(rows, np.arange(narrow.size))[rows]
        keep = rank < k
        out[narrow[rows[keep]], rank[keep]] = cols[keep]
    return out


class _PopularityTable:
    """ "Popular now": baskets per product in a recent window, per customer segment if known.

    A segment's counts are shrunk towards the shop-wide shares with `prior` pseudo-baskets, so a
    small tier does not get a ranking from three orders.
    """

    def __init__(self, interactions: Interactions, window_days: float | None, prior: float):
        overall = popularity(interactions, window_days)
        share = overall / max(overall.sum(), 1.0)
        self.overall = share / max(share.max(), 1e-12)
        self.by_segment: dict[int, FloatArray] = {}
        segments = interactions.user_segments
        if segments is None:
            return
        line_segment = segments[interactions.users]
        for segment in np.unique(segments[segments >= 0]).tolist():
            mask = line_segment == segment
            counts = popularity(_subset(interactions, mask), window_days)
            row = (counts + prior * share) / (counts.sum() + prior)
            self.by_segment[segment] = row / max(row.max(), 1e-12)

    def base(
        self, users: IndexArray, segments: IndexArray | None, weight: float
    ) -> tuple[NDArray[np.float32], IndexArray]:
        """weight x the popularity rows (0: shop-wide, then one per segment), and each
        customer's row: their segment's, or the shop-wide one."""
        keys = sorted(self.by_segment) if segments is not None else []
        rows = np.vstack([self.overall] + [self.by_segment[key] for key in keys])
        base_row = np.zeros(users.size, dtype=np.int32)
        if keys and segments is not None:
            user_segment = segments[users]
            position = np.minimum(np.searchsorted(keys, user_segment), len(keys) - 1)
            match = np.asarray(keys)[position] == user_segment
            base_row[match] = position[match] + 1
        return (weight * rows).astype(np.float32), base_row


def _subset(interactions: Interactions, mask: NDArray[np.bool_]) -> Interactions:
    return Interactions(
        interactions.users[mask],
        interactions.items[mask],
        interactions.times[mask],
        interactions.baskets[mask],
        interactions.quantities[mask],
        interactions.n_users,
        interactions.n_items,
        interactions.as_of,
        interactions.user_segments,
    )


class Popular(_Scorer):
    """Best sellers of the recent window, per segment when the shop has segments."""

    search_space: ClassVar[dict[str, list[Any]]] = {"window_days": [30.0, 7.0, 90.0, None]}
    item_state = ("_fallback", "_table")

    def __init__(self, window_days: float | None = 30.0, segment_prior: float = 50.0) -> None:
        super().__init__()
        self.window_days = window_days
        self.segment_prior = segment_prior
        self._table: _PopularityTable | None = None

    def _fit_items(self, interactions: Interactions, cache: Cache | None) -> None:
        self._table = cached(
            cache,
            (id(interactions), "popular", self.window_days, self.segment_prior),
            lambda: _PopularityTable(interactions, self.window_days, self.segment_prior),
        )

    def _sparse_scores(self, users: IndexArray) -> SparseScores:
        if self._table is None:
            raise RuntimeError("fit the model first")
        base, base_row = self._table.base(users, self._segments, 1.0)
        return SparseScores(_empty(users.size, self._seen.shape[1]), base, base_row)


def basket_counts(interactions: Interactions) -> sp.csr_matrix:
    """Customers x products: in how many of the customer's baskets each product was."""
    baskets = baskets_of(interactions)
    owner = sp.csr_matrix(
        (
            np.ones(baskets.users.size, dtype=np.float32),
            (baskets.users, np.arange(baskets.users.size)),
        ),
        shape=(interactions.n_users, baskets.users.size),
    )
    return sp.csr_matrix(owner @ baskets.matrix)


class PersonalFrequency(_Scorer):
    """What the customer bought in most baskets (P-TopFreq in the next-basket literature)."""

    def __init__(self) -> None:
        super().__init__()
        self._counts = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit_users(self, interactions: Interactions) -> None:
        self._counts = basket_counts(interactions)

    def _sparse_scores(self, users: IndexArray) -> SparseScores:
        counts = sp.csr_matrix(self._counts[users])
        # Equal counts are ordered by popularity (< 1, so it never overtakes a whole basket).
        counts.data = (counts.data + self._fallback[counts.indices]).astype(np.float32)
        return _without_base(counts)


class ItemKNN(_Scorer):
    """Item-based k-nearest neighbours (Sarwar et al. 2001; Deshpande & Karypis 2004).

    Scores are the sum of the similarities of the customer's products to each product, with each
    product's top-`neighbours` list kept (cosine when alpha = 0.5).
    """

    search_space: ClassVar[dict[str, list[Any]]] = {
        "neighbours": [100, 50, 200, 400],
        "alpha": [0.5, 0.75, 1.0],
    }
    item_state = ("_fallback", "_similarity")

    def __init__(self, neighbours: int = 100, alpha: float = 0.5) -> None:
        super().__init__()
        self.neighbours = neighbours
        self.alpha = alpha
        self._similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit_items(self, interactions: Interactions, cache: Cache | None) -> None:
        self._similarity = pruned(
            cache,
            (id(interactions), "knn", self.alpha, 0.0),
            self.neighbours,
            max(self.search_space["neighbours"]),
            lambda k: item_similarity(user_items(interactions), neighbours=k, alpha=self.alpha),
        )

    def _sparse_scores(self, users: IndexArray) -> SparseScores:
        return _without_base(sp.csr_matrix(self._seen[users] @ self._similarity))


class EASE(_Scorer):
    """EASE (Steck 2019): closed-form linear item-item model, B = I - P / diag(P).

    P = (X'X + l2 I)^-1 is dense, so only the `max_items` best sellers are modelled (the others
    fall back to popularity): 10k products are 400 MB a matrix in float32, 50k would be 10 GB.
    """

    # Each value is a dense inverse per validation fold (minutes at 10k products): the ridge
    # values that win on sparse purchase data (50 never did here).
    search_space: ClassVar[dict[str, list[Any]]] = {"l2": [200.0, 500.0, 1000.0]}

    def __init__(self, l2: float = 200.0, max_items: int = 10_000) -> None:
        super().__init__()
        self.l2 = l2
        self.max_items = max_items
        self._items: IndexArray = np.zeros(0, dtype=np.int32)
        self._weights: NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)

    def _fit_items(self, interactions: Interactions, cache: Cache | None) -> None:
        seen = user_items(interactions)
        self._items = top_items(seen, self.max_items)
        self._weights = ease_weights(seen, self._items, self.l2)

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        scores = np.zeros((users.size, self._seen.shape[1]), dtype=np.float32)
        if self._items.size:
            history = sp.csr_matrix(self._seen[users][:, self._items])
            scores[:, self._items] = history @ self._weights
        return scores


class TIFUKNN(_Scorer):
    """TIFU-KNN (Hu et al., SIGIR 2020): time-decayed repeat vector + user-neighbour average.

    The customer's baskets are split, newest first, into groups of `group_size`; baskets decay by
    `basket_decay` within a group and groups by `group_decay`. Scores blend the customer's vector
    (`alpha`) with the mean vector of the `neighbours` most similar customers (cosine). The
    neighbour search compares each customer with every other one: fine for thousands of
    customers, hours for a million, which is why production uses item neighbours instead.
    """

    search_space: ClassVar[dict[str, list[Any]]] = {
        "neighbours": [300, 100, 900],
        "alpha": [0.7, 0.5, 0.9],
        "group_size": [7, 3, 15],
        "group_decay": [0.7, 0.5, 0.9],
        "basket_decay": [0.9, 0.7, 1.0],
    }

    def __init__(
        self,
        neighbours: int = 300,
        alpha: float = 0.7,
        group_size: int = 7,
        group_decay: float = 0.7,
        basket_decay: float = 0.9,
    ) -> None:
        super().__init__()
        self.neighbours = neighbours
        self.alpha = alpha
        self.group_size = group_size
        self.group_decay = group_decay
        self.basket_decay = basket_decay
        self._vectors = sp.csr_matrix((0, 0), dtype=np.float32)
        self._unit = sp.csr_matrix((0, 0), dtype=np.float32)
        self._cache: Cache | None = None
        self._cache_key: tuple[Hashable, ...] = ()

    def _fit_items(self, interactions: Interactions, cache: Cache | None) -> None:
        # The neighbour search depends on the customer vectors only: the tuner's moves of
        # `alpha` and `neighbours` reuse it (searched once at the largest count, then cut).
        self._cache = cache
        self._cache_key = (id(interactions), "tifu", self.group_size, self.group_decay)
        self._cache_key += (self.basket_decay,)

    def _fit_users(self, interactions: Interactions) -> None:
        baskets = baskets_of(interactions)
        n_users = interactions.n_users
        age = newest_first_rank(baskets.users, baskets.times)  # 0 = the newest basket
        counts = np.bincount(baskets.users, minlength=n_users)
        groups = -(-counts // self.group_size)  # ceil
        weight = (
            self.group_decay ** (age // self.group_size)
            * self.basket_decay ** (age % self.group_size)
            / (self.group_size * np.maximum(groups[baskets.users], 1))
        )
        owner = sp.csr_matrix(
            (weight.astype(np.float32), (baskets.users, np.arange(baskets.users.size))),
            shape=(n_users, baskets.users.size),
        )
        self._vectors = sp.csr_matrix(owner @ baskets.matrix)
        norms = np.sqrt(np.asarray(self._vectors.multiply(self._vectors).sum(axis=1)).ravel())
        self._unit = row_scaled(self._vectors, 1.0 / np.maximum(norms, 1e-12))

    def fold_in(self, interactions: Interactions) -> Self:
        raise NotImplementedError("TIFU-KNN's neighbours are the other training customers")

    def _nearest(self, users: IndexArray, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Each customer's k most similar other customers, closest first, and the cosines."""
        similarity = np.asarray((self._unit[users] @ self._unit.T).toarray(), dtype=np.float32)
        similarity[np.arange(users.size), users] = -np.inf  # not one's own neighbour
        nearest = top_k_indices(similarity, k)
        return nearest, np.take_along_axis(similarity, nearest, axis=1)

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        k = min(self.neighbours, self._unit.shape[0] - 1)
        if k <= 0:
            return np.asarray(self._vectors[users].toarray(), dtype=np.float32)
        widest = k
        if self._cache is not None:
            widest = min(max([*self.search_space["neighbours"], k]), self._unit.shape[0] - 1)
        nearest, closeness = cached(
            self._cache,
            (*self._cache_key, widest, users.tobytes()),
            lambda: self._nearest(users, widest),
        )
        nearest = nearest[:, :k]
        useful = closeness[:, :k] > 0
        rows = np.repeat(np.arange(users.size), k)[useful.ravel()]
        columns = nearest.ravel()[useful.ravel()]
        mean = sp.csr_matrix(
            (np.full(rows.size, 1.0 / k, dtype=np.float32), (rows, columns)),
            shape=(users.size, self._vectors.shape[0]),
        )
        blended = self.alpha * self._vectors[users] + (1 - self.alpha) * (mean @ self._vectors)
        return np.asarray(sp.csr_matrix(blended).toarray(), dtype=np.float32)


class Hybrid(_Scorer):
    """Production: repeat + discovery + popular now, on sparse matrices only.

    - Repeat: the decayed share of the customer's baskets holding each product (half-life
      `half_life_days` in time, `basket_decay` per newer basket of the customer), scaled down
      while the product is early in its repurchase cycle (`due_weight`: 0 ignores timing, 1
      gives nothing to a product bought yesterday).
    - Discovery: item-item weights, top-`neighbours` per product: co-purchase similarity
      (`discovery="knn"`, cosine to conditional probability by `alpha`, best sellers damped by
      `pop_penalty`, as RP3beta) read through the decayed history, or EASE over the
      `max_items` best sellers, pruned to the same sparse shape by magnitude with signs kept
      (`"ease"`, ridge `l2`) and read through who bought what, as EASE is fitted; negative
      sums score nothing. Either way one sparse products x products matrix: no
      customer-customer search, nothing dense kept.
    - Popular now: baskets in the last `popularity_window_days`, per segment if known.
    Each part is scaled to a maximum of 1 per customer before blending, so the weights mean the
    same for a customer with two orders and one with two hundred. With `exclude_seen` the repeat
    part is masked out and discovery against popularity decides.
    """

    # A few values per parameter, far enough apart to matter (the tuner fits each candidate on
    # two validation folds; neighbour counts are pruned from the largest, not refitted).
    search_space: ClassVar[dict[str, list[Any]]] = {
        "half_life_days": [60.0, 15.0, 180.0, None],
        "basket_decay": [1.0, 0.9, 0.8],
        "due_weight": [0.0, 0.5],
        "discovery": ["knn", "ease"],
        "discovery_weight": [0.3, 0.0, 0.03, 0.1, 1.0, 3.0],
        "neighbours": [100, 300],
        "alpha": [0.5, 1.0],
        "pop_penalty": [0.0, 0.5],
        "l2": [200.0, 1000.0],
        "popularity_weight": [0.1, 0.0, 0.03, 0.3, 1.0],
        "popularity_window_days": [30.0, 7.0, 90.0, None],
    }
    # The corners of the blend, simplest first (the tuner keeps the simpler one on a near
    # tie), per setting: with repeats, the customer's own products by frequency (exactly
    # `personal_frequency`: ties go to all-time best sellers); for new products, best sellers
    # (exactly `popular`) and "mostly EASE co-purchases"; so the search is not stuck near the
    # default blend, and is never worse on validation than those baselines.
    setting_starts: ClassVar[dict[str, list[dict[str, Any]]]] = {
        "all": [{"discovery_weight": 0.0, "popularity_weight": 0.0, "half_life_days": None}],
        "new": [
            {"discovery_weight": 0.0, "popularity_weight": 1.0},
            {"discovery": "ease", "discovery_weight": 1.0, "popularity_weight": 0.1},
        ],
    }
    search_starts: ClassVar[list[dict[str, Any]]] = [
        start for starts in setting_starts.values() for start in starts
    ]
    item_state = ("_fallback", "_similarity", "_popular", "_cycles")
    # Parameters that only matter for one kind of discovery (the tuner skips duplicates).
    ONLY_FOR: ClassVar[dict[str, str]] = {"alpha": "knn", "pop_penalty": "knn", "l2": "ease"}

    def __init__(
        self,
        half_life_days: float | None = 60.0,
        basket_decay: float = 1.0,
        due_weight: float = 0.0,
        discovery: str = "knn",
        discovery_weight: float = 0.3,
        neighbours: int = 100,
        alpha: float = 0.5,
        pop_penalty: float = 0.0,
        l2: float = 200.0,
        popularity_weight: float = 0.1,
        popularity_window_days: float | None = 30.0,
        segment_prior: float = 50.0,
        max_items: int = 10_000,
    ) -> None:
        super().__init__()
        if discovery not in ("knn", "ease"):
            raise ValueError("discovery is 'knn' or 'ease'")
        self.half_life_days = half_life_days
        self.basket_decay = basket_decay
        self.due_weight = due_weight
        self.discovery = discovery
        self.discovery_weight = discovery_weight
        self.neighbours = neighbours
        self.alpha = alpha
        self.pop_penalty = pop_penalty
        self.l2 = l2
        self.popularity_weight = popularity_weight
        self.popularity_window_days = popularity_window_days
        self.segment_prior = segment_prior
        self.max_items = max_items
        self._history = sp.csr_matrix((0, 0), dtype=np.float32)
        self._repeat = sp.csr_matrix((0, 0), dtype=np.float32)
        self._similarity = sp.csr_matrix((0, 0), dtype=np.float32)
        self._popular: _PopularityTable | None = None
        self._cycles: ItemCycles | None = None

    # Parameters that do not matter when a part's weight is 0.
    UNUSED_AT_ZERO: ClassVar[dict[str, tuple[str, ...]]] = {
        "discovery_weight": ("discovery", "neighbours", "alpha", "pop_penalty", "l2"),
        "popularity_weight": ("popularity_window_days",),
    }

    @classmethod
    def starts_for(cls, setting: str) -> list[dict[str, Any]]:
        return cls.setting_starts.get(setting, cls.search_starts)

    @classmethod
    def effective(cls, params: dict[str, Any], setting: str | None = None) -> dict[str, Any]:
        """`params` with the ones that cannot change the ranking set to their defaults: those
        of the other kind of discovery, and those of a part weighted 0; for new products only
        (`setting="new"`: bought products are masked), the repeat part's timing too, and the
        history's decay when no discovery reads it."""
        defaults = {name: values[0] for name, values in cls.search_space.items()}
        kind = params.get("discovery", defaults["discovery"])
        out = dict(params)
        for name, only in cls.ONLY_FOR.items():
            if name in out and only != kind:
                out[name] = defaults[name]
        unused = dict(cls.UNUSED_AT_ZERO)
        if setting == "new":
            out.update({"due_weight": defaults["due_weight"]} if "due_weight" in out else {})
            unused["discovery_weight"] += ("half_life_days", "basket_decay")
            if kind == "ease":  # EASE reads who bought what, not when
                out.update({n: defaults[n] for n in ("half_life_days", "basket_decay") if n in out})
        for weight, names in unused.items():
            if out.get(weight, defaults[weight]) == 0:
                out.update({name: defaults[name] for name in names if name in out})
        return out

    def _fit_items(self, interactions: Interactions, cache: Cache | None) -> None:
        key = id(interactions)
        widest = max(self.search_space["neighbours"] + [self.neighbours])
        if self.discovery == "ease":
            self._similarity = pruned(
                cache,
                (key, "ease", self.l2, self.max_items),
                self.neighbours,
                widest,
                lambda k: sparse_ease(
                    user_items(interactions), l2=self.l2, max_items=self.max_items, neighbours=k
                ),
                by_magnitude=True,
            )
        else:
            self._similarity = pruned(
                cache,
                (key, "knn", self.alpha, self.pop_penalty),
                self.neighbours,
                widest,
                lambda k: item_similarity(
                    user_items(interactions),
                    neighbours=k,
                    alpha=self.alpha,
                    pop_penalty=self.pop_penalty,
                ),
            )
        self._popular = cached(
            cache,
            (key, "popular", self.popularity_window_days, self.segment_prior),
            lambda: _PopularityTable(interactions, self.popularity_window_days, self.segment_prior),
        )
        self._cycles = cached(cache, (key, "cycles"), lambda: item_cycles(interactions))

    def _fit_users(self, interactions: Interactions) -> None:
        self._history = decayed_history(
            baskets_of(interactions),
            interactions.n_users,
            interactions.as_of,
            self.half_life_days,
            self.basket_decay,
        )
        self._repeat = self._history
        if self.due_weight > 0:
            shape = (interactions.n_users, interactions.n_items)
            schedule = reorder_schedule(interactions, cycles=self._cycles)
            progress = cycle_progress(schedule, interactions.as_of, shape)
            self._repeat = sp.csr_matrix(
                self._history + self.due_weight * self._history.multiply(progress)
            )

    def _sparse_scores(self, users: IndexArray) -> SparseScores:
        if self._popular is None:
            raise RuntimeError("fit the model first")
        part = _max_scaled(self._repeat[users], 1.0)
        # Equal shares (one basket each) go to the all-time best seller first, as in
        # personal_frequency; TIE_BREAK is below any share difference that matters.
        part.data += TIE_BREAK * self._fallback[part.indices].astype(np.float32)
        if self.discovery_weight:
            # EASE is fitted on who bought what, so it reads that; kNN reads the decayed history.
            history = self._seen if self.discovery == "ease" else self._history
            discovery = sp.csr_matrix(history[users] @ self._similarity)
            np.maximum(discovery.data, 0.0, out=discovery.data)  # EASE weights can be negative
            discovery.eliminate_zeros()
            part = sp.csr_matrix(part + _max_scaled(discovery, self.discovery_weight))
        base, base_row = self._popular.base(users, self._segments, self.popularity_weight)
        return SparseScores(part, base, base_row)


def pruned(
    cache: Cache | None,
    key: Hashable,
    neighbours: int,
    widest: int,
    build: Callable[[int], sp.csr_matrix],
    *,
    by_magnitude: bool = False,
) -> sp.csr_matrix:
    """`build(neighbours)`, a products x products matrix with each row's `neighbours` largest
    entries (`by_magnitude`: largest absolute values, signs kept). With a cache (the tuner
    tries several sizes), built once at `widest` and pruned: the top n of the top `widest` are
    the top n (ties aside), at a fraction of the cost."""
    if cache is None or neighbours > widest:
        return build(neighbours)
    full = cached(cache, (key, widest), lambda: build(widest))
    if neighbours == widest:
        return full

    def prune() -> sp.csr_matrix:
        if not by_magnitude:
            return top_k_per_row(full, neighbours)
        kept = top_k_per_row(abs(full), neighbours)
        kept.data[:] = 1.0
        return sp.csr_matrix(full.multiply(kept), dtype=np.float32)

    return cached(cache, (key, neighbours), prune)


def _max_scaled(rows: sp.csr_matrix, weight: float) -> sp.csr_matrix:
    """Rows scaled to a maximum of `weight`."""
    rows = sp.csr_matrix(rows, dtype=np.float32)
    top = np.asarray(rows.max(axis=1).toarray()).ravel()
    return row_scaled(rows, weight / np.maximum(top, 1e-12))


def _empty(n_rows: int, n_cols: int) -> sp.csr_matrix:
    return sp.csr_matrix((n_rows, n_cols), dtype=np.float32)


def _without_base(part: sp.csr_matrix) -> SparseScores:
    """Scores that are the sparse part alone (a zero base row for everyone)."""
    part = sp.csr_matrix(part, dtype=np.float32)
    base = np.zeros((1, part.shape[1]), dtype=np.float32)
    return SparseScores(part, base, np.zeros(part.shape[0], dtype=np.int32))


RECOMMENDERS: dict[str, type[Recommender]] = {
    "popular": Popular,
    "personal_frequency": PersonalFrequency,
    "item_knn": ItemKNN,
    "ease": EASE,
    "tifu_knn": TIFUKNN,
    "hybrid": Hybrid,
}

# What production may run: fold-in works and the item side is small enough to store.
SERVABLE: tuple[str, ...] = ("hybrid", "popular", "personal_frequency", "item_knn")

# Used for a shop the evaluation has not chosen for yet.
DEFAULT_RECOMMENDER = "hybrid"
