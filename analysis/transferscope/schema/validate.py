"""Validate a table of runs and bring it into the canonical form, vectorized.

:func:`validate_runs` is the one path every ingest takes (files, DataFrames, published sources).
It checks everything before anything is written and raises :class:`InputError` with one line
naming the file, row and column. Row numbers count data rows from 1 (the header is row 0; for a
DataFrame, the row's position + 1).

Rules and defaults
------------------
- ``column_map`` renames input columns to canonical names first. Names are stripped of
  surrounding spaces. ``source`` and ``run_id`` are reserved (the ingest sets them).
- Required columns: ``model``, ``task``, ``method``, ``downstream_score`` on every row, and
  ``upstream_score`` on pretrained rows (unless ``require_upstream=False``).
- Text values are stripped of surrounding spaces; an empty text is missing, and only an empty
  text: ``NA``, ``NULL``, ``N/A``, ``nan`` or ``null`` in a text column (``model``,
  ``architecture``, ...) is kept as that text. In columns of numbers, of true/false values and
  in ``hparams``, those words (any case, see :data:`NULL_WORDS`) are missing values.
- No text, column name or hparams key or value may hold a NUL character (code point 0); hparams
  may not be nested deeper than :data:`MAX_JSON_DEPTH` levels.
- ``method``, ``downstream_metric`` and ``upstream_metric`` are normalized with
  :func:`~transferscope.schema.snake_case`.
- Then names that are the same thing get one name (:class:`~transferscope.schema.AliasTable`,
  the shipped table unless another is given): ``task`` and ``upstream_task``, ``model``
  (a checkpoint ``name@revision`` follows its ``name``), ``method`` and both metrics.
- A missing ``downstream_metric`` (column or value) is ``schema.DEFAULT_METRIC`` ("accuracy");
  a missing ``upstream_metric`` is the same where an upstream score is given.
- A missing ``pretrained`` (column or value) is true, except for the methods ``scratch`` and
  ``from_scratch``, which are false. Accepted values: true/false, t/f, yes/no, y/n, 1/0.
- ``shots``, ``seed``, ``params`` and ``pretrain_steps`` must be whole numbers; ``shots``,
  ``params`` and ``pretrain_steps`` must not be negative (a missing ``shots`` means full data).
- Scores must be finite numbers; scores of accuracy-type metrics
  (:data:`~transferscope.schema.ACCURACY_METRICS`) must lie in [0, 1]. ``percent=True`` divides
  accuracy-type scores and ``downstream_stderr`` of accuracy-type metrics by 100 first.
  ``downstream_stderr`` must not be negative.
- Unknown columns go into ``hparams``, merged with an ``hparams`` column (JSON object text or a
  dict) if present; on a clash of names the column's value wins. Missing values are left out;
  a run with nothing left has no hparams. hparams are canonical JSON: sorted keys, compact.
- Rows that are identical in every canonical column are collapsed into one. Two rows with the
  same run key (``schema.KEY_COLUMNS`` without ``source``) that differ elsewhere are an error.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from transferscope.errors import InputError
from transferscope.records import NOT_RECORDED, Record, is_missing, plain
from transferscope.schema.columns import (
    INPUT_COLUMNS,
    KEY_COLUMNS,
    REQUIRED_COLUMNS,
    RUN_COLUMNS,
    RUN_DTYPES,
)
from transferscope.schema.metrics import ACCURACY_METRICS, DEFAULT_METRIC
from transferscope.schema.names import ALIAS_KINDS, AliasTable, resolve_aliases, snake_case

#: Columns a table may not carry: the ingest sets them.
RESERVED_COLUMNS = ("source", "run_id")
#: Methods whose runs default to ``pretrained = false``.
SCRATCH_METHODS = frozenset({"scratch", "from_scratch"})

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_TEXT = [c for c in INPUT_COLUMNS if RUN_COLUMNS[c] == "VARCHAR"]
_INTEGERS = [c for c in INPUT_COLUMNS if RUN_COLUMNS[c] == "BIGINT"]
_NON_NEGATIVE = frozenset({"shots", "params", "pretrain_steps"})
_RUN_KEY = [c for c in KEY_COLUMNS if c != "source"]
_INT64_LIMIT = 2.0**63

#: Words that mean a missing value in columns of numbers, true/false values and hparams (compared
#: in lower case); in text columns they are kept as text.
NULL_WORDS = frozenset({"na", "n/a", "#n/a", "null", "nan", "none"})
#: Deepest nesting of hparams values (a JSON object holding an object is depth 2).
MAX_JSON_DEPTH = 64
_NUL = "\x00"


def json_depth(value: Any) -> int:
    """Return how deeply a JSON value nests (a scalar is 0, ``{"a": 1}`` is 1), without recursion.

    Parameters
    ----------
    value : object
        A parsed JSON value (dicts, lists and scalars).

    Returns
    -------
    int
        The nesting depth.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH + 1:
            return depth  # deep enough to refuse; no need to walk further
        stack.extend((child, depth) for child in children)
    return deepest


