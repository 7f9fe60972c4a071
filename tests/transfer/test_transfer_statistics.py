"""The statistics under effective transfer, each against an independent reference.

- ICC(C,1): Shrout and Fleiss (1979), Table 2 (6 targets x 4 judges): their ANOVA gives
  BMS = 11.24, EMS = 1.02 and ICC(3,1) = 0.71; the exact F interval of McGraw and Wong (1996)
  is [0.34, 0.95] (as pingouin prints for the same table).
- JLMS, Battese-Coelli and the Horrace-Schmidt quantiles: numerical integration of the
  conditional density of the inefficiency given the composed error.
- Envelope heights: brute force over the points.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from transferscope.transfer.consistency import icc_consistency, rank_correlations
from transferscope.transfer.efficiency import (
    envelope_efficiency,
    envelope_heights,
    sfa_efficiency,
)
from transferscope.transfer.monotone import top_segment_test

SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    dtype=float,
)


def test_icc_reproduces_shrout_and_fleiss() -> None:
    out = icc_consistency(SHROUT_FLEISS, 0.95)
    assert out["msr"] == pytest.approx(11.24, abs=0.005)
    assert out["mse"] == pytest.approx(1.02, abs=0.005)
    assert out["icc"] == pytest.approx(0.7148, abs=5e-4)
    assert out["f_stat"] == pytest.approx(11.03, abs=0.01)
    assert (out["df1"], out["df2"]) == (5, 15)
    assert out["ci_low"] == pytest.approx(0.34, abs=0.005)
    assert out["ci_high"] == pytest.approx(0.95, abs=0.005)
    # a shift of a whole task (column) does not change a consistency ICC
    shifted = SHROUT_FLEISS + np.array([0.0, 5.0, -3.0, 1.0])
    assert icc_consistency(shifted)["icc"] == pytest.approx(out["icc"], abs=1e-12)


def test_rank_correlations_match_scipy_with_bonett_wright_intervals() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(size=40)
    wide = pd.DataFrame(
        {"a": base + rng.normal(size=40), "b": base + rng.normal(size=40), "c": rng.normal(size=40)}
    )
    wide.loc[:4, "c"] = np.nan
    pairs = rank_correlations(wide, 0.9).set_index(["task_a", "task_b"])
    ref = stats.spearmanr(wide["a"], wide["b"])
    row = pairs.loc[("a", "b")]
    assert row["spearman"] == pytest.approx(ref.statistic, abs=1e-12)
    assert row["p_value"] == pytest.approx(ref.pvalue, abs=1e-12)
    se = math.sqrt((1 + ref.statistic**2 / 2) / 37)
    z = stats.norm.ppf(0.95)
    assert row["ci_low"] == pytest.approx(math.tanh(math.atanh(ref.statistic) - z * se))
    assert pairs.loc[("a", "c"), "n_models"] == 35


def test_rank_correlations_equal_scipy_on_every_pair_with_ties_and_gaps() -> None:
    rng = np.random.default_rng(11)
    wide = pd.DataFrame(
        {
            "a": np.round(rng.normal(size=30), 1),  # ties
            "b": np.round(rng.normal(size=30), 1),
            "c": np.r_[np.full(15, 0.5), rng.normal(size=15)],
            "d": np.full(30, 2.0),  # constant: rho undefined
        }
    )
    wide.loc[3:9, "b"] = np.nan
    wide.loc[20:, "c"] = np.nan
    pairs = rank_correlations(wide)
    assert len(pairs) == 6
    for _, row in pairs.iterrows():
        both = wide[[row["task_a"], row["task_b"]]].dropna()
        assert row["n_models"] == len(both)
        if both.nunique().min() < 2:
            assert math.isnan(row["spearman"]) and math.isnan(row["p_value"])
            continue
        ref = stats.spearmanr(both.iloc[:, 0], both.iloc[:, 1])
        assert row["spearman"] == pytest.approx(ref.statistic, abs=1e-12)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)


def _conditional(e: float, sigma_v: float, sigma_u: float, kind: str):
    """Density of u >= 0 given e = v - u, unnormalized, by its definition."""

    def density(u: float) -> float:
        prior = (
            stats.halfnorm.pdf(u, scale=sigma_u)
            if kind == "half_normal"
            else stats.expon.pdf(u, scale=sigma_u)
        )
        return float(prior * stats.norm.pdf(e + u, scale=sigma_v))

    return density


@pytest.mark.parametrize("kind", ["half_normal", "exponential"])
def test_jlms_battese_coelli_and_quantiles_match_numerical_integration(kind: str) -> None:
    sigma_v, sigma_u = 0.02, 0.05
    e = np.array([-0.12, -0.04, 0.0, 0.03])
    height = np.full(4, 0.8)
    out = sfa_efficiency(e, height, sigma_v, sigma_u, kind, 0.9)
    for i, ei in enumerate(e):
        f = _conditional(float(ei), sigma_v, sigma_u, kind)
        upper = 1.0
        mass = integrate.quad(f, 0, upper, limit=200)[0]
        mean = integrate.quad(lambda u, f=f: u * f(u), 0, upper, limit=200)[0] / mass
        bc = integrate.quad(lambda u, f=f: math.exp(-u) * f(u), 0, upper, limit=200)[0] / mass
        assert out.shortfall[i] == pytest.approx(mean, rel=1e-6)
        assert out.efficiency_bc[i] == pytest.approx(bc, rel=1e-6)
        low = integrate.quad(f, 0, out.shortfall_ci_low[i], limit=200)[0] / mass
        high = integrate.quad(f, 0, out.shortfall_ci_high[i], limit=200)[0] / mass
        assert low == pytest.approx(0.05, abs=1e-6)
        assert high == pytest.approx(0.95, abs=1e-6)
    assert np.allclose(out.efficiency, 1 - out.shortfall / 0.8)


def _brute_pareto(x: np.ndarray, y: np.ndarray, at: float) -> float:
    below = y[x <= at]
    return float(below.max()) if below.size else -math.inf


def test_envelopes_match_brute_force() -> None:
    rng = np.random.default_rng(8)
    x = np.round(rng.uniform(0, 1, 40), 2)  # ties in x on purpose
    y = rng.uniform(0, 1, 40)
    order = np.lexsort((y, x))
    xs, ys = x[order], y[order]
    present = rng.random((3, 40)) < 0.6
    pareto = envelope_heights(xs, ys, present, "pareto")
    hull = envelope_heights(xs, ys, present, "hull")
    for b in range(3):
        for j in range(40):
            keep = present[b]
            assert pareto[b, j] == _brute_pareto(xs[keep], ys[keep], xs[j])
            # the hull envelope lies on or above the Pareto one and below the top point
            if np.isfinite(pareto[b, j]):
                assert pareto[b, j] - 1e-12 <= hull[b, j] <= ys[keep].max() + 1e-12
    # hull of three points: a chord between (0, 0) and (1, 1) at 0.5 is 0.5
    three = envelope_heights(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.2, 1.0]),
                             np.ones((1, 3), dtype=bool), "hull")  # fmt: skip
    np.testing.assert_allclose(three[0], [0.0, 0.5, 1.0])


def test_envelope_efficiency_intervals_lie_above_the_estimate() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 0.9, 200)
    y = x - rng.exponential(0.05, 200)
    out = envelope_efficiency(x, y, "pareto", 0.95, np.random.default_rng(0))
    assert (out.shortfall >= 0).all()
    assert (out.shortfall_ci_low >= out.shortfall - 1e-12).all()
    assert (out.shortfall_ci_high >= out.shortfall_ci_low).all()
    assert np.nanmax(out.efficiency) == pytest.approx(1.0)
    assert (out.efficiency_ci_low <= out.efficiency + 1e-12).all()


def test_top_segment_test_finds_a_falling_top_and_not_a_rising_one() -> None:
    rng = np.random.default_rng(4)
    u = np.sort(rng.uniform(0, 1, 80))
    rising = u + rng.normal(0, 0.05, 80)
    falling = np.where(u < 0.7, u, 1.4 - u) + rng.normal(0, 0.05, 80)
    kwargs = {"top": 0.25, "min_models": 8, "level": 0.95}
    down = top_segment_test(u, falling, u, falling, **kwargs)
    up = top_segment_test(u, rising, u, rising, **kwargs)
    assert down["n_top"] == 20 and down["slope"] < 0 and down["p_value"] < 1e-4
    assert down["slope_ci_high"] < 0 and down["kendall_p_value"] < 1e-3
    assert up["p_value"] > 0.99
    ref = stats.linregress(u[-20:], falling[-20:])
    assert down["slope"] == pytest.approx(ref.slope)
    assert down["p_value"] == pytest.approx(ref.pvalue / 2, rel=1e-6)  # one-sided, slope < 0
    few = top_segment_test(u[:5], rising[:5], u[:5], rising[:5], **kwargs)
    assert few["status"] == "too_few_points"
