"""On a ladder of exact expected scores (``theory_ladder``) the ranking recovers the known order.

The theory ladder has no sampling noise: each cell is the D -> infinity expectation, with the
predicted spread of one run as its published standard error. The order that the ranking must
recover is computed here directly from those exact scores (per task, the least-squares slope of
logit downstream on logit upstream across checkpoints, and the mean gain over scratch), and it is
the order of the simulator's Monte Carlo ground truth (``test_dependence_simulator.py``): the two
pretraining-dependent regimes first, lazy (II) before rich (IV).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transferscope.dependence.ranking import rank_methods
from transferscope.dln import DEFAULT_METHODS, theory_ladder


@pytest.fixture(scope="module")
def ladder() -> pd.DataFrame:
    return theory_ladder(shots=[50])


def _logit(p: pd.Series) -> np.ndarray:
    q = np.clip(p.to_numpy(dtype=float), 0.001, 0.999)
    return np.log(q / (1 - q))


def _exact(ladder: pd.DataFrame) -> pd.DataFrame:
    pre = ladder[ladder["pretrained"]]
    scratch = ladder[~ladder["pretrained"]].set_index(["method", "task"])["downstream_score"]
    rows = []
    for (method, task), grp in pre.groupby(["method", "task"]):
        slope = np.polyfit(_logit(grp["upstream_score"]), _logit(grp["downstream_score"]), 1)[0]
        gain = float((grp["downstream_score"] - scratch[(method, task)]).mean())
        rows.append({"method": method, "task": task, "slope": slope, "gain": gain})
    return pd.DataFrame(rows).groupby("method")[["slope", "gain"]].mean()


def test_theory_ladder_is_exact_and_complete(ladder: pd.DataFrame) -> None:
    assert ladder["seed"].isna().all()
    assert (ladder["downstream_stderr"] > 0).all()
    # one row per checkpoint, task, method (6 x 4 x 4) plus a scratch row per task and method
    assert len(ladder) == 6 * 4 * 4 + 4 * 4


def test_slope_ranking_recovers_the_exact_order(ladder: pd.DataFrame) -> None:
    exact = _exact(ladder)
    expected = list(exact["slope"].sort_values(ascending=False).index)
    table = rank_methods(ladder, "slope", bootstrap=0)
    assert set(table["se_source"]) == {"published"} and set(table["n_tasks"]) == {4}
    assert list(table["method"]) == expected
    # the known order: the pretraining-dependent regimes lead, lazy (II) before rich (IV), as in
    # the simulator's ground truth; the independent ones follow the ladder hardly at all
    assert expected[:2] == ["lazy_pt_dependent", "rich_pt_dependent"]
    regimes = {s.name: s.regime() for s in DEFAULT_METHODS}
    assert all(regimes[m].pretraining_dependent for m in expected[:2])
    assert exact.loc[expected[2:], "slope"].abs().max() < 0.01 < exact.loc[expected[1], "slope"]


def test_gain_ranking_recovers_the_exact_order(ladder: pd.DataFrame) -> None:
    exact = _exact(ladder)
    expected = list(exact["gain"].sort_values(ascending=False).index)
    table = rank_methods(ladder, "gain", bootstrap=0)
    assert list(table["method"]) == expected
    # as the simulator's Monte Carlo ground truth orders them (D = 100, 8 seeds)
    assert expected == [
        "rich_pt_dependent",
        "rich_pt_independent",
        "lazy_pt_dependent",
        "lazy_pt_independent",
    ]
