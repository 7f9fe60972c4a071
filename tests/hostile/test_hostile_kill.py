"""Kill ``transferscope fit`` with SIGKILL half-way: the store stays whole, keeps the groups it had
committed, lets readers in while the fit runs, and a rerun fits only the rest, to the same numbers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.frontier import fit_frontiers
from transferscope.frontier.synthetic import synthetic_runs

N_GROUPS = 6
OPTIONS = ["--bootstrap", "50", "--bootstrap-max", "50", "--seed", "3"]
# the fit under test commits after every group (the default is every 10 s), so that a kill
# after a few groups has something to keep
FIT = (
    "import sys\n"
    "import transferscope.frontier.persist as persist\n"
    "persist.COMMIT_SECONDS = 0.0\n"
    "from transferscope.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def _count_fits(db: Path) -> int | None:
    """Rows in table fits, read as another process would; None while a write holds the lock."""
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            return int(con.execute("SELECT count(*) FROM fits").fetchall()[0][0])
    except duckdb.IOException:
        return None


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    runs, _ = synthetic_runs(N_GROUPS, seed=5, n=40)
    path = tmp_path / "runs.csv"
    runs.drop(columns="source").to_csv(path, index=False)
    db = tmp_path / "store.duckdb"
    assert main(["ingest", str(path), "--db", str(db)]) == 0
    return db, runs


def test_a_killed_fit_keeps_its_groups_and_a_rerun_continues(
    store: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    db, runs = store
    capsys.readouterr()
    fit = subprocess.Popen(
        [sys.executable, "-c", FIT, "fit", "--db", str(db), *OPTIONS, "--format", "json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    reads_during_fit = 0
    kept = 0
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and fit.poll() is None:
            # readers are not locked out while the fit runs
            code = main(["runs", "--db", str(db), "--wait", "30", "--format", "json"])
            assert code == 0, capsys.readouterr().err
            if fit.poll() is None:
                reads_during_fit += 1
            kept = _count_fits(db) or kept
            if kept >= 2:
                break
            time.sleep(0.05)
        assert fit.poll() is None, "the fit ended before it could be killed"
        os.kill(fit.pid, signal.SIGKILL)
    finally:
        fit.kill()
        fit.communicate(timeout=60)
    assert fit.returncode == -signal.SIGKILL
    assert reads_during_fit >= 1
    capsys.readouterr()

    # the store is whole: it opens, its runs are all there, the committed groups are kept
    code, out, err = _run_json(["runs", "--db", str(db)], capsys)
    assert code == 0, err
    assert sum(row["n_runs"] for row in out) == len(runs)
    kept = _count_fits(db)
    assert kept is not None and 2 <= kept < N_GROUPS

    # a rerun reuses exactly the kept groups and fits the others
    code, rows, err = _run_json(["fit", "--db", str(db), *OPTIONS], capsys)
    assert code == 0, err
    frame = pd.DataFrame(rows)
    assert len(frame) == N_GROUPS and frame["reused"].sum() == kept
    assert _count_fits(db) == N_GROUPS

    # ... and the result is the fit of all groups at once, to the last bit
    whole = fit_frontiers(runs, bootstrap=50, bootstrap_max=50, seed=3)
    merged = frame.merge(whole, on="task", suffixes=("", "_whole"))
    assert len(merged) == N_GROUPS and (merged["status"] == "ok").all()
    for column in ("plateau", "plateau_ci_low", "plateau_ci_high", "aicc"):
        assert (merged[column] == merged[f"{column}_whole"]).all(), column


def _run_json(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[dict[str, object]], str]:
    code = main([*argv, "--format", "json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else [], captured.err
