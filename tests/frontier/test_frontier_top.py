"""The slope at the top of the data, against scipy's least squares on the same runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from transferscope.errors import InputError
from transferscope.frontier.top import MIN_TOP_RUNS, top_slopes


def _runs(task: str, x: np.ndarray, y: np.ndarray, **extra: object) -> pd.DataFrame:
    base = {
        "task": task, "method": "lp", "shots": pd.NA, "pretrained": True,
        "upstream_task": "imagenet", "upstream_metric": "top1", "downstream_metric": "acc",
    }  # fmt: skip
    return pd.DataFrame({**base, **extra, "upstream_score": x, "downstream_score": y})


def test_slope_and_interval_match_least_squares_on_the_best_quarter() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.9, 80)
    y = 0.2 + 0.6 * x - 0.8 * np.clip(x - 0.7, 0, None) + rng.normal(0, 0.01, 80)
    out = top_slopes(_runs("t", x, y), by=["task"]).iloc[0]
    top = np.argsort(x)[::-1][:20]  # a quarter of 80 distinct scores
    ref = stats.linregress(x[top], y[top])
    assert out["slope_status"] == "ok" and out["n_top"] == 20
    assert out["slope"] == pytest.approx(ref.slope, rel=1e-10)
    assert out["slope_se"] == pytest.approx(ref.stderr, rel=1e-10)
    t = stats.t.ppf(0.975, 18)
    assert out["slope_ci_low"] == pytest.approx(ref.slope - t * ref.stderr, rel=1e-10)
    assert out["top_upstream_min"] == pytest.approx(x[top].min())
    # the top of this group flattens (0.6 - 0.8 < 0): the slope there is negative
    assert out["slope"] < 0 and out["slope_ci_high"] < 0


def test_the_top_counts_checkpoints_not_seeds() -> None:
    x = np.repeat(np.linspace(0.5, 0.9, 8), 3)  # 8 checkpoints, 3 seeds each
    y = 0.5 * x + np.tile([-0.01, 0.0, 0.01], 8)
    out = top_slopes(_runs("t", x, y), by=["task"]).iloc[0]
    assert out["n_top"] == 9 and out["slope"] == pytest.approx(0.5)  # the best 3 checkpoints
    assert out["top_upstream_min"] == pytest.approx(np.linspace(0.5, 0.9, 8)[5])


def test_orientation_makes_better_upstream_positive_for_losses() -> None:
    loss = np.linspace(2.0, 4.0, 12)  # lower is better
    acc = 0.9 - 0.1 * loss  # better with lower loss
    out = top_slopes(_runs("t", loss, acc, upstream_metric="loss"), by=["task"]).iloc[0]
    assert out["slope"] == pytest.approx(0.1)  # per unit of loss improvement
    assert out["top_upstream_min"] == pytest.approx(2.0)  # the best (lowest) losses
    assert out["top_upstream_max"] < 3.0


def test_statuses_instead_of_exceptions() -> None:
    few = _runs("few", np.linspace(0.1, 0.5, MIN_TOP_RUNS - 1), np.linspace(0.1, 0.5, 4))
    flat = _runs("flat", np.repeat([0.5, 0.6], 5), np.linspace(0, 1, 10))  # two checkpoints
    own = _runs("imagenet", np.linspace(0.1, 0.9, 10), np.linspace(0.1, 0.9, 10))
    scratch = _runs("few", np.full(3, np.nan), np.ones(3), pretrained=False)
    out = top_slopes(pd.concat([few, flat, own, scratch]), by=["task"]).set_index("task")
    assert out.loc["few", "slope_status"] == "too_few_points" and out.loc["few", "n_top"] == 4
    assert out.loc["flat", "slope_status"] == "degenerate"
    assert "2 distinct upstream" in out.loc["flat", "slope_message"]
    assert out.loc["imagenet", "slope_message"] == "the task is its own upstream task"
    assert out["slope"].isna().all()


def test_bad_options() -> None:
    with pytest.raises(InputError, match="top_share"):
        top_slopes(_runs("t", np.ones(3), np.ones(3)), top_share=0)
    with pytest.raises(InputError, match="lack column"):
        top_slopes(pd.DataFrame({"task": ["t"]}), by=["task"])
