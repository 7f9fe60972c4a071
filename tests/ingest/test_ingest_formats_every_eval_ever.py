"""Every Eval Ever: export of the store's runs, import of records, and broken records.

The records follow schema 0.2.2 of evaleval/every_eval_ever
(every_eval_ever/schemas/eval.schema.json at commit a5616dbe193b75052c0ea97a5889868201bc5d61).
``SCHEMA_SUBSET`` below restates the parts of that schema the export must satisfy (required
fields, enums, string-only ``additional_details``, no extra top-level keys); jsonschema checks
every exported record against it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.ingest import ingest_file, ingest_format
from transferscope.schema import RUN_COLUMNS
from transferscope.store import open_store

STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
SCHEMA_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "evaluation_id", "retrieved_timestamp", "source_metadata",
                 "model_info", "eval_library", "evaluation_results"],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"type": "string"},
        "evaluation_id": {"type": "string"},
        "evaluation_timestamp": {"type": "string"},
        "retrieved_timestamp": {"type": "string"},
        "source_metadata": {
            "type": "object",
            "required": ["source_type", "source_organization_name", "evaluator_relationship"],
            "properties": {
                "source_type": {"enum": ["documentation", "evaluation_run"]},
                "evaluator_relationship": {
                    "enum": ["first_party", "third_party", "collaborative", "other"]
                },
                "additional_details": STRINGS,
            },
        },
        "eval_library": {"type": "object", "required": ["name", "version"],
                         "properties": {"additional_details": STRINGS}},
        "model_info": {"type": "object", "required": ["name", "id"]},
        "evaluation_results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["evaluation_name", "source_data", "metric_config", "score_details"],
                "properties": {
                    "source_data": {"type": "object", "required": ["dataset_name", "source_type"],
                                    "properties": {"source_type": {"const": "other"}}},
                    "metric_config": {
                        "type": "object",
                        "required": ["lower_is_better"],
                        "properties": {"lower_is_better": {"type": "boolean"},
                                       "score_type": {"enum": ["binary", "continuous", "levels"]}},
                        "if": {"required": ["score_type"],
                               "properties": {"score_type": {"const": "continuous"}}},
                        "then": {"required": ["min_score", "max_score"]},
                    },
                    "score_details": {
                        "type": "object",
                        "required": ["score"],
                        "properties": {
                            "score": {"type": "number"},
                            "uncertainty": {"type": "object", "properties": {"standard_error": {
                                "type": "object", "required": ["value"],
                                "properties": {"value": {"type": "number"}}}}},
                        },
                    },
                    "generation_config": {"type": "object",
                                          "properties": {"additional_details": STRINGS}},
                },
            },
        },
    },
}  # fmt: skip

RUNS = """model,pretrained,upstream_task,upstream_metric,upstream_score,task,method,shots,seed,\
downstream_metric,downstream_score,downstream_stderr,architecture,params,pretrain_data,\
pretrain_steps,lr
org/vit-b16,true,imagenet-1k,top1,0.8123,cifar10,linear_probe,10,0,accuracy,0.91,0.004,ViT-B/16,\
86000000,in21k,300000,0.01
org/vit-b16,true,imagenet-1k,top1,0.8123,cifar10,linear_probe,10,1,accuracy,0.9125,,ViT-B/16,\
86000000,in21k,300000,0.01
org/vit-b16,true,imagenet-1k,top1,0.8123,cifar10,full_ft,,0,val_loss,0.3125,,ViT-B/16,86000000,\
in21k,300000,
scratch,false,,,,cifar10,scratch,,0,accuracy,0.7,0.01,ViT-B/16,86000000,,,
"""


@pytest.fixture
def store_with_runs(tmp_path: Path) -> Path:
    path = tmp_path / "runs.csv"
    path.write_text(RUNS)
    db = tmp_path / "s.duckdb"
    ingest_file(path, db=db, name="mine")
    return db


def test_export_then_import_gives_the_runs_back(
    store_with_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eee"
    db = str(store_with_runs)
    assert main(["export", "--format", "every-eval-ever", "--out", str(out), "--db", db]) == 0
    assert "wrote 2 Every Eval Ever records" in capsys.readouterr().out
    files = sorted(out.rglob("*.json"))
    assert [f.relative_to(out).parts[:3] for f in files] == [
        ("mine", "org", "vit-b16"),
        ("mine", "unknown", "scratch"),
    ]
    record = json.loads(files[0].read_text())
    for path in files:
        jsonschema.validate(json.loads(path.read_text()), SCHEMA_SUBSET)
    assert record["schema_version"] == "0.2.2" and record["model_info"]["developer"] == "org"
    loss = next(r for r in record["evaluation_results"] if r["evaluation_name"] == "cifar10"
                and r["metric_config"]["metric_id"] == "val_loss")  # fmt: skip
    assert (
        loss["metric_config"]["lower_is_better"] is True
        and "score_type" not in loss["metric_config"]
    )
    assert main(["ingest", str(out), "--format", "every-eval-ever", "--name", "back",
                 "--db", db]) == 0  # fmt: skip
    with open_store(store_with_runs, read_only=True) as store:
        mine = store.runs(source="mine").drop(columns=["source", "run_id"])
        back = store.runs(source="back").drop(columns=["source", "run_id"])
        sources = store.sources().set_index("name")
    pd.testing.assert_frame_equal(mine, back, check_exact=True)
    assert list(mine.columns) == [c for c in RUN_COLUMNS if c != "source"]
    assert sources.loc["back", "url"] == out.resolve().as_uri()
    assert sources.loc["back", "title"] == "Every Eval Ever records: eee (2 files)"


def converter_record() -> dict[str, Any]:
    """A record as Every Eval Ever's lm-eval converter writes one (no transferscope fields)."""
    return {
        "schema_version": "0.2.2",
        "evaluation_id": "hellaswag/EleutherAI/pythia-410m/1761001924.0",
        "retrieved_timestamp": "1761001924.0",
        "source_metadata": {"source_name": "lm-evaluation-harness",
                            "source_type": "evaluation_run", "source_organization_name": "lab",
                            "evaluator_relationship": "third_party"},
        "eval_library": {"name": "lm_eval", "version": "0.4.5"},
        "model_info": {"name": "EleutherAI/pythia-410m", "id": "EleutherAI/pythia-410m",
                       "developer": "EleutherAI"},
        "evaluation_results": [
            {"evaluation_name": task,
             "source_data": {"dataset_name": task, "source_type": "hf_dataset",
                             "hf_repo": f"org/{task}"},
             "metric_config": {"evaluation_description": metric, "lower_is_better": False,
                               "score_type": "continuous", "min_score": 0, "max_score": 1},
             "score_details": {"score": score, "uncertainty": {
                 "standard_error": {"value": 0.005, "method": "bootstrap"}, "num_samples": 10042}},
             "generation_config": {"additional_details": {"num_fewshot": shots}}}
            for task, metric, score, shots in (
                ("hellaswag", "acc", 0.4066, "0"), ("hellaswag", "acc_norm", 0.5188, "0"),
                ("lambada_openai", "acc", 0.5167, "0"), ("arc_easy", "acc", 0.5719, "25"),
            )
        ],
    }  # fmt: skip


