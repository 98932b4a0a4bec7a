"""Summary statistics of integer samples, exact and mergeable.

Counts are integers, so power sums Σx, Σx², Σx³ are kept as Python ints: mean, sample standard
deviation and skewness then follow from exact integer expressions, are never NaN, and a zero
variance is detected exactly (pandas' floating-point path can give NaN or 1e-17 noise instead).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Distribution:
    """Mean, extremes, sample standard deviation and adjusted skewness of n integer values."""

    count: int
    total: int
    minimum: int
    maximum: int
    mean: float
    std: float
    skew: float


EMPTY = Distribution(count=0, total=0, minimum=0, maximum=0, mean=0.0, std=0.0, skew=0.0)


def describe(values: Iterable[int]) -> Distribution:
    """Describe the values; statistics that are undefined (too few values, no variance) are 0."""
    n = s1 = s2 = s3 = 0
    lo = hi = 0
    for x in values:
        if n == 0:
            lo = hi = x
        elif x < lo:
            lo = x
        elif x > hi:
            hi = x
        n += 1
        s1 += x
        s2 += x * x
        s3 += x * x * x
    if n == 0:
        return EMPTY
    # n·Σ(x-μ)² and n²·Σ(x-μ)³, exact.
    n_ss = n * s2 - s1 * s1
    n2_sc = n * n * s3 - 3 * n * s1 * s2 + 2 * s1**3
    std = math.sqrt(n_ss / (n * (n - 1))) if n >= 2 else 0.0
    skew = 0.0
    if n >= 3 and n_ss > 0:
        # G1 = √(n(n−1))/(n−2) · m₃/m₂^1.5, and m₃/m₂^1.5 = n²Σd³ / (nΣd²)^1.5 exactly.
        skew = math.sqrt(n * (n - 1)) / (n - 2) * _ratio_pow(n2_sc, n_ss)
    return Distribution(count=n, total=s1, minimum=lo, maximum=hi, mean=s1 / n, std=std, skew=skew)


def _ratio_pow(numerator: int, denominator: int) -> float:
    """numerator / denominator**1.5 for big ints, without overflowing a float."""
    try:
        return numerator / float(denominator) ** 1.5
    except OverflowError:
        shift = max(denominator.bit_length() - 900, 0) & ~1  # even, so the half power stays exact
        return (numerator / 2 ** (3 * shift // 2)) / float(denominator >> shift) ** 1.5
