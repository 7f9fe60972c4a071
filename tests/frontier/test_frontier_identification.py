"""Identification and honest intervals: extrapolation, no saturation, bounds, Monte Carlo error.

Small groups and capped resamples keep these fast; the calibration of the default interval is
measured by benchmarks/calibration.py.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest

from transferscope.frontier import fit_group, get_family, kernels
from transferscope.frontier.bootstrap import quantile_mc_se

FAST = {"bootstrap": 200, "bootstrap_max": 200}


def _rising(n: int = 120, seed: int = 0, e_ir: float = 0.0, top: float = 0.8):
    """A frontier 1 - e_ir - 0.9 (1 - x)**1.2 observed only up to ``top``, with shortfall."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.4, top, n)
    f = 1.0 - e_ir - 0.9 * (1.0 - x) ** 1.2
    y = f - np.abs(rng.normal(0.0, 0.02, n)) + rng.normal(0.0, 0.003, n)
    return x, np.clip(y, 0.0, 1.0)


def test_no_saturation_gives_a_one_sided_interval_never_zero_width() -> None:
    x, y = _rising()  # the true plateau is 1: the data never bend
    r = fit_group(x, y, **FAST)
    assert r.ok
    assert "not_saturating" in r.flags and "extrapolated" in r.flags
    assert r.interval_kind == "one_sided"
    assert r.plateau_ci_high == 1.0
    assert r.plateau_ci_high - r.plateau_ci_low > 0.01  # honest, not [1, 1]
    assert r.plateau_ci_low <= r.plateau <= r.plateau_ci_high
    assert "do not show saturation" in r.message
    # the plateau lies far beyond the data, and the fit says how far
    assert r.upstream_best == pytest.approx(float(np.max(x)))
    assert r.extrapolation == pytest.approx(r.saturation_point - r.upstream_best)
    assert r.extrapolation > 0.1
    at_best = float(r.predict(np.array([r.upstream_best]))[0])
    assert r.plateau_gap == pytest.approx(r.plateau - at_best)
    # without saturation in the data, the lower bound is what the data reach (the curve at the
    # best observed upstream score), not what the family's shape extrapolates beyond them
    assert r.plateau_ci_low <= at_best
    assert r.plateau_ci_low > at_best - 0.05
    assert "what the data reach" in r.message


def test_a_saturating_group_is_not_flagged_and_covers_its_plateau() -> None:
    x, y = _rising(n=300, seed=1, e_ir=0.2, top=0.98)
    r = fit_group(x, y, **FAST)
    assert r.ok and "not_saturating" not in r.flags
    assert r.interval_kind == "profile+bootstrap"
    # (coverage is the benchmark's business; one group checks the estimate and the width)
    assert abs(r.plateau - 0.8) < 0.01
    assert 0.003 < r.plateau_ci_high - r.plateau_ci_low < 0.03  # the data bound it above
    assert r.extrapolation < 0.05


def test_a_bootstrap_piled_on_a_bound_falls_back_to_the_profile() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(0.4, 0.8, 120)
    # a frontier that would pass 1 before x = 1: e_ir is held at 0 in every resample
    y = 1.06 - 0.9 * (1.0 - x) ** 1.2 - np.abs(rng.normal(0.0, 0.02, 120))
    r = fit_group(x, y, frontier="pareto", interval="bootstrap", **FAST)
    assert r.ok and r.params["e_ir"] < 1e-9 and "on_bound" in r.flags
    assert r.interval_kind in ("profile", "one_sided")
    assert r.plateau_ci_high - r.plateau_ci_low > 1e-3
    assert "profile likelihood" in r.message


def test_families_without_saturation_get_no_interval() -> None:
    x, y = _rising(seed=3)
    r = fit_group(x, y, family="power", **FAST)
    assert r.ok and r.plateau == 1.0
    assert math.isnan(r.plateau_ci_low) and r.interval_kind == "none"
    assert "not_saturating" in r.flags and "by assumption" in r.message


def test_endpoints_grow_stable_and_agree_between_seeds() -> None:
    x, y = _rising(n=60, seed=4, e_ir=0.15, top=0.97)
    options = {"interval": "bootstrap", "bootstrap": 250, "bootstrap_max": 16000}
    a = fit_group(x, y, seed=1, **options)
    b = fit_group(x, y, seed=2, **options)
    for r in (a, b):
        assert r.interval_kind == "bootstrap" and r.n_bootstrap > 250
        capped = "mc_capped" in r.flags
        assert capped or max(r.mc_se_low, r.mc_se_high) <= 0.002 / 1.96
    assert abs(a.plateau_ci_low - b.plateau_ci_low) <= 0.005
    assert abs(a.plateau_ci_high - b.plateau_ci_high) <= 0.005
    fixed = fit_group(x, y, seed=1, interval="bootstrap", bootstrap=250, bootstrap_max=250)
    assert fixed.n_bootstrap == 250 and fixed.mc_se_low > 0


def test_quantile_mc_se_matches_the_normal_theory() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(0.0, 0.02, 4000)
    # sqrt(p (1 - p) / B) / density at the quantile, for p = 0.025
    theory = math.sqrt(0.025 * 0.975 / 4000) / (
        math.exp(-0.5 * 1.96**2) / (0.02 * math.sqrt(2 * math.pi))
    )
    assert quantile_mc_se(values, 0.025) == pytest.approx(theory, rel=0.3)


