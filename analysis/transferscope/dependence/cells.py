"""Checkpoint cells: runs collapsed to one mean per (context, entity, task, checkpoint).

The layer under :mod:`transferscope.dependence.metrics`: validation of canonical runs, the grouping
(:class:`Layout`), the choice among hyper-parameter configurations, each cell's variance and its
source (seeds, published errors, the between-checkpoint fallback; see
:mod:`transferscope.dependence.metrics` for the rules) and the transformed ladder coordinates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from transferscope.errors import InputError
from transferscope.schema import (
    DEFAULT_METRIC,
    REQUIRED_COLUMNS,
    is_accuracy_metric,
    match_names,
    metric_direction,
    scored_on_upstream_task,
)

#: Sources of standard errors, best first.
SE_SOURCES: tuple[str, ...] = ("seeds", "published", "between_checkpoint", "none")
LOGIT_CLIP = 1e-3

_SOURCE_RANK = {name: i for i, name in enumerate(SE_SOURCES)}
_OPTIONAL: dict[str, Any] = {
    "pretrained": True,
    "shots": pd.NA,
    "seed": pd.NA,
    "downstream_metric": DEFAULT_METRIC,
    "downstream_stderr": np.nan,
    "upstream_score": np.nan,
    "upstream_metric": pd.NA,
    "hparams": pd.NA,
}


@dataclass(frozen=True)
class Layout:
    """How runs are grouped.

    Attributes
    ----------
    entity : str
        Column compared across (``method``, ``model``, ...).
    context : tuple of str
        Columns that keep analyses apart: ``by`` (by default none for ``method``; ``method``
        and ``shots`` for another entity), then ``downstream_metric``.
    x : str
        Column of the checkpoint ladder's position (``upstream_score`` by default).
    qualifiers : tuple of str
        Columns that tell entities apart beyond the entity column and are not in the context
        (``shots`` for ``method``: ``linear_probe`` at 10 and at 25 shots are two entities,
        labelled ``linear_probe@10`` and ``linear_probe@25``; see :func:`entity_labels`).
    """

    entity: str
    context: tuple[str, ...]
    x: str
    qualifiers: tuple[str, ...] = ()

    @property
    def group(self) -> list[str]:
        """Columns of one per-task value: context, entity, qualifiers, task."""
        return unique([*self.context, self.entity, *self.qualifiers, "task"])

    @property
    def cell(self) -> list[str]:
        """Columns of one checkpoint cell."""
        return unique([*self.group, "model", "pretrained", "shots"])

    @property
    def baseline(self) -> list[str]:
        """Columns matching a checkpoint cell to its scratch baseline."""
        return unique([*self.context, "task", "method", "shots"])


def unique(cols: Sequence[str]) -> list[str]:
    """Return column names without repeats, in first-seen order.

    Parameters
    ----------
    cols : sequence of str
        Column names.

    Returns
    -------
    list of str
        The names, each once.
    """
    return list(dict.fromkeys(cols))


def align_dtypes(frame: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """Give ``frame``'s columns that also appear in ``like`` the dtypes they have there.

    Frames built from records lose nullable dtypes (``shots`` as ``Int64`` becomes float or
    object); this puts them back so that output columns keep the canonical types.

    Parameters
    ----------
    frame : pandas.DataFrame
        Frame to fix (modified copy returned).
    like : pandas.DataFrame
        Frame whose dtypes to copy.

    Returns
    -------
    pandas.DataFrame
        ``frame`` with the shared columns cast.
    """
    out = frame.copy()
    for col in out.columns:
        if col in like.columns and out[col].dtype != like[col].dtype:
            try:
                out[col] = out[col].astype(like[col].dtype)
            except (TypeError, ValueError):
                continue
    return out


def worst_source(sources: Sequence[str] | pd.Series) -> str:
    """Return the weakest of several standard-error sources (see :data:`SE_SOURCES`).

    Parameters
    ----------
    sources : sequence of str
        Sources of the parts of a derived value.

    Returns
    -------
    str
        The source ranked last in :data:`SE_SOURCES`; ``"none"`` for an empty input.
    """
    ranks = [_SOURCE_RANK.get(str(s), len(SE_SOURCES) - 1) for s in sources]
    return SE_SOURCES[max(ranks)] if ranks else "none"


def _layout(frame: pd.DataFrame, entity: str, by: Sequence[str] | str | None, x: str) -> Layout:
    by_cols = [by] if isinstance(by, str) else list(by or [])
    for col in [entity, *by_cols]:
        if col not in frame.columns:
            raise InputError(f"runs have no column {col!r}", column=col)
    if entity in ("task", "pretrained", "seed", "shots", "downstream_metric"):
        hint = (
            " (to compare numbers of shots, rank methods: each shot count is its own entity)"
            if entity == "shots"
            else ""
        )
        raise InputError(f"cannot compare across {entity!r}; choose e.g. method or model{hint}")
    if "task" in by_cols or entity in by_cols:
        raise InputError("`by` cannot hold task or the compared column")
    if by is None and entity != "method":
        by_cols = ["method", "shots"]  # pretrained models compared under one adaptation regime
    context = unique([*by_cols, "downstream_metric"])
    regime = ["shots"] if entity == "method" else ["method", "shots"]
    qualifiers = tuple(c for c in regime if c not in context)
    return Layout(entity, tuple(context), x, qualifiers)


def shots_label(shots: object) -> str:
    """Label of a number of shots in an entity's name: ``full`` (all data), ``zero_shot``, ``N``.

    Parameters
    ----------
    shots : int or missing
        Examples used for adaptation (missing = full data).

    Returns
    -------
    str
        ``"full"``, ``"zero_shot"`` or the number.
    """
    if shots is None or bool(pd.isna(shots)):  # type: ignore[call-overload]
        return "full"
    number = int(shots)  # type: ignore[call-overload]
    return "zero_shot" if number == 0 else str(number)


def entity_labels(frame: pd.DataFrame, layout: Layout) -> pd.Series:
    """Name of each row's entity: the entity's value, qualified where it needs to be.

    An entity seen with several values of a qualifier in one context (a method at several
    numbers of shots) becomes one entity per value, named ``value@qualifier``:
    ``linear_probe@10``, ``linear_probe@25``, ``linear_probe@full``; a method seen at one number
    of shots keeps its name (``zero_shot``, ``five_shot``).

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows with the layout's context, entity and qualifier columns.
    layout : Layout
        The grouping.

    Returns
    -------
    pandas.Series
        One label per row (str), index as ``frame``.
    """
    base = frame[layout.entity].astype(str)
    if not layout.qualifiers or frame.empty:
        return base
    keys = [*layout.context, layout.entity]
    parts: list[pd.Series] = [base]
    for col in layout.qualifiers:
        text = frame[col].map(shots_label) if col == "shots" else frame[col].astype(str)
        varies = frame.assign(_q=text).groupby(keys, dropna=False)["_q"].transform("nunique") > 1
        parts.append(pd.Series(np.where(varies, "@" + text, ""), index=frame.index))
    label = parts[0]
    for part in parts[1:]:
        label = label + part
    return label


def hparams_columns(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Add columns read from the ``hparams`` JSON of each run (for ``by`` on a hyper-parameter).

    Parameters
    ----------
    frame : pandas.DataFrame
        Runs with an ``hparams`` column (JSON object text or missing).
    names : sequence of str
        Keys to read; a key already a column is left alone.

    Returns
    -------
    pandas.DataFrame
        ``frame`` with one column per key (text; missing where a run lacks the key).

    Raises
    ------
    InputError
        A key that no run has, nor any column.
    """
    wanted = [n for n in names if n not in frame.columns]
    if not wanted:
        return frame
    out = frame.copy()
    text = out["hparams"] if "hparams" in out.columns else pd.Series(pd.NA, index=out.index)
    parsed: dict[str, dict[str, Any]] = {}
    for raw in pd.unique(text.dropna().astype(str)):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            continue
        parsed[raw] = value if isinstance(value, dict) else {}
    for name in wanted:
        lookup = {raw: obj.get(name) for raw, obj in parsed.items() if name in obj}
        if not lookup:
            raise InputError(f"runs have no column or hparams key {name!r}", column=name)
        out[name] = text.map(
            lambda raw, lookup=lookup: (
                None if pd.isna(raw) or raw not in lookup else str(lookup[raw])
            )
        ).astype("string")
    return out


