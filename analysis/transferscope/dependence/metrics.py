"""Dependence on pretraining per method and task: gain, slope and retention.

Definitions (``ARCHITECTURE.md``, "Dependence on pretraining"). Runs are canonical rows
(:data:`transferscope.schema.RUN_COLUMNS`). The *entity* is the column whose values are compared
(``method`` by default; ``model`` to compare pretraining methods, as on VTAB-1k). A *cell* is one
checkpoint (``model``) of one entity on one task; its score is the mean over its replicates
(seeds). Rows with ``pretrained = false`` are the scratch baseline of their task.

- ``gain`` (per checkpoint): ``sign * (mean DS(checkpoint) - mean DS(scratch))``, where the
  scratch baseline is the task's scratch cell(s) with the same method, or, when there is none,
  all the task's scratch cells (the ``baseline`` column names the method used). ``sign`` is +1
  when a higher downstream score is better and -1 otherwise, so a positive gain always means that
  pretraining helped.
- ``slope`` (per task): slope of ``y`` on ``x`` across the entity's checkpoints, with
  ``y = logit(DS)`` for accuracy-type metrics (clipped to ``[0.001, 0.999]``) and ``sign * DS``
  otherwise, and ``x = logit(upstream_score)`` (``-upstream_score`` for a lower-is-better
  upstream metric such as a loss); any other ``x`` column (``pretrain_steps``, ``params``) enters
  as ``log10``. How strongly the method follows the quality of the checkpoint. Made only from
  at least :data:`MIN_CHECKPOINTS` checkpoints spanning at least :data:`MIN_SPAN` on the ``x``
  axis (else ``status`` ``too_few_checkpoints`` or ``narrow_ladder``): two checkpoints 0.007
  apart on the upstream score say nothing about a slope.
- ``retention`` (per task): mean over the other checkpoints of ``gain(c) / gain(best)``, where
  the best checkpoint is the one with the highest ``x`` (the highest gain when ``x`` is missing).
  How much of the benefit survives a worse checkpoint. Defined only where the best checkpoint's
  gain is more than :data:`MIN_GAIN_SE` standard errors above zero (else ``no_clear_gain``): a
  ratio to a gain indistinguishable from zero is noise (VTAB's full-data runs gave -20.8).

Which direction means *more dependent on pretraining* (:data:`MORE_DEPENDENT`): a higher gain,
a higher slope, a lower retention. Rankings put the most dependent first.

Entities are compared on the checkpoints they share (``checkpoints="shared"``, see
:func:`~transferscope.dependence.cells.shared_checkpoints`), and a method seen at several
numbers of shots is one entity per number (``linear_probe@10``, ``linear_probe@full``).

Standard errors, in order of preference (column ``se_source``; a derived value carries the
weakest source of its parts):

1. ``seeds``: two or more replicates of a cell: sample variance / n;
2. ``published``: the published ``downstream_stderr`` (mean of squares / n);
3. ``between_checkpoint`` (the fallback): the residual variance of the ``y ~ x`` line across the
   entity's checkpoints on the task (at least three), mapped back to the score scale by the delta
   method, taken as the noise of each checkpoint's score; a scratch cell borrows the mean of its
   task's fallback variances. It contains the lack of fit of the line, so it is conservative.
   For ``slope`` without replicates or published errors this is the ordinary least-squares
   standard error; with them it is the weighted least-squares one, inflated by the residual
   dispersion when that exceeds one;
4. ``none``: no variance (e.g. one checkpoint per entity and no seeds, as on VTAB-1k). Pooling
   then treats the spread across tasks as the only error (see
   :func:`transferscope.dependence.pooling.pool_task_values`).

Several rows of one cell and one seed that differ in ``hparams`` (a hyper-parameter grid, as in
the CLIP probes) are not replicates: with ``hparams="best"`` such a cell keeps the configuration
with the best mean score; ``hparams="all"`` treats them as replicates. Rows of different seeds
whose ``hparams`` differ (per-run notes, as the simulator's raw errors) stay replicates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from transferscope.dependence.cells import (
    LOGIT_CLIP,
    SE_SOURCES,
    Layout,
    align_dtypes,
    checkpoint_cells,
    entity_labels,
    line_sums,
    shared_checkpoints,
    unique,
    worst_source,
)
from transferscope.errors import InputError
from transferscope.schema import DEFAULT_METRIC

__all__ = [
    "LOGIT_CLIP",
    "METRICS",
    "MIN_CHECKPOINTS",
    "MIN_GAIN_SE",
    "MIN_SPAN",
    "MORE_DEPENDENT",
    "SE_SOURCES",
    "Layout",
    "Metric",
    "align_dtypes",
    "checkpoint_cells",
    "default_metric",
    "measure_dependence",
    "task_values",
    "worst_source",
]

Metric = Literal["gain", "slope", "retention"]
METRICS: tuple[str, ...] = ("gain", "slope", "retention")
#: Which direction of each metric means more dependence on pretraining: a larger gain over
#: scratch, a steeper slope (the method follows the checkpoint's quality more closely), a lower
#: retention (less of the benefit survives a worse checkpoint).
MORE_DEPENDENT: dict[str, str] = {"gain": "higher", "slope": "higher", "retention": "lower"}
#: Fewest checkpoints for a slope.
MIN_CHECKPOINTS = 3
#: Smallest spread of the checkpoints on the ladder's axis for a slope.
MIN_SPAN = 0.2
#: Retention needs the best checkpoint's gain this many standard errors above zero.
MIN_GAIN_SE = 2.0


def _combine_scratch(scratch: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = scratch.groupby(keys, dropna=False, sort=True)
    out = grouped.agg(
        base_score=("score", "mean"),
        _m=("score", "size"),
        _vsum=("variance", "sum"),
        _vmissing=("variance", lambda v: bool(v.isna().any())),
        base_source=("se_source", lambda s: worst_source(list(s))),
        _n_methods=("method", "nunique"),
        _method=("method", "first"),
    ).reset_index()
    out["base_variance"] = np.where(out["_vmissing"], np.nan, out["_vsum"] / out["_m"] ** 2)
    out["baseline"] = np.where(out["_n_methods"] == 1, out["_method"].astype(str), "several")
    return out[[*keys, "base_score", "base_variance", "base_source", "baseline"]]


def _baselines(cells: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """One scratch baseline per (context, task, method): mean score, variance, source, label.

    The task's scratch cells with the same method are used; without any, all its scratch cells
    (any method). Several scratch cells are averaged.
    """
    keys = layout.baseline
    targets = cells.loc[cells["pretrained"], keys].drop_duplicates()
    scratch = cells[~cells["pretrained"]]
    columns = ["base_score", "base_variance", "base_source", "baseline"]
    if scratch.empty:
        return targets.assign(
            base_score=np.nan, base_variance=np.nan, base_source="none", baseline=None
        )
    same = targets.merge(_combine_scratch(scratch, keys), on=keys, how="left")
    loose_keys = unique([*[c for c in layout.context if c != "method"], "task", "shots"])
    loose = targets.merge(_combine_scratch(scratch, loose_keys), on=loose_keys, how="left")
    missing = same["base_score"].isna().to_numpy()
    for col in columns:
        same[col] = same[col].astype(object)
        same.loc[missing, col] = loose.loc[missing, col].astype(object).to_numpy()
    same["base_score"] = same["base_score"].astype(float)
    same["base_variance"] = same["base_variance"].astype(float)
    same["base_source"] = same["base_source"].fillna("none").astype(str)
    return same


_OUTPUT_TAIL = [
    "task",
    "checkpoint",
    "upstream_score",
    "metric",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "ci_level",
    "se_source",
    "checkpoint_se",
    "baseline_se",
    "baseline",
    "n_checkpoints",
    "checkpoint_set",
    "n_runs",
    "status",
    "message",
]
_NO_BASELINE = (
    "no runs without pretraining (pretrained = false) on this task to measure a gain against"
)


def _keys(layout: Layout) -> list[str]:
    """Columns before ``task`` in the per-task rows: context, entity, qualifiers."""
    return unique([*layout.context, layout.entity, *layout.qualifiers])


def _gain_rows(cells: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    base = _baselines(cells, layout)
    ckpt = cells[cells["pretrained"]].merge(base, on=layout.baseline, how="left")
    diff = ckpt["score"] - ckpt["base_score"]
    ckpt_var = ckpt["variance"].to_numpy(dtype=float)
    base_var = ckpt["base_variance"].to_numpy(dtype=float)
    sources = [
        worst_source([a, b]) for a, b in zip(ckpt["se_source"], ckpt["base_source"], strict=True)
    ]
    has_base = ckpt["base_score"].notna().to_numpy()
    out = ckpt[_keys(layout)].copy()
    out["task"] = ckpt["task"]
    out["checkpoint"] = ckpt["model"]
    out["upstream_score"] = ckpt["upstream_score"]
    out["metric"] = "gain"
    out["estimate"] = ckpt["sign"] * diff
    out["se"] = np.sqrt(ckpt_var + base_var)
    out["se_source"] = sources
    out["checkpoint_se"] = np.sqrt(ckpt_var)
    out["baseline_se"] = np.sqrt(base_var)
    out["baseline"] = ckpt["baseline"]
    out["n_checkpoints"] = 1
    out["checkpoint_set"] = ckpt["checkpoint_set"]
    out["n_runs"] = ckpt["n_runs"]
    out["status"] = np.where(has_base, "ok", "no_baseline")
    out["message"] = np.where(has_base, "", _NO_BASELINE)
    out["x"] = ckpt["x"]
    return out


def _slope_rows(
    cells: pd.DataFrame, layout: Layout, min_checkpoints: int, min_span: float
) -> pd.DataFrame:
    keys = layout.group
    pre = cells[cells["pretrained"]]
    frame = (
        pre.groupby(keys, dropna=False, sort=True)
        .agg(n_runs=("n_runs", "sum"), checkpoint_set=("checkpoint_set", "first"))
        .reset_index()
    )
    lad = pre[np.isfinite(pre["x"]) & np.isfinite(pre["y"])]
    fits = frame[keys].assign(
        n=0.0, slope=np.nan, sxx=np.nan, rss=np.nan, slope_w=np.nan, sxx_w=np.nan,
        rss_w=np.nan, known=False, source_w="none", span=np.nan,
    )  # fmt: skip
    if not lad.empty:
        ols = line_sums(lad, keys, np.ones(len(lad)))
        yvar = lad["variance"].to_numpy(dtype=float) / lad["deriv"].to_numpy(dtype=float) ** 2
        has = lad["se_source"].isin(["seeds", "published"]).to_numpy() & (yvar > 0)
        wls = line_sums(lad, keys, np.where(has, 1.0 / np.where(has, yvar, 1.0), 1.0))
        flags = lad.assign(_has=has).groupby(keys, dropna=False, sort=True)
        ols["known"] = flags["_has"].all().to_numpy()
        ols["source_w"] = flags["se_source"].agg(lambda s: worst_source(list(s))).to_numpy()
        ols["span"] = (flags["x"].max() - flags["x"].min()).to_numpy()
        ols["slope_w"] = wls["slope"].to_numpy()
        ols["sxx_w"] = wls["sxx"].to_numpy()
        ols["rss_w"] = wls["rss"].to_numpy()
        cols = ["n", "slope", "sxx", "rss", "slope_w", "sxx_w", "rss_w", "known", "source_w"]
        fits = frame[keys].merge(ols[[*keys, *cols, "span"]], on=keys, how="left")
    n = fits["n"].fillna(0).to_numpy(dtype=float)
    span = fits["span"].to_numpy(dtype=float)
    use_w = fits["known"].fillna(False).to_numpy(dtype=bool) & (n >= 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dof = np.maximum(n - 2, 1)
        rss, sxx = fits["rss"].to_numpy(dtype=float), fits["sxx"].to_numpy(dtype=float)
        se_ols = np.where(n >= 3, np.sqrt(rss / dof / sxx), np.nan)
        phi = np.where(n >= 3, fits["rss_w"].to_numpy(dtype=float) / dof, 1.0)
        se_w = np.sqrt(1.0 / fits["sxx_w"].to_numpy(dtype=float) * np.maximum(1.0, phi))
    value = np.where(use_w, fits["slope_w"], fits["slope"]).astype(float)
    se = np.where(use_w, se_w, se_ols)
    few = n < max(min_checkpoints, 2)
    narrow = ~few & ~(span >= min_span)
    ok = ~few & ~narrow & np.isfinite(value) & np.isfinite(se) & (se > 0)
    status = np.where(few, "too_few_checkpoints", np.where(narrow, "narrow_ladder", "ok"))
    status = np.where(~few & ~narrow & ~ok, "no_se", status)
    message = [
        f"{int(c)} checkpoint(s) on the ladder; a slope needs at least {min_checkpoints}"
        if st == "too_few_checkpoints"
        else f"the checkpoints span {sp:.3g} on the ladder's axis; a slope needs {min_span:g}"
        if st == "narrow_ladder"
        else "the slope has no standard error (the points lie on a line)"
        if st == "no_se"
        else ""
        for st, c, sp in zip(status, n, span, strict=True)
    ]
    ols_source = np.where(np.isfinite(se_ols), "between_checkpoint", "none")
    out = frame[keys].copy()
    out["checkpoint"] = pd.NA
    out["upstream_score"] = np.nan
    out["metric"] = "slope"
    out["estimate"] = np.where(ok, value, np.nan)
    out["se"] = np.where(ok, se, np.nan)
    out["se_source"] = np.where(use_w, fits["source_w"].fillna("none"), ols_source)
    out["checkpoint_se"] = np.nan
    out["baseline_se"] = np.nan
    out["baseline"] = pd.NA
    out["n_checkpoints"] = n.astype(int)
    out["checkpoint_set"] = frame["checkpoint_set"]
    out["n_runs"] = frame["n_runs"]
    out["status"] = status
    out["message"] = message
    return out


def _retention_rows(cells: pd.DataFrame, layout: Layout, min_gain_se: float) -> pd.DataFrame:
    gains = _gain_rows(cells, layout)
    rows = []
    for key, group in gains.groupby(layout.group, dropna=False, sort=True):
        record: dict[str, object] = dict(zip(layout.group, key, strict=True))
        ok = group[group["status"] == "ok"]
        value = se = math.nan
        base_se = float(group["baseline_se"].iloc[0])
        m = len(ok)
        if m == 0:
            status, message = "no_baseline", _NO_BASELINE
        elif m < 2:
            status, message = "too_few_checkpoints", "one checkpoint; retention compares several"
        else:
            g = ok["estimate"].to_numpy(dtype=float)
            ck_var = ok["checkpoint_se"].to_numpy(dtype=float) ** 2
            base_var = base_se**2
            xs = ok["x"].to_numpy(dtype=float)
            best = int(np.nanargmax(xs)) if np.isfinite(xs).any() else int(np.argmax(g))
            others = np.arange(m) != best
            gb, a = g[best], float(np.mean(g[others]))
            var_b = ck_var[best] + base_var
            se_b = math.sqrt(var_b) if np.isfinite(var_b) else math.nan
            if not np.isfinite(se_b):
                status = "no_clear_gain"
                message = (
                    f"the best checkpoint's gain ({gb:.3g}) has no standard error, so it cannot "
                    f"be shown to be {min_gain_se:g} standard errors above zero"
                )
            elif gb <= min_gain_se * se_b:
                status = "no_clear_gain"
                message = (
                    f"the best checkpoint's gain ({gb:.3g}) is not {min_gain_se:g} standard "
                    f"errors ({se_b:.3g}) above zero"
                )
            else:
                status, message, value = "ok", "", a / gb
                var_a = float(np.sum(ck_var[others])) / (m - 1) ** 2 + base_var
                var = var_a / gb**2 + a**2 * var_b / gb**4 - 2 * a * base_var / gb**3
                se = math.sqrt(var) if np.isfinite(var) and var > 0 else math.nan
                if not np.isfinite(se):
                    status, message = "no_se", "the retention has no standard error"
                    value = math.nan
        record.update(
            checkpoint=pd.NA,
            upstream_score=np.nan,
            metric="retention",
            estimate=value,
            se=se,
            se_source=worst_source(group["se_source"].tolist()),
            checkpoint_se=np.nan,
            baseline_se=base_se,
            baseline=group["baseline"].iloc[0],
            n_checkpoints=m,
            checkpoint_set=group["checkpoint_set"].iloc[0],
            n_runs=int(group["n_runs"].sum()),
            status=status,
            message=message,
        )
        rows.append(record)
    if not rows:
        return pd.DataFrame(columns=[*_keys(layout), *_OUTPUT_TAIL])
    return align_dtypes(pd.DataFrame(rows), cells)


def default_metric(runs: pd.DataFrame) -> tuple[str, str]:
    """Choose the metric to rank on when none is named: ``gain`` if measurable, else ``slope``.

    A gain needs runs without pretraining (``pretrained = false``) on the same task and
    downstream metric with the same number of shots as each pretrained run; a slope needs none,
    only upstream scores. ``gain`` is chosen when every pretrained (downstream metric, task,
    shots) has such a baseline, or when no run has an upstream score (VTAB).

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.

    Returns
    -------
    tuple of str
        The metric and a one-line reason.
    """
    frame = runs.copy()
    pretrained = (
        frame["pretrained"].fillna(True).astype(bool)
        if "pretrained" in frame
        else pd.Series(True, index=frame.index)
    )
    metric_col = (
        frame["downstream_metric"].astype("string").fillna(DEFAULT_METRIC)
        if "downstream_metric" in frame
        else pd.Series(DEFAULT_METRIC, index=frame.index, dtype="string")
    )
    shots = (
        frame["shots"].astype("string").fillna("full")
        if "shots" in frame
        else pd.Series("full", index=frame.index, dtype="string")
    )
    keys = metric_col + "|" + frame["task"].astype("string") + "|" + shots
    scratch = set(keys[~pretrained])
    lacking = set(keys[pretrained]) - scratch
    has_upstream = "upstream_score" in frame and bool(frame["upstream_score"].notna().any())
    if not lacking:
        return "gain", "every pretrained run has a scratch baseline (pretrained = false)"
    if not has_upstream:
        return "gain", "no upstream scores for a slope; gain where a scratch baseline exists"
    if not scratch:
        return "slope", "no runs without pretraining, so no gain; slope needs none"
    return "slope", (
        f"{len(lacking)} of {len(lacking) + len(set(keys[pretrained]) & scratch)} "
        "(metric, task, shots) have no scratch baseline for a gain; slope needs none"
    )


def _check_level(level: float) -> float:
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must lie strictly between 0 and 1")
    return float(level)


def measure_dependence(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    *,
    by: Sequence[str] | str | None = None,
    entity: str = "method",
    x: str = "upstream_score",
    downstream_metric: str | None = None,
    hparams: Literal["best", "all"] = "best",
    checkpoints: Literal["shared", "all"] = "shared",
    min_checkpoints: int = MIN_CHECKPOINTS,
    min_span: float = MIN_SPAN,
    min_gain_se: float = MIN_GAIN_SE,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Dependence on pretraining per entity and task (per checkpoint for ``gain``).

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs; rows with ``pretrained = false`` are the scratch baseline.
    metric : {"gain", "slope", "retention"}, default "gain"
        What to compute (definitions in the module docstring).
    by : str or sequence of str, optional
        Columns that keep analyses apart, replacing the default grouping (see
        :func:`~transferscope.dependence.cells.checkpoint_cells`; ``downstream_metric`` always
        does); names that are not columns are read from ``hparams``.
    entity : str, default "method"
        Column compared across (``"model"`` for pretraining methods, as on VTAB-1k). A method
        seen at several numbers of shots is one entity per number, ``method@shots``.
    x : str, default "upstream_score"
        The ladder's axis for ``slope`` and for choosing the best checkpoint.
    downstream_metric : str, optional
        Keep only this downstream metric.
    hparams : {"best", "all"}, default "best"
        Rows that differ only in ``hparams``: best configuration per cell, or all as replicates.
    checkpoints : {"shared", "all"}, default "shared"
        ``"shared"``: on each task, compare entities on the checkpoints they all have
        (:func:`~transferscope.dependence.cells.shared_checkpoints`); ``"all"``: each on its own.
    min_checkpoints : int, default 3
        Fewest checkpoints for a ``slope``.
    min_span : float, default 0.2
        Smallest spread (max - min) of the checkpoints on the ladder's axis for a ``slope``
        (logit of the upstream score for accuracies, the score itself for a loss, ``log10`` of
        another ``x``): 0.2 is about five points of accuracy around 50%.
    min_gain_se : float, default 2.0
        ``retention`` is defined only where the best checkpoint's gain exceeds this many
        standard errors.
    ci_level : float, default 0.95
        Level of the normal confidence interval ``estimate +/- z * se``.

    Returns
    -------
    pandas.DataFrame
        One row per (context, entity, task), and per checkpoint for ``gain``. Columns: the
        context columns (``by``, ``downstream_metric``), the entity column (its label, e.g.
        ``linear_probe@10``), ``task``, ``checkpoint`` (the model; missing for slope and
        retention), ``upstream_score`` (of the checkpoint; NaN for slope and retention),
        ``metric``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``se_source``
        (see :data:`SE_SOURCES`), ``checkpoint_se`` and ``baseline_se`` (the two parts of a
        gain's error), ``baseline`` (method of the scratch rows used), ``n_checkpoints``,
        ``checkpoint_set`` (``shared`` or ``own``), ``n_runs``, ``status`` (``ok``,
        ``no_baseline``, ``too_few_checkpoints``, ``narrow_ladder``, ``no_clear_gain``,
        ``no_se``) and ``message`` (why, when the status is not ``ok``). Values that cannot be
        made are NaN.

    Raises
    ------
    InputError
        Unknown metric, missing columns, or non-numeric scores.
    """
    if metric not in METRICS:
        raise InputError(f"unknown dependence metric {metric!r}; expected one of {METRICS}")
    if checkpoints not in ("shared", "all"):
        raise InputError(f"checkpoints must be 'shared' or 'all', not {checkpoints!r}")
    level = _check_level(ci_level)
    cells, layout = checkpoint_cells(
        runs, entity=entity, by=by, x=x, downstream_metric=downstream_metric, hparams=hparams
    )
    if checkpoints == "shared":
        cells = shared_checkpoints(cells, layout)
    else:
        cells = cells.assign(checkpoint_set=np.where(cells["pretrained"], "own", "scratch"))
    if metric == "gain":
        out = _gain_rows(cells, layout)
    elif metric == "slope":
        out = _slope_rows(cells, layout, int(min_checkpoints), float(min_span))
    else:
        out = _retention_rows(cells, layout, float(min_gain_se))
    z = float(stats.norm.ppf(0.5 + level / 2))
    out = out.assign(
        ci_low=out["estimate"] - z * out["se"],
        ci_high=out["estimate"] + z * out["se"],
        ci_level=level,
    )
    out[layout.entity] = entity_labels(out, layout).to_numpy()
    columns = [*layout.context, layout.entity, *_OUTPUT_TAIL]
    return out[columns].reset_index(drop=True)