def _has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character in any key or text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _NUL in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


@dataclass(frozen=True, eq=False, kw_only=True)
class ValidatedRuns(Record):
    """Runs that passed validation, in canonical form, ready for ``Store.ingest``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``schema.INPUT_COLUMNS`` in that order with ``schema.RUN_DTYPES``; RangeIndex.
    n_read : int
        Rows in the input.
    n_collapsed : int
        Identical duplicate rows dropped (``n_read - n_collapsed == len(frame)``).
    file : str or None
        Name of the input, as used in error messages.
    """

    frame: pd.DataFrame = field(metadata=NOT_RECORDED)
    n_read: int
    n_collapsed: int = 0
    file: str | None = None

    @property
    def n_rows(self) -> int:
        """Number of canonical runs."""
        return len(self.frame)

    def to_record(self) -> dict[str, Any]:
        """Return the counts as a JSON-safe dict.

        Returns
        -------
        dict
            ``n_read``, ``n_collapsed``, ``file`` and ``n_rows``.
        """
        return {**super().to_record(), "n_rows": self.n_rows}

    def describe(self) -> str:
        """One line: the input and its counts.

        Returns
        -------
        str
            E.g. ``runs.csv: 120 rows read, 118 canonical runs``.
        """
        return f"{self.file or 'runs'}: {self.n_read} rows read, {self.n_rows} canonical runs"


class _Checker:
    """Raises one-line errors that name the input."""

    def __init__(self, file: str | None) -> None:
        self.file = file

    def fail(self, message: str, *, row: int | None = None, column: str | None = None) -> None:
        raise InputError(message, file=self.file, row=row, column=column)

    def first(self, mask: Any) -> int | None:
        """Row number (position + 1) of the first true entry, or None."""
        hits = np.flatnonzero(np.asarray(mask, dtype=bool))
        return int(hits[0]) + 1 if hits.size else None


