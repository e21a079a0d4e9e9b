"""Recommenders behind one protocol, and the registry production and the evaluation pick from.

Each algorithm is fitted on `Interactions` (one shop's history) and ranks products for customers
by index. `exclude_seen=True` is "you may also like" (only products the customer never bought);
`False` lets repeats in ("time to reorder"). Customers without history, or unknown to the model,
get the popularity ranking: the cold start. `search_space` lists the hyperparameter values the
evaluation tries, on its validation split; the first value of each is the default.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import lapack

from .training import (
    FloatArray,
    IndexArray,
    Interactions,
    baskets_of,
    cycle_progress,
    decayed_history,
    item_similarity,
    popularity,
    reorder_schedule,
    row_scaled,
    user_items,
)

# Dense score cells per batch of customers (float32): ~64 MB whatever the catalogue size.
SCORE_CELLS = 1 << 24


class Recommender(Protocol):
    search_space: ClassVar[dict[str, list[Any]]]

    def fit(self, interactions: Interactions) -> Self: ...

    def recommend(self, users: ArrayLike, k: int, *, exclude_seen: bool) -> NDArray[np.int64]:
        """Top-k product indices per customer, best first; -1 pads a short list."""
        ...


class _Scorer:
    """Shared ranking: dense scores per batch of customers, masking, top-k, popularity fill.

    Products a model gives no positive score come after those it does, ordered by all-time
    popularity, so every list is full and a cold customer still gets the best sellers.
    """

    search_space: ClassVar[dict[str, list[Any]]] = {}

    def __init__(self) -> None:
        self._seen = sp.csr_matrix((0, 0), dtype=np.float32)
        self._fallback: FloatArray = np.zeros(0)
        self._segments: IndexArray | None = None

    def _prepare(self, interactions: Interactions) -> None:
        self._seen = user_items(interactions)
        counts = popularity(interactions, None)
        self._fallback = counts / (counts.max() + 1.0) if counts.size else counts
        self._segments = interactions.user_segments

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        raise NotImplementedError

    def recommend(self, users: ArrayLike, k: int, *, exclude_seen: bool) -> NDArray[np.int64]:
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        n_users, n_items = self._seen.shape
        out = np.full((users.size, k), -1, dtype=np.int64)
        if n_items == 0 or k <= 0:
            return out
        fill = (self._fallback - 2.0).astype(np.float32)
        batch = max(1, SCORE_CELLS // n_items)
        for start in range(0, users.size, batch):
            chunk = users[start : start + batch]
            known = np.flatnonzero((chunk >= 0) & (chunk < n_users))
            if known.size == chunk.size:
                scores = self._scores(chunk.astype(np.int32))
            else:
                scores = np.zeros((chunk.size, n_items), dtype=np.float32)
                if known.size:
                    scores[known] = self._scores(chunk[known].astype(np.int32))
            # In place: unscored products rank after scored ones, by popularity.
            np.copyto(scores, np.broadcast_to(fill, scores.shape), where=~(scores > 0))
            if exclude_seen and known.size:
                seen = sp.csr_matrix(self._seen[chunk[known]])
                rows = known[np.repeat(np.arange(known.size), np.diff(seen.indptr))]
                scores[rows, seen.indices] = -np.inf
            best = top_k_indices(scores, k)
            best[~np.isfinite(np.take_along_axis(scores, best, axis=1))] = -1
            out[start : start + chunk.size, : best.shape[1]] = best
        return out


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

    def rows(self, users: IndexArray, segments: IndexArray | None) -> NDArray[np.float32]:
        table = np.zeros((users.size, self.overall.size), dtype=np.float32)
        self.add_to(table, users, segments, 1.0)
        return table

    def add_to(
        self,
        scores: NDArray[np.float32],
        users: IndexArray,
        segments: IndexArray | None,
        weight: float,
    ) -> None:
        """scores += weight * each customer's popularity row, in place."""
        if weight == 0:
            return
        if segments is None or not self.by_segment:
            scores += (weight * self.overall).astype(np.float32)
            return
        user_segment = segments[users]
        plain = ~np.isin(user_segment, list(self.by_segment))
        scores[plain] += (weight * self.overall).astype(np.float32)
        for segment, row in self.by_segment.items():
            scores[user_segment == segment] += (weight * row).astype(np.float32)


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

    def __init__(self, window_days: float | None = 30.0, segment_prior: float = 50.0) -> None:
        super().__init__()
        self.window_days = window_days
        self.segment_prior = segment_prior
        self._table: _PopularityTable | None = None

    def fit(self, interactions: Interactions) -> Self:
        self._prepare(interactions)
        self._table = _PopularityTable(interactions, self.window_days, self.segment_prior)
        return self

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        if self._table is None:
            raise RuntimeError("fit the model first")
        return self._table.rows(users, self._segments)


