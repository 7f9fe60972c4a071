"""The one JSON sanitizer and the result base shared by every result object."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import pkgutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import transferscope
from transferscope.records import NOT_RECORDED, Record, is_missing, json_safe, plain
from transferscope.stats import pool_effects


def _all_records() -> list[type[Record]]:
    for module in pkgutil.walk_packages(transferscope.__path__, "transferscope."):
        if not module.name.startswith("transferscope.cli"):
            importlib.import_module(module.name)
    found, todo = [], list(Record.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_json_safe_floats_are_finite_or_none(x: float) -> None:
    out = json_safe(x)
    assert out is None if not math.isfinite(x) else out == x
    json.dumps(out, allow_nan=False)


def test_json_safe_plain_values_and_containers() -> None:
    value = {
        "i": np.int64(3),
        "f": np.float32(0.5),
        "b": np.bool_(True),
        "inf": -np.inf,
        "na": pd.NA,
        "nat": pd.NaT,
        "arr": np.array([1.0, np.nan]),
        "tuple": (1, np.inf),
        "set": {"b", "a"},
        "path": Path("a/b"),
        "when": pd.Timestamp("2026-01-02"),
        7: "key made text",
    }
    out = json_safe(value)
    assert out == {
        "i": 3,
        "f": 0.5,
        "b": True,
        "inf": None,
        "na": None,
        "nat": None,
        "arr": [1.0, None],
        "tuple": [1, None],
        "set": ["a", "b"],
        "path": "a/b",
        "when": "2026-01-02T00:00:00",
        "7": "key made text",
    }
    json.dumps(out, allow_nan=False)


def test_plain_keeps_nan_and_is_missing_knows_missing() -> None:
    assert math.isnan(plain(np.float64("nan")))
    assert plain(np.int8(2)) == 2 and type(plain(np.int8(2))) is int
    for v in (None, math.nan, np.float32("nan"), pd.NA, pd.NaT):
        assert is_missing(v)
    for v in (0, "", "NA", [], np.array([np.nan])):
        assert not is_missing(v)


def test_every_result_class_is_a_frozen_dataclass_on_the_base() -> None:
    classes = _all_records()
    assert len(classes) >= 14
    for cls in classes:
        assert dataclasses.is_dataclass(cls), cls
        assert cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]
        for name in ("to_record", "summary", "_repr_html_"):
            assert callable(getattr(cls, name)), (cls, name)


def test_results_are_built_with_keywords() -> None:
    for cls in _all_records():
        if cls.__name__.endswith("Result") or cls.__name__ in {"PooledEffect", "SlopeModel"}:
            fields = dataclasses.fields(cls)
            assert all(f.kw_only for f in fields), cls


def test_record_with_infinite_degrees_of_freedom_is_json_safe() -> None:
    pooled = pool_effects([0.1, 0.3, 0.2], [0.01, 0.02, 0.015])
    assert pooled.df == math.inf
    record = pooled.to_record()
    assert record["df"] is None and record["estimate"] == pytest.approx(pooled.estimate)
    json.dumps(record, allow_nan=False)
    assert "<table" in pooled._repr_html_()


def test_not_recorded_fields_stay_out() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Example(Record):
        n: int
        values: np.ndarray = dataclasses.field(metadata=NOT_RECORDED)

    example = Example(n=2, values=np.arange(3))
    assert example.to_record() == {"n": 2}
    assert list(example.summary().columns) == ["n"]
    html = example._repr_html_()
    assert html.startswith("<p><b>Example</b></p>") and "<table" in html
