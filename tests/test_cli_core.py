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
