"""The pure parts on small hand-built histories: repurchase timing, the recommenders behind
the protocol, fold-in, the stored model, and the evaluation's metrics and split."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from server.recommendations import algorithms, evaluation, production
from server.recommendations.algorithms import RECOMMENDERS, SERVABLE
from server.recommendations.training import (
    ease_weights,
    make_interactions,
    reorder_schedule,
    sparse_ease,
    top_items,
    user_items,
)
from tests.factories.recommendations import entries


def test_a_regular_buyer_is_due_after_their_own_cycle() -> None:
    # Customer 0 buys product 0 every 30 days; customer 1 every 10 days; both once a unit.
    lines = make_interactions(
        users=[0, 0, 0, 1, 1, 1, 1],
        items=[0, 0, 0, 0, 0, 0, 0],
        times=[0.0, 30.0, 60.0, 0.0, 10.0, 20.0, 30.0],
        as_of=70.0,
    )

    schedule = reorder_schedule(lines, prior_weight=0.0)

    due = dict(zip(schedule.users.tolist(), schedule.due_at.tolist(), strict=True))
    assert due[0] == pytest.approx(90.0)
    assert due[1] == pytest.approx(40.0)
    assert schedule.users.tolist() == [1, 0]  # sorted by run-out date


def test_a_first_time_buyer_gets_the_products_cycle_and_two_units_last_twice_as_long() -> None:
    # Customers 0 and 1 reorder every 20 days (one unit); customer 2 bought once, two units.
    lines = make_interactions(
        users=[0, 0, 1, 1, 2],
        items=[0, 0, 0, 0, 0],
        times=[0.0, 20.0, 5.0, 25.0, 50.0],
        quantities=[1, 1, 1, 1, 2],
        as_of=60.0,
    )

    schedule = reorder_schedule(lines)

    row = schedule.users.tolist().index(2)
    assert schedule.cycle_days[row] == pytest.approx(40.0)  # 20 days a unit, two units
    assert schedule.due_at[row] == pytest.approx(90.0)
    assert schedule.purchases[row] == 1
    assert schedule.repeat_share[row] == pytest.approx(2 / 3)


def test_without_any_repeat_the_merchants_usage_period_gives_the_cycle() -> None:
    lines = make_interactions(users=[0, 1], items=[0, 1], times=[0.0, 3.0], n_items=2, as_of=5.0)

    assert len(reorder_schedule(lines)) == 0  # nobody ever bought again: not a consumable
    with_usage = reorder_schedule(lines, usage_days=np.array([45.0, np.nan]))
    assert with_usage.users.tolist() == [0]
    assert with_usage.due_at[0] == pytest.approx(45.0)


def test_two_lines_of_one_product_on_one_day_are_one_purchase() -> None:
    lines = make_interactions(users=[0, 0, 0], items=[0, 0, 0], times=[0.0, 0.2, 30.0], as_of=31.0)

    schedule = reorder_schedule(lines, prior_weight=0.0)

    assert schedule.purchases.tolist() == [2]
    # The two units of day 0 lasted 30 days: 15 days a unit, so the last single unit lasts 15.
    assert schedule.cycle_days[0] == pytest.approx(15.0)


def small_shop() -> tuple[object, np.ndarray]:
    """Eight customers, five products: 0 and 1 are bought together, 2 is the best seller."""
    users, items, times = [], [], []
    for customer in range(5):
        for day in (0.0, 30.0):
            users += [customer, customer]
            items += [0 if customer < 3 else 2, 1 if customer < 3 else 2]
            times += [day, day]
    users += [5, 5, 3, 4, 1, 6, 7]
    items += [0, 3, 2, 2, 2, 2, 2]
    times += [40.0, 40.0, 50.0, 50.0, 55.0, 58.0, 58.0]
    lines = make_interactions(users, items, times, n_items=5, as_of=60.0)
    return lines, np.arange(6)


@pytest.mark.parametrize("name", list(RECOMMENDERS))
def test_every_recommender_fills_its_lists_and_can_leave_out_what_was_bought(name: str) -> None:
    lines, users = small_shop()
    model = RECOMMENDERS[name]().fit(lines)  # type: ignore[arg-type]

    every = model.recommend(np.r_[users, 99], 3, exclude_seen=False)
    new = model.recommend(users, 3, exclude_seen=True)

    seen = user_items(lines)  # type: ignore[arg-type]
    for row, customer in enumerate(users):
        bought = set(seen[customer].indices.tolist())
        assert len(set(every[row].tolist())) == 3
        assert not bought & set(new[row][new[row] >= 0].tolist())
    # A customer the model never saw gets the best sellers.
    assert every[-1][0] == 2


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("popular", {}),
        ("personal_frequency", {}),
        ("item_knn", {"neighbours": 5}),
        ("hybrid", {}),
        ("hybrid", {"discovery_weight": 0.0, "popularity_weight": 0.0}),
        ("hybrid", {"discovery": "ease", "due_weight": 0.5, "popularity_weight": 1.0}),
    ],
)
@pytest.mark.parametrize("dense_share", [0, 10**9], ids=["sparse", "dense"])
def test_sparse_ranking_equals_ranking_the_dense_scores(
    name: str, params: dict, dense_share: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random shop with tiers, ties and customers unknown to the model: the top-k, ranked
    sparse or as dense rows, is that of the dense scores (products without a score after, by
    popularity; ties: lower index)."""
    monkeypatch.setattr(algorithms, "DENSE_SHARE", dense_share)
    rng = np.random.default_rng(3)
    n_users, n_items, n_lines = 60, 40, 700
    lines = make_interactions(
        rng.integers(0, n_users, n_lines),
        np.minimum(rng.geometric(0.08, n_lines), n_items) - 1,
        rng.integers(0, 90, n_lines).astype(float),
        n_users=n_users,
        n_items=n_items,
        user_segments=rng.integers(-1, 3, n_users),
    )
    model = RECOMMENDERS[name](**params).fit(lines)  # type: ignore[arg-type]
    users = np.r_[np.arange(n_users), -1, n_users + 5]

    every, new = model.recommend_both(users, 12)

    known = users[(users >= 0) & (users < n_users)]
    dense = np.zeros((users.size, n_items), dtype=np.float32)
    dense[: known.size] = model.scores(known)  # type: ignore[attr-defined]
    fill = (model._fallback - 2.0).astype(np.float32)  # type: ignore[attr-defined]
    dense = np.where(dense > 0, dense, fill)
    seen = user_items(lines).toarray() > 0
    for row, customer in enumerate(users.tolist()):
        for ranked, exclude in ((every, False), (new, True)):
            values = dense[row].copy()
            if exclude and 0 <= customer < n_users:
                values[seen[customer]] = -np.inf
            expected = np.lexsort((np.arange(n_items), -values))[:12]
            expected = [i for i in expected.tolist() if np.isfinite(values[i])]
            assert ranked[row][: len(expected)].tolist() == expected
            assert (ranked[row][len(expected) :] == -1).all()


