"""The lift statistics against values computed by hand (and published ones)."""

from __future__ import annotations

import math

import pytest

from server.campaigns.lift import (
    Sample,
    mean_difference,
    proportion_difference,
    relative,
    welch_degrees_of_freedom,
    wilson,
)


def test_wilson_interval_by_hand() -> None:
    # 8 of 10, z = 1.959964: centre = (0.8 + z²/20) / (1 + z²/10) = 0.992073 / 1.384146 = 0.716740;
    # half = z / 1.384146 · sqrt(0.016 + z²/400) = 1.416006 · 0.160012 = 0.226578.
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.716740 - 0.226578, abs=2e-6)
    assert high == pytest.approx(0.716740 + 0.226578, abs=2e-6)
    assert wilson(0, 10) == (0.0, pytest.approx(0.277533, abs=1e-6))
    assert wilson(10, 10)[1] == 1.0


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10.
        ((56, 70, 48, 80), (0.2, 0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.6, 0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.5714, 0.0582, 0.8062)),
        ((5, 56, 0, 29), (0.0893, -0.0381, 0.1926)),
        ((0, 10, 0, 20), (0.0, -0.1611, 0.2775)),
        ((10, 10, 0, 20), (1.0, 0.6791, 1.0)),
    ],
)
def test_difference_of_proportions_matches_newcombe(
    counts: tuple[int, int, int, int], expected: tuple[float, float, float]
) -> None:
    interval = proportion_difference(*counts)
    assert interval is not None
    assert interval.estimate == pytest.approx(expected[0], abs=5e-5)
    assert interval.low == pytest.approx(expected[1], abs=5e-5)
    assert interval.high == pytest.approx(expected[2], abs=5e-5)


def test_difference_of_proportions_edges() -> None:
    assert proportion_difference(3, 10, 0, 0) is None  # an empty holdout: nothing to compare
    clear = proportion_difference(300, 1000, 100, 1000)
    assert clear is not None
    assert clear.significant
    unclear = proportion_difference(11, 100, 10, 100)
    assert unclear is not None
    assert not unclear.significant
    assert unclear.as_dict()["confidence"] == 0.95


def test_welch_interval_by_hand() -> None:
    a = Sample.from_values([1, 2, 3, 4])  # mean 2.5, s² = 5/3
    b = Sample.from_values([2, 4, 6, 8, 10])  # mean 6, s² = 10
    assert (a.mean, b.mean) == (2.5, 6.0)
    assert a.variance == pytest.approx(5 / 3)
    assert b.variance == pytest.approx(10.0)
    # SE² = (5/3)/4 + 10/5 = 2.416667; df = 2.416667² / ((5/12)²/3 + 2²/4) = 5.840278 / 1.057870
    assert welch_degrees_of_freedom(a, b) == pytest.approx(5.520788, abs=1e-6)
    interval = mean_difference(a, b)
    assert interval is not None
    # t(0.975; 5.5208) = 2.499331 (tables: 2.571 at 5 df, 2.447 at 6)
    half = 2.499331 * math.sqrt(2.416667)
    assert interval.estimate == -3.5
    assert interval.low == pytest.approx(-3.5 - half, abs=1e-4)
    assert interval.high == pytest.approx(-3.5 + half, abs=1e-4)
    assert not interval.significant


def test_samples_from_sql_sums_equal_samples_from_values() -> None:
    values = [0, 0, 0, 4800, 0, 12000, 3000, 0]
    direct = Sample.from_values(values)
    summed = Sample.from_sums(len(values), sum(values), sum(v * v for v in values))
    assert summed.n == direct.n
    assert summed.mean == pytest.approx(direct.mean)
    assert summed.variance == pytest.approx(direct.variance)


def test_mean_difference_edges() -> None:
    assert mean_difference(Sample.from_values([5]), Sample.from_values([1, 2])) is None
    flat = mean_difference(Sample.from_values([3, 3]), Sample.from_values([1, 1, 1]))
    assert flat is not None
    assert (flat.low, flat.estimate, flat.high) == (2, 2, 2)
    assert Sample.from_sums(0, 0, 0).n == 0
    assert relative(0.02, 0.1) == pytest.approx(0.2)
    assert relative(0.02, 0) is None
