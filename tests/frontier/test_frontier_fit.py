"""Group fits and the DataFrame API: recovery of known plateaus, statuses, columns, invariants."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from transferscope.errors import InputError
from transferscope.frontier import (
    FAMILIES,
    Family,
    fit_frontiers,
    fit_group,
    frontier_curves,
    get_family,
    register,
)
from transferscope.frontier.synthetic import synthetic_group, synthetic_runs

COLUMNS = [
    "task",
    "method",
    "shots",
    "downstream_metric",
    "family",
    "frontier",
    "status",
    "message",
    "flags",
    "n_points",
    "n_frontier",
    "param_k",
    "param_k_se",
    "param_alpha",
    "param_alpha_se",
    "param_e_ir",
    "param_e_ir_se",
    "param_sigma_v",
    "param_sigma_v_se",
    "param_sigma_u",
    "param_sigma_u_se",
    "param_sigma_c",
    "param_sigma_c_se",
    "param_pi_c",
    "param_pi_c_se",
    "plateau",
    "plateau_ci_low",
    "plateau_ci_high",
    "ci_level",
    "interval_kind",
    "mc_se_low",
    "mc_se_high",
    "interval_inflation",
    "saturation_point",
    "upstream_best",
    "extrapolation",
    "plateau_gap",
    "best_observed",
    "share_above",
    "noise_sd",
    "aicc",
    "rmse",
    "backtest_mae",
    "bootstrap_failed_share",
    "n_bootstrap",
    "selected",
    "requested_frontier",
    "fallback_reason",
    "shortfall",
    "upstream_min",
    "upstream_max",
    "loss_space",
    "r2",
    "intercept_ci_low",
    "intercept_ci_high",
    "slope_ci_low",
    "slope_ci_high",
]


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_runs(10, seed=11)


@pytest.fixture(scope="module")
def fits(synthetic: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    runs, _ = synthetic
    return fit_frontiers(runs, bootstrap=300, bootstrap_max=300, seed=0)


def test_known_plateaus_are_recovered_within_their_intervals(
    fits: pd.DataFrame, synthetic: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, truth = synthetic
    merged = fits.merge(truth, on="task", suffixes=("", "_true"))
    assert (merged["status"] == "ok").all()
    # The benchmark measures 93.5% coverage over 200 groups, so 10 groups should miss about
    # 0.65 times (at most 2 with probability 0.97); these seeded groups miss once (task_004:
    # 53 models, the largest shortfall scale, upstream scores only up to 0.83).
    covered = (merged["plateau_ci_low"] <= merged["plateau_true"]) & (
        merged["plateau_true"] <= merged["plateau_ci_high"]
    )
    assert covered.sum() >= 8
    # the median error of the estimate is below 0.02 (intervals are 0.01 to 0.2 wide)
    assert (merged["plateau"] - merged["plateau_true"]).abs().median() < 0.02
    # the interval contains the estimate
    assert (
        (merged["plateau_ci_low"] <= merged["plateau"])
        & (merged["plateau"] <= merged["plateau_ci_high"])
    ).all()


def test_output_columns_and_types(fits: pd.DataFrame) -> None:
    assert list(fits.columns) == COLUMNS
    assert fits["requested_frontier"].eq("stochastic").all()
    assert fits["shortfall"].isin(["cluster", "cluster_exponential"]).all()
    assert fits["ci_level"].eq(0.95).all()
    assert fits["n_bootstrap"].eq(300).all()
    assert fits["interval_kind"].isin(["profile+bootstrap", "one_sided", "profile"]).all()
    # the ends of a profile likelihood carry no Monte Carlo error; bootstrap ends do
    assert (fits["mc_se_low"] >= 0).all() and (fits["mc_se_high"] >= 0).all()
    assert (fits["interval_inflation"] >= 1).all()
    assert (fits["best_observed"] >= fits["plateau"] - 0.5).all()
    assert str(fits["flags"].dtype) == "string"
    assert fits["bootstrap_failed_share"].between(0, 0.05).all()
    assert fits["selected"].all()
    assert str(fits["shots"].dtype) == "Int64"
    assert fits["shots"].isna().all()


def test_null_shots_form_their_own_group() -> None:
    g = synthetic_group(np.random.default_rng(4), n=60)
    runs = pd.DataFrame(
        {
            "task": "t",
            "method": "m",
            "shots": pd.array([None] * 30 + [10] * 30, dtype="Int64"),
            "upstream_score": g.x,
            "downstream_score": g.y,
        }
    )
    out = fit_frontiers(runs, bootstrap=0)
    assert len(out) == 2
    assert out["shots"].isna().sum() == 1
    assert out["n_points"].tolist() == [30, 30]


def test_results_do_not_depend_on_processes(synthetic: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    runs, _ = synthetic
    small = runs[runs["task"].isin(["task_000", "task_001"])]
    options = {"bootstrap": 50, "bootstrap_max": 50, "interval": "bootstrap"}
    one = fit_frontiers(small, seed=3, **options)
    two = fit_frontiers(small, seed=3, n_jobs=2, **options)
    pd.testing.assert_frame_equal(one, two)
    other = fit_frontiers(small, seed=4, **options)
    assert not np.allclose(one["plateau_ci_low"], other["plateau_ci_low"])


def test_aicc_and_rmse_match_their_formulas() -> None:
    g = synthetic_group(np.random.default_rng(8), n=80)
    r = fit_group(g.x, g.y, frontier="all", bootstrap=0)
    resid = g.y - r.predict(g.x)
    n, k = len(g.y), 4  # three curve parameters and the residual variance
    loglik = -0.5 * n * (math.log(2 * math.pi * float(resid @ resid) / n) + 1)
    aicc = -2 * loglik + 2 * k + 2 * k * (k + 1) / (n - k - 1)
    assert r.aicc == pytest.approx(aicc, rel=1e-9)
    assert r.rmse == pytest.approx(math.sqrt(float(resid @ resid) / n), rel=1e-9)


def test_backtest_holds_out_the_top_of_the_upstream_range() -> None:
    g = synthetic_group(np.random.default_rng(9), n=100)
    r = fit_group(g.x, g.y, frontier="hull", bootstrap=0)
    held = r.backtest_points()
    cut = np.quantile(g.x, 0.8)
    assert (held["upstream_score"] >= cut).all()
    # held-out points are the hull points of the whole group above the cut
    hull = r.frontier_points()
    expected = hull[hull["on_frontier"] & (hull["upstream_score"] >= cut)]
    assert sorted(held["upstream_score"]) == sorted(expected["upstream_score"])
    assert r.backtest_mae == pytest.approx(held["error"].abs().mean())


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "status", "words"),
    [
        ([0.5, 0.6, 0.7], [0.3, 0.4, 0.5], {}, "too_few_points", "needs"),
        ([0.6] * 10, np.linspace(0.2, 0.6, 10), {}, "degenerate", "vertical"),
        (np.linspace(0.4, 0.9, 10), [0.5] * 10, {}, "degenerate", "same downstream"),
        (
            np.linspace(2, 4, 10),
            np.linspace(0.6, 0.3, 10),
            {"upstream_metric": "loss"},
            "degenerate",
            "loss_exp",
        ),
        (
            np.linspace(0.4, 0.9, 10),
            np.linspace(3, 2, 10),
            {"downstream_metric": "ppl"},
            "unsupported_metric",
            "lower-is-better",
        ),
        (
            np.linspace(0.4, 0.9, 10),
            np.linspace(0.3, 0.6, 10),
            {"downstream_metric": "pct_stereotype"},
            "unsupported_metric",
            "no better end",
        ),
        (np.linspace(0.4, 0.9, 10), np.linspace(30, 60, 10), {}, "degenerate", "outside [0, 1]"),
    ],
)
def test_statuses_instead_of_exceptions(
    x: Any, y: Any, kwargs: dict[str, Any], status: str, words: str
) -> None:
    r = fit_group(np.asarray(x, float), np.asarray(y, float), bootstrap=20, **kwargs)
    assert r.status == status
    assert words in r.message
    assert math.isnan(r.plateau)
    assert r.to_record()["plateau"] is None


def test_a_fit_that_fails_reports_did_not_converge() -> None:
    class Broken(Family):
        family_name = "test_broken"
        bounds = {"a": (0.0, 1.0)}  # noqa: RUF012

        @staticmethod
        def curve(x: Any, a: Any) -> Any:
            return np.full(np.shape(x), np.nan) * a

        def initial(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
            return {"a": 0.5}

    register(Broken)
    try:
        g = synthetic_group(np.random.default_rng(1), n=40)
        for frontier in ("pareto", "stochastic"):
            r = fit_group(g.x, g.y, family="test_broken", frontier=frontier, bootstrap=10)
            assert r.status == "did_not_converge"
    finally:
        FAMILIES.unregister("test_broken")


def test_mixed_metrics_are_degenerate() -> None:
    g = synthetic_group(np.random.default_rng(2), n=40)
    runs = pd.DataFrame(
        {
            "task": "t",
            "method": "m",
            "shots": pd.array([None] * 40, dtype="Int64"),
            "upstream_score": g.x,
            "downstream_score": g.y,
            "upstream_metric": "top1",
            "downstream_metric": ["acc"] * 20 + ["acc_norm"] * 20,
        }
    )
    out = fit_frontiers(runs, by=("task", "method", "shots"), bootstrap=0, interval="bootstrap")
    assert out["status"].tolist() == ["degenerate"]
    assert "downstream_metric" in out["message"].iloc[0]
    # the default grouping never mixes metrics
    split = fit_frontiers(runs, bootstrap=0, interval="bootstrap")
    assert split["downstream_metric"].tolist() == ["acc", "acc_norm"]
    assert split["status"].tolist() == ["ok", "ok"]


def test_a_task_scored_against_itself_is_not_a_frontier() -> None:
    g = synthetic_group(np.random.default_rng(12), n=40)
    runs = pd.DataFrame(
        {
            "task": ["up"] * 20 + ["down"] * 20,
            "method": "m",
            "shots": 0,
            "upstream_task": "up",
            "upstream_score": g.x,
            "downstream_score": np.concatenate([g.x[:20], g.y[20:]]),
        }
    )
    by_task = fit_frontiers(runs, bootstrap=0).set_index("task")
    assert by_task.loc["up", "status"] == "degenerate"
    assert "own upstream task" in by_task.loc["up", "message"]
    assert by_task.loc["down", "status"] == "ok"
    pooled = fit_frontiers(runs, by=("method",), bootstrap=0)  # the 20 own-task runs are left out
    assert pooled["n_points"].tolist() == [20]


def test_auto_picks_by_backtest_and_can_show_all_families() -> None:
    g = synthetic_group(np.random.default_rng(5), n=150)
    runs = pd.DataFrame(
        {"task": "t", "method": "m", "shots": 5, "upstream_score": g.x, "downstream_score": g.y}
    )
    every = fit_frontiers(
        runs, family="auto", side_by_side=True, bootstrap=30, bootstrap_max=30, interval="bootstrap"
    )
    assert every["family"].tolist() == ["abnar", "power", "logit", "probit", "sigmoid"]
    assert every["selected"].sum() == 1
    ok = every[every["status"] == "ok"]
    best = ok["backtest_mae"].min()
    chosen = every[every["selected"]].iloc[0]
    # the choice has the smallest backtest error up to a tie of 0.001, broken by AICc
    ties = ok[ok["backtest_mae"] <= best + 1e-3]
    assert chosen["aicc"] == ties["aicc"].min()
    single = fit_frontiers(
        runs, family="auto", bootstrap=30, bootstrap_max=30, interval="bootstrap"
    )
    assert single["family"].tolist() == [chosen["family"]]
    assert single["plateau_ci_low"].iloc[0] == pytest.approx(chosen["plateau_ci_low"])


def test_loss_upstream_uses_loss_exp() -> None:
    rng = np.random.default_rng(6)
    loss = rng.uniform(2.5, 4.5, 150)
    # err = eps - k exp(-gamma L) with eps = 0.75 (chance), k = 5, gamma = 1.2
    frontier = 1 - (0.75 - 5 * np.exp(-1.2 * loss))
    y = frontier - np.abs(rng.normal(0, 0.02, 150)) + rng.normal(0, 0.003, 150)
    runs = pd.DataFrame(
        {
            "task": "t",
            "method": "m",
            "shots": 0,
            "upstream_score": loss,
            "downstream_score": y,
            "upstream_metric": "loss",
        }
    )
    auto = fit_frontiers(runs, family="auto", bootstrap=50)
    assert auto["family"].tolist() == ["loss_exp"]
    assert auto["status"].tolist() == ["ok"]
    # the curve is recovered within 0.02 over the observed losses
    curve = frontier_curves(auto, x=[2.5, 3.5, 4.5])
    np.testing.assert_allclose(
        curve["predicted"], 1 - (0.75 - 5 * np.exp(-1.2 * np.array([2.5, 3.5, 4.5]))), atol=0.02
    )
    refused = fit_frontiers(runs, family="abnar", bootstrap=0)
    assert refused["status"].tolist() == ["degenerate"]


def test_curves_of_many_groups(
    fits: pd.DataFrame, synthetic: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    curves = frontier_curves(fits, n=11)
    assert list(curves.columns) == [
        "task",
        "method",
        "shots",
        "downstream_metric",
        "family",
        "frontier",
        "upstream_score",
        "predicted",
    ]
    assert len(curves) == 11 * len(fits)
    runs, _ = synthetic
    first = runs[runs["task"] == "task_000"]
    r = fit_group(first["upstream_score"], first["downstream_score"], bootstrap=0)
    mine = curves[curves["task"] == "task_000"]
    np.testing.assert_allclose(mine["predicted"], r.predict(mine["upstream_score"]), rtol=1e-12)
    # the grid runs from the smallest upstream score to 1, where the curve is the plateau
    assert mine["upstream_score"].iloc[-1] == 1.0
    assert mine["predicted"].iloc[-1] == pytest.approx(fits.loc[0, "plateau"])


def test_result_object() -> None:
    g = synthetic_group(np.random.default_rng(3), n=50)
    r = fit_group(g.x, g.y, bootstrap=40, bootstrap_max=40)
    record = r.to_record()
    assert record["status"] == "ok" and record["family"] == "abnar"
    assert set(r.summary()["parameter"]) == {
        "k", "alpha", "e_ir", "sigma_v", "sigma_u", "sigma_c", "pi_c", "plateau"
    }  # fmt: skip
    assert "plateau" in r._repr_html_()
    assert len(r.curve(25)) == 25
    assert len(r.frontier_points()) == 50
    with pytest.raises(AttributeError):
        r.status = "x"  # type: ignore[misc]


def test_bad_options_raise_input_errors() -> None:
    runs = pd.DataFrame(
        {
            "task": ["t"],
            "method": ["m"],
            "shots": [1],
            "upstream_score": [0.5],
            "downstream_score": [0.5],
        }
    )
    with pytest.raises(InputError, match="unknown family"):
        fit_frontiers(runs, family="nope")
    with pytest.raises(InputError, match="unknown frontier"):
        fit_frontiers(runs, frontier="nope")
    with pytest.raises(InputError, match="ci_level"):
        fit_frontiers(runs, ci_level=1.5)
    with pytest.raises(InputError, match="lack column"):
        fit_frontiers(runs.drop(columns="shots"))
    assert get_family("abnar").family_name == "abnar"