def _shown(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _names(columns: list[str], limit: int = 12) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")


def _rename(frame: pd.DataFrame, column_map: Mapping[str, str], check: _Checker) -> pd.DataFrame:
    names = [str(c).strip() for c in frame.columns]
    for position, name in enumerate(names, start=1):
        if not name:
            check.fail(f"column {position} has no name")
        if _NUL in name:
            check.fail(f"column {position} has a NUL character (\\x00) in its name {name!r}")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            check.fail(f"duplicate column name {name!r}")
        seen.add(name)
    for src, dst in column_map.items():
        if src not in seen:
            check.fail(
                f"--map names column {src!r}, which the input lacks; its columns: {_names(names)}"
            )
        if dst not in INPUT_COLUMNS:
            check.fail(
                f"--map {src}={dst}: {dst!r} is not a canonical column; expected one of "
                f"{', '.join(INPUT_COLUMNS)}"
            )
    renamed = [column_map.get(n, n) for n in names]
    seen = set()
    for name in renamed:
        if name in seen:
            check.fail(f"column {name!r} would appear twice after --map; map only one column to it")
        seen.add(name)
        if name in RESERVED_COLUMNS:
            check.fail(
                f"column {name!r} is reserved (the ingest sets it); drop or rename it",
                column=name,
            )
    out = frame.copy(deep=False)
    out.columns = pd.Index(renamed, dtype=object)
    return out


def _map_unique(series: pd.Series, fn: Callable[[Any], Any]) -> np.ndarray:
    """Apply ``fn`` once per distinct non-missing value; missing stays None."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [None], dtype=object)
    return mapped[codes]  # code -1 picks the trailing None


_CONTAINERS = (dict, list, tuple, set, bytes, np.ndarray)
_SCALAR_KINDS = frozenset(
    {"string", "empty", "integer", "floating", "mixed-integer-float", "boolean", "decimal"}
)


def _map_text(series: pd.Series, fn: Callable[[str], str]) -> pd.Series:
    """Map a text series through ``fn`` once per distinct value; missing and ``""`` -> NaN."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = pd.array([fn(u) or None for u in uniques], dtype="str")
    return pd.Series(mapped.take(codes, allow_fill=True), index=series.index)


def _text(series: pd.Series, column: str, check: _Checker) -> pd.Series:
    if series.dtype == object and pd.api.types.infer_dtype(series) not in _SCALAR_KINDS:
        bad = series.map(lambda v: isinstance(v, _CONTAINERS)).to_numpy(dtype=bool)
        row = check.first(bad)
        if row is not None:
            check.fail(f"expected text, got {_shown(series.iloc[row - 1])}", row=row, column=column)
    text = series.astype("str").str.strip()
    row = check.first(text.str.contains(_NUL, regex=False).fillna(False).to_numpy(dtype=bool))
    if row is not None:
        check.fail(
            f"a NUL character (\\x00) in {_shown(text.iloc[row - 1])}; text must not hold NUL "
            "characters",
            row=row,
            column=column,
        )
    return text.mask(text == "")


def _without_null_words(text: pd.Series) -> pd.Series:
    """Text of a number or true/false column, with the words of :data:`NULL_WORDS` missing."""
    return text.mask(text.str.lower().isin(NULL_WORDS))


def _as_number(series: pd.Series, column: str, check: _Checker) -> pd.Series:
    """Float64 series of the values; non-numeric values are an error."""
    if pd.api.types.is_bool_dtype(series):
        row = check.first(series.notna())
        if row is not None:
            check.fail("expected a number, got a true/false value", row=row, column=column)
        return pd.Series(np.nan, index=series.index, dtype="float64")
    if pd.api.types.is_numeric_dtype(series):
        return pd.Series(
            series.to_numpy(dtype="float64", na_value=np.nan), index=series.index, copy=False
        )
    text = _without_null_words(_text(series, column, check))
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    row = check.first(numbers.isna() & text.notna())
    if row is not None:
        check.fail(f"expected a number, got {_shown(text.iloc[row - 1])}", row=row, column=column)
    return numbers


def _finite(values: pd.Series, column: str, check: _Checker) -> None:
    row = check.first(np.isinf(values.to_numpy()))
    if row is not None:
        check.fail(f"expected a finite number, got {values.iloc[row - 1]}", row=row, column=column)


def _integer(series: pd.Series, column: str, check: _Checker) -> pd.Series:
    if pd.api.types.is_integer_dtype(series) and not pd.api.types.is_unsigned_integer_dtype(series):
        out = series.astype("Int64")
    else:
        numbers = _as_number(series, column, check).to_numpy()
        present = ~np.isnan(numbers)
        with np.errstate(invalid="ignore"):
            bad = present & (
                ~np.isfinite(numbers)
                | (numbers != np.floor(numbers))
                | (np.abs(numbers) >= _INT64_LIMIT)
            )
        row = check.first(bad)
        if row is not None:
            check.fail(f"expected a whole number, got {numbers[row - 1]:g}", row=row, column=column)
        values = np.where(present, numbers, 0).astype("int64")
        out = pd.Series(pd.arrays.IntegerArray(values, ~present), index=series.index)
    if column in _NON_NEGATIVE:
        row = check.first((out < 0).fillna(False).to_numpy(dtype=bool))
        if row is not None:
            hint = " (leave shots empty for full data)" if column == "shots" else ""
            check.fail(
                f"expected a non-negative whole number, got {out.iloc[row - 1]}{hint}",
                row=row,
                column=column,
            )
    return out


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _pretrained(series: pd.Series | None, method: pd.Series, check: _Checker) -> pd.Series:
    default = ~method.isin(SCRATCH_METHODS).to_numpy(dtype=bool)
    if series is None:
        return pd.Series(default, dtype="bool")
    if pd.api.types.is_bool_dtype(series) and not series.hasnans:
        return pd.Series(series.to_numpy(dtype=bool), dtype="bool")
    if isinstance(series.dtype, pd.StringDtype) or series.dtype == object:
        series = _without_null_words(_text(series, "pretrained", check))
    flags = _map_unique(series, _flag)
    present = series.notna().to_numpy()
    row = check.first(present & pd.isna(flags))
    if row is not None:
        check.fail(
            f"expected true or false, got {_shown(series.iloc[row - 1])}",
            row=row,
            column="pretrained",
        )
    values = np.where(present, flags, default).astype(bool)
    return pd.Series(values, dtype="bool")


def _metric(series: pd.Series | None, n: int, check: _Checker, column: str) -> pd.Series:
    """Metric names in snake_case; missing (column or value) stays missing."""
    if series is None:
        return pd.Series([np.nan] * n, dtype="str")
    text = _text(series, column, check)
    names = _map_text(text, snake_case)
    row = check.first(text.notna().to_numpy() & names.isna().to_numpy())
    if row is not None:
        check.fail(
            f"metric name {text.iloc[row - 1]!r} has no letters or digits", row=row, column=column
        )
    return names


def _json_default(value: Any) -> Any:
    converted = plain(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not JSON-serializable")
    return converted


def canonical_json(value: Mapping[str, Any]) -> str:
    """Serialize hparams as canonical JSON: sorted keys, compact separators, UTF-8 text.

    Parameters
    ----------
    value : mapping
        A JSON object (nested values allowed).

    Returns
    -------
    str
        E.g. ``{"epochs":10,"lr":0.1}``.

    Raises
    ------
    ValueError
        For values that JSON cannot hold (NaN, infinity, arbitrary objects).
    """
    try:
        return json.dumps(
            value,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
        )
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _check_json(value: Any) -> None:
    """Refuse a JSON value nested too deeply or holding a NUL character."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    if _has_nul(value):
        raise ValueError("a NUL character (\\x00) in a key or text")


def _plain(value: Any) -> Any:
    """Turn a cell into a JSON value; None when missing (or an empty text)."""
    if isinstance(value, list | dict):
        _check_json(value)
        return value
    if not isinstance(value, np.ndarray) and is_missing(value):
        return None
    value = plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} cannot be stored in JSON")
    if isinstance(value, str) and value == "":
        return None
    _check_json(value)
    return value


def _hashable(series: pd.Series) -> pd.Series:
    if series.dtype != object:
        return series
    return series.map(lambda v: canonical_json({"": v}) if isinstance(v, _CONTAINERS) else v)


def _combined_codes(columns: list[pd.Series]) -> np.ndarray:
    codes = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        part, uniques = pd.factorize(_hashable(column), use_na_sentinel=False)
        codes, _ = pd.factorize(codes * (len(uniques) + 1) + part)
    return codes


def _hparams(frame: pd.DataFrame, extras: list[str], check: _Checker) -> pd.Series:
    n = len(frame)
    parts = (["hparams"] if "hparams" in frame.columns else []) + extras
    if not parts:
        return pd.Series([np.nan] * n, dtype="str")
    codes = _combined_codes([frame[c] for c in parts])
    _, first = np.unique(codes, return_index=True)  # codes are 0..k-1: first[i] is code i
    texts: list[str | None] = []
    for position in first:
        row = int(position) + 1
        merged: dict[str, Any] = {}
        if "hparams" in frame.columns:
            raw = frame["hparams"].iloc[position]
            if isinstance(raw, str) and raw.strip().lower() in NULL_WORDS:
                raw = None
            if isinstance(raw, str) and raw.strip():
                try:
                    raw = json.loads(raw)
                except json.JSONDecodeError as exc:
                    check.fail(f"invalid JSON ({exc.msg})", row=row, column="hparams")
                except RecursionError:
                    check.fail(
                        f"nested more than {MAX_JSON_DEPTH} levels deep", row=row, column="hparams"
                    )
            if isinstance(raw, dict):
                try:
                    _check_json(raw)
                except ValueError as exc:
                    check.fail(str(exc), row=row, column="hparams")
                merged.update(raw)
            elif not (is_missing(raw) or (isinstance(raw, str) and not raw.strip())):
                check.fail(
                    f'expected a JSON object like {{"lr": 0.1}}, got {_shown(raw)}',
                    row=row,
                    column="hparams",
                )
        for name in extras:
            try:
                value = _plain(frame[name].iloc[position])
            except ValueError as exc:
                check.fail(str(exc), row=row, column=name)
            if value is not None:
                merged[name] = value
        try:
            texts.append(canonical_json(merged) if merged else None)
        except ValueError as exc:
            check.fail(f"cannot store as JSON: {exc}", row=row, column="hparams")
    return pd.Series(pd.array(texts, dtype="str").take(codes))


def _scores(out: dict[str, pd.Series], percent: bool, check: _Checker) -> None:
    """Percent conversion and the [0, 1] check of accuracy-type scores, in place."""
    pairs = [("upstream_score", "upstream_metric"), ("downstream_score", "downstream_metric")]
    if "downstream_stderr" in out:
        pairs.append(("downstream_stderr", "downstream_metric"))
    for column, metric_column in pairs:
        if column not in out:
            continue
        values = out[column]
        accuracy = out[metric_column].isin(ACCURACY_METRICS).to_numpy(dtype=bool)
        if percent:
            values = values.where(~accuracy, values / 100.0)
            out[column] = values
        if column == "downstream_stderr":
            row = check.first((values < 0).to_numpy())
            if row is not None:
                check.fail(
                    f"expected a standard error >= 0, got {values.iloc[row - 1]:g}",
                    row=row,
                    column=column,
                )
            continue
        array = values.to_numpy()
        with np.errstate(invalid="ignore"):
            outside = accuracy & ((array < 0) | (array > 1))
        row = check.first(outside)
        if row is None:
            continue
        metric = out[metric_column].iloc[row - 1]
        value = array[row - 1]
        if percent:
            message = (
                f"{value * 100:g} percent is outside [0, 100] for accuracy-type metric {metric!r}"
            )
        else:
            message = f"{value:g} is outside [0, 1] for accuracy-type metric {metric!r}"
            if 1 < value <= 100:
                message += "; if the table holds percentages, pass --percent"
        check.fail(message, row=row, column=column)


def _same(a: Any, b: Any) -> bool:
    if is_missing(a) or is_missing(b):
        return is_missing(a) and is_missing(b)
    return bool(a == b)


def _collapse_duplicates(frame: pd.DataFrame, check: _Checker) -> tuple[pd.DataFrame, int]:
    same_key = frame.duplicated(subset=_RUN_KEY, keep=False).to_numpy()
    if not same_key.any():
        return frame, 0
    candidates = frame[same_key]
    identical = candidates.duplicated(keep="first")
    rest = candidates[~identical.to_numpy()]
    clash = rest.duplicated(subset=_RUN_KEY, keep=False).to_numpy()
    if clash.any():
        clashing = rest[clash]
        groups = clashing.groupby(_RUN_KEY, dropna=False, sort=False).ngroup().to_numpy()
        a, b = (int(i) for i in clashing.index[groups == groups[0]][:2])
        column = next(c for c in frame.columns if not _same(frame.at[a, c], frame.at[b, c]))
        described = ", ".join(
            f"{c} {_shown(frame.at[a, c])}" for c in _RUN_KEY if not is_missing(frame.at[a, c])
        )
        check.fail(
            f"rows {a + 1} and {b + 1} are the same run ({described}) with different "
            f"{column}: {_shown(frame.at[a, column])} vs {_shown(frame.at[b, column])}; "
            "keep one, or tell them apart by seed or hparams",
            column=column,
        )
    dropped = candidates.index[identical.to_numpy()]
    return frame.drop(index=dropped).reset_index(drop=True), len(dropped)


def _apply_aliases(
    out: dict[str, pd.Series], table: AliasTable, kinds: tuple[str, ...], source: str | None
) -> None:
    """Rename the columns of ``kinds`` to their canonical names, in place."""
    for kind in kinds:
        if not table.covers(kind, source):
            continue
        rename = functools.partial(table.canonical, kind, source=source)
        for column in ALIAS_KINDS[kind]:
            if column in out:
                out[column] = _map_text(out[column], rename)


def validate_runs(
    frame: pd.DataFrame,
    *,
    column_map: Mapping[str, str] | None = None,
    percent: bool = False,
    require_upstream: bool = True,
    aliases: AliasTable | None = None,
    source: str | None = None,
    file: str | None = None,
) -> ValidatedRuns:
    """Check a table of runs and return it in canonical form (see the module's rules).

    Parameters
    ----------
    frame : pandas.DataFrame
        One run per row, columns named canonically or renamed by ``column_map``; other
        columns go into ``hparams``. Row numbers in errors are positions + 1.
    column_map : mapping of str to str, optional
        Input column -> canonical column (the command line's ``--map SRC=canonical``).
    percent : bool, default False
        Accuracy-type scores (and their stderr) are percentages: divide by 100.
    require_upstream : bool, default True
        Require ``upstream_score`` on pretrained rows. False for tables that publish none.
    aliases : AliasTable, optional
        Names that are the same thing across sources; the shipped table
        (:func:`~transferscope.schema.names.default_aliases`) when omitted.
    source : str, optional
        Name of the source the runs will be stored under (its own aliases apply first).
    file : str, optional
        Name of the input for error messages.

    Returns
    -------
    ValidatedRuns
        ``frame`` with columns ``schema.INPUT_COLUMNS`` (dtypes ``schema.RUN_DTYPES``), the
        number of rows read and of identical duplicates collapsed.

    Raises
    ------
    InputError
        For the first problem found, with file, row and column where they apply.
    """
    check = _Checker(file)
    n_read = len(frame)
    if n_read == 0:
        check.fail("no data rows; expected at least one run")
    frame = _rename(frame, dict(column_map or {}), check).reset_index(drop=True)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        quoted = ", ".join(repr(c) for c in missing)
        check.fail(
            f"missing required column{'s' if len(missing) > 1 else ''} {quoted}; the input has "
            f"{_names(list(frame.columns))} (rename with --map SOURCE=CANONICAL)"
        )

    out: dict[str, pd.Series] = {}
    for column in _TEXT:
        if column in frame.columns:
            out[column] = _text(frame[column], column, check)
    for column in ("model", "task", "method"):
        row = check.first(out[column].isna())
        if row is not None:
            check.fail("empty value; every run needs one", row=row, column=column)
    method = _map_text(out["method"], snake_case)
    row = check.first(method.isna() & out["method"].notna())
    if row is not None:
        check.fail(
            f"method {out['method'].iloc[row - 1]!r} has no letters or digits",
            row=row,
            column="method",
        )
    out["method"] = method
    table = resolve_aliases(aliases)
    _apply_aliases(out, table, ("task", "model", "method"), source)
    for column in ("upstream_score", "downstream_score", "downstream_stderr"):
        if column in frame.columns:
            out[column] = _as_number(frame[column], column, check)
            _finite(out[column], column, check)
    row = check.first(out["downstream_score"].isna())
    if row is not None:
        check.fail("empty value; every run needs a score", row=row, column="downstream_score")
    for column in _INTEGERS:
        if column in frame.columns:
            out[column] = _integer(frame[column], column, check)
    out["pretrained"] = _pretrained(frame.get("pretrained"), method, check)
    out["downstream_metric"] = _metric(
        frame.get("downstream_metric"), n_read, check, "downstream_metric"
    ).fillna(DEFAULT_METRIC)
    upstream = out.get("upstream_score")
    if "upstream_metric" in frame.columns or upstream is not None:
        metric = _metric(frame.get("upstream_metric"), n_read, check, "upstream_metric")
        if upstream is not None:
            metric = metric.mask(metric.isna() & upstream.notna(), DEFAULT_METRIC)
        out["upstream_metric"] = metric
    _apply_aliases(out, table, ("metric",), source)
    if require_upstream:
        pretrained = out["pretrained"].to_numpy()
        if upstream is None and pretrained.any():
            check.fail(
                "missing column 'upstream_score', required on pretrained rows (mark runs "
                "without pretraining with pretrained=false)"
            )
        if upstream is not None:
            row = check.first(pretrained & upstream.isna().to_numpy())
            if row is not None:
                check.fail(
                    "empty upstream score on a pretrained row (mark runs without pretraining "
                    "with pretrained=false)",
                    row=row,
                    column="upstream_score",
                )
    _scores(out, percent, check)
    extras = [c for c in frame.columns if c not in INPUT_COLUMNS]
    out["hparams"] = _hparams(frame, extras, check)

    absent = pd.Series([None] * n_read, dtype=object)
    canonical = pd.DataFrame({c: out.get(c, absent) for c in INPUT_COLUMNS}).astype(
        {c: RUN_DTYPES[c] for c in INPUT_COLUMNS}
    )
    canonical, n_collapsed = _collapse_duplicates(canonical, check)
    return ValidatedRuns(frame=canonical, n_read=n_read, n_collapsed=n_collapsed, file=file)
