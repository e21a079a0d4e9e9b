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
    user_items,
)

# Dense score cells per batch of customers (float32): ~64 MB whatever the catalogue size.
SCORE_CELLS = 1 << 24

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


class _Scorer:
    """Shared ranking: dense scores per batch of customers, masking, top-k, popularity fill.

    Products a model gives no positive score come after those it does, ordered by all-time
    popularity, so every list is full and a cold customer still gets the best sellers.
    Subclasses build their item side in `_fit_items` and their customer side in `_fit_users`.
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

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        raise NotImplementedError

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
            for out, exclude_seen in zip(outs, modes, strict=True):
                if exclude_seen and known.size:
                    seen = sp.csr_matrix(self._seen[chunk[known]])
                    rows = known[np.repeat(np.arange(known.size), np.diff(seen.indptr))]
                    scores[rows, seen.indices] = -np.inf
                best = top_k_indices(scores, k)
                best[~np.isfinite(np.take_along_axis(scores, best, axis=1))] = -1
                out[start : start + chunk.size, : best.shape[1]] = best
        return outs


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

    def _scores(self, users: IndexArray) -> NDArray[np.float32]:
        if self._table is None:
            raise RuntimeError("fit the model first")
        return self._table.rows(users, self._segments)


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
    item_state = ("_fallback", "_similarity")

    def __init__(self, neighbours: int = 100, alpha: float = 0.5) -> None:
        super().__init__()
        self.neighbours = neighbours
        self.alpha = alpha
        self._similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit_items(self, interactions: Interactions, cache: Cache | None) -> None:
        self._similarity = cached(
            cache,
            (id(interactions), "knn", self.neighbours, self.alpha, 0.0),
            lambda: item_similarity(
                user_items(interactions), neighbours=self.neighbours, alpha=self.alpha
            ),
        )

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

    - Repeat: the decayed share of the customer's baskets holding each product (half-life
      `half_life_days` in time, `basket_decay` per newer basket of the customer), scaled down
      while the product is early in its repurchase cycle (`due_weight`: 0 ignores timing, 1
      gives nothing to a product bought yesterday).
    - Discovery: the same history through item-item weights, top-`neighbours` per product:
      co-purchase similarity (`discovery="knn"`, cosine to conditional probability by `alpha`,
      best sellers damped by `pop_penalty`, as RP3beta) or EASE over the `max_items` best
      sellers, pruned to the same sparse shape (`"ease"`, ridge `l2`). Either way one sparse
      products x products matrix: no customer-customer search, nothing dense kept.
    - Popular now: baskets in the last `popularity_window_days`, per segment if known.
    Each part is scaled to a maximum of 1 per customer before blending, so the weights mean the
    same for a customer with two orders and one with two hundred. With `exclude_seen` the repeat
    part is masked out and discovery against popularity decides.
    """

    search_space: ClassVar[dict[str, list[Any]]] = {
        "half_life_days": [60.0, 15.0, 30.0, 120.0, 365.0, None],
        "basket_decay": [1.0, 0.95, 0.9, 0.8],
        "due_weight": [0.0, 0.25, 0.5],
        "discovery": ["knn", "ease"],
        "discovery_weight": [0.3, 0.01, 0.03, 0.1, 1.0, 3.0],
        "neighbours": [100, 50, 300],
        "alpha": [0.5, 0.75, 1.0],
        "pop_penalty": [0.0, 0.25, 0.5],
        "l2": [200.0, 50.0, 500.0, 2000.0],
        "popularity_weight": [0.1, 0.0, 0.03, 0.3, 1.0],
        "popularity_window_days": [30.0, 7.0, 90.0, None],
    }
    # The corners of the blend: the search also starts from "mostly best sellers" and
    # "mostly co-purchases", so it is not stuck near the default blend.
    search_starts: ClassVar[list[dict[str, Any]]] = [
        {"discovery_weight": 0.03, "popularity_weight": 1.0},
        {"discovery": "ease", "discovery_weight": 1.0, "popularity_weight": 0.03},
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

    @classmethod
    def effective(cls, params: dict[str, Any]) -> dict[str, Any]:
        """`params` with the ones the chosen discovery ignores set to their defaults."""
        kind = params.get("discovery", cls.search_space["discovery"][0])
        out = dict(params)
        for name, only in cls.ONLY_FOR.items():
            if name in out and only != kind:
                out[name] = cls.search_space[name][0]
        return out

    def _fit_items(self, interactions: Interactions, cache: Cache | None) -> None:
        key = id(interactions)
        if self.discovery == "ease":
            self._similarity = cached(
                cache,
                (key, "ease", self.l2, self.max_items, self.neighbours),
                lambda: sparse_ease(
                    user_items(interactions),
                    l2=self.l2,
                    max_items=self.max_items,
                    neighbours=self.neighbours,
                ),
            )
        else:
            self._similarity = cached(
                cache,
                (key, "knn", self.neighbours, self.alpha, self.pop_penalty),
                lambda: item_similarity(
                    user_items(interactions),
                    neighbours=self.neighbours,
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

# What production may run: fold-in works and the item side is small enough to store.
SERVABLE: tuple[str, ...] = ("hybrid", "popular", "personal_frequency", "item_knn")

# Used for a shop the evaluation has not chosen for yet.
DEFAULT_RECOMMENDER = "hybrid"
