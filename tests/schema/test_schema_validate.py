"""Validation of canonical tables: defaults, conversions and one-line errors with row and column."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from transferscope.errors import InputError
from transferscope.schema import INPUT_COLUMNS, RUN_DTYPES
from transferscope.schema.validate import canonical_json, validate_runs


def _error(frame: pd.DataFrame, **kwargs: object) -> InputError:
    with pytest.raises(InputError) as info:
        validate_runs(frame, file="t.csv", **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return info.value


def test_canonical_columns_dtypes_and_defaults(runs_frame: pd.DataFrame) -> None:
    valid = validate_runs(runs_frame)
    frame = valid.frame
    assert list(frame.columns) == list(INPUT_COLUMNS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        c: ("str" if RUN_DTYPES[c] == "str" else RUN_DTYPES[c]) for c in INPUT_COLUMNS
    }
    assert frame["method"].tolist() == ["full_ft", "linear_probe", "linear_probe", "scratch"]
    assert frame["downstream_metric"].tolist() == ["accuracy"] * 4  # schema.DEFAULT_METRIC
    # the upstream metric defaults only where there is an upstream score
    assert frame["upstream_metric"].tolist()[:3] == ["accuracy"] * 3
    assert pd.isna(frame["upstream_metric"].iloc[3])
    # the unknown column lr went into hparams; a missing value leaves no key
    assert frame["hparams"].tolist()[:3] == ['{"lr":0.1}', '{"lr":0.01}', '{"lr":0.01}']
    assert pd.isna(frame["hparams"].iloc[3])
    assert (valid.n_read, valid.n_rows, valid.n_collapsed) == (4, 4, 0)


def test_validation_is_idempotent(runs_frame: pd.DataFrame) -> None:
    once = validate_runs(runs_frame).frame
    twice = validate_runs(once).frame
    pd.testing.assert_frame_equal(once, twice)


def test_pretrained_default_from_method_and_parsed_values(runs_frame: pd.DataFrame) -> None:
    frame = runs_frame.drop(columns="pretrained")
    assert validate_runs(frame).frame["pretrained"].tolist() == [True, True, True, False]
    frame = runs_frame.assign(pretrained=["yes", "T", "1", "No"])
    assert validate_runs(frame).frame["pretrained"].tolist() == [True, True, True, False]
    err = _error(runs_frame.assign(pretrained=["yes", "maybe", "1", "0"]))
    assert err.location.row == 2 and err.location.column == "pretrained"
    assert "'maybe'" in str(err)


def test_missing_required_column_is_named(runs_frame: pd.DataFrame) -> None:
    err = _error(runs_frame.drop(columns=["task", "method"]))
    assert "missing required columns 'task', 'method'" in str(err)
    assert str(err).startswith("t.csv: ")


def test_upstream_score_required_on_pretrained_rows(runs_frame: pd.DataFrame) -> None:
    frame = runs_frame.copy()
    frame.loc[2, "upstream_score"] = None
    err = _error(frame)
    assert (err.location.row, err.location.column) == (3, "upstream_score")
    # a table that publishes no upstream score (VTAB-1k)
    assert validate_runs(frame, require_upstream=False).n_rows == 4
    err = _error(runs_frame.drop(columns="upstream_score"))
    assert "missing column 'upstream_score'" in str(err)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("downstream_score", "abc", "expected a number, got 'abc'"),
        ("downstream_score", None, "empty value"),
        ("model", "  ", "empty value"),
        ("task", None, "empty value"),
        ("method", "---", "has no letters or digits"),
        ("downstream_score", np.inf, "expected a finite number"),
        ("shots", 2.5, "expected a whole number, got 2.5"),
        ("shots", -1, "expected a non-negative whole number, got -1 (leave shots empty"),
        ("seed", "x1", "expected a number, got 'x1'"),
        ("downstream_stderr", -0.01, "expected a standard error >= 0"),
    ],
)
def test_bad_value_names_row_and_column(
    runs_frame: pd.DataFrame, column: str, value: object, expected: str
) -> None:
    frame = runs_frame.astype(dict.fromkeys(("downstream_score", "shots", "seed"), object))
    frame["downstream_stderr"] = 0.01
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = value
    err = _error(frame)
    assert (err.location.row, err.location.column) == (2, column)
    assert expected in str(err)
    assert str(err).startswith(f"t.csv, row 2, column '{column}': ")


def test_accuracy_above_one_suggests_percent(runs_frame: pd.DataFrame) -> None:
    frame = runs_frame.assign(downstream_score=[95.0, 80.0, 85.0, 70.0])
    err = _error(frame)
    assert (err.location.row, err.location.column) == (1, "downstream_score")
    assert "95 is outside [0, 1]" in str(err) and "--percent" in str(err)
    err = _error(runs_frame.assign(downstream_score=[0.5, -0.1, 0.5, 0.5]))
    assert err.location.row == 2 and "--percent" not in str(err)


def test_percent_divides_accuracy_scores_and_their_stderr(runs_frame: pd.DataFrame) -> None:
    frame = runs_frame.assign(
        upstream_score=[76.0, 76.0, 81.0, None],
        downstream_score=[95.0, 80.0, 85.0, 70.0],
        downstream_stderr=[1.0, 2.0, 0.5, 0.0],
    )
    out = validate_runs(frame, percent=True).frame
    # exact to one ulp: x / 100 in float64
    assert out["downstream_score"].tolist() == [0.95, 0.80, 0.85, 0.70]
    assert out["upstream_score"].tolist()[:3] == [0.76, 0.76, 0.81]
    assert out["downstream_stderr"].tolist() == [0.01, 0.02, 0.005, 0.0]
    err = _error(frame.assign(downstream_score=[95.0, 180.0, 85.0, 70.0]), percent=True)
    assert "180 percent is outside [0, 100]" in str(err) and err.location.row == 2


def test_losses_are_kept_as_they_are(runs_frame: pd.DataFrame) -> None:
    frame = runs_frame.assign(
        downstream_metric=["Loss", "loss", "ppl", "loss"],
        downstream_score=[2.5, 3.0, 17.25, 4.0],
    )
    out = validate_runs(frame, percent=True).frame
    assert out["downstream_score"].tolist() == [2.5, 3.0, 17.25, 4.0]
    assert out["downstream_metric"].tolist() == ["loss", "loss", "ppl", "loss"]


def test_hparams_column_merges_with_unknown_columns(runs_frame: pd.DataFrame) -> None:
    frame = runs_frame.assign(
        hparams=['{"wd": 0.1, "lr": 9}', None, "", {"b": [1, 2], "a": "x"}],
        epochs=pd.array([10, None, 20, 5], dtype="Int64"),
    )
    out = validate_runs(frame).frame["hparams"].tolist()
    assert out[0] == '{"epochs":10,"lr":0.1,"wd":0.1}'  # the lr column wins over the JSON key
    assert out[1] == '{"lr":0.01}'
    assert out[2] == '{"epochs":20,"lr":0.01}'
    assert json.loads(out[3]) == {"a": "x", "b": [1, 2], "epochs": 5}
    assert out[3] == canonical_json({"b": [1, 2], "a": "x", "epochs": 5})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("{lr: 1}", "invalid JSON"), ("[1, 2]", "expected a JSON object")],
)
def test_bad_hparams_name_the_row(runs_frame: pd.DataFrame, value: str, expected: str) -> None:
    frame = runs_frame.assign(hparams=[None, None, value, None])
    err = _error(frame)
    assert (err.location.row, err.location.column) == (3, "hparams")
    assert expected in str(err)


def test_identical_duplicates_collapse(runs_frame: pd.DataFrame) -> None:
    frame = pd.concat([runs_frame, runs_frame.iloc[[1, 3]]], ignore_index=True)
    valid = validate_runs(frame)
    assert (valid.n_read, valid.n_rows, valid.n_collapsed) == (6, 4, 2)
    pd.testing.assert_frame_equal(valid.frame, validate_runs(runs_frame).frame)


def test_same_run_with_different_scores_names_both_rows(runs_frame: pd.DataFrame) -> None:
    clash = runs_frame.iloc[[1]].assign(downstream_score=0.81)
    frame = pd.concat([runs_frame, clash], ignore_index=True)
    err = _error(frame)
    assert "rows 2 and 5 are the same run" in str(err)
    assert "different downstream_score: 0.8 vs 0.81" in str(err)
    # a different seed tells them apart
    assert validate_runs(frame.assign(seed=[0, 0, 0, 0, 1])).n_rows == 5


def test_column_map_renames_and_checks(runs_frame: pd.DataFrame) -> None:
    frame = runs_frame.rename(columns={"downstream_score": "acc", "model": "checkpoint"})
    mapping = {"acc": "downstream_score", "checkpoint": "model"}
    pd.testing.assert_frame_equal(
        validate_runs(frame, column_map=mapping).frame, validate_runs(runs_frame).frame
    )
    assert "--map names column 'nope'" in str(_error(frame, column_map={"nope": "model"}))
    assert "not a canonical column" in str(_error(frame, column_map={"acc": "accuracy"}))
    err = _error(runs_frame, column_map={"lr": "model"})
    assert "column 'model' would appear twice" in str(err)


def test_reserved_and_duplicate_columns(runs_frame: pd.DataFrame) -> None:
    assert "reserved" in str(_error(runs_frame.assign(source="x")))
    frame = runs_frame.copy()
    frame.columns = [*frame.columns[:-1], "model "]  # the same name after stripping spaces
    assert "duplicate column name 'model'" in str(_error(frame))


def test_empty_frame() -> None:
    err = _error(pd.DataFrame({"model": []}))
    assert "no data rows" in str(err)


def test_text_is_stripped_and_numbers_become_text(runs_frame: pd.DataFrame) -> None:
    frame = runs_frame.assign(model=[" r50", "r50 ", 7, "scratch"])
    assert validate_runs(frame).frame["model"].tolist() == ["r50", "r50", "7", "scratch"]
    err = _error(runs_frame.assign(task=["a", {"x": 1}, "b", "c"]))
    assert (err.location.row, err.location.column) == (2, "task")
