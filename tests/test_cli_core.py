from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.cli._output import emit, records
from transferscope.errors import InputError
from transferscope.schema import metric_direction, snake_case


def test_usage_error_is_status_2_and_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "invalid choice" in err[0]


def test_json_output_turns_nan_into_null() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", None], "n": np.array([1, 2])})
    out = io.StringIO()
    emit(frame, "json", out)
    assert json.loads(out.getvalue()) == [
        {"a": 1.0, "b": "x", "n": 1},
        {"a": None, "b": None, "n": 2},
    ]
    assert records(frame)[1]["a"] is None


def test_input_error_message_names_file_row_column() -> None:
    err = InputError("expected a number", file="runs.csv", row=3, column="downstream_score")
    assert str(err) == "runs.csv, row 3, column 'downstream_score': expected a number"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Linear Probe", "linear_probe"),
        ("five-shot", "five_shot"),
        ("fullFT", "full_ft"),
        ("From-Scratch", "from_scratch"),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("top1", "higher"),
        ("acc_norm", "higher"),
        ("loss_c4_val", "lower"),
        ("ppl", "lower"),
        ("top1_err", "lower"),
        ("word_perplexity", "lower"),
        (None, "higher"),
    ],
)
def test_metric_direction(metric: str | None, direction: str) -> None:
    assert metric_direction(metric) == direction


def test_every_command_registers_under_its_module_name() -> None:
    from transferscope.cli import build_parser, commands

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == commands()
    for name in commands():
        only = build_parser(only=name)
        only_sub = next(a for a in only._actions if a.dest == "command")
        assert list(only_sub.choices) == [name]


def test_runs_command_does_not_import_the_statistics_stack(tmp_path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from transferscope.cli import main; main(['runs', '--db', sys.argv[1]]);"
        "print('heavy:', *(m for m in ('lmfit', 'statsmodels', 'altair') if m in sys.modules))"
    )
    out = (
        subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "s.duckdb")],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()
    )
    assert out[-1] == "heavy:"


def test_broken_pipe_ends_quietly(tmp_path) -> None:
    import subprocess
    import sys

    db = tmp_path / "s.duckdb"
    csv = tmp_path / "runs.csv"
    rows = ["model,task,method,upstream_score,downstream_score"]
    rows += [f"m{i},task_{i:06d},full_ft,0.5,0.6" for i in range(5000)]  # > 64 KiB of output
    csv.write_text("\n".join(rows) + "\n")
    cmd = [sys.executable, "-m", "transferscope.cli"]
    subprocess.run([*cmd, "ingest", str(csv), "--db", str(db)], check=True, capture_output=True)
    proc = subprocess.Popen(
        [*cmd, "runs", "--db", str(db), "--format", "csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, like `| head -1`
    _, err = proc.communicate()
    assert proc.returncode == 0
    assert b"Traceback" not in err


def test_every_public_name_resolves() -> None:
    import transferscope

    for name in transferscope.__all__:
        assert getattr(transferscope, name) is not None, name
    assert set(transferscope.__all__) <= set(dir(transferscope))


def test_scored_on_upstream_task_flags_only_self_scored_rows() -> None:
    from transferscope.schema import scored_on_upstream_task

    frame = pd.DataFrame(
        {"task": ["lambada", "piqa", "lambada"], "upstream_task": ["lambada", "lambada", None]}
    )
    assert scored_on_upstream_task(frame).tolist() == [True, False, False]
    assert scored_on_upstream_task(frame[["task"]]).tolist() == [False, False, False]
