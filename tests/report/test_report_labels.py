"""Labels, axis titles and the choice of what the ranking compares."""

from __future__ import annotations

import numpy as np
import pandas as pd
from report_synthetic import synthetic_ladder

from transferscope.report import charts
from transferscope.report.build import choose_entity
from transferscope.report.labels import group_label, score_axis_title


def test_group_label() -> None:
    assert group_label({"task": "cifar10", "method": "lp", "shots": 10}) == "cifar10 · lp · 10-shot"
    assert group_label({"task": "cifar10", "shots": pd.NA}) == "cifar10 · full data"


def test_score_axis_title_units() -> None:
    assert score_axis_title("Upstream", ["top1"], ["imagenet-1k"]) == (
        "Upstream top1 on imagenet-1k (fraction correct)"
    )
    assert score_axis_title("Upstream", ["loss_c4_val"]) == "Upstream loss_c4_val (lower is better)"
    assert score_axis_title("Downstream", ["acc", "ppl"]) == "Downstream acc / ppl (as published)"


def test_choose_entity_ranks_models_when_one_method_per_context() -> None:
    ladder = synthetic_ladder(tasks=("a", "b"), methods=("full_ft", "lp"), checkpoints=3, seeds=1)
    assert choose_entity(ladder) == "method"
    one = ladder[ladder["method"] == "full_ft"]
    assert choose_entity(one) == "model"  # as on VTAB-1k: pretraining methods are the models
    assert choose_entity(one, "slope") == "method"  # a slope needs a ladder: one model is not


def test_ladder_frame_draws_a_repeated_baseline_once() -> None:
    ladder = synthetic_ladder(tasks=("a",), methods=("full_ft", "lp"), checkpoints=3, seeds=2)
    # the simulator's layout: the same scratch rows under every method name
    scratch = ladder[~ladder["pretrained"] & (ladder["method"] == "full_ft")]
    ladder = pd.concat(
        [ladder[ladder["pretrained"]], scratch, scratch.assign(method="lp")], ignore_index=True
    )
    _, base = charts.ladder_frame(ladder)
    assert base["method"].tolist() == [charts.SCRATCH_LABEL]
    assert np.isclose(base["mean"].iloc[0], scratch["downstream_score"].mean())
    chart = charts.ladder_chart(*charts.ladder_frame(ladder)).to_dict()
    scale = chart["spec"]["layer"][0]["encoding"]["color"]["scale"]
    assert scale["domain"] == ["full_ft", "lp", charts.SCRATCH_LABEL]
    assert scale["range"][-1] == "#555555"


def test_ranking_section_with_a_context_that_has_no_values() -> None:
    # one downstream metric with scratch runs, one without: the second has notes, no charts
    from transferscope.report import build

    runs = synthetic_ladder(seeds=2)
    other = runs[runs["pretrained"]].assign(downstream_metric="acc_norm")
    both = pd.concat([runs, other], ignore_index=True)
    drawn: list[str] = []

    def add(name: str, chart: object, caption: str) -> object:
        drawn.append(name)
        return type("Figure", (), {"html": lambda self: ""})()

    _, md, n_ranked = build._ranking_section(
        both, add, metric="gain", entity="method", bootstrap=20, seed=0, max_contexts=4
    )
    assert n_ranked == 6 and "no\\_baseline" in md  # markdown escapes the underscore
    # acc_norm (sorted first) has no scratch runs: notes only; charts for accuracy (context 1)
    assert drawn == ["forest-1", "cd-1"]
