"""Which comparisons are made: entities per number of shots, ``by`` replacing the grouping,
hparams keys, shared checkpoints, suites read from task names, name filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _dependence_ladder import synthetic_ladder

from transferscope.dependence.metrics import default_metric, measure_dependence, task_values
from transferscope.dependence.ranking import rank_methods
from transferscope.dependence.suites import suite_of, task_suites
from transferscope.errors import InputError
from transferscope.schema import match_names, name_key

LADDER = synthetic_ladder(seed=3, n_tasks=4, n_checkpoints=5, n_seeds=2)


def _probes() -> pd.DataFrame:
    """One method at 10 shots, 25 shots, 0 shots and full data, with a hyper-parameter."""
    parts = []
    for shots, shift in ((10, 0.0), (25, 0.3), (0, -0.5), (None, 0.6)):
        part = LADDER[LADDER["method"] == "full_ft"].copy()
        part["method"] = "linear_probe"
        part["shots"] = shots
        part["downstream_score"] = np.clip(part["downstream_score"] + 0.02 * shift, 0, 1)
        part["hparams"] = '{"lr": 0.1}'
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_a_method_at_several_numbers_of_shots_is_one_entity_per_number() -> None:
    probes = _probes()
    table = rank_methods(probes, "slope", bootstrap=0)
    assert set(table["method"]) == {
        "linear_probe@10", "linear_probe@25", "linear_probe@zero_shot", "linear_probe@full",
    }  # fmt: skip
    assert list(table.columns[:2]) == ["downstream_metric", "method"]  # one context
    # with other methods at one number of shots each, those keep their names
    mixed = pd.concat([probes, LADDER[LADDER["method"] == "lora"]], ignore_index=True)
    names = set(task_values(mixed, "slope")["method"])
    assert "lora" in names and "linear_probe@10" in names
    # `by` replaces the default grouping: shots as a context, plain method names
    by_shots = rank_methods(probes, "slope", by="shots", bootstrap=0)
    assert set(by_shots["method"]) == {"linear_probe"} and len(by_shots) == 4
    assert set(by_shots["status"]) == {"single_entity"}
    assert "leave 'shots' out of by" in by_shots["message"].iloc[0]


def test_by_reads_hparams_keys_and_replaces_the_default_for_models() -> None:
    runs = _probes()
    runs.loc[runs["shots"] == 25, "hparams"] = '{"lr": 0.01}'
    values = task_values(runs, "slope", by="lr")
    assert list(values.columns[:3]) == ["lr", "downstream_metric", "method"]
    assert set(values["lr"]) == {"0.1", "0.01"}
    with pytest.raises(InputError, match="no column or hparams key 'epochs'"):
        task_values(runs, "slope", by="epochs")
    # models compared: by default within one method and number of shots
    vtab_like = LADDER.assign(shots=pd.Series([1000, pd.NA] * (len(LADDER) // 2), dtype="Int64"))
    per_regime = measure_dependence(vtab_like, "gain", entity="model")
    assert {"method", "shots"} <= set(per_regime.columns)
    # by = downstream_metric only: the regimes become part of the model's name
    merged = measure_dependence(vtab_like, "gain", entity="model", by="downstream_metric")
    assert "shots" not in merged.columns
    assert {"ckpt0@full_ft@1000", "ckpt0@lora@full"} <= set(merged["model"])


def test_entities_are_compared_on_the_checkpoints_they_share() -> None:
    runs = LADDER[LADDER["method"].isin(["lora", "full_ft"])]
    drop = (runs["method"] == "lora") & runs["model"].isin(["ckpt0", "ckpt1"])
    uneven = runs[~drop]
    shared = measure_dependence(uneven, "gain")
    assert set(shared["checkpoint"]) == {"ckpt2", "ckpt3", "ckpt4"}
    assert set(shared["checkpoint_set"]) == {"shared"}
    own = measure_dependence(uneven, "gain", checkpoints="all")
    assert set(own.loc[own["method"] == "full_ft", "checkpoint"]) == {f"ckpt{i}" for i in range(5)}
    assert set(own["checkpoint_set"]) == {"own"}


def test_suites_from_task_names_and_declared() -> None:
    assert suite_of("hendrycksTest-anatomy") == "mmlu"
    assert suite_of("crows_pairs_french_age") == "crows_pairs"
    assert suite_of("bbh_navigate") == "bbh" and suite_of("blimp_anaphor_number") == "blimp"
    assert suite_of("bigbench_operators") == "bigbench" and suite_of("arc_easy") == "arc"
    # VTAB's groups, under the names of the VTAB table and of the CLIP benchmark
    assert suite_of("Caltech101") == suite_of("vtab/caltech101") == "vtab_natural"
    assert suite_of("Camelyon") == suite_of("vtab/pcam") == "vtab_specialized"
    assert suite_of("sNORB-Elev") == "vtab_structured"
    assert suite_of("vtab/smallnorb_label_elevation") == "vtab_structured"
    assert suite_of("vtab/clevr_count_all") == suite_of("dSpr-Orient") == "vtab_structured"
    assert suite_of("vtab_svhn") == suite_of("SVHN") == "vtab_natural"
    assert suite_of("piqa") is None and suite_of("Pets", suites=None) is None
    # declared suites come first; a pattern or an exact name
    declared = {"piqa": "commonsense", "hendrycksTest-a*": "mmlu_a"}
    assert suite_of("piqa", suites=declared) == "commonsense"
    assert suite_of("hendrycksTest-anatomy", suites=declared) == "mmlu_a"
    assert suite_of("hendrycksTest-virology", suites=declared) == "mmlu"
    labels = task_suites(["hendrycksTest-anatomy", "piqa"])
    assert list(labels) == ["suite:mmlu", "task:piqa"]


def test_rankings_pool_tasks_of_a_suite_with_the_three_level_model() -> None:
    runs = LADDER.copy()
    rename = {"task00": "bbh_a", "task01": "bbh_b", "task02": "bbh_c", "task03": "piqa"}
    runs["task"] = runs["task"].map(rename)
    table = rank_methods(runs, "slope", bootstrap=200, seed=0)
    assert set(table["pool_model"]) == {"three_level_cr2"} and set(table["n_suites"]) == {2}
    model = rank_methods(runs, "slope", robust=False, bootstrap=0)
    assert set(model["pool_model"]) == {"three_level"}
    flat = rank_methods(runs, "slope", suites=None, bootstrap=0)
    assert set(flat["pool_model"]) == {"random_effects"}
    # all four in one declared suite: a two-level model, with a message saying so
    one = rank_methods(runs, "slope", suites={"*": "all"}, bootstrap=0)
    assert set(one["pool_model"]) == {"random_effects"}
    assert one["message"].str.contains("one suite").all()
    with pytest.raises(InputError, match="suites must be"):
        rank_methods(runs, "slope", suites="yes")


def test_name_filters_match_as_ingest_normalizes(tmp_path: Path) -> None:
    assert name_key("STANDARD") == name_key("standard")
    assert name_key("Linear Probe") == name_key("linear_probe") == name_key("linear-probe")
    assert name_key("hendryckstest-ANATOMY") == name_key("hendrycksTest-anatomy")
    assert name_key("fullFT") == name_key("full_ft")
    assert match_names(["LoRA", "nope"], ["lora", "full_ft"]) == ["lora"]
    from transferscope.store import open_store

    with open_store(tmp_path / "runs.duckdb") as store:
        store.ingest(LADDER, "ladder")
        assert set(store.runs(method="LORA")["method"]) == {"lora"}
        assert set(store.runs(method=["Full-FT", "linear probe"])["method"]) == {
            "full_ft", "linear_probe",
        }  # fmt: skip
        assert set(store.runs(task="TASK00", source="Ladder")["task"]) == {"task00"}
        assert store.runs(method="STANDARD").empty
        counts = store.run_counts(by=["method"], method="LoRA")
        assert list(counts["method"]) == ["lora"]
    # the downstream metric of an analysis matches the same way
    assert not measure_dependence(LADDER, "gain", downstream_metric="ACCURACY").empty


def test_the_default_metric_is_gain_only_with_a_baseline() -> None:
    assert default_metric(LADDER)[0] == "gain"
    metric, reason = default_metric(LADDER[LADDER["pretrained"]])
    assert metric == "slope" and "no runs without pretraining" in reason
    no_upstream = LADDER.assign(upstream_score=np.nan)
    assert default_metric(no_upstream[no_upstream["pretrained"]])[0] == "gain"
