"""Offline evaluation: public order data, a temporal split, ranking metrics, one results table.

Protocol (the same for every algorithm, in one run):
- The last `TEST_FRACTION` of the time span is the test period; the customers evaluated bought
  before it and during it, and their targets are the products they bought during it.
- Hyperparameters are tuned on validation splits carved from the training period only: the
  window of the same length just before the test cutoff is the newest validation target (the
  time before it its training data), the window before that the second; tuning maximises the
  mean NDCG over both. The test period is never seen before the final fit.
- Two settings: `all` (targets include repeats) and `new` (products the customer never bought
  before the cutoff; bought products are excluded from the lists too).
- precision, recall, NDCG and MAP at 10 (binary relevance), catalogue coverage (share of the
  trained catalogue recommended to someone), train time and peak traced memory of fit + scoring.

Pure apart from reading the data file: no database, no Flask.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import math
import multiprocessing
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from .algorithms import RECOMMENDERS, SERVABLE, Cache, Recommender
from .training import IndexArray, Interactions, before, make_interactions, user_items

SETTINGS = ("all", "new")
K = 10
TEST_FRACTION = 0.2
# Tuning averages NDCG over this many validation windows (the newest just before the test
# period, each earlier one just before the next): parameters that win in two periods are
# less likely to be an accident of one.
VALIDATION_FOLDS = 2
# Customers scored per validation fold while tuning (a fixed random sample when there are
# more); the test split always scores every customer.
TUNE_USERS = 4000
# A parameter moves only when validation NDCG improves by this share: with a hundred
# candidates, the best of many noisy estimates is otherwise mostly luck, and it does not hold
# on the test period (the winner's curse). Starts other than the defaults must win by it too.
MIN_GAIN = 0.01
# ...and by this many standard errors of the paired per-customer difference (one-sided 95%):
# on a few thousand customers, 1% is often within the noise.
SIGNIFICANCE = 1.64
METRICS = ("ndcg@10", "precision@10", "recall@10", "map@10", "coverage")
_EPOCH = date(1970, 1, 1).toordinal()

# Online Retail stock codes that are fees and adjustments, not products (SOURCE.md, "Use here").
NON_PRODUCT_CODES = frozenset({"POST", "M", "C2", "DOT", "BANK CHARGES", "PADS"})
ONLINE_RETAIL_HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
TA_FENG_HEADER = [
    "TRANSACTION_DT",
    "CUSTOMER_ID",
    "AGE_GROUP",
    "PIN_CODE",
    "PRODUCT_SUBCLASS",
    "PRODUCT_ID",
    "AMOUNT",
    "ASSET",
    "SALES_PRICE",
]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Dataset:
    name: str
    interactions: Interactions
    user_ids: NDArray[Any]
    item_ids: NDArray[Any]


# Loading ------------------------------------------------------------------------------------------


def load_dataset(path: str | Path) -> Dataset:
    """Read Online Retail (.csv.gz) or Ta-Feng (.zip), or a folder holding one; told by header."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz", ".zip")))
        if not found:
            raise FileNotFoundError(f"no .csv, .csv.gz or .zip data file in {path}")
        path = found[0]
    with _open_text(path) as stream:
        rows = csv.reader(stream)
        header = [column.strip().lstrip("\ufeff") for column in next(rows)]
        if header == ONLINE_RETAIL_HEADER:
            return _online_retail(rows)
        if header == TA_FENG_HEADER:
            return _ta_feng(rows)
    raise ValueError(f"{path}: unknown data set (header {header[:4]}...)")


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[TextIO]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            member = next(n for n in archive.namelist() if n.endswith(".csv"))
            with archive.open(member) as raw:
                yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    elif path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as stream:
            yield stream
    else:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            yield stream