def test_a_lower_is_better_fraction_is_fitted_the_right_way_round() -> None:
    x, y = _rising(n=100, seed=5, e_ir=0.1, top=0.97)
    as_error = fit_group(
        x, 1.0 - y, downstream_metric="top1_err", bootstrap=0, interval="bootstrap"
    )
    as_accuracy = fit_group(x, y, downstream_metric="top1", bootstrap=0, interval="bootstrap")
    assert "flipped" in as_error.flags and "fitted as 1 - top1_err" in as_error.message
    assert as_error.plateau == pytest.approx(as_accuracy.plateau, abs=1e-9)
    refused = fit_group(x, 3 + y, downstream_metric="ppl", bootstrap=0)
    assert refused.status == "unsupported_metric"


def test_clipped_scores_are_counted() -> None:
    x, y = _rising(n=60, seed=6, e_ir=0.1, top=0.97)
    x[:2] = 1.0
    r = fit_group(x, y, family="logit", bootstrap=0, interval="bootstrap")
    assert "clipped" in r.flags and "2 upstream score(s) of 0 or 1 clipped" in r.message


def test_an_outlier_above_the_frontier_does_not_pull_it() -> None:
    x, y = _rising(n=150, seed=7, e_ir=0.15, top=0.97)
    y_out = y.copy()
    y_out[np.argmax(x)] = 0.99  # far above the plateau 0.85
    fast = {"bootstrap": 0, "interval": "bootstrap"}
    clean = fit_group(x, y, **fast)
    robust = fit_group(x, y_out, **fast)
    plain = fit_group(x, y_out, contamination=0.0, **fast)
    assert abs(robust.plateau - clean.plateau) < 0.005
    assert abs(plain.plateau - clean.plateau) > abs(robust.plateau - clean.plateau)
    assert "above_plateau" in robust.flags


def test_cluster_likelihood_derivatives_match_finite_differences() -> None:
    # both tails of the two-part shortfall (half-normal and exponential), with and without
    # contamination
    family = get_family("abnar")
    x, y = _rising(n=80, seed=8, e_ir=0.1, top=0.95)
    y[3] += 0.08
    theta = np.array([[0.8, 1.3, 0.11, 0.004, 0.05, 0.003, 0.3]])
    row = np.zeros(1, dtype=np.intp)
    for contamination, tail in product((0.0, 0.01), kernels.TAILS):
        problem = kernels.ClusterFrontier(
            family, x[None], y[None], np.ones((1, len(x))), 1e-3, contamination, tail
        )
        _, grad, hess = problem.derivatives(theta, row)
        for j in range(theta.shape[1]):
            h = 1e-6 * max(abs(theta[0, j]), 1e-3)
            up, down = theta.copy(), theta.copy()
            up[0, j] += h
            down[0, j] -= h
            numeric = (problem.objective(up, row)[0] - problem.objective(down, row)[0]) / (2 * h)
            assert grad[0, j] == pytest.approx(numeric, rel=1e-5, abs=1e-4)
            column = (problem.derivatives(up, row)[1][0] - problem.derivatives(down, row)[1][0]) / (
                2 * h
            )
            # exact in the scale parameters (the curve's own second derivatives are left out)
            np.testing.assert_allclose(hess[0, 3:, j], column[3:], rtol=1e-4, atol=1e-2)


def test_profile_end_is_found_when_refits_beyond_it_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    # a refit that fails beyond the interval's end (a deviance of a million beside one of 1)
    # must not pull the end towards the estimate: the bracket is narrowed until its deviances
    # are close to the threshold (40 models: the old single refinement put the end at 0.7821
    # instead of 0.7799)
    from transferscope.frontier import profile as profile_mod
    from transferscope.frontier.estimators import get_estimator
    from transferscope.frontier.settings import FitSettings

    x, y = _rising(n=40, seed=1, e_ir=0.2, top=0.98)
    family, settings = get_family("abnar"), FitSettings()
    estimator = get_estimator("pareto")
    fit = estimator.fit(family, x, y, settings)
    problem, m = estimator.likelihood(family, x, y, settings)

    def interval() -> profile_mod.ProfileInterval:
        return profile_mod.profile_interval(
            family, problem, fit.theta, [fit.theta], 0.95, log_objective=m
        )

    reference = interval()
    j = family.names.index("e_ir")
    e_hat, e_end = float(fit.theta[j]), 1.0 - reference.low  # the low plateau's e_ir
    cutoff = e_hat + 1.2 * (e_end - e_hat)
    solve = kernels.solve

    def failing(problem_: object, theta0: np.ndarray, **kwargs: object) -> kernels.SolveResult:
        result = solve(problem_, theta0, **kwargs)  # type: ignore[arg-type]
        held = getattr(problem_, "values", None)
        if held is not None:
            bad = held > cutoff
            result.objective[bad] = 1e6 * (1.0 + np.abs(result.objective).max())
        return result

    monkeypatch.setattr(kernels, "solve", failing)
    broken = interval()
    assert broken.low == pytest.approx(reference.low, abs=2e-4)
    assert broken.high == pytest.approx(reference.high, abs=2e-4)