def _validated(runs: pd.DataFrame, x: str) -> pd.DataFrame:
    if not isinstance(runs, pd.DataFrame):
        raise InputError("runs must be a pandas DataFrame of canonical runs")
    for col in REQUIRED_COLUMNS:
        if col not in runs.columns:
            raise InputError(f"runs have no column {col!r} (a canonical run column)", column=col)
    frame = runs.copy()
    for col, default in _OPTIONAL.items():
        if col not in frame.columns:
            frame[col] = default
    if x not in frame.columns:
        raise InputError(f"runs have no column {x!r} for the ladder", column=x)
    frame["pretrained"] = frame["pretrained"].fillna(True).astype(bool)
    frame["downstream_metric"] = frame["downstream_metric"].fillna(DEFAULT_METRIC).astype(str)
    score = pd.to_numeric(frame["downstream_score"], errors="coerce")
    bad = np.flatnonzero(score.isna().to_numpy())
    if bad.size:
        raise InputError(
            "downstream_score must be a number", row=int(bad[0]) + 1, column="downstream_score"
        )
    frame["downstream_score"] = score.astype(float)
    for col in ("downstream_stderr", "upstream_score", x):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in ("shots", "seed"):
        numbers = pd.to_numeric(frame[col], errors="coerce")
        bad = np.flatnonzero((numbers.isna() & frame[col].notna()).to_numpy())
        if bad.size:
            raise InputError("expected a whole number", row=int(bad[0]) + 1, column=col)
        try:
            frame[col] = numbers.astype("Int64")
        except TypeError:
            raise InputError("expected whole numbers", column=col) from None
    frame["hparams"] = frame["hparams"].astype("string").fillna("")
    return frame