def _online_retail(rows: Iterator[list[str]]) -> Dataset:
    """UCI Online Retail: drop guests, cancellations, non-positive lines and fee codes."""
    users: list[str] = []
    items: list[str] = []
    times: list[float] = []
    baskets: list[str] = []
    quantities: list[float] = []
    parsed: dict[str, float] = {}
    for invoice, code, _, quantity, when, price, customer, _country in rows:
        if not customer or invoice.startswith("C") or code in NON_PRODUCT_CODES:
            continue
        qty = float(quantity)
        if qty <= 0 or float(price) <= 0:
            continue
        if (day := parsed.get(when)) is None:
            day = parsed[when] = _days(when)
        users.append(customer)
        items.append(code)
        times.append(day)
        baskets.append(invoice)
        quantities.append(qty)
    return _encode("online-retail", users, items, times, baskets, quantities)


def _ta_feng(rows: Iterator[list[str]]) -> Dataset:
    """Ta-Feng: one basket = one customer's purchases on one day (no order ids in the data)."""
    users: list[str] = []
    items: list[str] = []
    times: list[float] = []
    quantities: list[float] = []
    parsed: dict[str, float] = {}
    for row in rows:
        when, customer, product, amount = row[0], row[1], row[5], row[6]
        if (day := parsed.get(when)) is None:
            month, mday, year = (int(part) for part in when.split("/"))
            day = parsed[when] = float(date(year, month, mday).toordinal() - _EPOCH)
        users.append(customer)
        items.append(product)
        times.append(day)
        quantities.append(float(amount))
    return _encode("ta-feng", users, items, times, None, quantities)


def _days(stamp: str) -> float:
    """'YYYY-MM-DD HH:MM[:SS]' (the shop's local time, kept as is) to days since 1970-01-01."""
    day, _, clock = stamp.partition(" ")
    year, month, mday = (int(part) for part in day.split("-"))
    parts = [int(part) for part in clock.split(":")] if clock else []
    seconds = sum(value * unit for value, unit in zip(parts, (3600, 60, 1), strict=False))
    return date(year, month, mday).toordinal() - _EPOCH + seconds / 86400.0


def _encode(
    name: str,
    users: list[str],
    items: list[str],
    times: list[float],
    baskets: list[str] | None,
    quantities: list[float],
) -> Dataset:
    user_ids, user_index = np.unique(np.array(users), return_inverse=True)
    item_ids, item_index = np.unique(np.array(items), return_inverse=True)
    basket_index = None if baskets is None else np.unique(np.array(baskets), return_inverse=True)[1]
    interactions = make_interactions(
        user_index,
        item_index,
        times,
        basket_index,
        quantities,
        n_users=user_ids.size,
        n_items=item_ids.size,
    )
    return Dataset(name, interactions, user_ids, item_ids)


# Split --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Training lines (before `cutoff`) and each evaluated customer's purchases after it."""

    train: Interactions
    targets: sp.csr_matrix  # customers x products bought in [cutoff, end)
    cutoff: float
    end: float

    def users(self, setting: str) -> IndexArray:
        """Customers with history before the cutoff and at least one target in the setting."""
        has_history = np.bincount(self.train.users, minlength=self.train.n_users) > 0
        has_target = np.diff(self.relevant(setting).indptr) > 0
        return np.flatnonzero(has_history & has_target).astype(np.int32)

    def relevant(self, setting: str) -> sp.csr_matrix:
        if setting == "all":
            return self.targets
        if setting == "new":
            seen = user_items(self.train)
            fresh = sp.csr_matrix(self.targets - self.targets.multiply(seen))
            fresh.eliminate_zeros()
            return fresh
        raise ValueError(f"unknown setting {setting!r}")


def temporal_split(interactions: Interactions, cutoff: float, end: float = math.inf) -> Split:
    window = (interactions.times >= cutoff) & (interactions.times < end)
    targets = sp.csr_matrix(
        (
            np.ones(int(window.sum()), dtype=np.float32),
            (interactions.users[window], interactions.items[window]),
        ),
        shape=(interactions.n_users, interactions.n_items),
    )
    targets.data[:] = 1.0
    targets.sort_indices()
    return Split(before(interactions, cutoff), targets, cutoff, end)


