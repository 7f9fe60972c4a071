"""gain, slope and retention per task, checked by hand on tiny tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from transferscope.dependence.metrics import measure_dependence, task_values
from transferscope.errors import InputError


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _runs(rows: list[tuple]) -> pd.DataFrame:
    cols = ["model", "pretrained", "upstream_score", "task", "method", "seed", "downstream_score"]
    return pd.DataFrame(rows, columns=cols)


# two checkpoints with two seeds each, and a scratch baseline with two seeds
TINY = _runs(
    [
        ("A", True, 0.6, "t1", "ft", 0, 0.70),
        ("A", True, 0.6, "t1", "ft", 1, 0.74),
        ("B", True, 0.8, "t1", "ft", 0, 0.80),
        ("B", True, 0.8, "t1", "ft", 1, 0.84),
        ("S", False, None, "t1", "ft", 0, 0.50),
        ("S", False, None, "t1", "ft", 1, 0.52),
    ]
)


def test_gain_by_hand() -> None:
    out = measure_dependence(TINY, "gain").set_index("checkpoint")
    assert list(out.index) == ["A", "B"]
    assert out.loc["A", "estimate"] == pytest.approx(0.72 - 0.51, abs=1e-12)
    assert out.loc["B", "estimate"] == pytest.approx(0.82 - 0.51, abs=1e-12)
    # var of a mean of two seeds = sample variance / 2; checkpoint and scratch add
    var_a, var_s = np.var([0.70, 0.74], ddof=1) / 2, np.var([0.50, 0.52], ddof=1) / 2
    assert out.loc["A", "se"] == pytest.approx(math.sqrt(var_a + var_s), rel=1e-12)
    assert out.loc["A", "baseline_se"] == pytest.approx(math.sqrt(var_s), rel=1e-12)
    assert out.loc["A", "ci_high"] - out.loc["A", "estimate"] == pytest.approx(
        1.959963984540054 * out.loc["A", "se"], rel=1e-9
    )
    assert set(out["se_source"]) == {"seeds"} and set(out["baseline"]) == {"ft"}
    assert set(out["status"]) == {"ok"}


def test_gain_per_task_counts_the_shared_baseline_once() -> None:
    tv = task_values(TINY, "gain").iloc[0]
    var_a = np.var([0.70, 0.74], ddof=1) / 2
    var_b = np.var([0.80, 0.84], ddof=1) / 2
    var_s = np.var([0.50, 0.52], ddof=1) / 2
    assert tv["estimate"] == pytest.approx((0.21 + 0.31) / 2, abs=1e-12)
    assert tv["variance"] == pytest.approx((var_a + var_b) / 4 + var_s, rel=1e-12)
    assert tv["ci_high"] - tv["estimate"] == pytest.approx(1.959963984540054 * tv["se"], rel=1e-9)
    top = task_values(TINY, "gain", checkpoint="top").iloc[0]
    assert top["estimate"] == pytest.approx(0.31, abs=1e-12)
    assert top["variance"] == pytest.approx(var_b + var_s, rel=1e-12)


def test_retention_by_hand_with_delta_method_se() -> None:
    row = measure_dependence(TINY, "retention").iloc[0]
    a, b = 0.21, 0.31  # gain of the other checkpoint and of the best (highest upstream)
    assert row["estimate"] == pytest.approx(a / b, rel=1e-12)
    var_a = np.var([0.70, 0.74], ddof=1) / 2
    var_b = np.var([0.80, 0.84], ddof=1) / 2
    var_s = np.var([0.50, 0.52], ddof=1) / 2
    var = (var_a + var_s) / b**2 + a**2 * (var_b + var_s) / b**4 - 2 * a * var_s / b**3
    assert row["se"] == pytest.approx(math.sqrt(var), rel=1e-12)
    assert row["n_checkpoints"] == 2


def test_slope_by_hand_two_checkpoints_weighted_by_seed_variance() -> None:
    # two checkpoints are below the default minimum of three: allowed here to check the formula
    row = measure_dependence(TINY, "slope", min_checkpoints=2).iloc[0]
    slope = (_logit(0.82) - _logit(0.72)) / (_logit(0.8) - _logit(0.6))
    assert row["estimate"] == pytest.approx(slope, rel=1e-12)
    # delta method: var(logit(mean)) = var(mean) / (p (1 - p))^2; two points: se^2 = sum of
    # the two y variances / (x_B - x_A)^2
    vy = [np.var([0.70, 0.74], ddof=1) / 2 / (0.72 * 0.28) ** 2]
    vy.append(np.var([0.80, 0.84], ddof=1) / 2 / (0.82 * 0.18) ** 2)
    se = math.sqrt(sum(vy)) / (_logit(0.8) - _logit(0.6))
    assert row["se"] == pytest.approx(se, rel=1e-10)
    assert row["se_source"] == "seeds"


def test_published_stderr_and_between_checkpoint_fallback() -> None:
    ups = [0.5, 0.6, 0.7, 0.8]
    scores = [0.60, 0.66, 0.75, 0.79]
    rows = [
        (f"c{i}", True, u, "t", "lp", None, s)
        for i, (u, s) in enumerate(zip(ups, scores, strict=True))
    ]
    rows.append(("S", False, None, "t", "lp", None, 0.40))
    runs = _runs(rows)
    out = measure_dependence(runs, "slope").iloc[0]
    x = np.array([_logit(u) for u in ups])
    y = np.array([_logit(s) for s in scores])
    coef, res, *_ = np.polyfit(x, y, 1, full=True)
    sxx = np.sum((x - x.mean()) ** 2)
    assert out["estimate"] == pytest.approx(coef[0], rel=1e-10)
    assert out["se"] == pytest.approx(math.sqrt(res[0] / 2 / sxx), rel=1e-10)
    assert out["se_source"] == "between_checkpoint"
    gain = measure_dependence(runs, "gain")
    s2 = res[0] / 2  # residual variance on the logit scale, mapped back by (p (1 - p))^2
    expected = [s2 * (s * (1 - s)) ** 2 for s in scores]
    np.testing.assert_allclose(gain["checkpoint_se"] ** 2, expected, rtol=1e-10)
    # the scratch cell borrows the mean of its task's fallback variances
    np.testing.assert_allclose(gain["baseline_se"] ** 2, np.mean(expected), rtol=1e-10)
    assert set(gain["se_source"]) == {"between_checkpoint"}
    # published errors take precedence over the fallback
    published = runs.assign(downstream_stderr=0.01)
    assert set(measure_dependence(published, "gain")["se_source"]) == {"published"}
    np.testing.assert_allclose(measure_dependence(published, "gain")["se"], math.sqrt(2) * 0.01)
    # two checkpoints and no errors: no variance at all
    none = measure_dependence(runs[runs["model"].isin(["c0", "c1", "S"])], "gain")
    assert set(none["se_source"]) == {"none"} and none["se"].isna().all()


def test_lower_is_better_metric_orients_the_gain() -> None:
    runs = TINY.assign(downstream_metric="loss")
    out = measure_dependence(runs, "gain")
    np.testing.assert_allclose(out["estimate"], [0.51 - 0.72, 0.51 - 0.82], atol=1e-12)


def test_scratch_with_another_method_is_the_fallback_baseline() -> None:
    runs = TINY.copy()
    runs.loc[~runs["pretrained"], "method"] = "scratch"
    out = measure_dependence(runs, "gain")
    assert set(out["baseline"]) == {"scratch"}
    assert out["estimate"].iloc[0] == pytest.approx(0.21, abs=1e-12)
    # no scratch at all: the status says so
    alone = measure_dependence(TINY[TINY["pretrained"]], "gain")
    assert set(alone["status"]) == {"no_baseline"} and alone["estimate"].isna().all()


def test_best_hyperparameters_are_kept() -> None:
    runs = TINY.assign(hparams='{"lr": 0.1}')
    worse = TINY[TINY["model"] == "A"].assign(hparams='{"lr": 1.0}', downstream_score=[0.60, 0.62])
    both = pd.concat([runs, worse], ignore_index=True)
    best = measure_dependence(both, "gain").set_index("checkpoint")
    assert best.loc["A", "estimate"] == pytest.approx(0.21, abs=1e-12)
    assert best.loc["A", "n_runs"] == 2
    # per-run notes in hparams (one row per seed) do not make a grid: the seeds stay replicates
    notes = TINY.assign(hparams=[f'{{"error": {i}}}' for i in range(len(TINY))])
    kept = measure_dependence(notes, "gain").set_index("checkpoint")
    assert list(kept["n_runs"]) == [2, 2] and set(kept["se_source"]) == {"seeds"}
    pooled = measure_dependence(both, "gain", hparams="all").set_index("checkpoint")
    assert pooled.loc["A", "estimate"] == pytest.approx(np.mean([0.7, 0.74, 0.6, 0.62]) - 0.51)
    assert pooled.loc["A", "n_runs"] == 4


def test_shots_keep_regimes_apart_unless_the_entity_fixes_them() -> None:
    a = TINY.assign(shots=1000, method="full_ft")
    b = TINY.assign(shots=pd.NA, method="full_ft")
    b["downstream_score"] = b["downstream_score"] + 0.05
    b.loc[~b["pretrained"], "downstream_score"] -= 0.05  # full data: scratch 0.5 / 0.52
    vtab_like = pd.concat([a, b], ignore_index=True)
    out = measure_dependence(vtab_like, "gain", entity="model")
    assert {"shots", "method"} <= set(out.columns)
    assert len(out) == 4 and out["shots"].isna().sum() == 2
    # zero_shot always has 0 shots and five_shot 5: one context, both compared
    z = TINY.assign(method="zero_shot", shots=0)
    f = TINY.assign(method="five_shot", shots=5)
    out = measure_dependence(pd.concat([z, f], ignore_index=True), "slope")
    assert "shots" not in out.columns and sorted(out["method"]) == ["five_shot", "zero_shot"]


def test_bad_input() -> None:
    with pytest.raises(InputError, match="unknown dependence metric"):
        measure_dependence(TINY, "auc")
    with pytest.raises(InputError, match="'task'"):
        measure_dependence(TINY.drop(columns=["task"]), "gain")
    with pytest.raises(InputError, match="no column or hparams key 'size'"):
        measure_dependence(TINY, "gain", by="size")
    bad = TINY.astype({"downstream_score": object})
    bad.loc[3, "downstream_score"] = "n/a"
    with pytest.raises(InputError, match="row 4, column 'downstream_score'"):
        measure_dependence(bad, "gain")
    with pytest.raises(InputError, match="no runs with downstream_metric"):
        measure_dependence(TINY, "gain", downstream_metric="f1")
    with pytest.raises(InputError, match="each shot count is its own entity"):
        measure_dependence(TINY.assign(shots=5), "gain", entity="shots")
    with pytest.raises(InputError, match="checkpoints must be"):
        measure_dependence(TINY, "gain", checkpoints="some")


def test_rows_without_an_entity_value_are_left_out() -> None:
    runs = TINY.assign(architecture=["r50", "r50", None, None, None, None])
    out = measure_dependence(runs, "gain", entity="architecture")
    assert list(out["checkpoint"]) == ["A"] and list(out["architecture"]) == ["r50"]
    assert out["estimate"].iloc[0] == pytest.approx(0.21, abs=1e-12)
