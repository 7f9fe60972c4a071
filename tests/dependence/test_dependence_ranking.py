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
from transferscope.dependence.pooling import pooled_dependence
from transferscope.dependence.ranking import holm, pairwise_comparisons, rank_methods
from transferscope.dependence.stability import friedman_nemenyi, friedman_nemenyi_kernel
from transferscope.stats.meta import pool_effects

LADDER = synthetic_ladder(seed=0)
CONTRACT = ["method", "rank", "rank_low", "rank_high", "estimate", "se", "ci_low", "ci_high"]
CONTRACT += ["ci_level", "diff_from_best", "diff_se", "p_best", "n_tasks", "n_shared_tasks"]
CONTRACT += ["tau2", "i2"]
CONTRACT += ["more_dependent", "order", "pool_model", "status", "message"]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # most dependent first: the steepest slope follows the checkpoint's quality most
        ("slope", ["linear_probe", "full_ft", "lora"]),
        # equal drops: the steepest method keeps least of its gain on worse checkpoints
        ("retention", ["linear_probe", "full_ft", "lora"]),
    ],
)
def test_ranking_recovers_the_known_order(metric: str, expected: list[str]) -> None:
    table = rank_methods(LADDER, metric, bootstrap=200, seed=1)
    assert list(table["method"]) == expected
    assert table["p_best"].iloc[0] >= 0.95
    assert set(CONTRACT) <= set(table.columns)
    assert set(table["more_dependent"]) == {"higher" if metric == "slope" else "lower"}


def test_gain_ranking_follows_the_scratch_drop() -> None:
    drops = {"lora": 1.0, "full_ft": 2.0, "linear_probe": 3.0}
    runs = synthetic_ladder(seed=2, drops=drops)
    table = rank_methods(runs, "gain", bootstrap=200, seed=0)
    assert list(table["method"]) == ["linear_probe", "full_ft", "lora"]  # largest gain first


def test_pooled_slopes_are_near_the_truth() -> None:
    pooled = pooled_dependence(LADDER, "slope", method="REML").set_index("method")
    for method, slope in SLOPES.items():
        # task deviations N(0, 0.05) over 10 tasks: sd of the mean 0.016; allow 0.05
        assert abs(pooled.loc[method, "estimate"] - slope) < 0.05
        assert pooled.loc[method, "ci_low"] < slope < pooled.loc[method, "ci_high"]
        assert pooled.loc[method, "n_tasks"] == 10
        assert pooled.loc[method, "pool_method"] == "REML"
        assert pooled.loc[method, "pool_model"] == "random_effects"  # task names: no suites
        assert pooled.loc[method, "se_source"] == "seeds"
        assert pooled.loc[method, "pi_low"] < pooled.loc[method, "ci_low"]


def test_ranking_table_contract() -> None:
    table = rank_methods(LADDER, "slope", bootstrap=100, seed=0)
    assert list(table["rank"]) == [1, 2, 3]
    assert table["diff_from_best"].iloc[0] == 0 and (table["diff_from_best"] >= 0).all()
    assert table["diff_se"].iloc[0] == 0 and (table["diff_se"].iloc[1:] > 0).all()
    assert (table["se"] > 1e-9).all()
    assert table["p_best"].sum() == pytest.approx(1.0)
    assert set(table["more_dependent"]) == {"higher"}
    assert set(table["order"]) == {"most_dependent_first"}
    assert (table["rank_low"] <= table["rank"]).all() and (
        table["rank"] <= table["rank_high"]
    ).all()
    assert (table["ci_low"] <= table["estimate"]).all() and (
        table["estimate"] <= table["ci_high"]
    ).all()
    # the pooled estimate and its se are pool_effects on the task values
    tv = task_values(LADDER, "slope")
    lora = tv[tv["method"] == "lora"]
    ref = pool_effects(lora["estimate"], lora["variance"], method="DL")
    row = table[table["method"] == "lora"].iloc[0]
    assert row["estimate"] == pytest.approx(ref.estimate)
    assert row["se"] == pytest.approx(ref.se)
    assert row["tau2"] == pytest.approx(ref.tau2)
    # seeded: the same table again; another seed changes the draws only
    again = rank_methods(LADDER, "slope", bootstrap=100, seed=0)
    pd.testing.assert_frame_equal(table, again)
    same = rank_methods(LADDER, "slope", bootstrap=100, rng=np.random.default_rng(0))
    pd.testing.assert_frame_equal(table, same)
    other = rank_methods(LADDER, "slope", bootstrap=100, seed=5)
    assert list(other["method"]) == list(table["method"])
    no_boot = rank_methods(LADDER, "slope", bootstrap=0)
    assert no_boot["p_best"].isna().all() and no_boot["rank_low"].isna().all()
    np.testing.assert_allclose(no_boot["diff_se"], table["diff_se"])  # not from the draws
    least = rank_methods(LADDER, "slope", bootstrap=0, order="least")
    assert list(least["method"]) == ["lora", "full_ft", "linear_probe"]
    assert set(least["order"]) == {"least_dependent_first"}


def test_holm_matches_statsmodels() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, np.nan])
    ours = holm(p)
    ref = multipletests(p[:-1], method="holm")[1]
    np.testing.assert_allclose(ours[:-1], ref, rtol=1e-12)
    assert math.isnan(ours[-1])


def test_pairwise_is_pooled_task_differences_with_holm() -> None:
    table = pairwise_comparisons(LADDER, "gain")
    assert len(table) == 3 and set(table["pool_model"]) == {"random_effects"}
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
    # Kendall's W by its definition (no ties correction needed away from the tied task):
    # W = 12 S / (m^2 (k^3 - k) - m T) with S the spread of the rank sums and T the ties term
    ranks = np.vstack([stats.rankdata(-row) for row in scores])
    rsum = ranks.sum(axis=0)
    big_s = np.sum((rsum - rsum.mean()) ** 2)
    ties = sum(np.sum(c**3 - c) for c in (np.unique(r, return_counts=True)[1] for r in ranks))
    w = 12 * big_s / (12**2 * (4**3 - 4) - 12 * ties)
    assert res["kendall_w"] == pytest.approx(w, rel=1e-12)


def test_friedman_table_on_the_ladder() -> None:
    table = friedman_nemenyi(LADDER, "slope")
    assert list(table["method"]) == ["linear_probe", "full_ft", "lora"]  # most dependent first
    np.testing.assert_allclose(table["mean_rank"], [1.0, 2.0, 3.0])  # every task agrees
    assert list(table["rank"]) == [1, 2, 3]  # as the ranking table and the CD chart count
    assert table["kendall_w"].iloc[0] == pytest.approx(1.0)  # perfect concordance
    assert table["statistic"].iloc[0] == pytest.approx(20.0)  # 12N/(k(k+1)) sum R^2 - 3N(k+1)
    assert table["pvalue"].iloc[0] == pytest.approx(stats.chi2.sf(20.0, 2))
    assert list(table["within_cd"]) == [True, True, False]  # CD = 1.048 for k=3, N=10
