"""Dependence on the published tables: VTAB-1k, Pythia, CLIP probes; values recomputed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferscope.dependence.metrics import LOGIT_CLIP, measure_dependence
from transferscope.dependence.ranking import pairwise_comparisons, pooled_dependence, rank_methods


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.log(q / (1 - q))


def _load(shared_data: Path, name: str) -> pd.DataFrame:
    from transferscope.ingest.sources import load_source

    return load_source(name, from_dir=shared_data).frame


@pytest.fixture(scope="module")
def vtab(shared_data: Path) -> pd.DataFrame:
    return _load(shared_data, "vtab")


@pytest.fixture(scope="module")
def pythia(shared_data: Path) -> pd.DataFrame:
    frame = _load(shared_data, "pythia")
    return frame[frame["task"] != "lambada_openai"]  # the upstream task itself


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> pd.DataFrame:
    return _load(shared_data, "clip-benchmark")


def test_vtab_pretraining_methods_ranked_by_gain_over_scratch(
    vtab: pd.DataFrame, shared_data: Path
) -> None:
    table = rank_methods(vtab, "gain", entity="model", bootstrap=200, seed=0)
    assert set(table["shots"].astype("string").fillna("full")) == {"1000", "full"}
    for _, regime in table.groupby(table["shots"].isna()):
        assert list(regime["rank"]) == list(range(15))  # 15 pretraining methods
        assert set(regime["n_tasks"]) == {19}
        assert set(regime["pool_method"]) == {"unweighted"} and set(regime["se_source"]) == {"none"}
        assert regime["p_best"].sum() == pytest.approx(1.0)
        # supervised pretraining gains most, as in the VTAB paper
        top3 = {"Sup-Rotation-100%", "Sup-Exemplar-100%", "Sup-100%"}
        assert set(regime["model"].iloc[:3]) == top3
    # recomputed from the published long table, without the loader: mean gain over 19 tasks
    raw = pd.read_csv(shared_data / "vtab" / "results_long.csv")
    raw = raw[raw["regime"] == "1000_examples"].pivot(
        index="dataset", columns="method", values="accuracy"
    )
    gain = (raw["Sup-Rotation-100%"] - raw["From-Scratch"]) / 100
    row = table[(table["shots"] == 1000) & (table["model"] == "Sup-Rotation-100%")].iloc[0]
    assert row["estimate"] == pytest.approx(gain.mean(), rel=1e-9)
    assert row["estimate_se"] == pytest.approx(gain.std(ddof=1) / math.sqrt(19), rel=1e-9)
    assert row["ci_high"] - row["estimate"] == pytest.approx(
        2.10092204024096 * row["estimate_se"],
        rel=1e-9,  # t quantile, 18 df
    )
    # generative pretraining is worse than none with full data
    full = table[table["shots"].isna()].set_index("model")
    assert (full.loc[["VAE", "WAE-GAN", "WAE-MMD", "WAE-UKL"], "ci_high"] < 0).all()


def test_pythia_five_shot_follows_the_ladder_more_than_zero_shot(pythia: pd.DataFrame) -> None:
    pooled = pooled_dependence(pythia, "slope", downstream_metric="acc").set_index("method")
    assert set(pooled["se_source"]) == {"published"}
    assert 0 < pooled.loc["zero_shot", "estimate"] < pooled.loc["five_shot", "estimate"]
    assert pooled.loc["zero_shot", "n_tasks"] == pooled.loc["five_shot", "n_tasks"] == 64
    pair = pairwise_comparisons(pythia, "slope", downstream_metric="acc").iloc[0]
    assert (pair["method_a"], pair["method_b"]) == ("zero_shot", "five_shot")
    assert pair["estimate"] < 0 and pair["pvalue_holm"] < 0.001
    # one task by hand: weighted least squares of logit(acc) on logit(lambada acc), weights
    # from the published standard errors, se inflated by the residual dispersion
    rows = pythia[
        (pythia["method"] == "zero_shot")
        & (pythia["task"] == "piqa")
        & (pythia["downstream_metric"] == "acc")
        & pythia["pretrained"]
    ]
    x = _logit(rows["upstream_score"])
    p = rows["downstream_score"].to_numpy()
    q = np.clip(p, LOGIT_CLIP, 1 - LOGIT_CLIP)
    w = 1 / (rows["downstream_stderr"].to_numpy() ** 2 / (q * (1 - q)) ** 2)
    xm, ym = np.sum(w * x) / np.sum(w), np.sum(w * _logit(p)) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    slope = np.sum(w * (x - xm) * (_logit(p) - ym)) / sxx
    chi2 = np.sum(w * (_logit(p) - ym - slope * (x - xm)) ** 2)
    se = math.sqrt(max(1.0, chi2 / (len(x) - 2)) / sxx)
    ours = measure_dependence(pythia, "slope", downstream_metric="acc")
    ours = ours[(ours["method"] == "zero_shot") & (ours["task"] == "piqa")].iloc[0]
    assert ours["estimate"] == pytest.approx(slope, rel=1e-9)
    assert ours["se"] == pytest.approx(se, rel=1e-9)
    assert ours["n_checkpoints"] == len(rows)


def test_clip_probe_dependence_by_number_of_shots(clip: pd.DataFrame) -> None:
    pooled = pooled_dependence(clip, "slope").set_index("shots")
    assert pooled.loc[10, "n_tasks"] == 21 and pooled.loc[25, "n_tasks"] == 2
    full = pooled[pooled.index.isna()].iloc[0]
    assert full["n_tasks"] == 21 and set(pooled["se_source"]) == {"between_checkpoint"}
    for value in (pooled.loc[10, "estimate"], full["estimate"]):
        assert 0.4 < value < 1.1  # probes follow ImageNet zero-shot quality, less than 1:1
    regimes = clip.assign(regime=clip["shots"].astype("string").fillna("full"))
    pair = pairwise_comparisons(regimes, "slope", entity="regime")
    pair = pair[pair["n_tasks"] == 21].iloc[0]
    assert {pair["regime_a"], pair["regime_b"]} == {"10", "full"}
    assert pair["pvalue"] > 0.05  # no detectable change of the slope from 10 shots to full
    # one task by hand: best of the 3 x 3 lr/epochs grid per checkpoint, then least squares
    rows = clip[(clip["task"] == "vtab/pets") & (clip["shots"] == 10)]
    best = rows.groupby("model").agg(x=("upstream_score", "first"), y=("downstream_score", "max"))
    x, y = _logit(best["x"]), _logit(best["y"])
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - intercept - slope * x
    se = math.sqrt(np.sum(resid**2) / (len(x) - 2) / np.sum((x - x.mean()) ** 2))
    ours = measure_dependence(clip, "slope")
    ours = ours[(ours["task"] == "vtab/pets") & (ours["shots"] == 10)].iloc[0]
    assert ours["estimate"] == pytest.approx(slope, rel=1e-9)
    assert ours["se"] == pytest.approx(se, rel=1e-9)
    assert ours["n_checkpoints"] == 12