def evaluation_splits(
    interactions: Interactions,
    test_fraction: float = TEST_FRACTION,
    folds: int = VALIDATION_FOLDS,
) -> tuple[list[Split], Split]:
    """(validation folds, test). The test period is the last `test_fraction` of the time span;
    validation fold f (0 = the newest) is the window of the same length ending f windows
    before it, trained on everything before that window. No fold sees the test period."""
    start, end = float(interactions.times.min()), float(interactions.times.max())
    window = (end - start) * test_fraction
    test_cutoff = end - window
    validations = []
    for fold in range(folds):
        stop = test_cutoff - fold * window
        history = before(interactions, stop)
        validations.append(temporal_split(history, stop - window, stop))
    return validations, temporal_split(interactions, test_cutoff)


# Metrics ------------------------------------------------------------------------------------------


def hits_at_k(recommended: NDArray[np.int64], relevant: sp.csr_matrix) -> NDArray[np.bool_]:
    """hits[u, r] is True when the r-th product recommended to row u is relevant to row u."""
    relevant = sp.csr_matrix(relevant)
    relevant.sort_indices()
    n_rows, n_items = relevant.shape
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(relevant.indptr))
    wanted = rows * n_items + relevant.indices
    keys = np.arange(n_rows, dtype=np.int64)[:, None] * n_items + recommended
    return np.isin(keys, wanted) & (recommended >= 0)


def _discounts(k: int) -> NDArray[np.float64]:
    return 1.0 / np.log2(np.arange(2, k + 2))


def precision_at_k(hits: NDArray[np.bool_]) -> NDArray[np.float64]:
    return np.asarray(hits.sum(axis=1) / hits.shape[1], dtype=np.float64)


def recall_at_k(hits: NDArray[np.bool_], n_relevant: NDArray[Any]) -> NDArray[np.float64]:
    return np.asarray(hits.sum(axis=1) / np.maximum(n_relevant, 1), dtype=np.float64)


def ndcg_at_k(hits: NDArray[np.bool_], n_relevant: NDArray[Any]) -> NDArray[np.float64]:
    k = hits.shape[1]
    discounts = _discounts(k)
    ideal = np.cumsum(discounts)[np.clip(n_relevant, 1, k) - 1]
    return np.asarray((hits * discounts).sum(axis=1) / ideal, dtype=np.float64)


def average_precision_at_k(
    hits: NDArray[np.bool_], n_relevant: NDArray[Any]
) -> NDArray[np.float64]:
    """AP@k = sum over hit ranks r of precision@r, divided by min(relevant, k)."""
    k = hits.shape[1]
    precision = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return np.asarray((precision * hits).sum(axis=1) / np.clip(n_relevant, 1, k), dtype=np.float64)


def ranking_metrics(
    recommended: NDArray[np.int64], relevant: sp.csr_matrix, catalogue_size: int
) -> dict[str, float]:
    """Mean metrics over rows; `relevant` row u belongs to `recommended` row u."""
    k = recommended.shape[1]
    hits = hits_at_k(recommended, relevant)
    n_relevant = np.diff(sp.csr_matrix(relevant).indptr)
    shown = np.unique(recommended[recommended >= 0]).size
    return {
        f"ndcg@{k}": float(ndcg_at_k(hits, n_relevant).mean()),
        f"precision@{k}": float(precision_at_k(hits).mean()),
        f"recall@{k}": float(recall_at_k(hits, n_relevant).mean()),
        f"map@{k}": float(average_precision_at_k(hits, n_relevant).mean()),
        "coverage": shown / max(catalogue_size, 1),
    }


# Tuning and the run -------------------------------------------------------------------------------