def _best_hparams(frame: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """Keep, in each cell with a grid, the hyper-parameter configuration with the best mean score.

    A cell has a grid when some seed has several rows (differing in ``hparams``); rows that
    differ in ``hparams`` across seeds only (per-run notes such as a raw error) are replicates.
    """
    keys = layout.cell
    per_seed = frame.groupby([*keys, "seed"], dropna=False, sort=False)["downstream_score"]
    frame = frame.assign(_grid=per_seed.transform("size") > 1)
    frame = frame.assign(
        _grid=frame.groupby(keys, dropna=False, sort=False)["_grid"].transform("any")
    )
    grid = frame[frame["_grid"]]
    if grid.empty:
        return frame.drop(columns="_grid")
    configs = grid.groupby([*keys, "hparams"], dropna=False, sort=True)["downstream_score"]
    means = configs.mean().reset_index()
    sign = np.where(
        [metric_direction(m) == "higher" for m in means["downstream_metric"]], 1.0, -1.0
    )
    means["_oriented"] = means["downstream_score"] * sign
    best = means.loc[means.groupby(keys, dropna=False, sort=True)["_oriented"].idxmax()]
    kept = grid.merge(best[[*keys, "hparams"]], on=[*keys, "hparams"], how="inner")
    return pd.concat([frame[~frame["_grid"]], kept], ignore_index=True).drop(columns="_grid")


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.asarray(np.log(q) - np.log1p(-q))


def _transform_x(frame: pd.DataFrame, layout: Layout) -> np.ndarray:
    raw = frame[layout.x].to_numpy(dtype=float)
    if layout.x != "upstream_score":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(raw > 0, np.log10(np.where(raw > 0, raw, 1.0)), np.nan)
    metric = frame["upstream_metric"].astype("string").fillna("")
    names = pd.unique(metric)  # a few metric names for many rows: decide once per name
    is_acc = {m: is_accuracy_metric(m or None) for m in names}
    is_lower = {m: bool(m) and metric_direction(m) == "lower" for m in names}
    accuracy = metric.map(is_acc).to_numpy(dtype=bool)
    lower = metric.map(is_lower).to_numpy(dtype=bool)
    return np.where(accuracy, _logit(raw), np.where(lower, -raw, raw))


def checkpoint_cells(
    runs: pd.DataFrame,
    *,
    by: Sequence[str] | str | None = None,
    entity: str = "method",
    x: str = "upstream_score",
    downstream_metric: str | None = None,
    hparams: Literal["best", "all"] = "best",
) -> tuple[pd.DataFrame, Layout]:
    """Collapse runs to one row per checkpoint cell, with its mean, variance and ladder position.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs (at least ``model``, ``task``, ``method``, ``downstream_score``).
    by : str or sequence of str, optional
        Columns that keep analyses apart, replacing the default grouping (none for ``method``,
        whose numbers of shots become separate entities; ``method`` and ``shots`` for another
        entity); ``downstream_metric`` always does. A name that is not a column is read from
        the runs' ``hparams`` (e.g. ``"lr"``).
    entity : str, default "method"
        Column compared across.
    x : str, default "upstream_score"
        Column giving each checkpoint's place on the ladder.
    downstream_metric : str, optional
        Keep only this downstream metric (matched as name filters are, see
        :func:`transferscope.schema.name_key`).
    hparams : {"best", "all"}, default "best"
        Rows that differ only in ``hparams``: keep the best configuration, or treat all as
        replicates.

    Pretrained rows with a missing ``entity`` value are left out (they cannot be compared), and
    so are rows whose ``task`` is their own ``upstream_task`` (Pythia's LAMBADA when the
    checkpoint's LAMBADA accuracy is the upstream score): there the upstream score measures the
    downstream task itself, so its "dependence" on it says nothing about transfer.

    Returns
    -------
    cells : pandas.DataFrame
        One row per cell: the layout's cell columns, then ``n_runs``, ``score`` (mean),
        ``variance`` (of the mean; NaN when unknown), ``se_source``, ``upstream_score`` (mean),
        ``x`` and ``y`` (transformed ladder position and score; see the module docstring),
        ``deriv`` (d score / d y, for the delta method) and ``sign`` (+1 when higher is better).
    layout : Layout
        The grouping used.
    """
    frame = _validated(runs, x)
    frame = hparams_columns(frame, [by] if isinstance(by, str) else list(by or []))
    layout = _layout(frame, entity, by, x)
    # a pretrained row without a value of the compared column cannot be compared
    frame = frame[~(frame["pretrained"] & frame[entity].isna())]
    frame = frame[~scored_on_upstream_task(frame)]
    if downstream_metric is not None:
        names = match_names([downstream_metric], pd.unique(frame["downstream_metric"]))
        frame = frame[frame["downstream_metric"].isin(names)]
        if frame.empty:
            raise InputError(f"no runs with downstream_metric {downstream_metric!r}")
    if hparams not in ("best", "all"):
        raise InputError(f"hparams must be 'best' or 'all', not {hparams!r}")
    if hparams == "best":
        frame = _best_hparams(frame, layout)
    frame = frame.assign(_x=_transform_x(frame, layout), _se2=frame["downstream_stderr"] ** 2)
    grouped = frame.groupby(layout.cell, dropna=False, sort=True)
    cells = grouped.agg(
        n_runs=("downstream_score", "size"),
        score=("downstream_score", "mean"),
        _var=("downstream_score", "var"),
        _se2=("_se2", "mean"),
        upstream_score=("upstream_score", "mean"),
        x=("_x", "mean"),
    ).reset_index()
    n = cells["n_runs"].to_numpy(dtype=float)
    seeds = (n >= 2) & cells["_var"].notna().to_numpy()
    published = ~seeds & cells["_se2"].notna().to_numpy()
    cells["variance"] = np.where(
        seeds, cells["_var"] / n, np.where(published, cells["_se2"] / n, np.nan)
    )
    cells["se_source"] = np.where(seeds, "seeds", np.where(published, "published", "none"))
    metric_names = [str(m) for m in pd.unique(cells["downstream_metric"])]
    is_acc = {m: is_accuracy_metric(m) for m in metric_names}
    accuracy = cells["downstream_metric"].map(is_acc).to_numpy(dtype=bool)
    directions = {m: 1.0 if metric_direction(m) == "higher" else -1.0 for m in metric_names}
    sign = cells["downstream_metric"].map(directions).to_numpy(dtype=float)
    score = cells["score"].to_numpy(dtype=float)
    clipped = np.clip(score, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    cells["y"] = np.where(accuracy, _logit(score), sign * score)
    cells["deriv"] = np.where(accuracy, clipped * (1.0 - clipped), sign)
    cells["sign"] = sign
    cells = cells.drop(columns=["_var", "_se2"])
    return _fill_between_checkpoint(cells, layout), layout


def line_sums(frame: pd.DataFrame, keys: list[str], weights: np.ndarray) -> pd.DataFrame:
    """Fit a weighted straight line of ``y`` on ``x`` per group, from weighted sums.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows with ``x``, ``y`` and the ``keys`` columns.
    keys : list of str
        Group columns.
    weights : ndarray
        One weight per row.

    Returns
    -------
    pandas.DataFrame
        One row per group: the keys, ``n`` (points), the weighted sums ``sw``, ``swx``, ``swy``,
        ``swxx``, ``swxy``, ``swyy``, then ``sxx`` (weighted spread of x), ``slope`` (NaN when x
        does not vary) and ``rss`` (weighted residual sum of squares).
    """
    x = frame["x"].to_numpy(dtype=float)
    y = frame["y"].to_numpy(dtype=float)
    parts = pd.DataFrame(
        {
            "n": np.ones_like(x),
            "sw": weights,
            "swx": weights * x,
            "swy": weights * y,
            "swxx": weights * x * x,
            "swxy": weights * x * y,
            "swyy": weights * y * y,
        }
    )
    for key in keys:
        parts[key] = frame[key].to_numpy()
    sums = parts.groupby(keys, dropna=False, sort=True).sum().reset_index()
    sxx = sums["swxx"] - sums["swx"] ** 2 / sums["sw"]
    sxy = sums["swxy"] - sums["swx"] * sums["swy"] / sums["sw"]
    syy = sums["swyy"] - sums["swy"] ** 2 / sums["sw"]
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 1e-12 * sums["swxx"].abs().clip(lower=1e-300), sxy / sxx, np.nan)
    sums["sxx"] = sxx
    sums["slope"] = slope
    sums["rss"] = np.clip(syy - slope * sxy, 0.0, None)
    return sums


def _fill_between_checkpoint(cells: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    cells = cells.copy()
    ladder = cells["pretrained"].to_numpy(dtype=bool) & np.isfinite(cells["x"].to_numpy())
    lad = cells[ladder]
    if lad.empty:
        return cells
    sums = line_sums(lad, layout.group, np.ones(len(lad)))
    ok = (sums["n"] >= 3) & np.isfinite(sums["slope"])
    sums["_s2"] = np.where(ok, sums["rss"] / (sums["n"] - 2).clip(lower=1), np.nan)
    cells = cells.merge(sums[[*layout.group, "_s2"]], on=layout.group, how="left")
    fill = (
        (cells["se_source"] == "none")
        & cells["_s2"].notna()
        & cells["pretrained"]
        & np.isfinite(cells["x"])
    )
    cells.loc[fill, "variance"] = cells.loc[fill, "_s2"] * cells.loc[fill, "deriv"] ** 2
    cells.loc[fill, "se_source"] = "between_checkpoint"
    # a scratch cell without a variance borrows the mean fallback variance of its task
    task_keys = unique([*layout.context, "task", "shots"])
    borrowed = cells[fill].groupby(task_keys, dropna=False)["variance"].mean().rename("_borrow")
    cells = cells.merge(borrowed.reset_index(), on=task_keys, how="left")
    scratch = (~cells["pretrained"]) & (cells["se_source"] == "none") & cells["_borrow"].notna()
    cells.loc[scratch, "variance"] = cells.loc[scratch, "_borrow"]
    cells.loc[scratch, "se_source"] = "between_checkpoint"
    return cells.drop(columns=["_s2", "_borrow"])


def shared_checkpoints(cells: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """Keep, per context and task, the pretrained checkpoints that every entity there has.

    Entities evaluated on different checkpoints (Pythia's five-shot runs exist for 240 of the
    416 checkpoints that have zero-shot runs) are otherwise compared on different ladders: a mean
    gain over the early checkpoints of one and the late ones of the other says more about the
    checkpoints than about the methods. When the entities of a task share no checkpoint, or the
    compared column is ``model`` (each entity is its own checkpoint), the cells are kept.

    Parameters
    ----------
    cells : pandas.DataFrame
        Output of :func:`checkpoint_cells`.
    layout : Layout
        Its grouping.

    Returns
    -------
    pandas.DataFrame
        The cells, with a column ``checkpoint_set``: ``"shared"`` (restricted to the common
        checkpoints), ``"own"`` (kept as they were) or ``"scratch"`` (the baseline's cells).
    """
    out = cells.copy()
    out["checkpoint_set"] = np.where(out["pretrained"], "own", "scratch")
    if layout.entity == "model":
        return out
    pre = out[out["pretrained"]]
    if pre.empty:
        return out
    keys = unique([*layout.context, "task"])
    members = unique([layout.entity, *layout.qualifiers])
    ent = pre[members[0]].astype("string").fillna("<NA>")
    for col in members[1:]:
        ent = ent + "|" + pre[col].astype("string").fillna("<NA>")
    frame = pre[keys].assign(_ent=ent.to_numpy(), _model=pre["model"].astype(str).to_numpy())
    n_ent = frame.groupby(keys, dropna=False)["_ent"].transform("nunique")
    per_model = frame.groupby([*keys, "_model"], dropna=False)["_ent"].transform("nunique")
    common = per_model == n_ent
    any_common = common.groupby([frame[k] for k in keys], dropna=False).transform("any")
    several = n_ent > 1
    drop = several & any_common & ~common
    restricted = several & any_common
    out.loc[pre.index[restricted.to_numpy()], "checkpoint_set"] = "shared"
    return out.drop(index=pre.index[drop.to_numpy()])
