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
  as ``log10``. How strongly the method follows the quality of the checkpoint.
- ``retention`` (per task): mean over the other checkpoints of ``gain(c) / gain(best)``, where
  the best checkpoint is the one with the highest ``x`` (the highest gain when ``x`` is missing).
  How much of the benefit survives a worse checkpoint. Undefined (``status="no_gain"``) when the
  best checkpoint's gain is not positive.

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
   then falls back to equal weights across tasks (see :func:`pool_task_values`).

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
    line_sums,
    unique,
    worst_source,
)
from transferscope.errors import InputError

__all__ = [
    "BETTER",
    "LOGIT_CLIP",
    "METRICS",
    "SE_SOURCES",
    "Layout",
    "Metric",
    "align_dtypes",
    "checkpoint_cells",
    "measure_dependence",
    "task_values",
    "worst_source",
]

Metric = Literal["gain", "slope", "retention"]
METRICS: tuple[str, ...] = ("gain", "slope", "retention")
#: Which direction of each dependence metric counts as better when ranking.
BETTER: dict[str, str] = {"gain": "higher", "slope": "lower", "retention": "higher"}


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
    "n_runs",
    "status",
]


def _gain_rows(cells: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    base = _baselines(cells, layout)
    ckpt = cells[cells["pretrained"]].merge(base, on=layout.baseline, how="left")
    diff = ckpt["score"] - ckpt["base_score"]
    ckpt_var = ckpt["variance"].to_numpy(dtype=float)
    base_var = ckpt["base_variance"].to_numpy(dtype=float)
    sources = [
        worst_source([a, b]) for a, b in zip(ckpt["se_source"], ckpt["base_source"], strict=True)
    ]
    out = ckpt[[*layout.context, layout.entity]].copy()
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
    out["n_runs"] = ckpt["n_runs"]
    out["status"] = np.where(ckpt["base_score"].notna(), "ok", "no_baseline")
    out["x"] = ckpt["x"]
    return out


def _slope_rows(cells: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    keys = layout.group
    frame = (
        cells[cells["pretrained"]]
        .groupby(keys, dropna=False, sort=True)
        .agg(n_runs=("n_runs", "sum"))
        .reset_index()
    )
    lad = cells[cells["pretrained"] & np.isfinite(cells["x"]) & np.isfinite(cells["y"])]
    fits = frame[keys].assign(
        n=0.0, slope=np.nan, sxx=np.nan, rss=np.nan, slope_w=np.nan, sxx_w=np.nan,
        rss_w=np.nan, known=False, source_w="none",
    )  # fmt: skip
    if not lad.empty:
        ols = line_sums(lad, keys, np.ones(len(lad)))
        yvar = lad["variance"].to_numpy(dtype=float) / lad["deriv"].to_numpy(dtype=float) ** 2
        has = lad["se_source"].isin(["seeds", "published"]).to_numpy() & (yvar > 0)
        wls = line_sums(lad, keys, np.where(has, 1.0 / np.where(has, yvar, 1.0), 1.0))
        flags = lad.assign(_has=has).groupby(keys, dropna=False, sort=True)
        ols["known"] = flags["_has"].all().to_numpy()
        ols["source_w"] = flags["se_source"].agg(lambda s: worst_source(list(s))).to_numpy()
        ols["slope_w"] = wls["slope"].to_numpy()
        ols["sxx_w"] = wls["sxx"].to_numpy()
        ols["rss_w"] = wls["rss"].to_numpy()
        cols = ["n", "slope", "sxx", "rss", "slope_w", "sxx_w", "rss_w", "known", "source_w"]
        fits = frame[keys].merge(ols[[*keys, *cols]], on=keys, how="left")
    n = fits["n"].fillna(0).to_numpy(dtype=float)
    use_w = fits["known"].fillna(False).to_numpy(dtype=bool) & (n >= 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dof = np.maximum(n - 2, 1)
        rss, sxx = fits["rss"].to_numpy(dtype=float), fits["sxx"].to_numpy(dtype=float)
        se_ols = np.where(n >= 3, np.sqrt(rss / dof / sxx), np.nan)
        phi = np.where(n >= 3, fits["rss_w"].to_numpy(dtype=float) / dof, 1.0)
        se_w = np.sqrt(1.0 / fits["sxx_w"].to_numpy(dtype=float) * np.maximum(1.0, phi))
    value = np.where(use_w, fits["slope_w"], fits["slope"]).astype(float)
    se = np.where(use_w, se_w, se_ols)
    ols_source = np.where(np.isfinite(se_ols), "between_checkpoint", "none")
    out = frame[keys].copy()
    out["checkpoint"] = pd.NA
    out["upstream_score"] = np.nan
    out["metric"] = "slope"
    out["estimate"] = value
    out["se"] = np.where(np.isfinite(value), se, np.nan)
    out["se_source"] = np.where(use_w, fits["source_w"].fillna("none"), ols_source)
    out["checkpoint_se"] = np.nan
    out["baseline_se"] = np.nan
    out["baseline"] = pd.NA
    out["n_checkpoints"] = n.astype(int)
    out["n_runs"] = frame["n_runs"]
    out["status"] = np.where(np.isfinite(value), "ok", "too_few_checkpoints")
    return out


def _retention_rows(cells: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    gains = _gain_rows(cells, layout)
    gains = gains[gains["status"] == "ok"]
    rows = []
    for key, group in gains.groupby(layout.group, dropna=False, sort=True):
        record: dict[str, object] = dict(zip(layout.group, key, strict=True))
        g = group["estimate"].to_numpy(dtype=float)
        ck_var = group["checkpoint_se"].to_numpy(dtype=float) ** 2
        base_var = float(group["baseline_se"].iloc[0]) ** 2
        xs = group["x"].to_numpy(dtype=float)
        m = len(group)
        value = se = math.nan
        status = "too_few_checkpoints"
        if m >= 2:
            best = int(np.nanargmax(xs)) if np.isfinite(xs).any() else int(np.argmax(g))
            others = np.arange(m) != best
            gb, a = g[best], float(np.mean(g[others]))
            if gb > 0:
                status, value = "ok", a / gb
                var_a = float(np.sum(ck_var[others])) / (m - 1) ** 2 + base_var
                var_b = ck_var[best] + base_var
                var = var_a / gb**2 + a**2 * var_b / gb**4 - 2 * a * base_var / gb**3
                se = math.sqrt(var) if np.isfinite(var) and var >= 0 else math.nan
            else:
                status = "no_gain"
        record.update(
            checkpoint=pd.NA,
            upstream_score=np.nan,
            metric="retention",
            estimate=value,
            se=se,
            se_source=worst_source(group["se_source"].tolist()),
            checkpoint_se=np.nan,
            baseline_se=math.sqrt(base_var),
            baseline=group["baseline"].iloc[0],
            n_checkpoints=m,
            n_runs=int(group["n_runs"].sum()),
            status=status,
        )
        rows.append(record)
    if not rows:
        return pd.DataFrame(columns=[*layout.context, layout.entity, *_OUTPUT_TAIL])
    return align_dtypes(pd.DataFrame(rows), cells)


def measure_dependence(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    by: Sequence[str] | str | None = None,
    *,
    entity: str = "method",
    x: str = "upstream_score",
    downstream_metric: str | None = None,
    hparams: Literal["best", "all"] = "best",
    level: float = 0.95,
) -> pd.DataFrame:
    """Dependence on pretraining per entity and task (per checkpoint for ``gain``).

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs; rows with ``pretrained = false`` are the scratch baseline.
    metric : {"gain", "slope", "retention"}, default "gain"
        What to compute (definitions in the module docstring).
    by : str or sequence of str, optional
        Extra columns that keep analyses apart (``downstream_metric`` and ``shots`` always do).
    entity : str, default "method"
        Column compared across (``"model"`` for pretraining methods, as on VTAB-1k).
    x : str, default "upstream_score"
        The ladder's axis for ``slope`` and for choosing the best checkpoint.
    downstream_metric : str, optional
        Keep only this downstream metric.
    hparams : {"best", "all"}, default "best"
        Rows that differ only in ``hparams``: best configuration per cell, or all as replicates.
    level : float, default 0.95
        Level of the normal confidence interval ``estimate +/- z * se``.

    Returns
    -------
    pandas.DataFrame
        One row per (context, entity, task), and per checkpoint for ``gain``. Columns: the
        context columns (``by``, ``downstream_metric``, ``shots``, and ``method`` when the entity
        is not the method), the entity column, ``task``, ``checkpoint`` (the model; missing for
        slope and retention), ``upstream_score`` (of the checkpoint; NaN for slope and
        retention), ``metric``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``ci_level``,
        ``se_source`` (see :data:`SE_SOURCES`),
        ``checkpoint_se`` and ``baseline_se`` (the two parts of a gain's error), ``baseline``
        (method of the scratch rows used), ``n_checkpoints``, ``n_runs``, ``status`` (``ok``,
        ``no_baseline``, ``too_few_checkpoints``, ``no_gain``).

    Raises
    ------
    InputError
        Unknown metric, missing columns, or non-numeric scores.
    """
    if metric not in METRICS:
        raise InputError(f"unknown dependence metric {metric!r}; expected one of {METRICS}")
    cells, layout = checkpoint_cells(
        runs, entity=entity, by=by, x=x, downstream_metric=downstream_metric, hparams=hparams
    )
    if metric == "gain":
        out = _gain_rows(cells, layout)
    elif metric == "slope":
        out = _slope_rows(cells, layout)
    else:
        out = _retention_rows(cells, layout)
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must lie strictly between 0 and 1")
    z = float(stats.norm.ppf(0.5 + level / 2))
    out = out.assign(
        ci_low=out["estimate"] - z * out["se"],
        ci_high=out["estimate"] + z * out["se"],
        ci_level=level,
    )
    columns = [*layout.context, layout.entity, *_OUTPUT_TAIL]
    return out[columns].reset_index(drop=True)


def task_values(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    by: Sequence[str] | str | None = None,
    *,
    entity: str = "method",
    x: str = "upstream_score",
    downstream_metric: str | None = None,
    hparams: Literal["best", "all"] = "best",
    checkpoint: Literal["mean", "top"] = "mean",
    level: float = 0.95,
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
    by, entity, x, downstream_metric, hparams
        As in :func:`measure_dependence`.
    checkpoint : {"mean", "top"}, default "mean"
        How the gains of several checkpoints become one value per task.
    level : float, default 0.95
        Level of the normal interval ``estimate +/- z * se``.

    Returns
    -------
    pandas.DataFrame
        Columns: the context columns, the entity column, ``task``, ``metric``, ``estimate``,
        ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``variance`` (``se**2``; NaN when
        unknown), ``se_source``, ``baseline``, ``baseline_variance`` (the scratch baseline's
        share of a gain's variance, shared by entities with the same baseline; NaN otherwise),
        ``n_checkpoints``.

    Raises
    ------
    InputError
        As :func:`measure_dependence`; ``checkpoint="top"`` when a task's checkpoints have no
        upstream score to choose by.
    """
    if checkpoint not in ("mean", "top"):
        raise InputError(f"checkpoint must be 'mean' or 'top', not {checkpoint!r}")
    rows = measure_dependence(
        runs, metric, by, entity=entity, x=x, downstream_metric=downstream_metric,
        hparams=hparams, level=level,
    )  # fmt: skip
    rows = rows[(rows["status"] == "ok") & np.isfinite(rows["estimate"].to_numpy(dtype=float))]
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
        return out[head + tail].reset_index(drop=True)
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
    return align_dtypes(pd.DataFrame(records, columns=head + tail), rows)
