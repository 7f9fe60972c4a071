"""The demo end to end (a small ladder, a small bootstrap), and the report command's edges."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from report_synthetic import synthetic_ladder

from transferscope.cli import main
from transferscope.report import html as H
from transferscope.report.demo import DEMO_DB, DEMO_SOURCE
from transferscope.store import open_store


def test_demo_command_writes_a_report_into_a_fresh_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / DEMO_DB).write_bytes(b"left over by an earlier demo, not a database")
    argv = ["demo", "--out", str(out), "--checkpoints", "4", "--tasks", "2", "--seeds", "2"]
    assert main([*argv, "--dim", "30", "--bootstrap", "20"]) == 0
    printed = capsys.readouterr().out
    assert f"report: {(out / 'index.html').resolve()}" in printed
    index = (out / "index.html").read_text(encoding="utf-8")
    anchors = ("answers", "charts", "index", "ranking", "ladders", "theory", "sources")
    for anchor in anchors:
        assert f'<section id="{anchor}">' in index
    assert '<section id="knowledge">' in index  # the worked example's interactions
    assert (out / "source-1.html").exists()  # every group's chart
    # the simulator's score is what it is, not a fraction of correct answers
    assert "fraction correct" not in index
    assert "1 − normalized generalization error" in index
    assert (out / "summary.md").exists()
    assert len(list((out / "charts").glob("*.png"))) == len(list((out / "charts").glob("*.svg")))
    with open_store(out / DEMO_DB, read_only=True) as store:
        runs = store.runs()
        assert set(store.sources()["name"]) == {DEMO_SOURCE}
        # 2 tasks x 4 methods x 2 shots x 2 seeds x (4 checkpoints + scratch)
        assert len(runs) == 2 * 4 * 2 * 2 * 5
        n_fits = store.connection.execute("SELECT count(*) FROM fits").fetchone()
        assert n_fits is not None and n_fits[0] == 2 * 4 * 2  # one per group, kept
        stored = store.connection.execute("SELECT DISTINCT comparison FROM interactions")
        assert stored.fetchall() == [("example_seed0",)]  # the knowledge section's source
    groups = re.search(r"(\d+) frontier groups, (\d+) fitted", printed)
    assert groups is not None and int(groups.group(1)) == int(groups.group(2)) == 16


@pytest.fixture
def small_store(tmp_path: Path) -> Path:
    db = tmp_path / "small.duckdb"
    with open_store(db) as store:
        store.ingest(synthetic_ladder(tasks=("a", "b"), checkpoints=6, seeds=2), "small")
    return db


def test_report_command(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rep"
    argv = ["report", "--db", str(small_store), "--out", str(out), "--task", "a", "--no-images"]
    code = main([*argv, "--family", "all", "--bootstrap", "20", "--bootstrap-max", "20"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"report: {(out / 'index.html').resolve()}" in printed
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Tasks kept: a." in page
    assert not (out / "charts").exists()
    # --family all: every accuracy family's curve and plateau in each group chart
    data = json.loads(re.search(r'id="ts-data">(.*?)</script>', page, re.S).group(1))
    values = data["charts"]["chart-000"]["payload"]["values"]
    fits = {d for d in values["color_scale"]["domain"] if d.endswith(" fit")}
    assert fits == {"abnar fit", "power fit", "logit fit", "probit fit", "sigmoid fit"}
    assert "(chosen of 5 families)" in values["title"][1]
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| b · " not in summary and "| a · " in summary


def test_report_after_fit_adds_no_fit_and_shows_its_numbers(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit = ["fit", "--db", str(small_store), "--seed", "3", "--format", "json"]
    assert main([*fit, "--bootstrap", "30", "--bootstrap-max", "30", "--frontier", "hull"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    with open_store(small_store, read_only=True) as store:
        before = store.connection.execute("SELECT count(*) FROM fits").fetchone()
    out = tmp_path / "rep"
    assert main(["report", "--db", str(small_store), "--out", str(out), "--no-images"]) == 0
    assert "0 fitted now" in capsys.readouterr().out
    with open_store(small_store, read_only=True) as store:
        after = store.connection.execute("SELECT count(*) FROM fits").fetchone()
    assert before == after and before is not None and before[0] == len(fitted)
    # the same numbers in both: every ok fit's plateau interval is in the report's table
    summary = (out / "summary.md").read_text(encoding="utf-8")
    page = (out / "index.html").read_text(encoding="utf-8")
    for record in fitted:
        if record["status"] != "ok":
            continue
        for value in (record["plateau"], record["plateau_ci_low"], record["plateau_ci_high"]):
            assert H.format_value(value) in summary
        if record["flags"]:  # the fit's flags are beside its row
            assert record["flags"].split(",")[0] in page
    assert "hull frontier" in page


def test_report_command_bad_input(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.duckdb"
    open_store(empty).close()  # a valid store without runs
    assert main(["report", "--db", str(empty), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no runs" in err[0]
    assert (
        main(["report", "--db", str(small_store), "--task", "nope", "--out", str(tmp_path / "o")])
        == 2
    )
    assert "no runs matching the filters" in capsys.readouterr().err
    assert main(["report", "--db", str(small_store), "--max-group-charts", "-1"]) == 2
    capsys.readouterr()
    (tmp_path / "a_file").write_text("x")
    assert main(["report", "--db", str(small_store), "--out", str(tmp_path / "a_file")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "a_file"), "--seeds", "0"]) == 2
    assert not (tmp_path / "o").exists()
