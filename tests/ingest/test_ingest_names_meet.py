"""Names that meet across sources: the shipped alias table, user aliases, and what stays apart.

On the published tables: lm-evaluation-harness files made from Pythia's published evaluations
meet the published Pythia table model by model and task by task; VTAB's task labels meet
clip-benchmark's ``vtab/...`` names; ``few_shot`` and ``five_shot`` stay apart until a user
declares them the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from transferscope.errors import InputError
from transferscope.ingest import ingest_file, ingest_format, ingest_source
from transferscope.schema import AliasTable, default_aliases, validate_runs
from transferscope.store import open_store

KEY = ["model", "task", "method", "shots", "downstream_metric"]


def lm_eval_files(shared_data: Path, folder: Path, model: str, steps: list[int]) -> None:
    """Write Pythia's published numbers back into the harness's files (pre-0.4 layout)."""
    table = pd.read_csv(shared_data / "pythia" / "pythia_v1_evals_long.csv")
    table = table[(table["model"] == model) & table["step"].isin(steps)]
    for (setting, shots, step), rows in table.groupby(["setting", "num_fewshot", "step"]):
        results: dict[str, dict[str, float]] = {}
        for row in rows.itertuples():
            results.setdefault(row.task, {})[row.metric] = row.value
            results[row.task][f"{row.metric}_stderr"] = row.stderr
        size = model.removeprefix("pythia-")
        doc = {
            "results": results,
            "versions": dict.fromkeys(results, 0),
            "config": {
                "model": "hf-causal",
                "model_args": f"pretrained=EleutherAI/pythia-v1.1-{size},revision=step{step}",
                "num_fewshot": int(shots),
            },
        }
        (folder / f"{size}_{setting}_step{step}.json").write_text(json.dumps(doc))


def test_lm_eval_files_meet_the_published_pythia_table(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "harness"
    folder.mkdir()
    lm_eval_files(shared_data, folder, "pythia-160m", [13000, 143000])
    db = tmp_path / "s.duckdb"
    ingest_source("pythia", db=db, from_dir=shared_data)
    ingest_format(folder, "lm-eval", upstream="lambada_openai:acc", db=db, name="harness")
    with open_store(db) as store:
        harness = store.runs(source="harness")
        published = store.runs(source="pythia", model=sorted(set(harness["model"])))
    assert set(harness["model"]) == {"pythia-160m@step13000", "pythia-160m@step143000"}
    assert set(harness["task"]) == set(published["task"]) and len(published) == len(harness)
    # methods stay apart: the harness says few_shot (with shots = 5), the table five_shot
    assert set(harness["method"]) == {"zero_shot", "few_shot"}
    assert set(published["method"]) == {"zero_shot", "five_shot"}
    joined = harness.merge(published, on=KEY, suffixes=("", "_pub"))
    assert set(joined["method"]) == {"zero_shot"} and len(joined) == (harness["shots"] == 0).sum()

    # declared the same by the user: every run meets its published twin, number for number
    aliases = tmp_path / "aliases.toml"
    aliases.write_text('[method]\nfive_shot = ["few_shot"]\n')
    ingest_format(
        folder, "lm-eval", upstream="lambada_openai:acc", db=db, name="declared", aliases=aliases
    )
    with open_store(db, read_only=True) as store:
        declared = store.runs(source="declared")
    joined = declared.merge(published, on=KEY, suffixes=("", "_pub"), validate="one_to_one")
    assert len(joined) == len(declared) == len(published) == 2 * 172 + 2 * 128
    for column in ("downstream_score", "downstream_stderr", "upstream_score", "pretrain_steps"):
        assert (joined[column] == joined[f"{column}_pub"]).all(), column


def test_vtab_labels_meet_clip_benchmark_names(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    ingest_source("vtab", db=db, from_dir=shared_data)
    ingest_source("clip-benchmark", db=db, from_dir=shared_data)
    mine = tmp_path / "mine.csv"
    mine.write_text(
        "model,task,method,pretrained,downstream_score\n"
        "r50,pets,full_ft,false,0.5\nr50,SVHN,full_ft,false,0.9\n"
    )
    ingest_file(mine, db=db)
    with open_store(db, read_only=True) as store:
        tasks = store.run_counts(by=["source", "task"])
    by_source = tasks.groupby("source")["task"].agg(set)
    shared = by_source["vtab"] & by_source["clip-benchmark"]
    assert len(by_source["vtab"]) == 19 and by_source["vtab"] - shared == {"vtab/sun397"}
    assert {"vtab/cifar100", "vtab/pets", "vtab/svhn", "vtab/pcam"} <= shared
    # clip-benchmark's two CIFAR-100 evaluations stay two tasks; VTAB's meets the VTAB one
    assert {"cifar100", "vtab/cifar100"} <= by_source["clip-benchmark"]
    # VTAB's labels are renamed only inside VTAB: a user's "pets" and "SVHN" are theirs
    assert by_source["mine"] == {"pets", "SVHN"}


def test_declaring_two_evaluations_the_same_is_refused_when_they_disagree(
    shared_data: Path, tmp_path: Path
) -> None:
    aliases = tmp_path / "aliases.toml"
    aliases.write_text('[sources.clip-benchmark.task]\n"vtab/cifar100" = ["cifar100"]\n')
    with pytest.raises(InputError, match=r"are the same run .* with different downstream_score"):
        ingest_source("clip-benchmark", db=tmp_path / "s.duckdb", from_dir=shared_data,
                      aliases=aliases)  # fmt: skip
    assert not (tmp_path / "s.duckdb").exists()


def test_alias_table_rules() -> None:
    table = default_aliases().extended({"task": {"cifar100": ["CIFAR 100", "c100"]}})
    assert table.canonical("task", "cifar_100") == "cifar100"  # case and -, _, space alike
    assert table.canonical("task", "C100") == "cifar100"
    assert table.canonical("task", "cifar-10") == "cifar-10"
    assert table.canonical("model", "EleutherAI/pythia-1.4b@step3000") == "pythia-1.4b@step3000"
    assert table.canonical("model", "EleutherAI/pythia-14b") == "EleutherAI/pythia-14b"
    assert table.canonical("task", "Pets") == "Pets"
    assert table.canonical("task", "Pets", source="vtab") == "vtab/pets"
    assert "few_shot" not in json.dumps(default_aliases().to_mapping()["method"])
    with pytest.raises(InputError, match="'C1' is already an alias of 'a'"):
        AliasTable.from_mapping({"task": {"a": ["c1"], "b": ["C1"]}})
    with pytest.raises(InputError, match="method names are stored in snake_case"):
        AliasTable.from_mapping({"method": {"Few Shot": ["five_shot"]}})
    with pytest.raises(InputError, match=r"unknown kind of name \[dataset\]"):
        AliasTable.from_mapping({"dataset": {"a": ["b"]}})
    frame = pd.DataFrame(
        {"model": ["m"], "task": ["Mine"], "method": ["5-shot"], "downstream_score": [0.5],
         "upstream_score": [0.7], "downstream_metric": ["Top-1"]}
    )  # fmt: skip
    user = AliasTable.from_mapping(
        {"task": {"mine": ["Mine"]}, "method": {"five_shot": ["5-shot"]},
         "metric": {"top1": ["Top-1"]}}
    )  # fmt: skip
    valid = validate_runs(frame, aliases=user).frame.iloc[0]
    assert (valid["task"], valid["method"], valid["downstream_metric"]) == (
        "mine",
        "five_shot",
        "top1",
    )


def test_a_broken_alias_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "a.toml"
    bad.write_text("[task\n")
    with pytest.raises(InputError, match=r"a.toml: invalid TOML"):
        AliasTable.from_file(bad)
    with pytest.raises(InputError, match="no such alias file"):
        AliasTable.from_file(tmp_path / "none.toml")
