"""The stored lists that production.compose builds with whole-batch array operations are the
ones the rules give when applied customer by customer, slot by slot (the reference below is
the per-customer loop that compose replaced)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from server.recommendations import production
from server.recommendations.production import MAX_REORDERS_IN_TOP, STORED, TOP
from server.recommendations.training import Interactions, make_interactions
from tests.factories.recommendations import Entry, entries


def reference_lists(
    fitted: production.Production, lines: Interactions, users: np.ndarray, schedule: Any
) -> list[list[Entry]]:
    every, new = production._rank(fitted, users.astype(np.int64))  # the same ranking
    last: dict[tuple[int, int], float] = {}
    for u, i, t in zip(
        lines.users.tolist(), lines.items.tolist(), lines.times.tolist(), strict=True
    ):
        last[u, i] = max(t, last.get((u, i), -np.inf))
    due = {
        (int(u), int(i)): float(d)
        for u, i, d in zip(schedule.users, schedule.items, schedule.due_at, strict=True)
    }
    explain = fitted.explain
    out = []
    for row, user in enumerate(users.tolist()):
        bought = {i for (u, i) in last if u == user}
        anchors = [_anchor(explain, item, bought) if item >= 0 else -1 for item in new[row]]
        repeat = [item >= 0 and item in bought for item in every[row]]
        out.append(
            _merge(
                every[row].tolist(),
                repeat,
                [last.get((user, i)) for i in every[row].tolist()],
                [due.get((user, i)) for i in every[row].tolist()],
                new[row].tolist(),
                anchors,
            )
        )
    return out


def _anchor(explain: Any, item: int, bought: set[int]) -> int:
    """The bought product pointing to `item` most (ties: the first stored)."""
    start, end = explain.indptr[item], explain.indptr[item + 1]
    best, weight = -1, 0.0
    for source, w in zip(explain.indices[start:end], explain.data[start:end], strict=True):
        if int(source) in bought and w > weight:
            best, weight = int(source), float(w)
    return best


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


def shop(seed: int, customers: int, products: int, lines_per_customer: int) -> Interactions:
    """Regulars of a dozen products each (lists crowded with reorders), plus random buys."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(customers), lines_per_customer)
    regular = rng.random(users.size) < 0.7
    items = np.where(
        regular,
        (users * 7 + rng.integers(0, 12, users.size)) % products,
        rng.integers(0, products, users.size),
    )
    baskets = users * 1000 + rng.integers(0, lines_per_customer // 2 + 1, users.size)
    times = rng.uniform(0.0, 365.0, users.size)
    return make_interactions(
        users, items, times, baskets, n_items=products, as_of=365.0, n_users=customers + 1
    )


@pytest.mark.parametrize(
    ("seed", "products", "params"),
    [
        (0, 120, {}),
        (1, 120, {"new": {"discovery": "ease", "l2": 1.0}}),
        (2, 18, {"all": {"due_weight": 0.5}}),  # fewer products than STORED: lists end early
        (3, 400, {"all": {"discovery_weight": 0.0}, "new": {"popularity_weight": 1.0}}),
    ],
)
def test_composed_lists_follow_the_rules_customer_by_customer(
    seed: int, products: int, params: dict[str, Any]
) -> None:
    lines = shop(seed, customers=150, products=products, lines_per_customer=40)
    fitted = production.fit(production.Config("hybrid", params), lines)
    schedule = production.schedule(fitted, lines)
    users = np.arange(lines.n_users)  # the last customer bought nothing

    lists = production.compose(fitted, lines, users, schedule)

    expected = reference_lists(fitted, lines, users, schedule)
    assert [entries(lists, r) for r in range(users.size)] == expected
    # The fixture reaches every rule: crowded tops, pulled-up discoveries, short lists.
    kinds = [[e.kind for e in row] for row in expected]
    assert any(row[:TOP].count("reorder") == MAX_REORDERS_IN_TOP for row in kinds)
    assert any("discovery" in row for row in kinds)
    assert any("popular" in row for row in kinds)
    assert kinds[-1]
    assert "reorder" not in kinds[-1]
