"""Labels, axis titles and the choice of what the ranking compares."""

from __future__ import annotations

import numpy as np
import pandas as pd
from report_synthetic import synthetic_ladder

from transferscope.report import charts
from transferscope.report.labels import (
    group_label,
    lower_is_better,
    metric_unit,
    score_axis_title,
    short_axis_title,
    shots_label,
    task_families,
)
from transferscope.report.ranking import choose_entity


def test_group_label() -> None:
    assert group_label({"task": "cifar10", "method": "lp", "shots": 10}) == "cifar10 · lp · 10-shot"
    assert group_label({"task": "cifar10", "shots": pd.NA}) == "cifar10 · full data"
    assert group_label({"task": "t", "method": "lp", "shots": 0}) == "t · lp · zero-shot"
    # a method whose name says its shots is not followed by them again
    assert group_label({"task": "piqa", "method": "zero_shot", "shots": 0}) == "piqa · zero_shot"
    assert group_label({"task": "piqa", "method": "five_shot", "shots": 5}) == "piqa · five_shot"
    assert group_label({"task": "t", "method": "few_shot", "shots": 3}) == "t · few_shot · 3-shot"


def test_shots_label() -> None:
    assert [shots_label(v) for v in (pd.NA, None, 0, 1, 25)] == [
        "full data", "full data", "zero-shot", "1-shot", "25-shot",
    ]  # fmt: skip
    assert shots_label(np.nan, full="full") == "full"


def test_score_axis_title_units() -> None:
    assert score_axis_title("Upstream", ["top1"], ["imagenet-1k"]) == (
        "Upstream top-1 accuracy on imagenet-1k (fraction correct)"
    )
    assert score_axis_title("Upstream", ["loss_c4_val"]) == "Upstream loss_c4_val (lower is better)"
    assert score_axis_title("Downstream", ["acc", "ppl"]) == "Downstream acc / ppl (as published)"
    # the simulator's score is on [0, 1] but is not a fraction of correct answers
    assert score_axis_title("Downstream", ["one_minus_nge"]) == (
        "Downstream 1 − normalized generalization error (0 to 1)"
    )
    assert [metric_unit(m) for m in ("acc", "f1", "ppl", "pct_stereotype")] == [
        "fraction correct", "0 to 1", "lower is better", "as published",
    ]  # fmt: skip
    assert short_axis_title("downstream", ["ppl"]) == "downstream perplexity, reversed"
    assert not lower_is_better("one_minus_nge")  # a higher score is better


def test_task_families_by_shared_prefix() -> None:
    tasks = [f"hendrycksTest-{s}" for s in ("anatomy", "virology", "law")] + [
        "crows_pairs_english", "crows_pairs_french", "crows_pairs_english_age", "piqa", "sciq",
        "vtab/dtd", "vtab/pets", "vtab_svhn",
    ]  # fmt: skip
    fam = task_families(tasks)
    assert fam["hendrycksTest-law"] == "hendrycksTest-*"
    assert fam["crows_pairs_french"] == "crows_pairs_*"
    assert fam["vtab_svhn"] == fam["vtab/dtd"] == "vtab*"  # one family, whatever the separator
    assert fam["piqa"] == fam["sciq"] == "other tasks"
    # a few tasks are not split
    assert set(task_families(["imagenet-a", "imagenet-r", "imagenet-real", "sketch"]).values()) == {
        "all tasks"
    }


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
    from types import SimpleNamespace

    from transferscope.report.context import ReportOptions
    from transferscope.report.ranking import _rank_source, _source_body

    runs = synthetic_ladder(seeds=2)
    other = runs[runs["pretrained"]].assign(downstream_metric="acc_norm")
    both = pd.concat([runs, other], ignore_index=True)
    drawn: list[str] = []

    def add(name: str, chart: object, caption: str) -> object:
        drawn.append(name)
        return type("Figure", (), {"html": lambda self: ""})()

    options = ReportOptions(rank_bootstrap=20, seed=0, rank_entity="method", rank_metric="gain")
    ctx = SimpleNamespace(options=options)
    ranking = _rank_source(both, "synthetic", ctx)
    body, md = _source_body(ranking, add, 4)
    assert int(ranking.table["estimate"].notna().sum()) == 3
    assert "no\\_baseline" in "\n".join(md)  # markdown escapes the underscore
    # acc_norm (sorted first) has no scratch runs: notes only; charts for accuracy
    assert drawn == ["forest", "cd"]
    assert any("No method has a value in this context" in b for b in body)


def test_auto_ranking_metric_is_chosen_per_source() -> None:
    # one source with scratch baselines (gain), one without (slope): each ranked on its own
    from types import SimpleNamespace

    from transferscope.dependence.ranking import rank_methods
    from transferscope.report.context import ReportOptions
    from transferscope.report.ranking import _source_body, rankings

    with_scratch = synthetic_ladder(seeds=2).assign(source="a")
    without = synthetic_ladder(seeds=2, seed=3).assign(source="b")
    without = without[without["pretrained"]]
    runs = pd.concat([with_scratch, without], ignore_index=True)
    ctx = SimpleNamespace(
        runs=runs, options=ReportOptions(rank_bootstrap=20, seed=0, rank_entity="method")
    )
    ranks = rankings(ctx)
    assert ranks.metric == "auto"
    a, b = ranks.by_source["a"], ranks.by_source["b"]
    assert (a.metric, b.metric) == ("gain", "slope")
    assert "scratch baseline" in a.reason and "no runs without pretraining" in b.reason
    # the same numbers as ranking each source on its metric directly
    for r, part in ((a, with_scratch), (b, without)):
        direct = rank_methods(part, r.metric, entity="method", bootstrap=20, seed=0)
        np.testing.assert_allclose(
            r.table.sort_values("entity")["estimate"].to_numpy(),
            direct.sort_values("method")["estimate"].to_numpy(),
            rtol=1e-12,
        )
    body, md = _source_body(b, lambda *a: type("F", (), {"html": lambda s: ""})(), 0)
    assert "b: ranked by slope" in body[0] and "(ranked by slope)" in md[0]
    assert any("Chosen because no runs without pretraining" in x for x in body)


def test_frontier_label_names_fallback_and_a_curve_below_the_models() -> None:
    from transferscope.report.frontiers import frontier_label

    row = {"frontier": "pareto", "requested_frontier": "stochastic"}
    assert frontier_label(row) == "pareto frontier (fallback from stochastic)"
    for flags in ("not_saturating,fallback,not_upper", ("fallback", "not_upper")):
        assert frontier_label({**row, "flags": flags}) == (
            "pareto frontier (fallback from stochastic), not upper: models above it"
        )
    # a flag whose name merely contains "not_upper" does not count; missing flags are none
    assert frontier_label({"frontier": "stochastic", "flags": "was_not_upper_x"}) == (
        "stochastic frontier"
    )
    assert frontier_label({"frontier": "stochastic", "flags": float("nan")}) == (
        "stochastic frontier"
    )
