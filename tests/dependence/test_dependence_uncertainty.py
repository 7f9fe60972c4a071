"""Honest uncertainty: a single task keeps its own error, slopes and retention need the data
they are defined on, p_best and diff_se come from the joint sampling distribution."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _dependence_ladder import synthetic_ladder
from scipy import stats

from transferscope.dependence.metrics import measure_dependence, task_values
from transferscope.dependence.ranking import rank_methods
from transferscope.dependence.stability import suite_agreement

LADDER = synthetic_ladder(seed=4, n_tasks=6, n_checkpoints=5, n_seeds=2)


def test_one_task_gives_its_own_value_and_error() -> None:
    one = LADDER[LADDER["task"] == "task00"]
    table = rank_methods(one, "gain", bootstrap=4000, seed=0)
    values = task_values(one, "gain").set_index("method")
    assert set(table["pool_model"]) == {"single_task"} and set(table["n_tasks"]) == {1}
    for row in table.itertuples():
        assert row.estimate == pytest.approx(values.loc[row.method, "estimate"], rel=1e-12)
        assert row.se == pytest.approx(values.loc[row.method, "se"], rel=1e-12)
        assert row.se > 1e-4
    assert (table["diff_se"].iloc[1:] > 1e-4).all()
    first, second = table.iloc[0], table.iloc[1]
    if second["ci_high"] >= first["ci_low"]:
        assert first["p_best"] < 1.0


def test_p_best_is_the_probability_of_ranking_first() -> None:
    # two methods on different tasks: independent estimates, normal marginals, so
    # P(first) = Phi(diff / sqrt(se_1^2 + se_2^2))
    runs = LADDER[LADDER["method"].isin(["lora", "full_ft"])].copy()
    lora = runs["method"] == "lora"
    runs.loc[lora, "task"] = runs.loc[lora, "task"] + "_lora"
    table = rank_methods(runs, "slope", bootstrap=20000, seed=1)
    a, b = table.iloc[0], table.iloc[1]
    assert math.isinf(a["df"]) and math.isinf(b["df"])
    assert b["diff_se"] == pytest.approx(math.hypot(a["se"], b["se"]), rel=1e-12)
    expected = stats.norm.cdf(b["diff_from_best"] / b["diff_se"])
    assert a["p_best"] == pytest.approx(expected, abs=0.01)  # Monte Carlo sd 0.0035
    assert b["p_best"] == pytest.approx(1 - a["p_best"], abs=1e-12)


def test_the_difference_counts_the_shared_scratch_baseline() -> None:
    runs = LADDER.copy()
    runs.loc[~runs["pretrained"], "method"] = "scratch"  # one scratch per task for all methods
    runs = runs.drop_duplicates(subset=["model", "task", "method", "seed"])
    table = rank_methods(runs, "gain", method="FE", bootstrap=0).set_index("method")
    values = task_values(runs, "gain")
    first = table.index[0]
    for other in table.index[1:]:
        a = values[values["method"] == first].set_index("task")
        b = values[values["method"] == other].set_index("task")
        wa, wb = 1 / a["variance"], 1 / b["variance"]
        ca, cb = wa / wa.sum(), wb / wb.sum()
        cov = float(np.sum(ca * cb * a["baseline_variance"]))  # FE: no task random effects
        var = 1 / wa.sum() + 1 / wb.sum() - 2 * cov
        assert table.loc[other, "diff_se"] == pytest.approx(math.sqrt(var), rel=1e-10)


def test_a_slope_needs_three_checkpoints_spanning_the_ladder() -> None:
    two = LADDER[LADDER["model"].isin(["ckpt2", "ckpt3", "scratch"])]
    rows = measure_dependence(two, "slope")
    assert set(rows["status"]) == {"too_few_checkpoints"} and rows["estimate"].isna().all()
    assert "a slope needs at least 3" in rows["message"].iloc[0]
    # three checkpoints 0.007 apart on the upstream score: too narrow to say anything
    close = LADDER[LADDER["model"].isin(["ckpt0", "ckpt1", "ckpt2"])].copy()
    close["upstream_score"] = close["model"].map({"ckpt0": 0.600, "ckpt1": 0.6035, "ckpt2": 0.607})
    rows = measure_dependence(close, "slope")
    assert set(rows["status"]) == {"narrow_ladder"} and rows["estimate"].isna().all()
    span = math.log(0.607 / 0.393) - math.log(0.6 / 0.4)  # on the logit scale
    assert f"span {span:.3g} on the ladder's axis" in rows["message"].iloc[0]
    ranked = rank_methods(close, "slope", bootstrap=0)
    assert ranked["estimate"].isna().all() and set(ranked["status"]) == {"narrow_ladder"}
    assert rank_methods(close, "slope", min_span=0.01, bootstrap=0)["estimate"].notna().all()


def test_retention_needs_a_gain_clearly_above_zero() -> None:
    runs = LADDER[LADDER["method"] == "lora"].copy()
    scratch = ~runs["pretrained"]
    best = runs["model"] == "ckpt4"
    # the best checkpoint barely beats scratch: within two standard errors
    base = runs[scratch].groupby("task")["downstream_score"].mean()
    runs.loc[best, "downstream_score"] = runs.loc[best, "task"].map(base) + 0.001
    rows = measure_dependence(runs, "retention")
    assert set(rows["status"]) == {"no_clear_gain"} and rows["estimate"].isna().all()
    assert "not 2 standard errors" in rows["message"].iloc[0]
    loose = measure_dependence(runs, "retention", min_gain_se=-100.0)
    assert set(loose["status"]) == {"ok"}


def test_no_ok_row_has_a_vanishing_standard_error() -> None:
    for metric in ("gain", "slope", "retention"):
        table = rank_methods(LADDER, metric, bootstrap=200, seed=0)
        ok = table[table["status"] == "ok"]
        assert len(ok) == 3 and (ok["se"] > 1e-9).all()
        assert (ok["diff_se"].iloc[1:] > 1e-9).all() and ok["diff_se"].iloc[0] == 0
        assert ok["p_best"].sum() == pytest.approx(1.0)


def test_suites_agree_on_a_shared_order() -> None:
    runs = LADDER.copy()
    names = {f"task0{i}": f"{'bbh' if i < 3 else 'blimp'}_{i}" for i in range(6)}
    runs["task"] = runs["task"].map(names)
    table = suite_agreement(runs, "slope")
    row = table.iloc[0]
    assert (row["suite_a"], row["suite_b"], row["n_entities"]) == ("bbh", "blimp", 3)
    assert row["weighted_tau"] == pytest.approx(1.0) and row["status"] == "ok"
    assert row["top_a"] == row["top_b"] == "linear_probe"
    assert row["pvalue"] == pytest.approx(1 / 6)  # the identity among 3! orders
    flipped = runs.copy()
    blimp = flipped["task"].str.startswith("blimp")
    flipped.loc[blimp, "method"] = flipped.loc[blimp, "method"].map(
        {"lora": "linear_probe", "linear_probe": "lora", "full_ft": "full_ft"}
    )
    assert suite_agreement(flipped, "slope")["weighted_tau"].iloc[0] == pytest.approx(-1.0)
    none = suite_agreement(runs[runs["method"] != "lora"], "slope")
    assert set(none["status"]) == {"too_few"}
    assert isinstance(none, pd.DataFrame)
