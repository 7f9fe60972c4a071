"""The simulated checkpoint ladder: schema, determinism, structure and its ground truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from transferscope.dln import (
    DEFAULT_METHODS,
    default_tasks,
    expected_ordering,
    generalization_curves,
    ladder_ground_truth,
    simulate_ladder,
    summarize_curves,
)
from transferscope.errors import InputError
from transferscope.schema import ACCURACY_METRICS, INPUT_COLUMNS, KEY_COLUMNS


@pytest.fixture(scope="module")
def ladder() -> pd.DataFrame:
    return simulate_ladder()


def test_schema_and_counts(ladder: pd.DataFrame) -> None:
    runs = ladder
    assert list(runs.columns) == list(INPUT_COLUMNS)
    checkpoints, tasks, methods, shots, seeds = 6, 4, len(DEFAULT_METHODS), 2, 3
    pretrained = runs[runs["pretrained"]]
    scratch = runs[~runs["pretrained"]]
    assert len(pretrained) == checkpoints * tasks * methods * shots * seeds
    assert len(scratch) == tasks * methods * shots * seeds
    assert runs["downstream_score"].between(0, 1).all()
    assert pretrained["upstream_score"].between(0, 1).all()
    assert scratch["upstream_score"].isna().all() and (scratch["model"] == "scratch").all()
    assert set(runs["downstream_metric"]) <= ACCURACY_METRICS
    assert set(pretrained["upstream_metric"]) <= ACCURACY_METRICS
    # the run key (without the source, set at ingest) identifies every row
    key = [c for c in KEY_COLUMNS if c != "source"]
    assert not runs.duplicated(key).any()
    assert str(runs["shots"].dtype) == "Int64" and str(runs["seed"].dtype) == "Int64"
    hp = json.loads(pretrained["hparams"].iloc[0])
    assert {"c_pt", "lam_pt", "gamma_ft", "regime", "n_pretrain", "error"} <= set(hp)
    # the score is 1 - the recorded error, clipped
    errs = pretrained["hparams"].map(lambda s: json.loads(s)["error"])
    np.testing.assert_allclose(pretrained["downstream_score"], np.clip(1 - errs, 0, 1))


def test_checkpoints_improve_upstream(ladder: pd.DataFrame) -> None:
    runs = ladder
    pre = runs[runs["pretrained"]]
    n_pt = pre["hparams"].map(lambda s: json.loads(s)["n_pretrain"])
    up = pre.groupby(n_pt)["upstream_score"].mean()
    # measured means 0.52 at the worst checkpoint to 0.976 at the best (noise 0.3)
    assert up.is_monotonic_increasing and up.iloc[0] < 0.6 and up.iloc[-1] > 0.95
    # least-squares checkpoints (n_PT > D): one upstream score per (checkpoint, seed), every method
    assert (pre.groupby(["model", "seed"])["upstream_score"].nunique() == 1).all()


def test_deterministic_and_seeded() -> None:
    a = simulate_ladder(checkpoints=2, tasks=2, seeds=2, dim=30, seed=5)
    b = simulate_ladder(checkpoints=2, tasks=2, seeds=2, dim=30, seed=5)
    c = simulate_ladder(checkpoints=2, tasks=2, seeds=2, dim=30, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["downstream_score"], c["downstream_score"])


def test_more_tasks_and_bad_arguments() -> None:
    tasks = default_tasks(0.2, 7)
    assert [t.name for t in tasks][:4] == ["equal", "subset", "disjoint", "partial"]
    assert len({t.name for t in tasks}) == 7
    runs = simulate_ladder(checkpoints=1, tasks=6, seeds=1, dim=60)
    assert runs["task"].nunique() == 6
    with pytest.raises(InputError, match="seeds"):
        simulate_ladder(seeds=0)
    with pytest.raises(InputError, match="dim"):
        simulate_ladder(dim=3)


def test_ground_truth_orders_dependent_methods_first() -> None:
    truth = ladder_ground_truth(seeds=6)
    print(truth.to_string())
    t = truth.set_index("method")
    dependent = [s.name for s in DEFAULT_METHODS if s.regime().pretraining_dependent]
    independent = [s.name for s in DEFAULT_METHODS if not s.regime().pretraining_dependent]
    assert set(truth["method"].iloc[:2]) == set(dependent)
    assert list(truth["rank"]) == list(range(len(truth)))
    # Independent methods are flat along the ladder, dependent ones are not: measured gain ranges
    # 0.002 and 0.001 against 0.15 and 0.04; slopes 0.002 against 0.10 and 0.04.
    assert t.loc[independent, "gain_range"].abs().max() < 0.01
    assert t.loc[dependent, "gain_range"].min() > 0.02
    assert t.loc[dependent, "slope"].min() > 5 * t.loc[independent, "slope"].abs().max()


def test_expected_ordering_small_ladder() -> None:
    kwargs = {"checkpoints": 3, "tasks": 2, "dim": 40, "seeds": 3}
    order = expected_ordering("gain_range", **kwargs)
    truth = ladder_ground_truth(**kwargs)
    assert order == list(truth.sort_values("gain_range", ascending=False)["method"])
    with pytest.raises(InputError, match="metric"):
        expected_ordering("bogus")


def test_generalization_curves_fall_with_alpha() -> None:
    curves = generalization_curves(dim=60, alphas=(0.15, 0.6), seeds=2)
    assert set(curves["method"]) == {s.name for s in DEFAULT_METHODS} | {"scratch"}
    assert curves["converged"].all()
    summary = summarize_curves(curves)
    assert list(summary.columns) == [
        "method",
        "regime",
        "task",
        "alpha_ft",
        "gen_error",
        "gen_error_se",
        "n_seeds",
    ]
    mean = summary.groupby(["method", "alpha_ft"])["gen_error"].mean().unstack()
    assert (mean[0.6] < mean[0.15]).all()  # more fine-tuning data, lower error, for every method