def task_values(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    *,
    by: Sequence[str] | str | None = None,
    entity: str = "method",
    x: str = "upstream_score",
    downstream_metric: str | None = None,
    hparams: Literal["best", "all"] = "best",
    checkpoint: Literal["mean", "top"] = "mean",
    checkpoints: Literal["shared", "all"] = "shared",
    min_checkpoints: int = MIN_CHECKPOINTS,
    min_span: float = MIN_SPAN,
    min_gain_se: float = MIN_GAIN_SE,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """One value per (context, entity, task): what is pooled across tasks and ranked.

    For ``slope`` and ``retention`` these are the rows of :func:`measure_dependence` with status
    ``ok``.
    For ``gain`` the per-checkpoint gains are summarized per task: their mean over the entity's
    checkpoints (``checkpoint="mean"``, the average benefit along the ladder; its variance counts
    the shared scratch baseline once), or the gain of the checkpoint with the highest
    ``upstream_score`` (``"top"``).

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    metric : {"gain", "slope", "retention"}, default "gain"
        Dependence metric.
    by, entity, x, downstream_metric, hparams, checkpoints, min_checkpoints, min_span, min_gain_se
        As in :func:`measure_dependence`.
    checkpoint : {"mean", "top"}, default "mean"
        How the gains of several checkpoints become one value per task.
    ci_level : float, default 0.95
        Level of the normal interval ``estimate +/- z * se``.

    Returns
    -------
    pandas.DataFrame
        Columns: the context columns, the entity column, ``task``, ``metric``, ``estimate``,
        ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``variance`` (``se**2``; NaN when
        unknown), ``se_source``, ``baseline``, ``baseline_variance`` (the scratch baseline's
        share of a gain's variance, shared by entities with the same baseline; NaN otherwise),
        ``n_checkpoints``. The frame's ``attrs["excluded"]`` holds the rows of
        :func:`measure_dependence` that are not ``ok`` (with their ``status`` and ``message``),
        so that a caller can say why a task or entity is missing.

    Raises
    ------
    InputError
        As :func:`measure_dependence`; ``checkpoint="top"`` when a task's checkpoints have no
        upstream score to choose by.
    """
    if checkpoint not in ("mean", "top"):
        raise InputError(f"checkpoint must be 'mean' or 'top', not {checkpoint!r}")
    level = _check_level(ci_level)
    rows = measure_dependence(
        runs, metric, by=by, entity=entity, x=x, downstream_metric=downstream_metric,
        hparams=hparams, checkpoints=checkpoints, min_checkpoints=min_checkpoints,
        min_span=min_span, min_gain_se=min_gain_se, ci_level=level,
    )  # fmt: skip
    good = (rows["status"] == "ok") & np.isfinite(rows["estimate"].to_numpy(dtype=float))
    excluded = rows[~good]
    rows = rows[good]
    head = [c for c in rows.columns if c not in _OUTPUT_TAIL] + ["task"]
    tail = ["metric", "estimate", "se", "ci_low", "ci_high", "ci_level", "variance", "se_source"]
    tail += ["baseline", "baseline_variance", "n_checkpoints"]
    z = float(stats.norm.ppf(0.5 + level / 2))
    if metric != "gain":
        out = rows[head].copy()
        out["metric"] = metric
        out["estimate"] = rows["estimate"]
        out["se"] = rows["se"]
        out["ci_low"] = rows["ci_low"]
        out["ci_high"] = rows["ci_high"]
        out["ci_level"] = level
        out["variance"] = rows["se"] ** 2
        out["se_source"] = rows["se_source"]
        out["baseline"] = rows["baseline"]
        out["baseline_variance"] = np.nan
        out["n_checkpoints"] = rows["n_checkpoints"]
        out = out[head + tail].reset_index(drop=True)
        out.attrs["excluded"] = excluded.reset_index(drop=True)
        return out
    records = []
    for key, group in rows.groupby(head, dropna=False, sort=True):
        record: dict[str, object] = dict(zip(head, key, strict=True))
        ck_var = group["checkpoint_se"].to_numpy(dtype=float) ** 2
        base_var = float(group["baseline_se"].iloc[0]) ** 2
        if checkpoint == "top" and len(group) > 1:
            ups = group["upstream_score"].to_numpy(dtype=float)
            if not np.isfinite(ups).any():
                raise InputError(
                    f"checkpoint='top' needs upstream scores; task {record['task']!r} has none"
                )
            top = int(np.nanargmax(ups))
            estimate, variance, m = float(group["estimate"].iloc[top]), ck_var[top] + base_var, 1
        else:
            m = len(group)
            estimate = float(group["estimate"].mean())
            variance = float(np.sum(ck_var)) / m**2 + base_var
        se = math.sqrt(variance) if np.isfinite(variance) else np.nan
        record.update(
            metric="gain",
            estimate=estimate,
            se=se,
            ci_low=estimate - z * se,
            ci_high=estimate + z * se,
            ci_level=level,
            variance=variance,
            se_source=worst_source(group["se_source"].tolist()),
            baseline=group["baseline"].iloc[0],
            baseline_variance=base_var,
            n_checkpoints=m,
        )
        records.append(record)
    out = align_dtypes(pd.DataFrame(records, columns=head + tail), rows)
    out.attrs["excluded"] = excluded.reset_index(drop=True)
    return out
