"""lm-evaluation-harness results: both key styles, folders, provenance, broken files, names.

The fixtures are written here in the harness's two layouts: the layout of the Pythia evaluations
(before 0.4: ``acc``/``acc_stderr``, ``config.num_fewshot``) and the 0.4 layout
(``acc,none``/``acc_stderr,none``, ``n-shot``, ``configs``, ``higher_is_better``, groups).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.ingest import ingest_format
from transferscope.store import open_store

UPSTREAM = ["--format", "lm-eval", "--upstream", "lambada_openai:acc"]


def old_style(step: int, shots: int, scores: dict[str, dict[str, float]]) -> dict[str, Any]:
    """A results file as lm-evaluation-harness wrote it before 0.4 (the Pythia evaluations)."""
    return {
        "results": scores,
        "versions": dict.fromkeys(scores, 0),
        "config": {
            "model": "hf-causal",
            "model_args": f"pretrained=EleutherAI/pythia-v1.1-160m,revision=step{step}",
            "num_fewshot": shots,
            "batch_size": 2,
            "device": "cuda:2",
            "no_cache": True,
            "limit": None,
            "bootstrap_iters": 100000,
            "description_dict": {},
        },
    }


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def pythia_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pythia-160m"
    for step, lam, piqa in ((13000, 0.2998, 0.6164), (143000, 0.4095, 0.6257)):
        write(
            folder / "zero-shot" / f"160m_step{step}.json",
            old_style(step, 0, {
                "lambada_openai": {"ppl": 49.69, "ppl_stderr": 1.89, "acc": lam,
                                   "acc_stderr": 0.0064},
                "piqa": {"acc": piqa, "acc_stderr": 0.0113, "acc_norm": piqa - 0.006,
                         "acc_norm_stderr": 0.0114},
            }),
        )  # fmt: skip
        write(
            folder / "five-shot" / f"160m-5shot_step{step}.json",
            old_style(step, 5, {
                "lambada_openai": {"ppl": 84.02, "ppl_stderr": 3.24, "acc": lam - 0.07,
                                   "acc_stderr": 0.0058},
                "piqa": {"acc": piqa + 0.01, "acc_stderr": 0.0112},
            }),
        )  # fmt: skip
    return folder


def test_a_folder_of_pythia_style_files(
    pythia_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.duckdb"
    assert main(["ingest", str(pythia_folder), *UPSTREAM, "--db", str(db)]) == 0
    assert "source 'pythia-160m': 14 rows read, 14 added" in capsys.readouterr().out
    with open_store(db, read_only=True) as store:
        runs = store.runs()
        sources = store.sources()
    # the Hub name and its checkpoint meet the published table's name (shipped aliases)
    assert set(runs["model"]) == {"pythia-160m@step13000", "pythia-160m@step143000"}
    assert set(runs["pretrain_steps"]) == {13000, 143000}
    assert runs.groupby(["method", "shots"]).size().to_dict() == {
        ("few_shot", 5): 6,
        ("zero_shot", 0): 8,
    }
    piqa = runs[(runs["task"] == "piqa") & (runs["downstream_metric"] == "acc")]
    piqa = piqa.set_index(["model", "shots"])
    row = piqa.loc[("pythia-160m@step13000", 5)]
    assert row["downstream_score"] == pytest.approx(0.6264, abs=1e-12)
    assert row["downstream_stderr"] == pytest.approx(0.0112, abs=1e-12)
    # the upstream score is the zero-shot LAMBADA accuracy, also for five-shot runs
    assert row["upstream_score"] == pytest.approx(0.2998, abs=1e-12)
    assert row["upstream_task"] == "lambada_openai" and row["upstream_metric"] == "acc"
    assert json.loads(row["hparams"]) == {"task_version": "0"}
    # provenance: where the results came from, with a checksum of every file
    (source,) = sources.itertuples()
    assert source.name == "pythia-160m" and source.url == pythia_folder.resolve().as_uri()
    assert source.title == "lm-evaluation-harness results: pythia-160m (4 files)"
    assert len(source.sha256) == 64 and source.n_rows == 14
    # the same again adds nothing
    assert main(["ingest", str(pythia_folder), *UPSTREAM, "--db", str(db)]) == 0
    assert "0 added, 14 unchanged" in capsys.readouterr().out


NEW_STYLE: dict[str, Any] = {
    "results": {
        "mmlu": {"acc,none": 0.2611, "acc_stderr,none": 0.0037, "alias": "mmlu"},
        "mmlu_anatomy": {"alias": " - anatomy", "acc,none": 0.2667, "acc_stderr,none": 0.0382},
        "mmlu_virology": {"alias": " - virology", "acc,none": 0.2470, "acc_stderr,none": 0.0336},
        "gsm8k": {
            "alias": "gsm8k",
            "exact_match,strict-match": 0.0182,
            "exact_match_stderr,strict-match": 0.0037,
            "exact_match,flexible-extract": 0.0212,
            "exact_match_stderr,flexible-extract": "N/A",
        },
        "lambada_openai": {
            "alias": "lambada_openai",
            "perplexity,none": 6.12,
            "perplexity_stderr,none": 0.15,
            "acc,none": 0.6821,
            "acc_stderr,none": 0.0065,
        },
    },
    "groups": {"mmlu": {"acc,none": 0.2611, "acc_stderr,none": 0.0037, "alias": "mmlu"}},
    "group_subtasks": {"mmlu": ["mmlu_anatomy", "mmlu_virology"]},
    "configs": {"gsm8k": {"task": "gsm8k", "num_fewshot": 5}},
    "versions": {"mmlu": 2, "mmlu_anatomy": 1.0, "mmlu_virology": 1.0, "gsm8k": 3.0,
                 "lambada_openai": 1.0},
    "n-shot": {"mmlu_anatomy": 0, "mmlu_virology": 0, "lambada_openai": 0},
    "higher_is_better": {"lambada_openai": {"perplexity": False, "acc": True}},
    "n-samples": {"gsm8k": {"original": 1319, "effective": 1319}},
    "config": {
        "model": "hf",
        "model_args": {"pretrained": "EleutherAI/pythia-1.4b", "dtype": "float16"},
        "batch_size": "auto",
        "limit": None,
    },
    "git_hash": "8138fd52",
    "date": 1712345678.0,
    "model_name": "EleutherAI/pythia-1.4b",
}  # fmt: skip


def test_the_0_4_layout(tmp_path: Path) -> None:
    path = write(tmp_path / "out" / "EleutherAI__pythia-1.4b" / "results_2024-04-05.json",
                 NEW_STYLE)  # fmt: skip
    (path.parent / "samples_gsm8k_2024-04-05.jsonl").write_text("{}\n")  # not read
    db = tmp_path / "s.duckdb"
    result = ingest_format(
        tmp_path / "out", "lm-eval", upstream="lambada_openai:acc", db=db, name="evals"
    )
    assert result.n_added == 7
    with open_store(db, read_only=True) as store:
        runs = store.runs().set_index(["task", "downstream_metric"])
        (source,) = store.sources().itertuples()
    assert set(runs["model"]) == {"pythia-1.4b"}
    assert runs.loc[("mmlu", "acc"), "shots"] == 0  # the group's shots from its subtasks
    gsm = runs.loc["gsm8k"]
    assert gsm.loc["exact_match_strict_match", "downstream_score"] == 0.0182
    assert gsm.loc["exact_match_strict_match", "method"] == "few_shot"
    assert pd.isna(gsm.loc["exact_match_flexible_extract", "downstream_stderr"])  # "N/A"
    assert runs.loc[("lambada_openai", "perplexity"), "downstream_stderr"] == 0.15
    hparams = json.loads(runs.loc[("mmlu_anatomy", "acc"), "hparams"])
    assert hparams == {"dtype": "float16", "task_version": "1.0"}
    assert (runs["upstream_score"] == 0.6821).all()
    assert source.title.endswith("(1 file; harness commit 8138fd52)")


Broken = Callable[[dict[str, Any]], None]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["results"]["gsm8k"].update({"exact_match,strict-match": "high"}),
         'results.gsm8k.exact_match,strict-match: expected a number, got "high"'),
        (lambda d: d["results"]["mmlu_anatomy"].update({"acc,none": 1.7}),
         "results.mmlu_anatomy.acc,none (downstream_score): 1.7 is outside [0, 1]"),
        (lambda d: d["results"].pop("lambada_openai"),
         "model 'EleutherAI/pythia-1.4b' has no lambada_openai:acc score"),
        (lambda d: d["n-shot"].pop("mmlu_virology"),
         "n-shot.mmlu: no number of shots for this task"),
        (lambda d: d["higher_is_better"]["lambada_openai"].update({"acc": False}),
         "higher_is_better.lambada_openai.acc: the harness says lower is better"),
        (lambda d: d.pop("results"), "no 'results' object"),
        (lambda d: d["config"].update({"model_args": "pretrained"}),
         "config.model_args: 'pretrained' is not NAME=VALUE"),
    ],
)  # fmt: skip
def test_broken_files_are_one_line_and_exit_2(
    tmp_path: Path,
    change: Broken,
    expected: str,
    capsys: pytest.CaptureFixture[str],
    store_state: Callable[[Path], Any],
) -> None:
    db = tmp_path / "s.duckdb"
    good = write(tmp_path / "good.json", NEW_STYLE)
    assert main(["ingest", str(good), *UPSTREAM, "--db", str(db)]) == 0
    before = store_state(db)
    capsys.readouterr()
    doc = json.loads(json.dumps(NEW_STYLE))
    change(doc)
    bad = write(tmp_path / "bad.json", doc)
    assert main(["ingest", str(bad), *UPSTREAM, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and expected in err, err
    assert store_state(db) == before


def test_unparseable_json_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "r.json"
    bad.write_text('{"results": {"piqa": {"acc": 0.5,}}}')
    db = str(tmp_path / "s.duckdb")
    assert main(["ingest", str(bad), *UPSTREAM, "--db", db]) == 2
    assert "r.json: invalid JSON at line 1 column 34" in capsys.readouterr().err
    assert main(["ingest", str(bad), "--format", "lm-eval", "--db", db]) == 2
    assert "needs --upstream TASK:METRIC" in capsys.readouterr().err
    assert main(["ingest", str(bad), *UPSTREAM, "--spec", "x.toml", "--db", db]) == 2
    assert "--spec: not an option of --format lm-eval" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path / "none"), *UPSTREAM, "--db", db]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert not Path(db).exists()


def test_two_numbers_of_shots_need_a_choice(pythia_folder: Path, tmp_path: Path) -> None:
    for path in pythia_folder.rglob("*.json"):  # no zero-shot LAMBADA to prefer
        doc = json.loads(path.read_text())
        doc["config"]["num_fewshot"] = 5 if "5shot" in path.name else 10
        path.write_text(json.dumps(doc))
    with pytest.raises(Exception, match=r"at 2 numbers of shots \(5, 10\); choose one"):
        ingest_format(pythia_folder, "lm-eval", upstream="lambada_openai:acc", db=":memory:")
    result = ingest_format(
        pythia_folder, "lm-eval", upstream="lambada_openai:acc:10", db=tmp_path / "s.duckdb"
    )
    assert result.n_added == 14
