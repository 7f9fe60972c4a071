from __future__ import annotations

import numpy as np

from transferscope.frontier import fit_group


def test_wrong_skew_is_said_in_the_message() -> None:
    # scatter ABOVE a power curve (right-skewed): maximum likelihood puts no shortfall below it
    rng = np.random.default_rng(5)
    x = rng.uniform(0.5, 0.9, 300)
    y = np.clip(1 - 0.9 * (1 - x) ** 0.8 + rng.exponential(0.03, 300), 0, 0.999)
    res = fit_group(x, y, "abnar", frontier="stochastic", bootstrap=0)
    assert res.status == "ok"
    assert res.params["sigma_u"] <= 0.01 * res.params["sigma_v"]
    assert "not skewed below the curve" in res.message


def test_ordinary_shortfall_has_no_such_note() -> None:
    rng = np.random.default_rng(6)
    x = rng.uniform(0.5, 0.9, 300)
    y = 1 - 0.9 * (1 - x) ** 0.8 - np.abs(rng.normal(0, 0.05, 300)) + rng.normal(0, 0.005, 300)
    res = fit_group(x, y, "abnar", frontier="stochastic", bootstrap=0)
    assert res.status == "ok"
    assert res.params["sigma_u"] > 0.01 * res.params["sigma_v"]
    assert "not skewed" not in res.message