def test_a_converter_record_with_upstream(tmp_path: Path) -> None:
    path = tmp_path / "data" / "hellaswag" / "EleutherAI" / "pythia-410m" / "a.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(converter_record()))
    db = tmp_path / "s.duckdb"
    ingest_format(tmp_path / "data", "every-eval-ever", upstream="lambada_openai:acc", db=db)
    with open_store(db, read_only=True) as store:
        runs = store.runs().set_index(["task", "downstream_metric"])
    assert set(runs["model"]) == {"pythia-410m"}  # the shipped Pythia alias
    assert runs.loc[("arc_easy", "acc"), "method"] == "few_shot"
    assert runs.loc[("arc_easy", "acc"), "shots"] == 25
    assert runs.loc[("hellaswag", "acc_norm"), "downstream_score"] == 0.5188
    assert (runs["downstream_stderr"] == 0.005).all() and (runs["upstream_score"] == 0.5167).all()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is KeyError:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set("model_info.id", KeyError), "model_info.id: expected non-empty text, got null"),
        (_set("evaluation_results.1.score_details.score", "0.5"),
         'evaluation_results[1].score_details.score: expected a number, got "0.5"'),
        (_set("evaluation_results.0.metric_config.lower_is_better", True),
         "evaluation_results[0].metric_config.lower_is_better: the record says lower is better"),
        (_set("evaluation_results.3.generation_config", {}),
         "evaluation_results[3]: no method (generation_config.additional_details.method or "
         "num_fewshot); pass --method NAME"),
        (_set("evaluation_results.2.score_details.score", 51.67),
         "evaluation_results[0] (upstream_score): 51.67 is outside [0, 1]"),
        (_set("evaluation_results", []), "evaluation_results: expected a non-empty list"),
    ],
)  # fmt: skip
def test_broken_records_are_one_line_and_exit_2(
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    expected: str,
    store_state: Callable[[Path], Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "s.duckdb"
    args = ["--format", "every-eval-ever", "--upstream", "lambada_openai:acc", "--db", str(db)]
    good = tmp_path / "good.json"
    good.write_text(json.dumps(converter_record()))
    assert main(["ingest", str(good), *args]) == 0
    before = store_state(db)
    capsys.readouterr()
    doc = converter_record()
    change(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["ingest", str(bad), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and expected in err, err
    assert store_state(db) == before
