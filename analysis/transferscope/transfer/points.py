"""Model points: one (upstream, downstream) point per model and group, with its descriptors.

Runs are reduced to the points that effective transfer is measured on:

- runs without both scores, and runs whose task is their upstream task, are left out;
- seeds are averaged (the standard error of a mean of several seeds is their standard deviation
  over the square root of their number; a single run keeps its published ``downstream_stderr``);
- a model evaluated under several hyper-parameter configurations (``hparams``: e.g. the lr and
  epochs grid of a linear probe) keeps, with ``hparams="best"``, the configuration with the best
  downstream score (as published probe tables report it; an optimistic choice, made on the
  outcome), or, with ``hparams="all"``, every configuration as a point of its own (then the
  unit is the model and its ``hparams``, as timm's model x image size).

Moderators are read from the canonical columns (``architecture``, ``params``, ``pretrain_data``,
``pretrain_steps``, ...) or, for any other name, from the keys of ``hparams``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from transferscope.errors import InputError
from transferscope.schema import metric_direction, scored_on_upstream_task

#: Descriptor columns carried with every point (when the runs have them).
DESCRIPTORS: Final[tuple[str, ...]] = (
    "architecture",
    "params",
    "pretrain_data",
    "pretrain_steps",
    "upstream_metric",
    "downstream_metric",
    "hparams",
)

#: A positive numeric moderator whose largest value is at least this multiple of its smallest,
#: or whose smallest value is at least LOG_COUNT (a count: parameters, tokens, samples seen),
#: enters as log10: its effects are per factor of ten.
LOG_RATIO: Final[float] = 4.0
LOG_COUNT: Final[float] = 1e4

#: Moderators tried by default (those with at least two distinct values are used).
#: Moderators tried by default: canonical columns, then ``hparams`` keys (``tokens``: the
#: pretraining tokens a scaling suite such as mlf-scaling records there).
DEFAULT_MODERATORS: Final[tuple[str, ...]] = ("pretrain_data", "params", "pretrain_steps", "tokens")


@dataclass(frozen=True)
class Layout:
    """How points are grouped.

    Attributes
    ----------
    by : tuple of str
        Columns of a group (one baseline, one residual per unit).
    unit : tuple of str
        Columns of a unit (a model, or a model and its ``hparams``).
    across : str
        The column consistency and drivers are measured across (``task``).
    reference : dict
        Column to allowed values of the reference models of a baseline.
    """

    by: tuple[str, ...]
    unit: tuple[str, ...]
    across: str
    reference: dict[str, tuple[Any, ...]]

    @property
    def context(self) -> list[str]:
        """Columns that keep consistency and driver analyses apart: ``by`` without ``across``."""
        return [c for c in self.by if c != self.across]

    @property
    def baseline_keys(self) -> list[str]:
        """Columns of a baseline: ``by`` without the reference columns.

        A reference column that is also a grouping column (``method=standard``) makes one
        baseline serve every group that differs only in that column.
        """
        return [c for c in self.by if c not in self.reference]


def reference_filter(reference: Mapping[str, Any] | None) -> dict[str, tuple[Any, ...]]:
    """Normalize a reference filter: column to a tuple of allowed values.

    Parameters
    ----------
    reference : mapping, optional
        ``{column: value or list of values}``.

    Returns
    -------
    dict
        Column to allowed values.
    """
    out: dict[str, tuple[Any, ...]] = {}
    for column, wanted in (reference or {}).items():
        values = tuple(wanted) if isinstance(wanted, list | tuple | set | frozenset) else (wanted,)
        if not values:
            raise InputError(f"reference column {column!r} has no values")
        out[str(column)] = values
    return out


def _stderr_of_mean(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    grouped = frame.groupby(keys, dropna=False, sort=False, observed=True)
    count = grouped["downstream_score"].transform("count")
    spread = grouped["downstream_score"].transform("std") / np.sqrt(count)
    published = grouped["downstream_stderr"].transform("mean")
    return spread.where(count > 1, published)


def model_points(
    runs: pd.DataFrame,
    *,
    by: Sequence[str],
    entity: str = "model",
    hparams: Literal["best", "all"] = "best",
    reference: Mapping[str, Any] | None = None,
    across: str = "task",
) -> tuple[pd.DataFrame, Layout]:
    """Reduce runs to one point per (group, unit).

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    by : sequence of str
        Grouping columns.
    entity : str
        Column naming the model.
    hparams : {"best", "all"}
        Keep the best configuration of each model (by downstream score), or every one.
    reference : mapping, optional
        Reference models of the baselines (``{column: value(s)}``).
    across : str
        Column consistency is measured across.

    Returns
    -------
    points : pandas.DataFrame
        The ``by`` and unit columns, ``upstream_score``, ``downstream_score``,
        ``downstream_stderr``, ``n_runs`` (runs averaged), ``reference`` (bool), ``unit_key``
        (text naming the unit) and the descriptor columns present in ``runs``.
    layout : Layout
        The grouping.

    Raises
    ------
    InputError
        For missing columns, an unknown ``hparams`` choice or a reference column the runs lack.
    """
    if not isinstance(runs, pd.DataFrame):
        raise InputError(f"runs must be a pandas DataFrame, got {type(runs).__name__}")
    if hparams not in ("best", "all"):
        raise InputError(f"hparams must be 'best' or 'all', got {hparams!r}")
    by = [by] if isinstance(by, str) else list(by)
    needed = [*by, entity, "upstream_score", "downstream_score"]
    missing = [c for c in dict.fromkeys(needed) if c not in runs.columns]
    if missing:
        raise InputError(f"runs lack column(s) {missing}; expected the canonical run columns")
    ref = reference_filter(reference)
    unit = (entity, "hparams") if hparams == "all" and "hparams" in runs.columns else (entity,)
    frame = runs.copy()
    for column in ("downstream_stderr", "hparams"):
        if column not in frame:
            frame[column] = np.nan if column == "downstream_stderr" else pd.NA
    frame["hparams"] = frame["hparams"].astype("string").fillna("")
    frame = frame[np.isfinite(pd.to_numeric(frame["upstream_score"], errors="coerce"))]
    frame = frame[np.isfinite(pd.to_numeric(frame["downstream_score"], errors="coerce"))]
    if "upstream_task" in frame:
        frame = frame[~scored_on_upstream_task(frame)]
    keys = list(dict.fromkeys([*by, entity, "hparams"]))
    frame = frame.assign(downstream_stderr=_stderr_of_mean(frame, keys))
    first = {c: "first" for c in DESCRIPTORS if c in frame and c not in keys}
    first.update({c: "first" for c in ref if c in frame and c not in keys and c not in first})
    agg = frame.groupby(keys, dropna=False, sort=True, observed=True).agg(
        upstream_score=("upstream_score", "mean"),
        downstream_score=("downstream_score", "mean"),
        downstream_stderr=("downstream_stderr", "first"),
        n_runs=("downstream_score", "size"),
        **{c: (c, how) for c, how in first.items()},
    )
    points = agg.reset_index()
    if hparams == "best":
        order = points.sort_values([*by, entity, "downstream_score"], ascending=True, kind="stable")
        points = order.groupby([*by, entity], dropna=False, sort=True, observed=True).tail(1)
        points = points.sort_values([*by, entity], kind="stable").reset_index(drop=True)
    for column in ref:
        if column not in points:
            raise InputError(f"reference column {column!r} is not a run column", column=column)
    flag = np.ones(len(points), dtype=bool)
    for column, values in ref.items():
        flag &= points[column].isin(list(values)).to_numpy(dtype=bool)
    points["reference"] = flag
    points["unit_key"] = _unit_keys(points, unit)
    layout = Layout(by=tuple(by), unit=tuple(unit), across=across, reference=ref)
    return points, layout


def _unit_keys(points: pd.DataFrame, unit: Sequence[str]) -> pd.Series:
    if len(unit) == 1:
        return points[unit[0]].astype(str)
    parts = [points[c].astype(str) for c in unit]
    out = parts[0]
    for part in parts[1:]:
        out = out + " " + part.where(part != "", "")
    return out.str.strip()


def upstream_is_loss(points: pd.DataFrame) -> bool:
    """Whether the points' upstream metric is lower-is-better (a loss)."""
    if "upstream_metric" not in points:
        return False
    metrics = points["upstream_metric"].dropna().unique()
    return len(metrics) > 0 and metric_direction(str(metrics[0])) == "lower"


