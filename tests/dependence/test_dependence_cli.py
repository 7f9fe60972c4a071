"""`transferscope rank` and `transferscope pool`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from _dependence_ladder import synthetic_ladder

from transferscope.cli import main


def _write_case(reference: Path, path: Path, index: int = 1) -> dict:
    case = json.loads((reference / "metafor_cases.json").read_text())["cases"][index]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["task", "yi", "vi", "sei", "mod"])
        for i, (y, v, m) in enumerate(zip(case["yi"], case["vi"], case["moderator"], strict=True)):
            writer.writerow([f"t{i}", repr(y), repr(v), repr(v**0.5), m])
    return case


def test_pool_reproduces_metafor_from_a_csv(
    shared_reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = _write_case(shared_reference, tmp_path / "effects.csv")
    args = [str(tmp_path / "effects.csv"), "--effect", "yi", "--variance", "vi"]
    assert main(["pool", *args, "--method", "REML", "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    ref = case["fits"]["REML"]
    assert record["estimate"] == pytest.approx(ref["estimate"], rel=1e-6)
    assert record["tau2"] == pytest.approx(ref["tau2"], rel=1e-6)
    assert record["i2"] == pytest.approx(ref["I2"], rel=1e-6)
    assert record["k"] == 60 and record["df"] is None
    se_args = [str(tmp_path / "effects.csv"), "--effect", "yi", "--se", "sei"]
    assert main(["pool", *se_args, "--method", "REML", "--knha", "--format", "json"]) == 0
    (knha,) = json.loads(capsys.readouterr().out)
    assert knha["se"] == pytest.approx(case["fits"]["REML_knha"]["se"], rel=1e-6)
    assert main(["pool", *args, "--by", "mod", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("mod,estimate,se,") and len(lines) == 4


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("task,yi,vi\nt1,0.1,0.01\n", ["--effect", "yi", "--variance", "v"], "column 'v'"),
        ("task,yi,vi\nt1,0.1,0.01\nt2,abc,0.01\n", ["--effect", "yi", "--variance", "vi"],
         "row 2, column 'yi': 'abc' is not a number"),
        ("task,yi,vi\nt1,0.1,0.01\nt2,0.2,-1\n", ["--effect", "yi", "--variance", "vi"],
         "row 2, column 'vi'"),
        ("task,yi,vi\nt1,0.1,0.01\n", ["--effect", "yi", "--variance", "vi", "--by", "grp"],
         "column 'grp'"),
    ],
)  # fmt: skip
def test_pool_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, args: list, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["pool", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and str(path) in err
    assert main(["pool", str(tmp_path / "missing.csv"), "--effect", "a", "--se", "b"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_rank_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transferscope.store import open_store

    db = tmp_path / "runs.duckdb"
    with open_store(db) as store:
        store.ingest(synthetic_ladder(seed=0, n_tasks=6), "ladder")
    base = ["rank", "--db", str(db), "--bootstrap", "50"]
    assert main([*base, "--metric", "slope", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in records] == ["linear_probe", "full_ft", "lora"]  # most first
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert {r["more_dependent"] for r in records} == {"higher"}
    # the same numbers from two worker processes (contexts are seeded by their key)
    assert main([*base, "--metric", "slope", "--format", "json", "--jobs", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == records
    assert main([*base, "--metric", "gain", "--task", "task00", "task01", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and ",n_tasks," in lines[0] and ",diff_se," in lines[0]
    # name filters match as ingest normalizes names: case and separators do not matter
    assert main([*base, "--method", "LORA", "Full-FT", "--tau2-method", "REML"]) == 0
    out = capsys.readouterr().out
    assert "linear_probe" not in out and "lora" in out and "full_ft" in out
    # the table says what is ranked, which way is more dependent, and the metric chosen
    assert main([*base, "--order", "least"]) == 0
    head = capsys.readouterr().out.splitlines()
    assert head[0].startswith("gain (gain over training from scratch): higher = more dependent")
    assert "least dependent first" in head[0] and "metric chosen: gain" in head[1]
    assert main([*base, "--task", "nope"]) == 2
    assert "no runs match" in capsys.readouterr().err
    assert main([*base, "--entity", "colour"]) == 2
    assert "colour" in capsys.readouterr().err
    assert main([*base, "--suite", "task0*"]) == 2
    assert "PATTERN=NAME" in capsys.readouterr().err


def test_rank_explains_empty_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transferscope.store import open_store

    runs = synthetic_ladder(seed=0, n_tasks=4)
    db = tmp_path / "runs.duckdb"
    with open_store(db) as store:
        store.ingest(runs[runs["pretrained"]], "no_scratch")
    base = ["rank", "--db", str(db), "--bootstrap", "50"]
    # no scratch baseline: gain names what is missing and what works without it, exit 2
    assert main([*base, "--metric", "gain"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pretrained = false" in err and "--metric slope" in err
    # by default the command chooses slope, and says so
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "metric chosen: slope (no runs without pretraining" in out
    # one method: nothing to rank, and how to compare
    assert main([*base, "--method", "lora", "--metric", "slope"]) == 0
    out = capsys.readouterr().out
    assert "single_entity" in out and "nothing to rank" in out and "--entity model" in out


def test_pool_three_level_with_robust_errors_from_a_csv(
    shared_reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = json.loads((shared_reference / "metafor_mv_cases.json").read_text())["cases"][1]
    path = tmp_path / "effects.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["suite", "yi", "vi"])
        for row in zip(case["suite"], case["yi"], case["vi"], strict=True):
            writer.writerow([row[0], repr(row[1]), repr(row[2])])
    args = [str(path), "--effect", "yi", "--variance", "vi", "--cluster", "suite"]
    assert main(["pool", *args, "--robust", "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    ref = case["multilevel"]
    assert record["estimate"] == pytest.approx(ref["estimate"], rel=1e-6)
    assert record["se"] == pytest.approx(ref["robust_se"], rel=1e-6)
    assert record["df"] == pytest.approx(ref["robust_df"], rel=1e-6)
    assert record["sigma2_cluster"] == pytest.approx(ref["sigma2_suite"], rel=1e-6)
    assert main(["pool", *args[:5], "--robust"]) == 2
    assert "--robust needs --cluster" in capsys.readouterr().err
    assert main(["pool", *args, "--method", "DL"]) == 2
    assert "fitted by REML" in capsys.readouterr().err


def test_the_commands_choices_are_the_librarys() -> None:
    # kept as literals in the commands so that --help does not import the statistics stack
    from transferscope.cli import pool, rank
    from transferscope.dependence import METRICS
    from transferscope.stats import POOL_METHODS

    assert rank.METRICS == METRICS
    assert rank.TAU2_METHODS == pool.POOL_METHODS == POOL_METHODS
