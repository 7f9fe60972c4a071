from __future__ import annotations

import numpy as np
import pytest

from transferscope.frontier import fit_group
from transferscope.frontier.estimators import difference_noise


def _skewed_above() -> tuple[np.ndarray, np.ndarray]:
    # scatter ABOVE a power curve (right-skewed): maximum likelihood puts no shortfall below it
    rng = np.random.default_rng(5)
    x = rng.uniform(0.5, 0.9, 300)
    y = np.clip(1 - 0.9 * (1 - x) ** 0.8 + rng.exponential(0.03, 300), 0, 0.999)
    return x, y


def test_wrong_skew_falls_back_to_an_upper_frontier() -> None:
    x, y = _skewed_above()
    res = fit_group(x, y, "abnar", bootstrap=0, interval="bootstrap")
    assert res.status == "ok"
    assert res.requested_frontier == "stochastic" and res.frontier == "pareto"
    assert "fallback" in res.flags
    assert "not skewed below the curve" in res.fallback_reason
    assert "fitted by pareto instead" in res.message
    # the fallback lies above the models: few are above it beyond noise, none far above
    assert res.share_above <= 0.05
    assert res.plateau >= float(np.max(y)) - 0.01
    assert "not_upper" not in res.flags


def test_without_fallback_the_wrong_skew_is_flagged() -> None:
    x, y = _skewed_above()
    res = fit_group(
        x, y, "abnar", bootstrap=0, interval="bootstrap", fallback="none",
        inefficiency="half_normal",
    )  # fmt: skip
    assert res.status == "ok" and res.frontier == "stochastic"
    assert res.params["sigma_u"] <= 0.01 * res.params["sigma_v"]
    assert "wrong_skew" in res.flags and "fallback" not in res.flags
    # the average curve: a third of the models lie above it
    assert float(np.mean(y > res.predict(x))) > 0.3
    assert "not skewed below the curve" in res.message


def test_ordinary_shortfall_has_no_such_note() -> None:
    rng = np.random.default_rng(6)
    x = rng.uniform(0.5, 0.9, 300)
    y = 1 - 0.9 * (1 - x) ** 0.8 - np.abs(rng.normal(0, 0.05, 300)) + rng.normal(0, 0.005, 300)
    res = fit_group(x, y, "abnar", bootstrap=0, interval="bootstrap")
    assert res.status == "ok" and res.frontier == "stochastic"
    assert "wrong_skew" not in res.flags and "fallback" not in res.flags
    assert res.share_above < 0.02
    assert "not skewed" not in res.message


def test_difference_noise_recovers_the_noise_without_a_curve() -> None:
    # points about a smooth curve with noise sd 0.01: the pseudo-residuals of neighbouring
    # points estimate it (400 points: sampling error about 5%), whatever family is fitted
    estimates = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x = rng.uniform(0.3, 0.95, 400)
        y = 1 - 0.9 * (1 - x) ** 0.8 + rng.normal(0, 0.01, 400)
        estimates.append(difference_noise(x, y))
    assert np.all(np.abs(np.array(estimates) - 0.01) < 0.0015)
    assert np.isnan(difference_noise(np.array([0.1, 0.2]), np.array([0.3, 0.4])))


def test_a_pareto_curve_below_the_best_models_is_not_upper() -> None:
    # a frontier that rises slowly, then steeply near the best upstream scores (as timm's
    # ImageNet-A): abnar cannot follow it, and its least-squares curve through the pareto
    # points misses them by up to 0.12 either way. The residual sd about that curve (0.054)
    # would put every model "within noise" of it; the scatter of the frontier points about
    # their neighbours (0.008) does not.
    rng = np.random.default_rng(3)
    x = rng.uniform(0.4, 0.9, 1500)
    top = 0.15 + 0.25 * (x - 0.4) + 4.0 * np.clip(x - 0.78, 0.0, None) ** 1.2
    y = np.clip(top - rng.exponential(0.08, 1500) + rng.normal(0, 0.004, 1500), 0.0, 1.0)
    res = fit_group(x, y, "abnar", bootstrap=0, frontier="pareto")
    assert res.status == "ok"
    assert res.noise_sd < 0.2 * res.rmse
    resid = y - res.predict(x)
    assert not (resid > 3.0 * res.rmse).any()
    assert (resid > 3.0 * res.noise_sd).mean() == pytest.approx(res.share_above)
    assert res.share_above > 0.05
    assert "not_upper" in res.flags
