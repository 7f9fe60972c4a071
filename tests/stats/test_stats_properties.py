"""Properties of the pooling kernels, checked by hypothesis on any finite input.

For any finite effects and positive finite variances (from the smallest subnormal to the largest
float), :func:`pool_effects` and :func:`meta_regression` return a result, never an exception:
``ok`` with finite numbers whose interval holds the estimate, ``single_effect``/``saturated``, or
``degenerate`` with NaN numbers and a message. Pooling is equivariant under a change of units
(effects times ``s``, variances times ``s**2``), also at scales far from 1.

Hypothesis runs derandomized (the same examples every time).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferscope.stats.meta import POOL_METHODS, meta_regression, pool_effects

SETTINGS = settings(derandomize=True, deadline=None, database=None, max_examples=150)

effects = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)
variances = st.floats(
    min_value=5e-324, max_value=1.7e308, allow_nan=False, allow_infinity=False
).filter(lambda v: v > 0)
# variances of one study: a common scale (any) times factors of at most 1e6
scales = st.integers(min_value=-500, max_value=500).map(lambda e: math.ldexp(1.0, 2 * e))


@SETTINGS
@given(
    data=st.lists(st.tuples(effects, variances), min_size=1, max_size=12),
    method=st.sampled_from(POOL_METHODS),
    knha=st.booleans(),
)
def test_pool_effects_returns_a_status_for_any_finite_input(
    data: list[tuple[float, float]], method: str, knha: bool
) -> None:
    y, v = (np.array(column) for column in zip(*data, strict=True))
    result = pool_effects(y, v, method=method, knha=knha)
    numbers = [result.estimate, result.se, result.ci_low, result.ci_high, result.tau2]
    if result.status in ("ok", "single_effect"):
        assert all(math.isfinite(n) for n in numbers), result
        assert result.se > 0 and result.tau2 >= 0
        assert result.ci_low <= result.estimate <= result.ci_high
        assert result.message == ""
    else:
        assert result.status == "degenerate"
        assert all(math.isnan(n) for n in numbers) and "double precision" in result.message


@SETTINGS
@given(
    y=st.lists(st.floats(-10, 10), min_size=2, max_size=10),
    factors=st.lists(st.floats(1.0, 1e6), min_size=10, max_size=10),
    scale=scales,
    method=st.sampled_from(POOL_METHODS),
)
def test_pooling_is_equivariant_under_a_change_of_units(
    y: list[float], factors: list[float], scale: float, method: str
) -> None:
    k = len(y)
    v = np.array(factors[:k]) * 1e-3
    base = pool_effects(y, v, method=method, solver="exact")
    unit = math.sqrt(scale)
    with np.errstate(over="ignore", under="ignore"):
        scaled_y, scaled_v = np.array(y) * unit, v * scale
    if not (np.all(np.isfinite(scaled_y)) and np.all(scaled_v > 0)):
        return  # outside double precision: nothing to compare
    moved = pool_effects(scaled_y, scaled_v, method=method, solver="exact")
    assert moved.status == base.status == ("ok" if k > 1 else "single_effect")
    assert moved.estimate == pytest.approx(base.estimate * unit, rel=1e-8, abs=1e-8 * unit)
    assert moved.se == pytest.approx(base.se * unit, rel=1e-8)
    assert moved.tau2 == pytest.approx(base.tau2 * scale, rel=1e-6, abs=1e-10 * scale)


@SETTINGS
@given(
    data=st.lists(st.tuples(effects, variances), min_size=2, max_size=10),
    method=st.sampled_from(POOL_METHODS),
    knha=st.booleans(),
)
def test_meta_regression_returns_a_status_for_any_finite_input(
    data: list[tuple[float, float]], method: str, knha: bool
) -> None:
    y, v = (np.array(column) for column in zip(*data, strict=True))
    result = meta_regression(y, v, np.arange(len(y), dtype=float), method=method, knha=knha)
    numbers = [*result.coef, *result.se, result.tau2]
    if result.status in ("ok", "saturated"):
        assert all(math.isfinite(n) for n in numbers), result
        assert all(s >= 0 for s in result.se) and result.tau2 >= 0
    else:
        assert result.status == "degenerate" and all(math.isnan(n) for n in numbers)
        assert "double precision" in result.message


def _dl_exact(y: list[float], v: list[float]) -> tuple[float, float, float]:
    """DerSimonian-Laird in exact rational arithmetic: tau^2, estimate, standard error."""
    ys, vs = [Fraction(a) for a in y], [Fraction(b) for b in v]
    w = [1 / b for b in vs]
    mean = sum(a * b for a, b in zip(w, ys, strict=True)) / sum(w)
    q = sum(a * (b - mean) ** 2 for a, b in zip(w, ys, strict=True))
    tau2 = max(Fraction(0), (q - (len(y) - 1)) / (sum(w) - sum(a * a for a in w) / sum(w)))
    w_star = [1 / (b + tau2) for b in vs]
    estimate = sum(a * b for a, b in zip(w_star, ys, strict=True)) / sum(w_star)
    return float(tau2), float(estimate), math.sqrt(1 / sum(w_star))


@pytest.mark.parametrize("scale", [1e-300, 1e-3, 1e300])
def test_extreme_variances_match_exact_arithmetic(scale: float) -> None:
    y = [0.1 * math.sqrt(scale) * f for f in (1.0, 2.0, 3.5)] if scale > 1 else [0.1, 0.2, 0.35]
    v = [scale * f for f in (1.0, 2.0, 1.5)]
    tau2, estimate, se = _dl_exact(y, v)
    result = pool_effects(y, v)
    assert result.status == "ok"
    assert result.tau2 == pytest.approx(tau2, rel=1e-12)
    assert result.estimate == pytest.approx(estimate, rel=1e-12)
    assert result.se == pytest.approx(se, rel=1e-12)


def test_variances_too_far_apart_for_double_precision() -> None:
    apart = pool_effects([0.0, 1.0, 2.0], [1e-30, 1.0, 1e30], method="REML")
    assert apart.status == "degenerate" and math.isnan(apart.estimate)
    assert "variances from 1e-30 to 1e+30" in apart.message
