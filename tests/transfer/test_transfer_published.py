"""Effective transfer on the published tables (../shared/data): the findings the report quotes."""

from __future__ import annotations

from pathlib import Path

import pytest

from transferscope.ingest import load_source
from transferscope.transfer import effective_transfer


def test_in21k_pretrained_timm_models_sit_above_the_imagenet_1k_line(shared_data: Path) -> None:
    timm = load_source("timm", from_dir=shared_data).frame
    result = effective_transfer(
        timm,
        reference={"pretrain_data": "in1k"},
        frontier=None,
        moderators=["pretrain_data"],
        bootstrap=100,
        seed=0,
    )
    levels = result.levels.set_index(["task", "level"])
    for task in ("imagenet-r", "sketch", "imagenet-a"):
        row = levels.loc[(task, "in21k")]
        assert row["n_models"] == 141
        assert row["ci_low"] > 0.1  # probit units above the line of the in1k models
        assert abs(levels.loc[(task, "in1k"), "mean_residual"]) < 1e-9  # least squares
    # on ImageNet-ReaL, the in21k models sit slightly below the line
    assert levels.loc[("imagenet-real", "in21k"), "ci_high"] < 0
    baselines = result.baselines.set_index("task")
    assert (baselines["n_reference"] == 875).sum() >= 4  # 874 on imagenet-a (one row dropped)
    assert baselines.loc["imagenetv2-matched-frequency", "r2"] == pytest.approx(0.9939, abs=0.001)


def test_clip_probe_residuals_are_weakly_consistent_across_tasks(shared_data: Path) -> None:
    clip = load_source("clip-benchmark", from_dir=shared_data).frame
    result = effective_transfer(clip, frontier=None, moderators=[], bootstrap=0)
    cons = result.consistency.set_index("shots", drop=False)
    full = cons[cons["shots"].isna()].iloc[0]
    ten = cons[cons["shots"].eq(10).fillna(False)].iloc[0]
    assert (full["n_models"], full["n_tasks"]) == (12, 21)
    assert full["icc"] == pytest.approx(0.175, abs=0.001)
    assert (full["ci_low"], full["ci_high"]) == pytest.approx((0.073, 0.415), abs=0.001)
    assert ten["icc"] == pytest.approx(0.113, abs=0.001)
    assert len(result.pairs) == 210 + 1 + 210  # 21 tasks twice, and the two 25-shot tasks
    assert not result.nonmonotone["non_monotone"].any()


def test_moderators_tested_only_in_the_largest_contexts_when_asked(shared_data: Path) -> None:
    clip = load_source("clip-benchmark", from_dir=shared_data).frame
    every = effective_transfer(clip, frontier=None, moderators=["pretrain_data"], bootstrap=0)
    one = effective_transfer(
        clip, frontier=None, moderators=["pretrain_data"], bootstrap=0, max_driver_contexts=1
    )
    assert len(every.tests) == len(one.tests) == 3  # 10-shot, 25-shot, full data
    tested = one.tests[one.tests["status"] != "not_tested"]
    assert len(tested) == 1 and tested["n_tasks"].iloc[0] == 21  # a 21-task context, not 2
    same = every.tests.merge(tested[["shots", "p_value"]], on="shots", suffixes=("", "_one"))
    assert same["p_value"].iloc[0] == same["p_value_one"].iloc[0]
    skipped = one.tests[one.tests["status"] == "not_tested"]
    assert skipped["message"].str.contains("max_driver_contexts").all()
    assert one.drivers["shots"].nunique(dropna=False) == 1