def test_discovery_finds_what_similar_baskets_hold() -> None:
    lines, _ = small_shop()

    [row] = RECOMMENDERS["hybrid"]().fit(lines).recommend([5], 1, exclude_seen=True)  # type: ignore[arg-type]

    assert row.tolist() == [1]  # customer 5 bought 0; those who buy 0 buy 1


@pytest.mark.parametrize("name", SERVABLE)
def test_folding_a_customer_in_scores_like_training_with_them(name: str) -> None:
    lines, _ = small_shop()
    model = RECOMMENDERS[name]().fit(lines)  # type: ignore[arg-type]
    keep = lines.users == 5  # type: ignore[attr-defined]
    alone = make_interactions(
        np.zeros(int(keep.sum()), dtype=np.int32),
        lines.items[keep],  # type: ignore[attr-defined]
        lines.times[keep],  # type: ignore[attr-defined]
        n_users=1,
        n_items=5,
        as_of=60.0,
    )

    folded = model.fold_in(alone)  # type: ignore[attr-defined]

    np.testing.assert_allclose(folded.scores(np.array([0])), model.scores(np.array([5])))  # type: ignore[attr-defined]


def test_the_stored_model_scores_exactly_like_the_fitted_one() -> None:
    lines, users = small_shop()
    config = production.Config("hybrid", {"new": {"discovery": "ease", "l2": 1.0}})
    fitted = production.fit(config, lines, np.full(5, np.nan))  # type: ignore[arg-type]

    loaded, extra = production.load_state(
        production.save_state(fitted, {"product_ids": np.arange(100, 105)})
    )
    folded = production.fold_in(loaded, lines)  # type: ignore[arg-type]

    assert extra["product_ids"].tolist() == [100, 101, 102, 103, 104]
    for original, restored in ((fitted.every, folded.every), (fitted.new, folded.new)):
        np.testing.assert_allclose(restored.scores(users), original.scores(users))
    schedule = production.schedule(fitted, lines)  # type: ignore[arg-type]
    trained = production.compose(fitted, lines, users, schedule)  # type: ignore[arg-type]
    restored = production.compose(folded, lines, users, schedule)  # type: ignore[arg-type]
    assert [entries(trained, r) for r in range(len(users))] == [
        entries(restored, r) for r in range(len(users))
    ]