@dataclass
class Result:
    algorithm: str
    setting: str
    params: dict[str, Any]
    validation_ndcg: float
    metrics: dict[str, float]
    train_seconds: float
    score_seconds: float
    peak_mb: float
    # Tuning on the validation folds (the algorithm's, both settings together): CPU-bound wall
    # time and distinct candidates fitted. What makes a run long.
    tune_seconds: float = 0.0
    tune_fits: int = 0
    # Test NDCG@k of each evaluated customer (same order for every algorithm of a setting).
    per_user: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), repr=False)


@dataclass
class Report:
    dataset: str
    lines: int
    customers: int
    products: int
    cutoffs: dict[str, float]  # validation and test cutoffs, days since 1970-01-01
    users: dict[str, int]  # customers evaluated on the test split, per setting
    sampled: bool
    production: str = ""
    results: list[Result] = field(default_factory=list)

    def result(self, algorithm: str, setting: str) -> Result:
        return next(r for r in self.results if r.algorithm == algorithm and r.setting == setting)


def _sample(users: IndexArray, limit: int | None, seed: int = 0) -> IndexArray:
    if limit is None or users.size <= limit:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, limit, replace=False))


def rank_settings(
    model: Recommender, users: dict[str, IndexArray], k: int
) -> dict[str, NDArray[np.int64]]:
    """Top-k lists per setting ("all": repeats allowed, "new": unseen only), scored once."""
    everyone = np.unique(np.concatenate([users[s] for s in users])) if users else np.zeros(0)
    every, new = model.recommend_both(everyone, k)
    out = {}
    for setting, who in users.items():
        rows = np.searchsorted(everyone, who)
        out[setting] = (every if setting == "all" else new)[rows]
    return out


def _per_user_ndcg(
    model: Recommender, users: dict[str, IndexArray], relevant: dict[str, sp.csr_matrix], k: int
) -> dict[str, NDArray[np.float64]]:
    """NDCG@k of each customer per setting; relevant[s] row n belongs to users[s][n]."""
    return {
        setting: ndcg_at_k(
            hits_at_k(recommended, relevant[setting]), np.diff(relevant[setting].indptr)
        )
        for setting, recommended in rank_settings(model, users, k).items()
    }


def _beats(candidate: NDArray[np.float64], current: NDArray[np.float64]) -> bool:
    """Whether `candidate` (per-customer NDCG) is better than `current` on the same customers
    by MIN_GAIN and by a one-sided paired test (mean gain over SIGNIFICANCE standard errors)."""
    diff = candidate - current
    gain = float(diff.mean()) if diff.size else 0.0
    error = float(diff.std(ddof=1)) / math.sqrt(diff.size) if diff.size > 1 else 0.0
    return gain > MIN_GAIN * float(current.mean()) + 1e-9 and gain > SIGNIFICANCE * error


