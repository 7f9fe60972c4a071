"""Weights & Biases runs exports (the runs table's CSV), mapped by a spec."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from transferscope.cli import main
from transferscope.store import open_store

EXPORT = """\
"Name","State","Notes","User","Tags","Created","Runtime","Sweep","model","dataset","method",\
"seed","optimizer.lr","upstream_top1","test/acc","_runtime"
"vivid-sun-12","finished","-","ana","probe","2024-05-01T10:00:00.000Z","3601","abc12","vit-b16",\
"cifar10","linear_probe","0","0.01","0.812","0.912","3601"
"lucky-moon-13","finished","-","ana","probe","2024-05-01T11:00:00.000Z","3590","abc12","vit-b16",\
"cifar10","linear_probe","1","0.01","0.812","0.915","3590"
"calm-sea-14","crashed","-","ana","probe","2024-05-01T12:00:00.000Z","12","abc12","vit-l16",\
"cifar10","linear_probe","0","0.01","0.851","","12"
"bold-sky-15","finished","-","ana","probe","2024-05-01T13:00:00.000Z","7200","abc12","vit-l16",\
"cifar10","linear_probe","0","0.01","0.851","0.948","7200"
"""

SPEC = """\
hparams = ["optimizer.*"]

[columns]
model = "model"
task = "dataset"
method = "method"
seed = "seed"
upstream_score = "upstream_top1"
downstream_score = "test/acc"

[values]
upstream_task = "imagenet-1k"
upstream_metric = "top1"
downstream_metric = "accuracy"
"""


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, Path]:
    csv = tmp_path / "wandb_export_2024-05-02.csv"
    csv.write_text(EXPORT)
    spec = tmp_path / "wandb.toml"
    spec.write_text(SPEC)
    return csv, spec


def test_finished_runs_with_provenance(
    export: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, spec = export
    db = tmp_path / "s.duckdb"
    args = ["ingest", str(csv), "--format", "wandb", "--spec", str(spec), "--db", str(db)]
    assert main([*args, "--name", "probes"]) == 0
    assert "source 'probes': 3 rows read, 3 added" in capsys.readouterr().out
    with open_store(db, read_only=True) as store:
        runs = store.runs()
        (source,) = store.sources().itertuples()
    assert list(runs["model"]) == ["vit-b16", "vit-b16", "vit-l16"]  # the crashed run is out
    assert list(runs["downstream_score"]) == [0.912, 0.915, 0.948]
    assert list(runs["seed"]) == [0, 1, 0] and set(runs["upstream_score"]) == {0.812, 0.851}
    assert {json.dumps(json.loads(h)) for h in runs["hparams"]} == {'{"optimizer.lr": 0.01}'}
    assert source.url == csv.resolve().as_uri()
    assert source.sha256 == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert source.title == "Weights & Biases runs export: wandb_export_2024-05-02.csv"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda csv, spec: csv.write_text(EXPORT.replace('"0.915"', '"high"')),
         "row 2, column 'test/acc': expected a number, got 'high'"),
        (lambda csv, spec: csv.write_text(EXPORT.replace('"0.948"', '"94.8"')),
         "row 4, column 'test/acc': 94.8 is outside [0, 1]"),
        (lambda csv, spec: spec.write_text(SPEC.replace('"test/acc"', '"test/accuracy"')),
         "wandb.toml: [columns] downstream_score = 'test/accuracy': the runs have no such field"),
        (lambda csv, spec: spec.write_text(SPEC.replace('task = "dataset"\n', "")),
         "wandb.toml: no 'task': give [columns] task"),
        (lambda csv, spec: csv.write_text(EXPORT.replace('"lucky-moon-13",', "")),
         "row 2: 15 fields where the header has 16"),
    ],
)  # fmt: skip
def test_broken_exports_are_one_line_and_exit_2(
    export: tuple[Path, Path],
    tmp_path: Path,
    change: Callable[[Path, Path], Any],
    expected: str,
    capsys: pytest.CaptureFixture[str],
    store_state: Callable[[Path], Any],
) -> None:
    csv, spec = export
    db = tmp_path / "s.duckdb"
    args = ["ingest", str(csv), "--format", "wandb", "--spec", str(spec), "--db", str(db)]
    assert main(args) == 0
    before = store_state(db)
    capsys.readouterr()
    change(csv, spec)
    assert main([*args, "--replace"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert store_state(db) == before