class PersonalFrequency(_Scorer):
    """What the customer bought in most baskets (P-TopFreq in the next-basket literature)."""

    def __init__(self) -> None:
        super().__init__()
        self._counts = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, interactions: Interactions) -> Self:
        self._prepare(interactions)
        baskets = baskets_of(interactions)
        owner = sp.csr_matrix(
            (
                np.ones(baskets.users.size, dtype=np.float32),
                (baskets.users, np.arange(baskets.users.size)),
            ),
            shape=(interactions.n_users, baskets.users.size),
        )
        self._counts = sp.csr_matrix(owner @ baskets.matrix)
        return self

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        counts = self._counts[users].toarray()
        # Equal counts are ordered by popularity (< 1, so it never overtakes a whole basket).
        return np.where(counts > 0, counts + self._fallback, 0.0).astype(np.float32)


class ItemKNN(_Scorer):
    """Item-based k-nearest neighbours (Sarwar et al. 2001; Deshpande & Karypis 2004).

    Scores are the sum of the similarities of the customer's products to each product, with each
    product's top-`neighbours` list kept (cosine when alpha = 0.5).
    """

    search_space: ClassVar[dict[str, list[Any]]] = {
        "neighbours": [100, 50, 200, 400],
        "alpha": [0.5, 0.75, 1.0],
    }

    def __init__(self, neighbours: int = 100, alpha: float = 0.5) -> None:
        super().__init__()
        self.neighbours = neighbours
        self.alpha = alpha
        self._similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, interactions: Interactions) -> Self:
        self._prepare(interactions)
        self._similarity = item_similarity(self._seen, neighbours=self.neighbours, alpha=self.alpha)
        return self

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        return np.asarray((self._seen[users] @ self._similarity).toarray(), dtype=np.float32)


class EASE(_Scorer):
    """EASE (Steck 2019): closed-form linear item-item model, B = I - P / diag(P).

    P = (X'X + l2 I)^-1 is dense, so only the `max_items` best sellers are modelled (the others
    fall back to popularity): 10k products are 400 MB a matrix in float32, 50k would be 10 GB.
    """

    search_space: ClassVar[dict[str, list[Any]]] = {"l2": [200.0, 50.0, 500.0, 1000.0]}

    def __init__(self, l2: float = 200.0, max_items: int = 10_000) -> None:
        super().__init__()
        self.l2 = l2
        self.max_items = max_items
        self._items: IndexArray = np.zeros(0, dtype=np.int32)
        self._weights: NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)

    def fit(self, interactions: Interactions) -> Self:
        self._prepare(interactions)
        buyers = np.diff(sp.csc_matrix(self._seen).indptr)
        ranked = np.argsort(-buyers, kind="stable")[: self.max_items]
        self._items = np.sort(ranked[buyers[ranked] > 0]).astype(np.int32)
        x = sp.csr_matrix(self._seen[:, self._items])
        gram = np.asarray((x.T @ x).toarray(), dtype=np.float32)
        gram[np.diag_indices_from(gram)] += self.l2
        self._weights = _spd_inverse(gram)
        diag = np.diag(self._weights).copy()
        self._weights /= -diag
        self._weights[np.diag_indices_from(self._weights)] = 0.0
        return self

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        scores = np.zeros((users.size, self._seen.shape[1]), dtype=np.float32)
        if self._items.size:
            history = sp.csr_matrix(self._seen[users][:, self._items])
            scores[:, self._items] = history @ self._weights
        return scores