def test_stored_lists_mark_repeats_and_explain_discoveries() -> None:
    lines, _ = small_shop()
    fitted = production.fit(production.Config(), lines)  # type: ignore[arg-type]
    schedule = production.schedule(fitted, lines)  # type: ignore[arg-type]

    first = entries(production.compose(fitted, lines, np.array([0]), schedule), 0)  # type: ignore[arg-type]

    kinds = {e.item: e for e in first}
    assert kinds[0].kind == kinds[1].kind == "reorder"
    assert kinds[0].last == pytest.approx(30.0)
    assert kinds[0].due == pytest.approx(60.0)
    assert all(e.kind in ("discovery", "popular") for e in first if e.item not in (0, 1))
    alone = entries(production.compose(fitted, lines, np.array([5]), schedule), 0)  # type: ignore[arg-type]
    discovery = next(e for e in alone if e.item == 1)
    assert (discovery.kind, discovery.anchor) == ("discovery", 0)


def test_pruned_ease_keeps_the_strongest_weights_of_the_dense_model_with_their_signs() -> None:
    rng = np.random.default_rng(1)
    x = sp.csr_matrix((rng.random((300, 40)) < 0.15).astype(np.float32))
    items = top_items(x, 40)
    dense = ease_weights(x, items, 10.0)

    pruned = sparse_ease(x, l2=10.0, max_items=40, neighbours=5).toarray()

    assert (np.count_nonzero(pruned, axis=1) == 5).all()
    assert (pruned < 0).any()
    for row in range(40):
        kept = np.flatnonzero(pruned[row])
        np.testing.assert_allclose(pruned[row][kept], dense[row][kept], rtol=1e-5)
        strongest = np.sort(np.abs(dense[row]))[::-1][:5]
        np.testing.assert_allclose(np.sort(np.abs(pruned[row][kept]))[::-1], strongest, rtol=1e-5)


def test_neighbours_pruned_from_the_widest_equal_building_them_directly() -> None:
    """The tuner builds item neighbours once at the largest size and prunes: the same matrix
    as building at the smaller size (kNN by value, EASE by magnitude, signs kept)."""
    rng = np.random.default_rng(4)
    x = sp.csr_matrix((rng.random((400, 60)) < 0.12).astype(np.float32))
    x.data[:] = 1.0
    builds = {
        "knn": lambda k: algorithms.item_similarity(x, neighbours=k, alpha=0.5),
        "ease": lambda k: sparse_ease(x, l2=5.0, max_items=60, neighbours=k),
    }
    for kind, build in builds.items():
        cache: algorithms.Cache = {}
        wide = algorithms.pruned(cache, kind, 20, 20, build, by_magnitude=kind == "ease")
        narrow = algorithms.pruned(cache, kind, 7, 20, build, by_magnitude=kind == "ease")

        assert narrow.nnz < wide.nnz
        np.testing.assert_allclose(narrow.toarray(), build(7).toarray(), rtol=1e-6)