def tune(
    name: str,
    validations: Sequence[Split],
    users: Sequence[dict[str, IndexArray]],
    *,
    k: int = K,
    passes: int = 2,
    on_fit: Callable[[int], None] | None = None,
) -> dict[str, tuple[dict[str, Any], float]]:
    """Best params per setting by validation NDCG: coordinate ascent over `search_space`.

    One parameter moves at a time, for up to `passes` rounds, from each of the class's
    starts for the setting (`starts_for(setting)` when it has one, else `search_starts`;
    simplest first) and then from the defaults (the first values); the best
    end point wins. A move, and a later start's end point, must gain MIN_GAIN over what it
    replaces: on a near tie the simpler model stays. Each
    distinct candidate is fitted once and scored in both settings; expensive parts (item
    similarities) are shared between candidates through one cache. Only the validation splits
    are ever seen here; scores are means over them.
    """
    factory = RECOMMENDERS[name]
    space = factory.search_space
    effective = getattr(factory, "effective", lambda params, setting=None: params)
    starts_for = getattr(factory, "starts_for", lambda setting: factory.search_starts)
    # Per setting: parameters that cannot change that setting's ranking (effective) give the
    # same per-customer scores, so each distinct (setting, effective params) is fitted once.
    seen: dict[str, dict[tuple[tuple[str, Any], ...], NDArray[np.float64]]] = {
        s: {} for s in SETTINGS
    }
    fits = 0
    cache: Cache = {}

    relevant = [
        {s: sp.csr_matrix(split.relevant(s)[who[s]]) for s in SETTINGS}
        for split, who in zip(validations, users, strict=True)
    ]

    def key_of(params: dict[str, Any], setting: str) -> tuple[tuple[str, Any], ...]:
        return tuple(sorted(effective(params, setting).items()))

    def score_of(params: dict[str, Any], setting: str) -> NDArray[np.float64]:
        """Per-customer NDCG, the folds one after the other (the same customers every time)."""
        nonlocal fits
        if key_of(params, setting) not in seen[setting]:
            folds = []
            for split, who, wanted in zip(validations, users, relevant, strict=True):
                model = factory(**params).fit(split.train, cache=cache)
                folds.append(_per_user_ndcg(model, who, wanted, k))
                del model
            for s in SETTINGS:  # one fit scores both settings
                seen[s].setdefault(key_of(params, s), np.concatenate([f[s] for f in folds]))
            fits += 1
            if on_fit is not None:
                on_fit(fits)
        return seen[setting][key_of(params, setting)]

    defaults = {param: values[0] for param, values in space.items()}
    best: dict[str, tuple[dict[str, Any], NDArray[np.float64]]] = {}
    for setting in SETTINGS:
        starts = [{**defaults, **start} for start in starts_for(setting)] + [defaults]
        for start in starts:
            current = dict(start)
            score = score_of(current, setting)
            for _ in range(passes):
                moved = False
                for param, values in space.items():
                    for value in values:
                        candidate = {**current, param: value}
                        candidate_score = score_of(candidate, setting)
                        if _beats(candidate_score, score):
                            current, score, moved = candidate, candidate_score, True
                if not moved:
                    break
            if setting not in best or _beats(score, best[setting][1]):
                best[setting] = (effective(current, setting), score)
    return {s: (params, float(per_user.mean())) for s, (params, per_user) in best.items()}


def evaluate(
    dataset: Dataset,
    algorithms: Sequence[str] | None = None,
    *,
    k: int = K,
    limit_users: int | None = None,
    progress: Progress | None = None,
    workers: int = 1,
) -> Report:
    """Tune every algorithm on validation, fit on the full training period, score on test;
    with `workers` > 1, that many algorithms at a time in their own processes.

    The production algorithm is the servable one (algorithms.SERVABLE: production can refresh
    a customer alone and store the model) with the best mean validation NDCG over both
    settings, each setting with its own tuned parameters: chosen without looking at the test
    period, per data set (per shop in production).
    """
    names = list(algorithms or RECOMMENDERS)
    validations, test = evaluation_splits(dataset.interactions)
    tune_limit = min(limit_users or TUNE_USERS, TUNE_USERS)
    val_users = [{s: _sample(v.users(s), tune_limit) for s in SETTINGS} for v in validations]
    test_users = {s: _sample(test.users(s), limit_users) for s in SETTINGS}
    catalogue = int((np.bincount(test.train.items, minlength=test.train.n_items) > 0).sum())
    report = Report(
        dataset=dataset.name,
        lines=len(dataset.interactions),
        customers=dataset.interactions.n_users,
        products=dataset.interactions.n_items,
        cutoffs={
            **{f"validation_{n}": v.cutoff for n, v in enumerate(validations)},
            "test": test.cutoff,
        },
        users={s: int(test_users[s].size) for s in SETTINGS},
        sampled=limit_users is not None and any(test.users(s).size > limit_users for s in SETTINGS),
    )
    total = len(names)
    validation_ndcg: dict[str, float] = {}
    run = functools.partial(
        _evaluate_algorithm,
        validations=validations,
        val_users=val_users,
        test=test,
        test_users=test_users,
        catalogue=catalogue,
        k=k,
    )
    if progress is not None:
        progress(0, total, ", ".join(names))
    if workers <= 1:
        outcomes = []
        for name in names:
            outcomes.append(run(name))
            if progress is not None:
                progress(len(outcomes), total, f"{name}: done")
    else:
        # Algorithms are independent given the splits: one process each, at most `workers`
        # at once (fork: the children share the parent's arrays). Each worker traces its own
        # memory, so peak MB means the same as in one process; wall times include sharing
        # the cores with the other workers.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        with pool:
            # The slowest first (the registry lists the simplest first), so they overlap.
            futures = {pool.submit(run, name): name for name in reversed(names)}
            outcomes = []
            for future in as_completed(futures):
                outcomes.append(future.result())
                if progress is not None:
                    progress(len(outcomes), total, f"{futures[future]}: done")
    for name, score, results in outcomes:
        validation_ndcg[name] = score
        report.results.extend(results)
    report.results.sort(key=lambda r: (SETTINGS.index(r.setting), names.index(r.algorithm)))
    servable = [n for n in validation_ndcg if n in SERVABLE] or list(validation_ndcg)
    report.production = max(servable, key=lambda n: validation_ndcg[n])
    return report


