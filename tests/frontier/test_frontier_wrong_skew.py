from __future__ import annotations

import numpy as np

from transferscope.frontier import fit_group


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