def _spd_inverse(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    """Inverse of a symmetric positive definite matrix, in place (Cholesky: half an LU's work)."""
    if matrix.size == 0:
        return matrix
    factor, info = lapack.spotrf(matrix, lower=0, overwrite_a=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky failed ({info}); raise l2")
    inverse, info = lapack.spotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"inverse failed ({info})")
    inverse = np.triu(inverse)  # potri fills the upper triangle only
    inverse += np.triu(inverse, 1).T
    return np.asarray(inverse, dtype=np.float32)


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

    def fit(self, interactions: Interactions) -> Self:
        self._prepare(interactions)
        baskets = baskets_of(interactions)
        n_users = interactions.n_users
        order = np.lexsort((-baskets.times, baskets.users))  # per customer, newest first
        owners = baskets.users[order]
        counts = np.bincount(owners, minlength=n_users)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        age = np.arange(order.size) - starts[owners]  # 0 = the newest basket
        groups = -(-counts // self.group_size)  # ceil
        weight = (
            self.group_decay ** (age // self.group_size)
            * self.basket_decay ** (age % self.group_size)
            / (self.group_size * np.maximum(groups[owners], 1))
        )
        owner = sp.csr_matrix(
            (weight.astype(np.float32), (owners, order)), shape=(n_users, baskets.users.size)
        )
        self._vectors = sp.csr_matrix(owner @ baskets.matrix)
        norms = np.sqrt(np.asarray(self._vectors.multiply(self._vectors).sum(axis=1)).ravel())
        self._unit = row_scaled(self._vectors, 1.0 / np.maximum(norms, 1e-12))
        return self

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        similarity = np.asarray((self._unit[users] @ self._unit.T).toarray(), dtype=np.float32)
        similarity[np.arange(users.size), users] = -np.inf  # not one's own neighbour
        k = min(self.neighbours, similarity.shape[1] - 1)
        if k <= 0:
            return np.asarray(self._vectors[users].toarray(), dtype=np.float32)
        nearest = top_k_indices(similarity, k)
        useful = np.take_along_axis(similarity, nearest, axis=1) > 0
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

    - Repeat: the time-decayed share of the customer's baskets holding each product (half-life
      `half_life_days`), scaled down while the product is early in its repurchase cycle
      (`due_weight`: 0 ignores timing, 1 gives nothing to a product bought yesterday).
    - Discovery: the same history through item neighbours (`item_similarity`, top-`neighbours`
      per product): what customers with similar baskets also buy. Scales like SAR: one sparse
      co-occurrence pass, no customer-customer search.
    - Popular now: baskets in the last `popularity_window_days`, per segment if known.
    Each part is scaled to a maximum of 1 per customer before blending, so the weights mean the
    same for a customer with two orders and one with two hundred. With `exclude_seen` the repeat
    part is masked out and discovery against popularity decides.
    """

    search_space: ClassVar[dict[str, list[Any]]] = {
        "half_life_days": [60.0, 15.0, 30.0, 120.0, 365.0, None],
        "due_weight": [0.0, 0.25, 0.5],
        "discovery_weight": [0.3, 0.1, 1.0, 3.0],
        "neighbours": [100, 50, 300],
        "alpha": [0.5, 0.75, 1.0],
        "pop_penalty": [0.0, 0.25, 0.5],
        "popularity_weight": [0.1, 0.0, 0.03, 0.3, 1.0],
        "popularity_window_days": [30.0, 7.0, 90.0, None],
    }

    def __init__(
        self,
        half_life_days: float | None = 60.0,
        due_weight: float = 0.0,
        discovery_weight: float = 0.3,
        neighbours: int = 100,
        alpha: float = 0.5,
        pop_penalty: float = 0.0,
        popularity_weight: float = 0.1,
        popularity_window_days: float | None = 30.0,
        segment_prior: float = 50.0,
    ) -> None:
        super().__init__()
        self.half_life_days = half_life_days
        self.due_weight = due_weight
        self.discovery_weight = discovery_weight
        self.neighbours = neighbours
        self.alpha = alpha
        self.pop_penalty = pop_penalty
        self.popularity_weight = popularity_weight
        self.popularity_window_days = popularity_window_days
        self.segment_prior = segment_prior
        self._history = sp.csr_matrix((0, 0), dtype=np.float32)
        self._repeat = sp.csr_matrix((0, 0), dtype=np.float32)
        self._similarity = sp.csr_matrix((0, 0), dtype=np.float32)
        self._popular: _PopularityTable | None = None

    def fit(self, interactions: Interactions) -> Self:
        self._prepare(interactions)
        shape = (interactions.n_users, interactions.n_items)
        self._history = decayed_history(
            baskets_of(interactions),
            interactions.n_users,
            interactions.as_of,
            self.half_life_days,
        )
        self._repeat = self._history
        if self.due_weight > 0:
            progress = cycle_progress(reorder_schedule(interactions), interactions.as_of, shape)
            self._repeat = sp.csr_matrix(
                self._history + self.due_weight * self._history.multiply(progress)
            )
        self._similarity = item_similarity(
            self._seen,
            neighbours=self.neighbours,
            alpha=self.alpha,
            pop_penalty=self.pop_penalty,
        )
        self._popular = _PopularityTable(
            interactions, self.popularity_window_days, self.segment_prior
        )
        return self

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        if self._popular is None:
            raise RuntimeError("fit the model first")
        scores = _max_scaled(self._repeat[users], 1.0)
        if self.discovery_weight:
            discovery = sp.csr_matrix(self._history[users] @ self._similarity)
            scores += _max_scaled(discovery, self.discovery_weight)
        self._popular.add_to(scores, users, self._segments, self.popularity_weight)
        return scores


def _max_scaled(rows: sp.csr_matrix, weight: float) -> NDArray[np.float32]:
    """Dense rows scaled to a maximum of `weight` (scaled while sparse: cheaper)."""
    rows = sp.csr_matrix(rows, dtype=np.float32)
    top = np.asarray(rows.max(axis=1).toarray()).ravel()
    return np.asarray(row_scaled(rows, weight / np.maximum(top, 1e-12)).toarray())


RECOMMENDERS: dict[str, type[Recommender]] = {
    "popular": Popular,
    "personal_frequency": PersonalFrequency,
    "item_knn": ItemKNN,
    "ease": EASE,
    "tifu_knn": TIFUKNN,
    "hybrid": Hybrid,
}

# Used for a shop the evaluation has not chosen for yet.
DEFAULT_RECOMMENDER = "hybrid"
