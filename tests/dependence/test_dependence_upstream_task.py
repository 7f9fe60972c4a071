from __future__ import annotations

import numpy as np
import pandas as pd

from transferscope.dependence.metrics import measure_dependence


def _ladder() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for i, up in enumerate(np.linspace(0.3, 0.8, 6)):
        for task in ("lambada", "piqa", "arc"):
            # on its own upstream task the "downstream" score is the upstream score itself
            score = up if task == "lambada" else 0.4 + 0.3 * up + rng.normal(0, 0.01)
            for seed in range(3):
                rows.append(
                    {
                        "model": f"ckpt{i}",
                        "pretrained": True,
                        "upstream_task": "lambada",
                        "upstream_score": up,
                        "task": task,
                        "method": "zero_shot",
                        "seed": seed,
                        "downstream_metric": "acc",
                        "downstream_score": score + rng.normal(0, 0.005),
                    }
                )
    return pd.DataFrame(rows)


def test_a_task_that_is_its_own_upstream_measure_is_left_out() -> None:
    runs = _ladder()
    out = measure_dependence(runs, "slope")
    assert sorted(out["task"]) == ["arc", "piqa"]
    # the other tasks are untouched: the same numbers as with the upstream task removed by hand
    by_hand = measure_dependence(runs[runs["task"] != "lambada"], "slope")
    pd.testing.assert_frame_equal(out, by_hand)


def test_rows_without_an_upstream_task_are_kept() -> None:
    runs = _ladder().assign(upstream_task=None)
    assert sorted(measure_dependence(runs, "slope")["task"]) == ["arc", "lambada", "piqa"]
