"""``transferscope simulate`` writes files that ``transferscope ingest`` takes as they are."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.schema import INPUT_COLUMNS
from transferscope.store import open_store

ARGS = ["--checkpoints", "2", "--tasks", "2", "--seeds", "2", "--dim", "30"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_simulate_then_ingest(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / f"ladder{suffix}"
    assert main(["simulate", "--out", str(out), *ARGS]) == 0
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(frame.columns) == list(INPUT_COLUMNS)
    # 2 checkpoints x 2 tasks x 4 methods x 2 shots x 2 seeds, plus 2 x 4 x 2 x 2 scratch rows
    assert len(frame) == 64 + 32
    db = tmp_path / "store.duckdb"
    assert main(["ingest", str(out), "--db", str(db)]) == 0
    assert main(["ingest", str(out), "--db", str(db)]) == 0  # idempotent
    with open_store(db, read_only=True) as store:
        runs = store.runs()
    assert len(runs) == len(frame)
    assert set(runs["method"]) == set(frame["method"])
    assert runs["pretrained"].sum() == 64
    assert "wrote 96 runs" in capsys.readouterr().out


def test_same_seed_same_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["simulate", "--out", str(a), *ARGS, "--seed", "3"]) == 0
    assert main(["simulate", "--out", str(b), *ARGS, "--seed", "3"]) == 0
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "x.txt"], ".csv or .parquet"),
        (["--out", "x.csv", "--seeds", "0"], "--seeds"),
        (["--out", "x.csv", "--dim", "5"], "--dim"),
        (["--out", "x.csv", "--rho-pt", "1.5"], "--rho-pt"),
        (["--out", "missing/x.csv"], "does not exist"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_simulate_theory_writes_an_exact_ladder(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "theory.csv"
    args = ["--checkpoints", "2", "--tasks", "2", "--dim", "40", "--shots", "8", "20"]
    assert main(["simulate", "--theory", "--out", str(out), *args]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(INPUT_COLUMNS)
    # no seeds: 2 checkpoints x 2 tasks x 4 methods x 2 shots, plus 2 x 4 x 2 scratch rows
    assert len(frame) == 32 + 16 and frame["seed"].isna().all()
    assert frame["downstream_stderr"].gt(0).all()
    assert "wrote 48 runs" in capsys.readouterr().out
    again = tmp_path / "again.csv"
    assert main(["simulate", "--theory", "--out", str(again), *args, "--seeds", "7"]) == 0
    assert out.read_bytes() == again.read_bytes()  # exact: no seed changes it
    db = tmp_path / "store.duckdb"
    assert main(["ingest", str(out), "--db", str(db)]) == 0
    with open_store(db, read_only=True) as store:
        assert len(store.runs()) == 48
