"""Ranking: recovery of a known ordering, the table contract, pairwise Holm, Friedman/Nemenyi."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _dependence_ladder import SLOPES, synthetic_ladder
from scipy import stats
from statsmodels.stats.multitest import multipletests

from transferscope.dependence.metrics import task_values
from transferscope.dependence.ranking import (
    friedman_nemenyi,
    friedman_nemenyi_kernel,
    holm,
    pairwise_comparisons,
    pooled_dependence,
    rank_methods,
)
from transferscope.records import json_safe
from transferscope.rng import keyed_seed
from transferscope.stats.meta import pool_effects

LADDER = synthetic_ladder(seed=0)
CONTRACT = ["method", "rank", "estimate", "ci_low", "ci_high", "ci_level", "diff_from_best"]
CONTRACT += ["se", "p_best", "n_tasks", "tau2", "i2", "better"]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("slope", ["lora", "full_ft", "linear_probe"]),  # lower slope = less dependent = better
        ("retention", ["lora", "full_ft", "linear_probe"]),  # equal drops: flatter keeps more
    ],
)
def test_ranking_recovers_the_known_order(metric: str, expected: list[str]) -> None:
    table = rank_methods(LADDER, metric=metric, bootstrap=200, seed=1)
    assert list(table["method"]) == expected
    assert table["p_best"].iloc[0] >= 0.95
    assert set(CONTRACT) <= set(table.columns)


def test_gain_ranking_follows_the_scratch_drop() -> None:
    drops = {"lora": 1.0, "full_ft": 2.0, "linear_probe": 3.0}
    runs = synthetic_ladder(seed=2, drops=drops)
    table = rank_methods(runs, metric="gain", bootstrap=200, seed=0)
    assert list(table["method"]) == ["linear_probe", "full_ft", "lora"]


def test_pooled_slopes_are_near_the_truth() -> None:
    pooled = pooled_dependence(LADDER, "slope", pool="REML").set_index("method")
    for method, slope in SLOPES.items():
        # task deviations N(0, 0.05) over 10 tasks: sd of the mean 0.016; allow 0.05
        assert abs(pooled.loc[method, "estimate"] - slope) < 0.05
        assert pooled.loc[method, "ci_low"] < slope < pooled.loc[method, "ci_high"]
        assert pooled.loc[method, "n_tasks"] == 10
        assert pooled.loc[method, "pool_method"] == "REML"
        assert pooled.loc[method, "se_source"] == "seeds"


def test_ranking_table_contract() -> None:
    table = rank_methods(LADDER, metric="slope", bootstrap=100, seed=0)
    assert list(table["rank"]) == [0, 1, 2]
    assert table["diff_from_best"].iloc[0] == 0 and (table["diff_from_best"] >= 0).all()
    assert table["se"].iloc[0] == 0 and (table["se"].iloc[1:] > 0).all()
    assert table["p_best"].sum() == pytest.approx(1.0)
    assert set(table["better"]) == {"lower"}
    assert (table["ci_low"] <= table["estimate"]).all() and (
        table["estimate"] <= table["ci_high"]
    ).all()
    # the pooled estimate is pool_effects on the task values
    tv = task_values(LADDER, "slope")
    lora = tv[tv["method"] == "lora"]
    ref = pool_effects(lora["estimate"], lora["variance"], method="DL")
    assert table.loc[table["method"] == "lora", "estimate"].item() == pytest.approx(ref.estimate)
    assert table.loc[table["method"] == "lora", "tau2"].item() == pytest.approx(ref.tau2)
    # seeded: the same table again; another seed changes the bootstrap columns only
    again = rank_methods(LADDER, metric="slope", bootstrap=100, seed=0)
    pd.testing.assert_frame_equal(table, again)
    other = rank_methods(LADDER, metric="slope", bootstrap=100, seed=5)
    assert list(other["method"]) == list(table["method"])
    no_boot = rank_methods(LADDER, metric="slope", bootstrap=0)
    assert no_boot["p_best"].isna().all()
    flipped = rank_methods(LADDER, metric="slope", bootstrap=0, better="higher")
    assert list(flipped["method"]) == ["linear_probe", "full_ft", "lora"]


def test_bootstrap_se_of_the_difference_is_the_paired_task_resampling_sd() -> None:
    table = rank_methods(LADDER, metric="slope", bootstrap=400, seed=3, pool="FE")
    tv = task_values(LADDER, "slope")
    wide = tv.pivot_table(index="task", columns="method", values="estimate")
    var = tv.pivot_table(index="task", columns="method", values="variance")
    # the context's resamples derive from the seed and the context key (one context here)
    context = list(tv.columns[: list(tv.columns).index("method")])
    key = {c: json_safe(tv[c].iloc[0]) for c in context}
    rng = np.random.default_rng(keyed_seed(3, key))
    idx = rng.integers(0, len(wide), size=(400, len(wide)))
    # the same draws the ranking made: FE-pooled difference of lora and full_ft per resample
    w = 1 / var.to_numpy()
    y = wide.to_numpy()
    cols = list(wide.columns)
    fe = np.array([[np.sum(w[r, j] * y[r, j]) / np.sum(w[r, j]) for j in range(3)] for r in idx])
    diff = fe[:, cols.index("full_ft")] - fe[:, cols.index("lora")]
    assert table.loc[table["method"] == "full_ft", "se"].item() == pytest.approx(
        np.std(diff, ddof=1), rel=1e-9
    )


def test_holm_matches_statsmodels() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, np.nan])
    ours = holm(p)
    ref = multipletests(p[:-1], method="holm")[1]
    np.testing.assert_allclose(ours[:-1], ref, rtol=1e-12)
    assert math.isnan(ours[-1])


def test_pairwise_is_pooled_task_differences_with_holm() -> None:
    table = pairwise_comparisons(LADDER, "gain")
    assert len(table) == 3
    tv = task_values(LADDER, "gain")
    a = tv[tv["method"] == table["method_a"].iloc[0]].set_index("task")
    b = tv[tv["method"] == table["method_b"].iloc[0]].set_index("task")
    # different methods have different scratch baselines here: variances add
    ref = pool_effects(a["estimate"] - b["estimate"], a["variance"] + b["variance"])
    assert table["estimate"].iloc[0] == pytest.approx(ref.estimate, rel=1e-12)
    assert table["pvalue"].iloc[0] == pytest.approx(ref.pvalue, rel=1e-9)
    np.testing.assert_allclose(table["pvalue_holm"], holm(table["pvalue"]), rtol=1e-12)
    slopes = pairwise_comparisons(LADDER, "slope")
    assert slopes["significant"].all()  # slopes 0.3 / 0.8 / 1.4 are far apart


def test_pairwise_subtracts_a_shared_baseline() -> None:
    runs = LADDER.copy()
    runs.loc[~runs["pretrained"], "method"] = "scratch"  # one scratch per task for all methods
    runs = runs.drop_duplicates(subset=["model", "task", "method", "seed"])
    table = pairwise_comparisons(runs, "gain")
    tv = task_values(runs, "gain")
    a = tv[tv["method"] == table["method_a"].iloc[0]].set_index("task")
    b = tv[tv["method"] == table["method_b"].iloc[0]].set_index("task")
    var = a["variance"] + b["variance"] - 2 * a["baseline_variance"]
    ref = pool_effects(a["estimate"] - b["estimate"], var)
    assert table["se"].iloc[0] == pytest.approx(ref.se, rel=1e-12)


def test_friedman_matches_scipy_and_nemenyi_the_studentized_range() -> None:
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(12, 4)) + np.array([0.0, 0.3, 0.6, 1.2])
    scores[0, 1] = scores[0, 2]  # a tie
    res = friedman_nemenyi_kernel(scores)
    ref = stats.friedmanchisquare(*scores.T)
    assert res["statistic"] == pytest.approx(ref.statistic, rel=1e-12)
    assert res["pvalue"] == pytest.approx(ref.pvalue, rel=1e-12)
    q = stats.studentized_range.ppf(0.95, 4, np.inf)
    assert res["critical_difference"] == pytest.approx(q / math.sqrt(2) * math.sqrt(20 / 72))
    # Demsar (2006), table 5: q_0.05 / sqrt(2) = 2.569 for four classifiers
    assert q / math.sqrt(2) == pytest.approx(2.569, abs=5e-4)
    gap = (res["mean_rank"][0] - res["mean_rank"].min()) / math.sqrt(20 / 72) * math.sqrt(2)
    assert res["nemenyi_pvalue"][0] == pytest.approx(stats.studentized_range.sf(gap, 4, np.inf))
    assert res["mean_rank"].sum() == pytest.approx(4 * 5 / 2)  # ranks 1..4 per task


def test_friedman_table_on_the_ladder() -> None:
    table = friedman_nemenyi(LADDER, "slope")
    assert list(table["method"]) == ["lora", "full_ft", "linear_probe"]
    np.testing.assert_allclose(table["mean_rank"], [1.0, 2.0, 3.0])  # every task agrees
    assert table["statistic"].iloc[0] == pytest.approx(20.0)  # 12N/(k(k+1)) sum R^2 - 3N(k+1)
    assert table["pvalue"].iloc[0] == pytest.approx(stats.chi2.sf(20.0, 2))
    assert list(table["within_cd"]) == [True, True, False]  # CD = 1.048 for k=3, N=10
