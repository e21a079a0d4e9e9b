from __future__ import annotations

import pytest

from server.campaigns.holdout import BUCKETS, bucket, in_holdout


def test_a_subject_gets_the_same_assignment_every_time() -> None:
    first = [in_holdout("salt-a", subject, 10) for subject in range(2000)]
    again = [in_holdout("salt-a", subject, 10) for subject in range(2000)]
    assert first == again
    # str and int ids of the same subject are the same subject
    assert [in_holdout("salt-a", str(s), 10) for s in range(2000)] == first


def test_the_held_out_share_matches_the_percentage() -> None:
    n = 20_000
    for percent in (5, 10, 25, 50):
        held = sum(in_holdout("broadcast:7:x1y2", subject, percent) for subject in range(n))
        share = held / n
        # Binomial: 4 standard deviations of the share, so this never flakes (it is stable anyway).
        sd = (percent / 100 * (1 - percent / 100) / n) ** 0.5
        assert abs(share - percent / 100) < 4 * sd, (percent, share)


def test_raising_the_percentage_only_adds_people_to_the_holdout() -> None:
    at_10 = {s for s in range(5000) if in_holdout("salt", s, 10)}
    at_20 = {s for s in range(5000) if in_holdout("salt", s, 20)}
    assert at_10 < at_20


def test_different_salts_hold_out_independent_groups() -> None:
    a = {s for s in range(10_000) if in_holdout("scenario:1", s, 20)}
    b = {s for s in range(10_000) if in_holdout("scenario:2", s, 20)}
    overlap = len(a & b) / 10_000
    # independent 20 % groups overlap on about 4 % of subjects (not 20 %, not 0 %)
    assert 0.03 < overlap < 0.05


def test_bounds_and_edges() -> None:
    assert not any(in_holdout("s", i, 0) for i in range(1000))
    assert all(in_holdout("s", i, 100) for i in range(1000))
    assert all(0 <= bucket("s", i) < BUCKETS for i in range(1000))
    with pytest.raises(ValueError, match="between 0 and 100"):
        in_holdout("s", 1, 101)
    with pytest.raises(ValueError, match="between 0 and 100"):
        in_holdout("s", 1, -1)
