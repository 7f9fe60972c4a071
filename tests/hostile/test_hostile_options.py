"""Hostile options and names: seeds, resample counts, output folders, terminal escapes, pooling.

Every bad option is one line on stderr and exit 2 before any work; the same rules hold in the
Python API (an InputError). Names that hold terminal escape sequences are shown escaped in every
table, and pooling extreme variances returns a status, never an exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.cli._output import safe_text
from transferscope.errors import InputError
from transferscope.store import open_store

RUNS = (
    "model,pretrained,upstream_score,task,method,downstream_score\n"
    "r50,true,0.7,cifar10,ft,0.8\nvit,true,0.8,cifar10,ft,0.9\nscratch,false,,cifar10,ft,0.5\n"
)
ESC = "\x1b"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("store")
    (folder / "runs.csv").write_text(RUNS)
    path = folder / "store.duckdb"
    assert main(["ingest", str(folder / "runs.csv"), "--db", str(path)]) == 0
    return path


# ---------------------------------------------------------------- seeds and resamples

BAD_OPTIONS: dict[str, tuple[list[str], str]] = {
    "fit --seed -1": (["fit", "--seed", "-1"], "seed must lie in [0, "),
    "rank --seed -1": (["rank", "--seed", "-1"], "argument --seed: expected a non-negative"),
    "report --seed -1": (["report", "--seed", "-1"], "argument --seed: expected a non-negative"),
    "demo --seed -1": (["demo", "--seed", "-1"], "argument --seed: expected a non-negative"),
    "simulate --seed -1": (
        ["simulate", "--out", "x.csv", "--seed", "-1"],
        "argument --seed: expected a non-negative",
    ),
    "rank --seed 1.5": (["rank", "--seed", "1.5"], "argument --seed: expected a non-negative"),
    "fit --bootstrap 1e12": (
        ["fit", "--bootstrap", "1000000000000"],
        "bootstrap must lie in [0, 100,000], got 1,000,000,000,000",
    ),
    "rank --bootstrap 1e12": (
        ["rank", "--bootstrap", "1000000000000"],
        "more than the 100,000 allowed",
    ),
    "demo --bootstrap 1e12": (
        ["demo", "--bootstrap", "1000000000000"],
        "more than the 100,000 allowed",
    ),
    "rank --bootstrap -5": (["rank", "--bootstrap", "-5"], "must be a non-negative integer"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_option_is_one_line_before_any_work(
    case: str, store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, expected = BAD_OPTIONS[case]
    db = [] if argv[0] in ("demo", "simulate") else ["--db", str(store)]
    out_dir = ["--out", str(tmp_path / "out")] if argv[0] in ("demo", "report") else []
    code, out, err = _run([*argv, *db, *out_dir], capsys)
    assert (code, out) == (2, "")
    assert expected in _one_line(err)
    assert not (tmp_path / "out").exists() and not Path("x.csv").exists()


API_CALLS: dict[str, tuple[Callable[[Path], object], str]] = {}


def _api(name: str, expected: str) -> Callable[[Callable[[Path], object]], None]:
    def add(call: Callable[[Path], object]) -> None:
        API_CALLS[name] = (call, expected)

    return add


@_api("fit_group(seed=-1)", "seed must lie in [0, ")
def _fit_group_seed(folder: Path) -> object:
    from transferscope.frontier import fit_group

    return fit_group([0.5, 0.6, 0.7], [0.4, 0.5, 0.6], seed=-1)


@_api("fit_group(bootstrap=10**12)", "bootstrap must lie in [0, 100,000]")
def _fit_group_boot(folder: Path) -> object:
    from transferscope.frontier import fit_group

    return fit_group([0.5, 0.6, 0.7], [0.4, 0.5, 0.6], bootstrap=10**12)


@_api("fit_store(seed=-1)", "seed must lie in [0, ")
def _fit_store_seed(folder: Path) -> object:
    from transferscope.frontier import fit_store

    with open_store(":memory:") as memory:
        return fit_store(memory, seed=-1)


@_api("rank_methods(seed=-1)", "seed must be a non-negative integer, got -1")
def _rank_seed(folder: Path) -> object:
    from transferscope.dependence import rank_methods

    return rank_methods(pd.DataFrame({"task": []}), seed=-1)


@_api("rank_methods(bootstrap=10**12)", "more than the 100,000 allowed")
def _rank_boot(folder: Path) -> object:
    from transferscope.dependence import rank_methods

    return rank_methods(pd.DataFrame({"task": []}), bootstrap=10**12)


@_api("build_report(seed=-1)", "seed must be a non-negative integer, got -1")
def _report_seed(folder: Path) -> object:
    from transferscope.report import build_report

    with open_store(":memory:") as memory:
        return build_report(memory, folder / "out", seed=-1)


@_api("run_demo(seed=-1)", "seed must be a non-negative integer, got -1")
def _demo_seed(folder: Path) -> object:
    from transferscope.report.demo import run_demo

    return run_demo(folder / "out", seed=-1)


@_api("run_demo(fit_bootstrap=10**12)", "fit_bootstrap = 1000000000000 resamples is more")
def _demo_boot(folder: Path) -> object:
    from transferscope.report.demo import run_demo

    return run_demo(folder / "out", fit_bootstrap=10**12)


@_api("simulate_ladder(seed=-1)", "seed must be a non-negative integer, got -1")
def _simulate_seed(folder: Path) -> object:
    from transferscope.dln import simulate_ladder

    return simulate_ladder(seed=-1)


@pytest.mark.parametrize("case", sorted(API_CALLS))
def test_the_api_refuses_the_same_options(case: str, tmp_path: Path) -> None:
    call, expected = API_CALLS[case]
    with pytest.raises(InputError) as info:
        call(tmp_path)
    assert expected in str(info.value)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------- output folders

OUT_COMMANDS = {
    "report": lambda out, db: ["report", "--out", out, "--no-images", "--db", db],
    "demo": lambda out, db: ["demo", "--out", out, "--checkpoints", "2", "--tasks", "1"],
    "simulate": lambda out, db: ["simulate", "--out", str(Path(out) / "ladder.csv")],
}


def _under_a_file(folder: Path) -> str:
    (folder / "notes.txt").write_text("mine")
    return str(folder / "notes.txt" / "sub")


PLACES: dict[str, tuple[Callable[[Path], str], str]] = {
    "under a regular file": (_under_a_file, "notes.txt' is a file, not a folder"),
    "unwritable": (lambda d: "/proc", "cannot write in '/proc'"),
}


@pytest.mark.parametrize("command", sorted(OUT_COMMANDS))
@pytest.mark.parametrize("place", sorted(PLACES))
def test_output_folders_are_checked_before_writing(
    command: str, place: str, store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, expected = PLACES[place]
    out = make(tmp_path)
    code, stdout, err = _run(OUT_COMMANDS[command](out, str(store)), capsys)
    assert (code, stdout) == (2, "")
    assert expected in _one_line(err)
    if place == "under a regular file":
        assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("command", ["report", "demo"])
def test_the_root_is_not_an_output_folder(
    command: str, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(OUT_COMMANDS[command]("/", str(store)), capsys)
    assert code == 2
    assert "/: is the root of the file system; choose a folder of its own" in _one_line(err)


def test_report_out_that_is_a_file(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.html"
    target.write_text("keep")
    code, _, err = _run(OUT_COMMANDS["report"](str(target), str(store)), capsys)
    assert (
        code == 2
        and "exists and is not a folder (a regular file); expected an output folder" in err
    )
    assert target.read_text() == "keep"


# ------------------------------------------------------------ names in the terminal

HOSTILE_NAMES = {
    "clear": f"clear{ESC}[2J{ESC}[H",
    "title": f"title{ESC}]0;pwned\x07",
    "bidi": "abc\u202edcba",
    "newline": "two\nlines",
    "c1": "csi\x9b31m",
}


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    names = list(HOSTILE_NAMES.values())
    rows = []
    for task in names:
        for i, up in enumerate(np.linspace(0.3, 0.9, 8)):
            rows.append(
                {
                    "model": f"m{i}{ESC}[31m",
                    "pretrained": True,
                    "upstream_score": up,
                    "task": task,
                    "method": "ft",
                    "downstream_score": 0.2 + 0.5 * up,
                }
            )
        rows.append(
            {
                "model": "scratch",
                "pretrained": False,
                "task": task,
                "method": "ft",
                "downstream_score": 0.1,
            }
        )
    path = folder / "runs.jsonl"
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    db = folder / "store.duckdb"
    assert main(["ingest", str(path), "--db", str(db), "--name", f"src{ESC}[5m"]) == 0
    return db


def _no_raw_controls(text: str) -> None:
    for ch in text:
        assert ch == "\n" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0), repr(ch)
        assert ch not in "\u202e\u2028\u2029"


@pytest.mark.parametrize(
    "argv",
    [
        ["runs"],
        ["sources"],
        ["fit", "--bootstrap", "0", "--frontier", "all"],
        ["rank", "--bootstrap", "0", "--entity", "model"],
    ],
    ids=["runs", "sources", "fit", "rank"],
)
def test_names_are_escaped_in_tables(
    argv: list[str], hostile_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run([*argv, "--db", str(hostile_store)], capsys)
    assert code == 0, err
    _no_raw_controls(out)
    if argv[0] in ("runs", "fit"):
        assert "clear\\x1b[2J\\x1b[H" in out and "abc\\u202edcba" in out
        assert "two\\x0alines" in out
    elif argv[0] == "rank":
        assert "m0\\x1b[31m" in out
    else:
        assert "src\\x1b[5m" in out
    code, out, _ = _run([*argv, "--db", str(hostile_store), "--format", "json"], capsys)
    records = json.loads(out)  # JSON keeps the exact text, escaped by JSON itself
    _no_raw_controls(out)
    names = {str(v) for r in records for v in r.values()}
    assert names & {HOSTILE_NAMES["clear"], f"src{ESC}[5m", f"m0{ESC}[31m"}


def test_file_names_in_errors_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"evil{ESC}[2J\nname.csv"
    path.write_text("model\n")
    code, _, err = _run(["ingest", str(path), "--db", str(tmp_path / "s.duckdb")], capsys)
    line = _one_line(err)
    assert code == 2 and "evil\\x1b[2J\\x0aname.csv" in line
    _no_raw_controls(err)


def test_safe_text_leaves_printable_text_alone() -> None:
    text = "ViT-B/16 (ImageNet-21k) — 東京 café ±0.5 \\x1b"
    assert safe_text(text) == text
    assert safe_text("a\tb\x7fc\x00") == "a\\x09b\\x7fc\\x00"


# ------------------------------------------------------------- pooling, from the CLI

POOL_CASES: dict[str, tuple[list[float], list[float], str, str]] = {
    "variances of 1e-300": ([0.1, 0.2, 0.35], [1e-300, 2e-300, 1.5e-300], "DL", "ok"),
    "variances of 1e300, REML": ([1e150, 2e150, 3e150], [1e300, 2e300, 1.5e300], "REML", "ok"),
    "variances from 1e-30 to 1e30": ([0.0, 1.0, 2.0], [1e-30, 1.0, 1e30], "REML", "degenerate"),
}


@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pool_returns_a_status_for_extreme_variances(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    effects, variances, method, status = POOL_CASES[case]
    path = tmp_path / "effects.csv"
    pd.DataFrame({"yi": effects, "vi": variances}).to_csv(path, index=False)
    argv = ["pool", str(path), "--effect", "yi", "--variance", "vi", "--method", method]
    code, out, err = _run([*argv, "--format", "json"], capsys)
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["status"] == status
    if status == "ok":
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"] and row["se"] > 0
        assert row["message"] == ""
    else:
        assert row["estimate"] is None and "double precision" in row["message"]


def test_pool_refuses_a_fifo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "effects.csv"
    os.mkfifo(fifo)
    code, _, err = _run(["pool", str(fifo), "--effect", "yi", "--variance", "vi"], capsys)
    assert code == 2 and "is a FIFO (named pipe), not a regular file" in _one_line(err)


# ------------------------------------------------------- a bug is exit 1, not exit 2


def test_a_fault_of_the_program_is_not_reported_as_bad_input(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import transferscope.dln

    def broken(**kwargs: object) -> pd.DataFrame:
        raise ValueError("a bug")

    monkeypatch.setattr(transferscope.dln, "simulate_ladder", broken)
    with pytest.raises(ValueError, match="a bug"):  # a traceback and exit status 1
        main(["simulate", "--out", str(tmp_path / "x.csv")])
    assert not (tmp_path / "x.csv").exists()
