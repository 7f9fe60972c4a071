"""Helpers shared by the reshapes: canonical column order and types, JSON hparams, file reading."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from transferscope.errors import InputError
from transferscope.records import is_missing, plain
from transferscope.schema import INPUT_COLUMNS, RUN_COLUMNS, canonical_json

_DTYPES: dict[str, str] = {
    "VARCHAR": "str",
    "JSON": "str",
    "BOOLEAN": "bool",
    "DOUBLE": "float64",
    "BIGINT": "Int64",
}


def canonical_frame(columns: Mapping[str, Any], n_rows: int) -> pd.DataFrame:
    """Assemble a canonical frame: every column of ``INPUT_COLUMNS``, in order, typed.

    Parameters
    ----------
    columns : Mapping
        Canonical column name to values (a Series, array, list or one scalar for all rows).
        Columns not given are missing on every row.
    n_rows : int
        Number of rows.

    Returns
    -------
    pandas.DataFrame
        Columns ``INPUT_COLUMNS``; text and JSON as ``str``, ``pretrained`` as ``bool``, scores
        as ``float64``, integers as nullable ``Int64``; a fresh ``RangeIndex``.
    """
    unknown = set(columns) - set(INPUT_COLUMNS)
    if unknown:
        raise ValueError(f"not canonical input columns: {sorted(unknown)}")
    data: dict[str, pd.Series] = {}
    for name in INPUT_COLUMNS:
        dtype = _DTYPES[RUN_COLUMNS[name]]
        value = columns.get(name)
        if isinstance(value, pd.Series):
            value = value.to_numpy()
        if value is None:
            series = pd.Series([None] * n_rows, dtype="str" if dtype == "str" else dtype)
        elif isinstance(value, str | bool | int | float):
            series = pd.Series([value] * n_rows, dtype=dtype)
        else:
            series = pd.Series(value, dtype=dtype)
        if len(series) != n_rows:
            raise ValueError(f"column {name!r} has {len(series)} values, expected {n_rows}")
        data[name] = series
    return pd.DataFrame(data)


def hparams_json(frame: pd.DataFrame) -> pd.Series:
    """Serialize each row of ``frame`` as a JSON object with sorted keys.

    Parameters
    ----------
    frame : pandas.DataFrame
        One column per key; missing values are left out of that row's object.

    Returns
    -------
    pandas.Series
        Compact JSON text per row (missing where every value is missing), on ``frame``'s
        index.
    """
    keys = [str(key) for key in frame.columns]
    out: list[str | None] = []
    for values in zip(*(frame[key].tolist() for key in frame.columns), strict=True):
        record = {
            key: plain(value)
            for key, value in zip(keys, values, strict=True)
            if not is_missing(value)
        }
        out.append(canonical_json(record) if record else None)
    return pd.Series(out, index=frame.index, dtype="str")


def read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    """Read a published CSV, turning a parse failure into an InputError naming the file.

    Parameters
    ----------
    path : pathlib.Path
        File (already checksummed).
    **kwargs
        Passed to :func:`pandas.read_csv`.

    Returns
    -------
    pandas.DataFrame
        The table as published.
    """
    try:
        return pd.read_csv(path, **kwargs)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read as CSV: {' '.join(str(exc).split())}", file=str(path)
        ) from None


def require_columns(frame: pd.DataFrame, needed: list[str], path: Path) -> None:
    """Raise an InputError naming the file if ``frame`` lacks any of ``needed``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Table as read.
    needed : list of str
        Columns the reshape uses.
    path : pathlib.Path
        Where the table came from.
    """
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=str(path))
