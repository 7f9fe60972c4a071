"""``transferscope fit``: formats, filters, reuse and bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.frontier.synthetic import synthetic_runs
from transferscope.store import open_store


@pytest.fixture
def db(tmp_path: Path) -> str:
    runs, _ = synthetic_runs(2, seed=31)
    path = tmp_path / "fit.duckdb"
    with open_store(path) as store:
        store.ingest(runs.drop(columns=["source"]), "synthetic")
    return str(path)


def test_json_is_an_array_of_records_with_null(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["fit", "--db", db, "--bootstrap", "30", "--bootstrap-max", "30", "--format", "json"]
    assert main(args) == 0
    out = capsys.readouterr()
    records = json.loads(out.out)
    assert [r["task"] for r in records] == ["task_000", "task_001"]
    assert all(r["shots"] is None and r["status"] == "ok" for r in records)
    assert all(r["downstream_metric"] == "accuracy" for r in records)  # grouped by metric
    assert records[0]["n_bootstrap"] == 30
    assert out.err == ""  # no progress bar when stderr is not a terminal
    assert main(args) == 0
    assert all(r["reused"] for r in json.loads(capsys.readouterr().out))


def test_csv_and_filters(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "fit",
            "--db",
            db,
            "--task",
            "task_001",
            "--frontier",
            "hull",
            "--bootstrap",
            "20",
            "--bootstrap-max",
            "20",
            "--format",
            "csv",
        ]
    )
    assert code == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert frame["task"].tolist() == ["task_001"]
    assert frame["frontier"].tolist() == ["hull"]
    assert "param_sigma_v" not in frame.columns
    args = ["--family", "auto", "--side-by-side", "--bootstrap", "0", "--interval", "bootstrap"]
    assert main(["fit", "--db", db, *args]) == 0
    table = capsys.readouterr().out
    assert "sigmoid" in table and "probit" in table


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--by", "task", "nonsense"], "unknown column"),
        (["--bootstrap", "-1"], "bootstrap must lie in [0, 100,000], got -1"),
        (["--bootstrap", "1000000000000"], "bootstrap must lie in [0, 100,000]"),
        (["--seed", "-1"], "seed must lie in"),
        (["--family", "nope"], "unknown family 'nope'"),
        (["--frontier", "nope"], "invalid choice"),
    ],
)
def test_bad_input_is_status_2(
    db: str, args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fit", "--db", db, *args]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_store_is_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "ingest" in capsys.readouterr().err
    assert not (tmp_path / "none.duckdb").exists()