def _hparams_value(text: Any, key: str) -> Any:
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text).get(key)
    except (ValueError, AttributeError):
        return None


def moderator_values(points: pd.DataFrame, name: str) -> pd.Series:
    """Read one moderator's value per point: a column, or a key of ``hparams``.

    Parameters
    ----------
    points : pandas.DataFrame
        Output of :func:`model_points`.
    name : str
        A column of the points, or a key of their ``hparams`` JSON.

    Returns
    -------
    pandas.Series
        One value per point (missing where the point has none).
    """
    if name in points.columns and name != "hparams":
        return points[name]
    if "hparams" not in points:
        return pd.Series([None] * len(points), index=points.index, dtype=object)
    return points["hparams"].map(lambda text: _hparams_value(text, name))


def default_moderators(points: pd.DataFrame) -> list[str]:
    """List the default moderators present with at least two distinct values.

    Parameters
    ----------
    points : pandas.DataFrame
        Output of :func:`model_points`.

    Returns
    -------
    list of str
        Names from :data:`DEFAULT_MODERATORS`.
    """
    return [
        m
        for m in DEFAULT_MODERATORS
        if (m in points or "hparams" in points)
        and moderator_values(points, m).dropna().nunique() >= 2
    ]


@dataclass(frozen=True)
class Moderator:
    """A moderator encoded for a design matrix.

    Attributes
    ----------
    name : str
        As asked for.
    kind : {"numeric", "categorical"}
        How it enters.
    label : str
        The term's name (``log10(params)`` for a log-scaled numeric moderator).
    values : pandas.Series
        Numeric values (transformed) or level labels per point; missing where unknown.
    levels : tuple of str
        Categorical levels, the reference first (empty for numeric).
    """

    name: str
    kind: Literal["numeric", "categorical"]
    label: str
    values: pd.Series
    levels: tuple[str, ...] = ()

    @property
    def reference(self) -> str | None:
        """The reference level of a categorical moderator."""
        return self.levels[0] if self.levels else None

    def design(self, mask: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Columns of the moderator for the points in ``mask`` (dummies or the numeric value).

        Parameters
        ----------
        mask : numpy.ndarray of bool
            Points to include.

        Returns
        -------
        columns : numpy.ndarray
            Shape ``(mask.sum(), k)``.
        names : list of str
            ``label[level]`` per dummy, or ``label``.
        """
        values = self.values[mask]
        if self.kind == "numeric":
            return values.to_numpy(dtype=np.float64)[:, None], [self.label]
        labels = values.astype(str).to_numpy()
        cols = [(labels == lv).astype(np.float64) for lv in self.levels[1:]]
        names = [f"{self.label}[{lv}]" for lv in self.levels[1:]]
        return (np.column_stack(cols) if cols else np.zeros((len(labels), 0))), names


def encode_moderator(
    points: pd.DataFrame,
    name: str,
    *,
    min_models: int = 3,
    reference_level: Any = None,
) -> Moderator:
    """Encode a moderator: numeric (log10 when positive and spread, see LOG_RATIO) or levels.

    Parameters
    ----------
    points : pandas.DataFrame
        Output of :func:`model_points`.
    name : str
        Column or ``hparams`` key.
    min_models : int
        Levels with fewer distinct units are merged into ``"(other)"`` (dropped when that is
        still too small).
    reference_level : optional
        The reference level (e.g. the baseline's reference value); default: the level with most
        units.

    Returns
    -------
    Moderator
        The encoding.
    """
    raw = moderator_values(points, name)
    units = points["unit_key"]
    numeric = pd.to_numeric(raw, errors="coerce")
    present = raw.notna() & (raw.astype(str) != "")
    if present.any() and numeric[present].notna().all() and numeric[present].nunique() > 2:
        values = numeric.astype("float64")
        positive = values[present] > 0
        low, high = float(values[present].min()), float(values[present].max())
        if positive.all() and (high / low >= LOG_RATIO or low >= LOG_COUNT):
            return Moderator(name, "numeric", f"log10({name})", values.transform(np.log10))
        return Moderator(name, "numeric", name, values)
    labels = raw.where(present).map(lambda v: None if v is None or _nan(v) else str(v))
    counts = (
        pd.Series(units[labels.notna()].to_numpy(), index=labels[labels.notna()])
        .groupby(level=0)
        .nunique()
    )
    rare = set(counts[counts < min_models].index)
    if rare:
        merged = labels.where(~labels.isin(list(rare)), "(other)")
        other_units = units[merged == "(other)"].nunique()
        labels = merged.where(merged != "(other)") if other_units < min_models else merged
    kept = labels.dropna()
    sizes = (
        pd.Series(units[kept.index].to_numpy(), index=kept.to_numpy()).groupby(level=0).nunique()
    )
    order = sorted(sizes.index, key=lambda lv: (-int(sizes[lv]), lv))
    ref = str(reference_level) if reference_level is not None else None
    if ref in order:
        order = [ref, *[lv for lv in order if lv != ref]]
    return Moderator(name, "categorical", name, labels, tuple(order))


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