def _evaluate_algorithm(
    name: str,
    *,
    validations: Sequence[Split],
    val_users: Sequence[dict[str, IndexArray]],
    test: Split,
    test_users: dict[str, IndexArray],
    catalogue: int,
    k: int,
) -> tuple[str, float, list[Result]]:
    """One algorithm: tuned on the validation folds, then fitted on the test split's training
    lines (timed, memory traced) and scored on its targets. (name, mean validation NDCG over
    the settings, one Result per setting)."""
    fitted = [0]

    def on_fit(fits: int) -> None:
        fitted[0] = fits

    began = time.perf_counter()
    best = tune(name, validations, val_users, k=k, on_fit=on_fit)
    tune_seconds = time.perf_counter() - began
    results = []
    # One fit per distinct parameter set (the two settings often agree), timed and traced.
    fits: dict[tuple[tuple[str, Any], ...], list[str]] = {}
    for setting in SETTINGS:
        fits.setdefault(tuple(sorted(best[setting][0].items())), []).append(setting)
    for key, settings in fits.items():
        tracemalloc.start()
        began = time.perf_counter()
        model = RECOMMENDERS[name](**dict(key)).fit(test.train)
        train_seconds = time.perf_counter() - began
        began = time.perf_counter()
        ranked = rank_settings(model, {s: test_users[s] for s in settings}, k)
        score_seconds = time.perf_counter() - began
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        del model
        for setting in settings:
            relevant = sp.csr_matrix(test.relevant(setting)[test_users[setting]])
            results.append(
                Result(
                    algorithm=name,
                    setting=setting,
                    params=best[setting][0],
                    validation_ndcg=best[setting][1],
                    metrics=ranking_metrics(ranked[setting], relevant, catalogue),
                    train_seconds=train_seconds,
                    score_seconds=score_seconds,
                    peak_mb=peak_mb,
                    tune_seconds=tune_seconds,
                    tune_fits=fitted[0],
                    per_user=ndcg_at_k(
                        hits_at_k(ranked[setting], relevant), np.diff(relevant.indptr)
                    ),
                )
            )
    return name, float(np.mean([best[s][1] for s in SETTINGS])), results


# Output -------------------------------------------------------------------------------------------


def _day(days: float) -> str:
    return date.fromordinal(_EPOCH + math.floor(days)).isoformat()


