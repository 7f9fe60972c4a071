"""Tables that fit a terminal, columns on request, and names given the same way everywhere."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferscope.cli import build_parser, main
from transferscope.cli._output import choose_columns, emit, format_table
from transferscope.errors import InputError
from transferscope.frontier.fit import progress_bar
from transferscope.store import open_store

FRAME = pd.DataFrame(
    {
        "task": ["a_rather_long_task_name_indeed", "b"],
        "shots": pd.array([pd.NA, 0], dtype="Int64"),
        "downstream_metric": ["acc", "acc_norm"],
        "plateau": [0.91234567, 1.0],
        "plateau_ci_low": [0.9, 1.0],
        "message": ["x" * 300, ""],
    }
)


def test_table_fits_the_width_and_names_shots() -> None:
    text = format_table(FRAME, 90)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 90
    assert "a_rather_long_task_name_indeed" in lines[1]  # names are never cut
    narrow = format_table(FRAME, 40).splitlines()  # too narrow for the names: they stay whole
    assert "a_rather_long_task_name_indeed" in narrow[1] and "…" in narrow[1]
    assert lines[0].split() == ["task", "shots", "metric", "plateau", "ci_low", "message"]
    assert lines[1].split()[1] == "full" and lines[2].split()[1] == "zero-shot"
    assert "…" in lines[1] and "0.9123" in lines[1]  # cut text, four significant digits
    wide = format_table(FRAME, 1000)
    assert "x" * 300 in wide  # nothing is cut when there is room


def test_choose_columns() -> None:
    default = ["task", "plateau"]
    assert choose_columns(FRAME, None, default) == default
    assert choose_columns(FRAME, ["+message"], default) == [*default, "message"]
    assert choose_columns(FRAME, ["+ci_low"], default) == [*default, "plateau_ci_low"]
    assert choose_columns(FRAME, ["shots", "task"], default) == ["shots", "task"]
    assert choose_columns(FRAME, ["all"], default) == list(FRAME.columns)
    with pytest.raises(InputError, match="unknown column"):
        choose_columns(FRAME, ["nope"], default)


def test_json_and_csv_keep_every_column_and_the_stored_values() -> None:
    out = io.StringIO()
    emit(FRAME, "json", out, default=["task"])
    records = json.loads(out.getvalue())
    assert list(records[0]) == list(FRAME.columns) and records[0]["shots"] is None
    assert records[1]["shots"] == 0


def test_progress_bar_says_groups_done_and_time_left(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(3, True) as bar:
        bar.update()
        bar.refresh()
    err = capsys.readouterr().err
    assert "fit: 1/3 groups" in err and "elapsed" in err and "left" in err


def _ladder() -> pd.DataFrame:
    """Three tasks, two methods, five checkpoints and two seeds, plus scratch runs."""
    rng = np.random.default_rng(0)
    rows = []
    for task in ("a", "b", "c"):
        for k, method in ((0.9, "full_ft"), (0.5, "linear_probe")):
            for seed in (0, 1):
                for c, up in enumerate(np.linspace(0.55, 0.9, 5)):
                    rows.append(
                        {"model": f"ckpt{c}", "pretrained": True, "upstream_task": "imagenet",
                         "upstream_metric": "top1", "upstream_score": up, "task": task,
                         "method": method, "seed": seed, "downstream_metric": "accuracy",
                         "downstream_score": 0.85 - k * (1 - up) ** 1.3 - abs(rng.normal(0, .01))}
                    )  # fmt: skip
                rows.append(
                    {"model": "scratch", "pretrained": False, "task": task, "method": method,
                     "seed": seed, "downstream_metric": "accuracy",
                     "downstream_score": 0.4 + rng.normal(0, 0.01)}
                )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "s.duckdb"
    runs = _ladder()
    with open_store(path) as st:
        st.ingest(runs, "synth")
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["runs"],
        ["fit", "--bootstrap", "0", "--format", "csv", "--columns", "task", "method", "plateau"],
        ["rank", "--bootstrap", "20", "--format", "csv"],
    ],
)
def test_several_values_after_one_flag_or_the_flag_repeated(
    command: list[str], store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [command[0], "--db", str(store), *command[1:]]
    assert main([*base, "--task", "a", "c", "--method", "full_ft", "linear_probe"]) == 0
    together = capsys.readouterr().out
    assert main([*base, "--task", "a", "--task", "c", "--method", "full_ft",
                 "--method", "linear_probe"]) == 0  # fmt: skip
    repeated = capsys.readouterr().out
    assert together == repeated
    assert "b," not in together and " b " not in together and together.count("\n") > 1


def test_export_and_pool_take_names_the_same_way(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outs = []
    for i, flags in enumerate((["--task", "a", "c"], ["--task", "a", "--task", "c"])):
        argv = ["export", "--db", str(store), "--format", "every-eval-ever"]
        assert main([*argv, "--out", str(tmp_path / f"e{i}"), *flags]) == 0
        outs.append(capsys.readouterr().out.split(" to ")[0])
        files = sorted(p.name for p in (tmp_path / f"e{i}").rglob("*.json"))
        assert files
    assert outs[0] == outs[1] and outs[0].startswith("wrote ")
    parser = build_parser("pool")
    pool = ["pool", "x.csv", "--effect", "e", "--se", "s", "--by"]
    args = parser.parse_args([*pool, "task", "--by", "method"])
    assert args.by == parser.parse_args([*pool, "task", "method"]).by
    assert args.by == ["task", "method"]


def test_report_takes_names_the_same_way(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, flags in enumerate((["--task", "a", "b"], ["--task", "a", "--task", "b"])):
        out = tmp_path / f"r{i}"
        argv = ["report", "--db", str(store), "--out", str(out), "--no-images", *flags]
        assert main([*argv, "--seed", "1"]) == 0
        page = (out / "index.html").read_text(encoding="utf-8")
        assert "Tasks kept: a, b." in page
    capsys.readouterr()


def test_fit_table_fits_a_terminal(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["fit", "--db", str(store), "--bootstrap", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100
    # groups are task x method x shots x downstream metric (issue 11), headers shortened
    assert lines[0].split()[:7] == ["task", "method", "shots", "metric", "family", "status", "n"]
    assert all(line.split()[2] == "full" for line in lines[1:])  # the ladder's shots are null
    assert main(["fit", "--db", str(store), "--bootstrap", "0", "--columns", "task", "aicc"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["task", "aicc"]
