"""The aggregation math against pandas (moderate values) and exact rational arithmetic (any values)."""

from __future__ import annotations

import math
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.engine.stats import describe

moderate = st.lists(st.integers(min_value=0, max_value=10**6), max_size=300)
huge = st.lists(st.integers(min_value=0, max_value=10**18), min_size=3, max_size=50)


def _pandas(values: list[int]) -> tuple[float, float, float]:
    s = pd.Series(values, dtype="float64")
    zero_nan = lambda v: 0.0 if math.isnan(v) else v  # noqa: E731 - the catalogue's NaN -> 0
    return zero_nan(s.mean()), zero_nan(s.std()), zero_nan(s.skew())


@given(moderate)
def test_mean_std_and_skew_equal_pandas(values):
    d = describe(values)
    mean, std, skew = _pandas(values)
    assert d.count == len(values)
    assert d.mean == pytest.approx(mean, rel=1e-9)
    assert d.std == pytest.approx(std, rel=1e-9)
    # pandas' float path leaves ~1e-16 noise where the exact skewness is 0.
    assert d.skew == pytest.approx(skew, rel=1e-9, abs=1e-9)
    assert (d.minimum, d.maximum) == ((min(values), max(values)) if values else (0, 0))


@given(huge)
def test_statistics_are_exact_for_values_where_floats_would_cancel(values):
    n = len(values)
    mean = Fraction(sum(values), n)
    m2 = sum((x - mean) ** 2 for x in values) / n
    m3 = sum((x - mean) ** 3 for x in values) / n
    d = describe(values)
    assert d.mean == pytest.approx(float(mean), rel=1e-12)
    assert d.std == pytest.approx(math.sqrt(float(m2 * n / (n - 1))), rel=1e-12)
    expected_skew = 0.0 if m2 == 0 else math.sqrt(n * (n - 1)) / (n - 2) * float(m3) / float(m2) ** 1.5
    assert d.skew == pytest.approx(expected_skew, rel=1e-9, abs=1e-12)


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=500))
def test_constant_data_has_zero_deviation_and_skew_never_nan(value, n):
    d = describe([value] * n)
    assert (d.std, d.skew) == (0.0, 0.0)
    assert d.mean == value


@pytest.mark.parametrize(
    ("values", "std", "skew"),
    [([], 0.0, 0.0), ([7], 0.0, 0.0), ([1, 3], math.sqrt(2), 0.0)],
)
def test_too_few_values_give_zero_not_nan(values, std, skew):
    d = describe(values)
    assert d.std == pytest.approx(std)
    assert d.skew == skew