def format_table(report: Report) -> str:
    """The results as a fixed-width table; '*' marks the production algorithm."""
    lines = [
        f"{report.dataset}: {report.lines:,} order lines, {report.customers:,} customers, "
        f"{report.products:,} products; validation from "
        + ", ".join(_day(v) for k, v in report.cutoffs.items() if k.startswith("validation"))
        + ", "
        f"test from {_day(report.cutoffs['test'])}; customers evaluated: "
        + ", ".join(f"{s} {n:,}" for s, n in report.users.items())
        + (" (sampled with --limit-users)" if report.sampled else ""),
        f"{'setting':<8}{'algorithm':<22}{'NDCG@10':>9}{'P@10':>8}{'R@10':>8}{'MAP@10':>8}"
        f"{'cov':>7}{'train s':>9}{'score s':>9}{'peak MB':>9}{'val NDCG':>10}{'tune s':>8}"
        f"{'fits':>6}",
    ]
    for setting in SETTINGS:
        for result in (r for r in report.results if r.setting == setting):
            m = result.metrics
            star = "*" if result.algorithm == report.production else " "
            lines.append(
                f"{setting:<8}{star + result.algorithm:<22}{m['ndcg@10']:>9.4f}"
                f"{m['precision@10']:>8.4f}{m['recall@10']:>8.4f}{m['map@10']:>8.4f}"
                f"{m['coverage']:>7.3f}{result.train_seconds:>9.1f}{result.score_seconds:>9.1f}"
                f"{result.peak_mb:>9.0f}{result.validation_ndcg:>10.4f}"
                f"{result.tune_seconds:>8.0f}{result.tune_fits:>6}"
            )
    lines.append(f"* production (best mean validation NDCG@10): {report.production}")
    for setting in SETTINGS:
        versus = production_versus_best(report, setting)
        if versus is not None:
            rival, diff, low, high = versus
            lines.append(
                f"  {setting}: {report.production} - {rival} (best other by test NDCG@10) = "
                f"{diff:+.4f}, paired 95% CI [{low:+.4f}, {high:+.4f}]"
            )
    return "\n".join(lines)


def production_versus_best(report: Report, setting: str) -> tuple[str, float, float, float] | None:
    """(best other algorithm on test, mean paired NDCG@10 difference, 95% CI low, high)."""
    mine = [r for r in report.results if r.setting == setting and r.algorithm == report.production]
    others = [
        r for r in report.results if r.setting == setting and r.algorithm != report.production
    ]
    if not mine or not others or mine[0].per_user.size == 0:
        return None
    rival = max(others, key=lambda r: r.metrics["ndcg@10"])
    if rival.per_user.size != mine[0].per_user.size:
        return None
    diff = mine[0].per_user - rival.per_user
    half = 1.96 * float(diff.std(ddof=1)) / math.sqrt(max(diff.size, 1)) if diff.size > 1 else 0.0
    mean = float(diff.mean())
    return rival.algorithm, mean, mean - half, mean + half


def to_json(report: Report) -> dict[str, Any]:
    """{"all": {algorithm: metrics, ..., "production": metrics + name}, "new": {...}}."""
    out: dict[str, Any] = {}
    for setting in SETTINGS:
        row: dict[str, Any] = {}
        for result in (r for r in report.results if r.setting == setting):
            row[result.algorithm] = {
                **{name: round(value, 6) for name, value in result.metrics.items()},
                "train_seconds": round(result.train_seconds, 3),
                "score_seconds": round(result.score_seconds, 3),
                "peak_memory_mb": round(result.peak_mb, 1),
                "validation_ndcg@10": round(result.validation_ndcg, 6),
                "tune_seconds": round(result.tune_seconds, 1),
                "tune_fits": result.tune_fits,
                "users": report.users[setting],
                "params": result.params,
            }
        if report.production in row:
            row["production"] = {**row[report.production], "algorithm": report.production}
        out[setting] = row
    return out