def test_ndcg_precision_recall_and_map_on_a_hand_checked_case() -> None:
    recommended = np.array([[3, 1, 2], [0, -1, -1]])
    relevant = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 0, 1]], dtype=np.float32))

    metrics = evaluation.ranking_metrics(recommended, relevant, catalogue_size=4)

    ideal = 1 + 1 / math.log2(3)
    assert metrics["ndcg@3"] == pytest.approx(((1 + 1 / math.log2(3)) / ideal + 0) / 2)
    assert metrics["precision@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert metrics["recall@3"] == pytest.approx((1 + 0) / 2)
    assert metrics["map@3"] == pytest.approx((1.0 + 0) / 2)
    assert metrics["coverage"] == pytest.approx(4 / 4)


def test_validation_folds_end_before_the_test_period_and_never_hold_its_lines() -> None:
    rng = np.random.default_rng(0)
    lines = make_interactions(
        rng.integers(0, 50, 2000), rng.integers(0, 30, 2000), rng.uniform(0, 100, 2000)
    )

    validations, test = evaluation.evaluation_splits(lines)

    assert len(validations) == evaluation.VALIDATION_FOLDS
    for fold in validations:
        assert fold.end <= test.cutoff
        assert fold.train.times.max() < fold.cutoff
    assert validations[0].end == pytest.approx(test.cutoff)
    assert validations[1].end == pytest.approx(validations[0].cutoff)
    assert test.train.times.max() < test.cutoff


def test_the_tuner_only_ever_fits_on_validation_data(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    lines = make_interactions(
        rng.integers(0, 80, 3000), rng.integers(0, 30, 3000), rng.uniform(0, 100, 3000)
    )
    validations, test = evaluation.evaluation_splits(lines)
    fitted_on: list[float] = []
    original = RECOMMENDERS["popular"].fit

    def spy(self: object, interactions: object, **kw: object) -> object:
        fitted_on.append(float(interactions.times.max()))  # type: ignore[attr-defined]
        return original(self, interactions, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(RECOMMENDERS["popular"], "fit", spy)
    users = [{s: v.users(s) for s in evaluation.SETTINGS} for v in validations]

    evaluation.tune("popular", validations, users)

    assert fitted_on
    assert max(fitted_on) < validations[0].cutoff < test.cutoff


def _random_shop(seed: int, n_users: int = 80, n_items: int = 30, n_lines: int = 3000) -> object:
    rng = np.random.default_rng(seed)
    return make_interactions(
        rng.integers(0, n_users, n_lines),
        np.minimum(rng.geometric(0.1, n_lines), n_items) - 1,
        rng.uniform(0, 100, n_lines),
        n_users=n_users,
        n_items=n_items,
    )


def test_a_perfect_ranking_scores_one_and_a_miss_zero() -> None:
    relevant = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [0, 0, 0, 0, 1]], dtype=np.float32))
    perfect = np.array([[1, 0, 2], [4, 0, 1]])
    missed = np.array([[2, 3, 4], [0, 1, 2]])
    late = np.array([[2, 3, 0], [0, 1, 4]])  # one hit each, at rank 3

    assert evaluation.ranking_metrics(perfect, relevant, 5)["ndcg@3"] == pytest.approx(1.0)
    assert evaluation.ranking_metrics(missed, relevant, 5)["ndcg@3"] == 0.0
    hits = evaluation.hits_at_k(late, relevant)
    ndcg = evaluation.ndcg_at_k(hits, np.array([2, 1]))
    assert ndcg.tolist() == pytest.approx([0.5 / (1 + 1 / math.log2(3)), 0.5])
    assert evaluation.average_precision_at_k(hits, np.array([2, 1])).tolist() == pytest.approx(
        [(1 / 3) / 2, 1 / 3]
    )


def test_the_test_period_cannot_change_what_tuning_chooses() -> None:
    """Rewriting every line after the test cutoff (other products, other customers) leaves the
    tuned parameters and their validation scores exactly as they were."""
    lines = _random_shop(5)
    _, test = evaluation.evaluation_splits(lines)  # type: ignore[arg-type]
    after = lines.times >= test.cutoff  # type: ignore[attr-defined]
    rng = np.random.default_rng(9)
    rewritten = make_interactions(
        np.where(after, rng.integers(0, 80, after.size), lines.users),  # type: ignore[attr-defined]
        np.where(after, rng.integers(0, 30, after.size), lines.items),  # type: ignore[attr-defined]
        lines.times,  # type: ignore[attr-defined]
        n_users=80,
        n_items=30,
    )

    def tuned(data: object) -> dict[str, tuple[dict, float]]:
        validations, _ = evaluation.evaluation_splits(data)  # type: ignore[arg-type]
        users = [{s: v.users(s) for s in evaluation.SETTINGS} for v in validations]
        return {
            name: evaluation.tune(name, validations, users, passes=1)
            for name in ("popular", "hybrid")
        }

    assert tuned(rewritten) == tuned(lines)


