"""Pure statistics for incremental lift: treatment minus holdout, with confidence intervals.

- Conversion (a share of entrants who ordered): the difference of two independent proportions
  with Newcombe's hybrid score interval (Newcombe 1998, method 10), built from the two Wilson
  score intervals. Unlike the normal ("Wald") interval it stays inside [-1, 1], behaves at 0 %
  and 100 %, and keeps its coverage for the small holdout groups merchants have.
- Revenue per entrant: the difference of two means with Welch's t interval (unequal variances,
  Welch-Satterthwaite degrees of freedom). Samples are summarised as (n, sum, sum of squares),
  which SQL can compute without sending every row to Python.

Nothing here touches the database; callers pass counts and sums.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval (`low` ≤ `estimate` ≤ `high`)."""

    estimate: float
    low: float
    high: float
    confidence: float

    @property
    def significant(self) -> bool:
        """The interval excludes zero: a real difference at this confidence."""
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, float | bool]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "significant": self.significant,
        }


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf((1 + confidence) / 2)


def wilson(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion `successes / n` (n > 0)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError("need 0 <= successes <= n and n > 0")
    z = _z(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At 0 and n the bounds are exactly 0 and 1; rounding must not push them past p.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def proportion_difference(
    x1: int, n1: int, x2: int, n2: int, *, confidence: float = 0.95
) -> Interval | None:
    """p1 - p2 (x1 of n1 against x2 of n2) with Newcombe's hybrid score interval.

    None when either group is empty: there is nothing to compare.
    """
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, confidence=confidence)
    l2, u2 = wilson(x2, n2, confidence=confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(d, max(-1.0, low), min(1.0, high), confidence)


@dataclass(frozen=True)
class Sample:
    """A sample summarised: size, mean and (n - 1) variance."""

    n: int
    mean: float
    variance: float

    @classmethod
    def from_sums(cls, n: int, total: float, total_squares: float) -> Sample:
        """From n, Σx and Σx² (what one SQL aggregate gives)."""
        if n <= 0:
            return cls(0, 0.0, 0.0)
        mean = total / n
        if n == 1:
            return cls(1, mean, 0.0)
        # Σ(x - mean)² = Σx² - n·mean²; clamp the rounding error of nearly equal values.
        variance = max(0.0, (total_squares - n * mean * mean) / (n - 1))
        return cls(n, mean, variance)

    @classmethod
    def from_values(cls, values: Iterable[float]) -> Sample:
        items = [float(v) for v in values]
        n = len(items)
        if n == 0:
            return cls(0, 0.0, 0.0)
        mean = math.fsum(items) / n
        variance = math.fsum((v - mean) ** 2 for v in items) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, variance)


def welch_degrees_of_freedom(a: Sample, b: Sample) -> float:
    va, vb = a.variance / a.n, b.variance / b.n
    denominator = va * va / (a.n - 1) + vb * vb / (b.n - 1)
    return (va + vb) ** 2 / denominator


def mean_difference(a: Sample, b: Sample, *, confidence: float = 0.95) -> Interval | None:
    """mean(a) - mean(b) with Welch's t interval.

    None when a group has fewer than two members (no variance to estimate). When both groups
    have no spread at all the difference is exact and the interval has no width.
    """
    if a.n < 2 or b.n < 2:
        return None
    _z(confidence)  # validates confidence
    d = a.mean - b.mean
    se = math.sqrt(a.variance / a.n + b.variance / b.n)
    if se == 0:
        return Interval(d, d, d, confidence)
    # scipy.special, not scipy.stats: the latter took 2 s (16 s on a busy machine) to import on
    # a report page's first request.
    from scipy.special import stdtrit  # the inverse Student t CDF

    df = welch_degrees_of_freedom(a, b)
    half = float(stdtrit(df, (1 + confidence) / 2)) * se
    return Interval(d, d - half, d + half, confidence)


def relative(difference: float, baseline: float) -> float | None:
    """The difference as a share of the baseline (holdout) rate; None when the baseline is 0."""
    return None if baseline == 0 else difference / baseline
