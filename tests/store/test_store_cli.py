"""The commands ingest, sources and runs: output, exit status, one-line errors, store unchanged."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.errors import InputError
from transferscope.schema import SourceInfo
from transferscope.store import supported_version

Write = Callable[..., Path]
State = Callable[[Path], object]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("transferscope: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def db(tmp_path: Path, write_csv: Write, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store holding the four runs of runs.csv as source 'runs'."""
    path = tmp_path / "store.duckdb"
    code, _, _ = _run(["ingest", str(write_csv("runs.csv")), "--db", str(path)], capsys)
    assert code == 0
    return path


def test_ingest_a_canonical_csv_just_works(
    tmp_path: Path, write_csv: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv("runs.csv")
    store = tmp_path / "new" / "store.duckdb"
    code, out, err = _run(["ingest", str(path), "--db", str(store)], capsys)
    assert code == 0
    assert out == f"source 'runs': 4 rows read, 4 added, 0 unchanged -> {store}\n"
    assert err == ""  # no progress bar when stderr is not a terminal
    code, out, _ = _run(["ingest", str(path), "--db", str(store)], capsys)
    assert (code, out) == (0, f"source 'runs': 4 rows read, 0 added, 4 unchanged -> {store}\n")


def test_default_store_is_transferscope_db(
    tmp_path: Path, write_csv: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(["ingest", str(write_csv())], capsys)
    assert code == 0 and out.endswith(f"-> {tmp_path / 'default.duckdb'}\n")  # tests/conftest.py


def test_replace_changed_content(
    db: Path, write_csv: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = write_csv(
        "runs.csv",
        rows=[
            "r50,true,0.76,cifar10,Full FT,,0,0.96,0.1",
            "r50,true,0.76,cifar10,Linear Probe,10,0,0.80,0.01",
            "r50,true,0.76,cifar10,Linear Probe,10,0,0.80,0.01",
        ],
    )
    code, out, _ = _run(["ingest", str(changed), "--db", str(db), "--replace"], capsys)
    assert code == 0
    assert out == (
        "source 'runs': 3 rows read, 0 added, 1 unchanged, 1 changed, 2 removed, "
        f"1 identical duplicate rows collapsed -> {db}\n"
    )
    code, out, _ = _run(["runs", "--db", str(db), "--format", "json"], capsys)
    assert [r["n_runs"] for r in json.loads(out)] == [1, 1]


def test_name_map_and_percent(
    db: Path, write_csv: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(
        "theirs.tsv",
        text="ckpt\tdataset\tmethod\ttop1\tacc\n"
        "r50\tpets\tfull ft\t76.1\t91.5\n"
        "vit\tpets\tfull ft\t81.0\t93.25\n",
    )
    argv = ["ingest", str(path), "--db", str(db), "--name", "mine", "--percent"]
    for pair in ("ckpt=model", "dataset=task", "top1=upstream_score", "acc=downstream_score"):
        argv += ["--map", pair]
    code, out, _ = _run(argv, capsys)
    assert code == 0 and out.startswith("source 'mine': 2 rows read, 2 added")
    code, out, _ = _run(["runs", "--db", str(db), "--source", "mine", "--format", "csv"], capsys)
    assert out.splitlines() == [
        "source,task,method,shots,downstream_metric,n_runs,n_models,n_pretrained",
        "mine,pets,full_ft,,accuracy,2,2,2",
    ]
    from transferscope.store import open_store

    with open_store(db, read_only=True) as store:
        runs = store.runs(source="mine")
    # x / 100 in float64: within one rounding (relative 1e-15) of the decimal fraction
    assert runs["downstream_score"].tolist() == pytest.approx([0.915, 0.9325], rel=1e-15)
    assert runs["upstream_score"].tolist() == pytest.approx([0.761, 0.81], rel=1e-15)


def test_sources_command(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["sources", "--db", str(db), "--format", "json"], capsys)
    assert code == 0
    (record,) = json.loads(out)
    assert record["name"] == "runs" and record["title"] == "runs.csv"
    assert record["n_rows"] == 4 and len(record["sha256"]) == 64
    assert record["url"].startswith("file://") and record["url"].endswith("/runs.csv")
    assert set(record) == {
        "name",
        "title",
        "citation",
        "url",
        "commit",
        "sha256",
        "license",
        "ingested_at",
        "n_rows",
    }
    code, out, _ = _run(["sources", "--db", str(db)], capsys)
    header = out.splitlines()[0].split()
    assert code == 0 and header[0] == "name" and "citation" not in header


def test_runs_command_formats(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["runs", "--db", str(db), "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out) == [
        {
            "source": "runs",
            "task": "cifar10",
            "method": "full_ft",
            "shots": None,
            "downstream_metric": "accuracy",
            "n_runs": 1,
            "n_models": 1,
            "n_pretrained": 1,
        },
        {
            "source": "runs",
            "task": "cifar10",
            "method": "linear_probe",
            "shots": 10,
            "downstream_metric": "accuracy",
            "n_runs": 2,
            "n_models": 2,
            "n_pretrained": 2,
        },
        {
            "source": "runs",
            "task": "cifar10",
            "method": "scratch",
            "shots": None,
            "downstream_metric": "accuracy",
            "n_runs": 1,
            "n_models": 1,
            "n_pretrained": 0,
        },
    ]
    code, out, _ = _run(["runs", "--db", str(db), "--method", "scratch"], capsys)
    assert code == 0 and len(out.splitlines()) == 2 and "scratch" in out.splitlines()[1]
    # the table names the number of shots: full (training set) for a missing one
    assert out.splitlines()[1].split()[:5] == ["runs", "cifar10", "scratch", "full", "accuracy"]
    code, out, _ = _run(["runs", "--db", str(db), "--method", "scratch", "full_ft"], capsys)
    code2, out2, _ = _run(
        ["runs", "--db", str(db), "--method", "scratch", "--method", "full_ft"], capsys
    )
    assert code == code2 == 0 and out == out2 and len(out.splitlines()) == 3
    code, out, _ = _run(["runs", "--db", str(db), "--task", "nothing"], capsys)
    assert out == "(no rows)\n"


def test_reading_commands_need_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("sources", "runs"):
        code, _, err = _run([command, "--db", str(tmp_path / "none.duckdb")], capsys)
        assert code == 2 and "no store here yet" in _one_line_error(err)
    assert not (tmp_path / "none.duckdb").exists()


# ----------------------------------------------------------------- every bad input

_BAD_INPUTS: dict[str, tuple[Callable[[Path, Write], list[str]], str]] = {
    "missing column": (
        lambda d, w: [str(w("a.csv", header="model,method,downstream_score", rows=["a,m,0.5"]))],
        "missing required column 'task'",
    ),
    "score above 1": (
        lambda d, w: [str(w("a.csv", rows=["r50,true,0.76,cifar10,ft,,0,95,"]))],
        "row 1, column 'downstream_score': 95 is outside [0, 1] for accuracy-type metric "
        "'accuracy'; if the table holds percentages, pass --percent",
    ),
    "score below 0": (
        lambda d, w: [
            str(w("a.csv", rows=["r50,true,0.76,cifar10,ft,,0,0.5,", "r,true,0.7,c,ft,,0,-0.2,"]))
        ],
        "row 2, column 'downstream_score': -0.2 is outside [0, 1]",
    ),
    "not a number": (
        lambda d, w: [str(w("a.csv", rows=["r50,true,0.76,cifar10,ft,,0,high,"]))],
        "row 1, column 'downstream_score': expected a number, got 'high'",
    ),
    "empty required": (
        lambda d, w: [str(w("a.csv", rows=[",true,0.76,cifar10,ft,,0,0.5,"]))],
        "row 1, column 'model': empty value",
    ),
    "same run twice": (
        lambda d, w: [
            str(
                w(
                    "a.csv",
                    rows=[
                        "r,true,0.7,c,ft,,0,0.5,",
                        "s,true,0.7,c,ft,,0,0.5,",
                        "r,true,0.7,c,ft,,0,0.6,",
                    ],
                )
            )
        ],
        "rows 1 and 3 are the same run",
    ),
    "empty file": (lambda d, w: [str(w("a.csv", text=""))], "empty file"),
    "header only": (lambda d, w: [str(w("a.csv", rows=[]))], "no data rows (only a header)"),
    "binary": (lambda d, w: [str(w("a.csv", text="model\x00\x01\x02"))], "binary content"),
    "unknown type": (lambda d, w: [str(w("a.xlsx", text="x"))], "unknown file type (.xlsx)"),
    "no such file": (lambda d, w: [str(d / "absent.csv")], "no such file"),
    "map names an absent column": (
        lambda d, w: [str(w("a.csv")), "--map", "checkpoint=model"],
        "--map names column 'checkpoint', which the input lacks",
    ),
    "map to a non-canonical column": (
        lambda d, w: [str(w("a.csv")), "--map", "lr=learning_rate"],
        "'learning_rate' is not a canonical column",
    ),
    "changed content": (
        lambda d, w: [str(w("runs.csv", rows=["r50,true,0.76,cifar10,Full FT,,0,0.5,0.1"]))],
        "source 'runs' is in the store with different content (0 runs new, 1 changed, 3 gone)",
    ),
    "unknown source": (lambda d, w: ["--source", "no-such-source"], "no-such-source"),
    "path and source": (lambda d, w: [str(w("a.csv")), "--source", "vtab"], "either PATH or"),
    "neither": (lambda d, w: [], "give either PATH or --source NAME"),
    "empty name": (
        lambda d, w: [str(w("a.csv")), "--name", " "],
        "a source needs a non-empty name",
    ),
    "percent with source": (
        lambda d, w: ["--source", "vtab", "--percent"],
        "--percent: only with PATH, not with --source",
    ),
    "from with path": (
        lambda d, w: [str(w("a.csv")), "--from", str(d)],
        "--from: only with --source, not with PATH",
    ),
}


@pytest.mark.parametrize("case", sorted(_BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    case: str,
    db: Path,
    tmp_path: Path,
    write_csv: Write,
    store_state: State,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_argv, expected = _BAD_INPUTS[case]
    argv = ["ingest", *make_argv(tmp_path, write_csv), "--db", str(db)]
    before = store_state(db)
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == ""
    assert expected in _one_line_error(err)
    assert store_state(db) == before


def test_bad_input_never_creates_a_store(
    tmp_path: Path, write_csv: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "fresh.duckdb"
    path = write_csv("a.csv", rows=["r50,true,0.76,cifar10,ft,,0,95,"])
    code, _, err = _run(["ingest", str(path), "--db", str(store)], capsys)
    assert code == 2 and "--percent" in _one_line_error(err)
    assert not store.exists()


def test_store_that_is_not_a_database(
    tmp_path: Path, write_csv: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.duckdb"
    notes.write_text("my notes\n")
    for argv in (["ingest", str(write_csv())], ["sources"], ["runs"]):
        code, _, err = _run([*argv, "--db", str(notes)], capsys)
        assert code == 2
        assert _one_line_error(err).endswith(
            f"{notes}: not a DuckDB database (it is a text file, e.g. CSV or JSON); "
            "choose another --db"
        )
    assert notes.read_text() == "my notes\n"


def test_store_with_a_newer_schema(
    db: Path, write_csv: Write, store_state: State, capsys: pytest.CaptureFixture[str]
) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(
            "INSERT INTO schema_info VALUES (?, 'future', now())", [supported_version() + 1]
        )
        before = con.execute("SELECT count(*) FROM runs").fetchall()
    code, _, err = _run(["ingest", str(write_csv("other.csv")), "--db", str(db)], capsys)
    assert code == 2
    newer, ours = supported_version() + 1, supported_version()
    expected = f"schema version {newer}, newer than this transferscope supports ({ours})"
    assert expected in _one_line_error(err)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchall() == before
        assert con.execute("SELECT count(*) FROM sources").fetchall() == [(1,)]


def test_store_locked_by_another_process(
    db: Path,
    write_csv: Write,
    store_state: State,
    hold_open: Callable[[Path], Callable[[], None]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = store_state(db)
    release = hold_open(db)
    for argv in (["ingest", str(write_csv("other.csv"))], ["sources"], ["runs"]):
        code, _, err = _run([*argv, "--db", str(db), "--wait", "0"], capsys)
        assert code == 2
        assert "locked by another process (PID " in _one_line_error(err)
    release()
    assert store_state(db) == before


# ------------------------------------------------------------------- --source


@dataclass(frozen=True)
class _Loaded:
    frame: pd.DataFrame
    info: SourceInfo
    require_upstream: bool


@pytest.fixture
def fake_sources(monkeypatch: pytest.MonkeyPatch, runs_frame: pd.DataFrame) -> list[dict]:
    """A stand-in for transferscope.ingest.sources: 'fake' (no upstream scores) and 'broken'."""
    calls: list[dict] = []

    def load_source(
        name: str, *, from_dir: Path | None = None, cache_dir: Path | None = None
    ) -> _Loaded:
        calls.append({"name": name, "from_dir": from_dir, "cache_dir": cache_dir})
        if name == "broken":
            raise InputError("checksum mismatch: expected abc, got def", file="broken/x.csv")
        if name != "fake":
            raise InputError(f"unknown source {name!r}; known sources: broken, fake")
        frame = runs_frame.drop(columns="upstream_score")
        info = SourceInfo(name="fake", title="Fake", url="https://example.org/x", commit="abc")
        return _Loaded(frame, info, require_upstream=False)

    monkeypatch.setattr("transferscope.ingest.pipeline.load_source", load_source)
    return calls


def test_ingest_source_with_a_stand_in_loader(
    tmp_path: Path,
    fake_sources: list[dict],
    store_state: State,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "s.duckdb"
    argv = ["ingest", "--source", "fake", "--from", str(tmp_path), "--cache", str(tmp_path / "c")]
    code, out, _ = _run([*argv, "--db", str(db)], capsys)
    assert code == 0 and out == f"source 'fake': 4 rows read, 4 added, 0 unchanged -> {db}\n"
    assert fake_sources == [{"name": "fake", "from_dir": tmp_path, "cache_dir": tmp_path / "c"}]
    before = store_state(db)
    for name, expected in (("broken", "checksum mismatch"), ("nope", "known sources: broken")):
        code, _, err = _run(["ingest", "--source", name, "--db", str(db)], capsys)
        assert code == 2 and expected in _one_line_error(err)
    assert store_state(db) == before
    code, out, _ = _run(["sources", "--db", str(db), "--format", "json"], capsys)
    (record,) = json.loads(out)
    assert (record["name"], record["url"], record["commit"]) == (
        "fake",
        "https://example.org/x",
        "abc",
    )


def test_ingest_vtab_from_the_shared_data(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.duckdb"
    argv = ["ingest", "--source", "vtab", "--from", str(shared_data), "--db", str(db)]
    code, out, _ = _run(argv, capsys)
    assert code == 0 and out == f"source 'vtab': 608 rows read, 608 added, 0 unchanged -> {db}\n"
    code, out, _ = _run(["runs", "--db", str(db), "--format", "json"], capsys)
    counts = json.loads(out)
    # 16 methods x 19 tasks x 2 regimes; From-Scratch (19 x 2 rows) is not pretrained
    assert sum(r["n_runs"] for r in counts) == 608
    assert sum(r["n_pretrained"] for r in counts) == 608 - 38
    assert {r["task"] for r in counts}.__len__() == 19
    code, out, _ = _run(argv, capsys)
    assert out == f"source 'vtab': 608 rows read, 0 added, 608 unchanged -> {db}\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from transferscope.cli.ingest import _stages

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    clock = iter(float(t) for t in range(100))  # one second per call: past tqdm's 0.5 s delay
    monkeypatch.setattr("tqdm.std.time", lambda: next(clock))
    with _stages("ingest runs.csv") as progress:
        for stage in ("read", "validate", "write"):
            progress(stage)
    shown = terminal.getvalue()
    assert "ingest runs.csv: validate [1/3 stages" in shown
    assert "ingest runs.csv: write [2/3 stages" in shown
