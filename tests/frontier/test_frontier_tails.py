"""The two-part shortfall's tail: chosen by the likelihood, and covered by the interval when unsure.

A tail of the wrong shape biases a large group's plateau by more than its standard error (the
calibration benchmark, benchmarks/calibration.py, measures the coverage this buys).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from transferscope.frontier import fit_group, get_family
from transferscope.frontier import group as group_mod
from transferscope.frontier.baseline import baseline_from_result
from transferscope.frontier.single import fit_cluster, fit_two_part

FAST = {"bootstrap": 200, "bootstrap_max": 200}
PLATEAU = 0.85


def _two_part(tail: str, n: int = 1500, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A frontier with plateau 0.85: a cluster near it (30%) and a tail of the given shape."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.4, 0.97, n)
    f = PLATEAU - 0.5 * (1.0 - x) ** 1.5
    cluster = rng.random(n) < 0.3
    far = rng.exponential(0.05, n) if tail == "exponential" else np.abs(rng.normal(0, 0.06, n))
    u = np.where(cluster, np.abs(rng.normal(0.0, 0.004, n)), far)
    return x, f - u + rng.normal(0.0, 0.005, n)


@pytest.mark.parametrize(
    ("tail", "chosen"), [("exponential", "cluster_exponential"), ("half_normal", "cluster")]
)
def test_the_likelihood_chooses_the_tail_the_data_have(tail: str, chosen: str) -> None:
    family = get_family("abnar")
    x, y = _two_part(tail)
    start = {"k": 0.5, "alpha": 1.5, "e_ir": 0.1}
    fit = fit_two_part(family, x, y, start)
    assert fit.converged and fit.shortfall == chosen
    assert fit.rival is not None and fit.rival.shortfall != chosen
    assert fit.loglik > fit.rival.loglik  # the better of the two is returned
    # each tail's fit is fit_cluster's with that tail: nothing else differs
    alone = fit_cluster(family, x, y, start, tail=tail)
    np.testing.assert_allclose(fit.values, alone.values, rtol=1e-10)
    right = abs(1.0 - fit.as_dict()["e_ir"] - PLATEAU)
    wrong = abs(1.0 - fit.rival.as_dict()["e_ir"] - PLATEAU)
    if tail == "exponential":
        # a half-normal tail under an exponential one biases the plateau (here 0.0025 against
        # 0.0009 with the right tail)
        assert right < 0.5 * wrong
    else:
        # under a half-normal tail both put it within 0.005 of the truth
        assert max(right, wrong) < 0.005


def test_fit_group_reports_the_tail_and_the_baseline_shifts_by_its_mean() -> None:
    x, y = _two_part("exponential")
    r = fit_group(x, y, **FAST)
    assert r.ok and r.frontier == "stochastic" and r.shortfall == "cluster_exponential"
    assert r.row()["shortfall"] == "cluster_exponential"
    # the baseline's location is the curve minus the mixture's mean shortfall: the cluster's
    # half-normal mean plus the exponential tail's mean sigma_u (it used sigma_u alone)
    p = r.params
    mean = math.sqrt(2.0 / math.pi) * p["pi_c"] * p["sigma_c"] + (1.0 - p["pi_c"]) * p["sigma_u"]
    base = baseline_from_result(r, {"task": "t"}, [f"m{i}" for i in range(len(x))])
    assert base.shift == pytest.approx(mean, rel=1e-12)
    np.testing.assert_allclose(base.location(x[:5]), r.predict(x[:5]) - mean, rtol=1e-12)
    # the shortfall is the estimator's: empty for the others
    assert fit_group(x, y, frontier="pareto", bootstrap=0, interval="profile").shortfall == ""


def test_the_interval_covers_both_tails_when_the_data_hardly_prefer_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, y = _two_part("exponential", n=400, seed=5)
    options = {"bootstrap": 0, "interval": "profile"}
    monkeypatch.setattr(group_mod, "TAIL_SUPPORT", -math.inf)  # never the rival's
    alone = fit_group(x, y, **options)
    assert "fits nearly as well" not in alone.message
    monkeypatch.setattr(group_mod, "TAIL_SUPPORT", math.inf)  # always the rival's too ...
    monkeypatch.setattr(group_mod, "TAIL_SAME", math.inf)  # ... unless its plateau is the same
    same = fit_group(x, y, **options)
    assert "fits nearly as well" not in same.message
    assert (same.plateau_ci_low, same.plateau_ci_high) == (
        alone.plateau_ci_low,
        alone.plateau_ci_high,
    )
    monkeypatch.setattr(group_mod, "TAIL_SAME", 5e-4)
    both = fit_group(x, y, **options)
    assert "fits nearly as well" in both.message and "the interval covers both" in both.message
    assert both.plateau == alone.plateau
    assert both.plateau_ci_low <= alone.plateau_ci_low
    assert both.plateau_ci_high >= alone.plateau_ci_high
    # the rival's own plateau, quoted in the message, lies inside the union
    quoted = float(both.message.split("; plateau ")[1][:5])
    assert both.plateau_ci_low <= quoted <= both.plateau_ci_high
    assert (both.plateau_ci_low, both.plateau_ci_high) != (
        alone.plateau_ci_low,
        alone.plateau_ci_high,
    )