@pytest.mark.parametrize("setting", evaluation.SETTINGS)
def test_hybrid_parameters_the_tuner_treats_as_equal_rank_the_same(setting: str) -> None:
    """What `Hybrid.effective` sets aside for a setting never changes that setting's lists,
    so the tuner may fit such candidates once."""
    lines = _random_shop(6)
    users = np.arange(80)
    variants = [
        {"discovery": "ease", "half_life_days": hl, "basket_decay": bd, "due_weight": dw}
        for hl in (15.0, None)
        for bd in (1.0, 0.8)
        for dw in (0.0, 0.5)
    ] + [
        {"discovery_weight": 0.0, "half_life_days": hl, "due_weight": dw, "l2": l2}
        for hl in (15.0, None)
        for dw in (0.0, 0.5)
        for l2 in (50.0, 1000.0)
    ]
    by_key: dict[tuple, list[np.ndarray]] = {}
    for params in variants:
        model = RECOMMENDERS["hybrid"](**params).fit(lines)  # type: ignore[arg-type]
        every, new = model.recommend_both(users, 10)
        key = tuple(sorted(algorithms.Hybrid.effective(params, setting).items()))
        by_key.setdefault(key, []).append(new if setting == "new" else every)

    assert len(by_key) < len(variants)
    for ranked in by_key.values():
        for other in ranked[1:]:
            np.testing.assert_array_equal(other, ranked[0])


def test_tifu_knn_with_the_tuners_cache_ranks_as_without() -> None:
    lines = _random_shop(7)
    cache: algorithms.Cache = {}
    users = np.arange(80)
    RECOMMENDERS["tifu_knn"](neighbours=900).fit(lines, cache=cache).recommend_both(users, 10)  # type: ignore[arg-type]

    for neighbours, alpha in ((5, 0.7), (20, 0.5)):
        cached = RECOMMENDERS["tifu_knn"](neighbours=neighbours, alpha=alpha)
        fresh = RECOMMENDERS["tifu_knn"](neighbours=neighbours, alpha=alpha)
        for a, b in zip(
            cached.fit(lines, cache=cache).recommend_both(users, 10),  # type: ignore[arg-type]
            fresh.fit(lines).recommend_both(users, 10),  # type: ignore[arg-type]
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
    assert any("tifu" in key for key in cache if isinstance(key, tuple))


def test_the_hybrid_personal_frequency_corner_ranks_as_personal_frequency() -> None:
    lines = _random_shop(8)
    users = np.arange(80)
    corner = algorithms.Hybrid.setting_starts["all"][0]

    hybrid = RECOMMENDERS["hybrid"](**corner).fit(lines)  # type: ignore[arg-type]
    frequency = RECOMMENDERS["personal_frequency"]().fit(lines)  # type: ignore[arg-type]

    np.testing.assert_array_equal(
        hybrid.recommend(users, 10, exclude_seen=False),
        frequency.recommend(users, 10, exclude_seen=False),
    )


def test_evaluating_algorithms_in_parallel_processes_gives_the_same_report() -> None:
    lines = _random_shop(10)
    dataset = evaluation.Dataset("random", lines, np.arange(80), np.arange(30))  # type: ignore[arg-type]
    names = ["popular", "personal_frequency", "item_knn"]

    one = evaluation.evaluate(dataset, names)
    two = evaluation.evaluate(dataset, names, workers=2)

    assert [(r.algorithm, r.setting) for r in two.results] == [
        (r.algorithm, r.setting) for r in one.results
    ]
    for a, b in zip(one.results, two.results, strict=True):
        assert (a.params, a.metrics, a.validation_ndcg) == (b.params, b.metrics, b.validation_ndcg)
    assert two.production == one.production
