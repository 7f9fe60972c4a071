"""Does better pretraining still help at the top of the data? The slope among the best models.

A saturating fit says where the frontier is heading; the data say how fast it still rises where
the models are. :func:`top_slopes` answers the second question per group without a model: the
least-squares slope of downstream on upstream score over the runs with the best upstream scores
(by default those at the best quarter of the distinct upstream scores, at least
:data:`MIN_TOP_LEVELS` scores and :data:`MIN_TOP_RUNS` runs), with a t interval. Both
scores are oriented so that larger is better (a loss or a perplexity changes sign), so a
positive slope always means "better upstream still goes with better downstream".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from transferscope.errors import InputError
from transferscope.schema import metric_direction, scored_on_upstream_task

#: Runs at the top of a group at least (fewer runs in all: status ``too_few_points``).
MIN_TOP_RUNS = 5
#: Distinct upstream scores needed among the top runs.
MIN_TOP_LEVELS = 3

TOP_SLOPE_COLUMNS = [
    "slope",
    "slope_se",
    "slope_ci_low",
    "slope_ci_high",
    "ci_level",
    "n_top",
    "top_upstream_min",
    "top_upstream_max",
    "slope_status",
    "slope_message",
]


def _sign(metric: object) -> float:
    if metric is None or (isinstance(metric, float) and math.isnan(metric)) or metric is pd.NA:
        return 1.0
    return -1.0 if metric_direction(str(metric)) == "lower" else 1.0


def _one(
    x: np.ndarray, y: np.ndarray, top_share: float, ci_level: float
) -> tuple[float, float, float, float, int, float, float, str, str]:
    nan = math.nan
    n = x.size
    if n < MIN_TOP_RUNS:
        why = f"{n} runs with both scores; the slope at the top needs {MIN_TOP_RUNS}"
        return (nan, nan, nan, nan, n, nan, nan, "too_few_points", why)
    # the best share of the distinct upstream scores (checkpoints), at least MIN_TOP_LEVELS of
    # them and MIN_TOP_RUNS runs; every run at a chosen score is kept (seeds of a checkpoint)
    levels_desc = np.unique(x)[::-1]
    k = min(levels_desc.size, max(MIN_TOP_LEVELS, math.ceil(top_share * levels_desc.size)))
    cut = levels_desc[k - 1]
    while (x >= cut).sum() < MIN_TOP_RUNS and k < levels_desc.size:
        k += 1
        cut = levels_desc[k - 1]
    top = x >= cut
    xt, yt = x[top], y[top]
    levels = np.unique(xt).size
    lo, hi = float(xt.min()), float(xt.max())
    if levels < MIN_TOP_LEVELS:
        return (nan, nan, nan, nan, int(top.sum()), lo, hi, "degenerate",
                f"{levels} distinct upstream score(s) among the best runs; a slope needs "
                f"{MIN_TOP_LEVELS}")  # fmt: skip
    xc = xt - xt.mean()
    sxx = float(np.dot(xc, xc))
    slope = float(np.dot(xc, yt - yt.mean()) / sxx)
    resid = yt - yt.mean() - slope * xc
    df = xt.size - 2
    se = math.sqrt(float(np.dot(resid, resid)) / df / sxx) if df > 0 else nan
    if not math.isfinite(se) or se == 0.0:
        return (slope, nan, nan, nan, int(xt.size), lo, hi, "ok",
                "the best runs lie on a line: no interval")  # fmt: skip
    t = float(stats.t.ppf(0.5 + ci_level / 2.0, df))
    return (slope, se, slope - t * se, slope + t * se, int(xt.size), lo, hi, "ok", "")


def top_slopes(
    runs: pd.DataFrame,
    *,
    by: Sequence[str] = ("task", "method", "shots"),
    top_share: float = 0.25,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Slope of downstream on upstream score among each group's best runs, with an interval.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs (``upstream_score``, ``downstream_score``, ``upstream_metric``,
        ``downstream_metric``, ``pretrained``, ``task``, ``upstream_task`` and the ``by``
        columns). Runs without pretraining, runs without both scores and runs scored on their
        own upstream task are left out (a group of only those is ``degenerate``).
    by : sequence of str
        Group key columns (missing values form their own group).
    top_share : float
        Share of a group's distinct upstream scores (its checkpoints) that make its top, from
        the best down (at least :data:`MIN_TOP_LEVELS` scores and :data:`MIN_TOP_RUNS` runs);
        every run at a chosen score is kept.
    ci_level : float
        Level of the t interval (least squares, ``n - 2`` degrees of freedom).

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, then ``slope`` (change of the downstream score
        per unit of upstream improvement; both oriented so that larger is better), ``slope_se``,
        ``slope_ci_low``, ``slope_ci_high``, ``ci_level``, ``n_top`` (runs used),
        ``top_upstream_min`` and ``top_upstream_max`` (their upstream range, as stored),
        ``slope_status`` (``ok``, ``too_few_points`` or ``degenerate``) and ``slope_message``.

    Raises
    ------
    InputError
        For a share or level outside (0, 1), or missing columns.
    """
    if not 0.0 < top_share <= 1.0:
        raise InputError(f"top_share must lie in (0, 1], not {top_share}")
    if not 0.0 < ci_level < 1.0:
        raise InputError(f"ci_level must lie in (0, 1), not {ci_level}")
    by = list(by)
    need = {"upstream_score", "downstream_score", "upstream_metric", "downstream_metric", *by}
    missing = sorted(need - set(runs.columns))
    if missing:
        raise InputError(f"runs lack column(s) {missing}; expected canonical runs")
    keep = runs["upstream_score"].notna() & runs["downstream_score"].notna()
    if "pretrained" in runs:
        keep &= runs["pretrained"].fillna(True).astype(bool)
    frame = runs[keep.to_numpy(dtype=bool)]
    own = np.zeros(len(frame), dtype=bool)
    if {"task", "upstream_task"} <= set(frame.columns) and len(frame):
        own = np.asarray(scored_on_upstream_task(frame), dtype=bool)
    frame = frame.assign(_own=own)
    rows = []
    groups: Any = frame.groupby(by, dropna=False, sort=True, observed=True) if by else [((), frame)]
    for key, group in groups:
        vals = key if isinstance(key, tuple) else (key,)
        if group["_own"].all():
            rows.append(
                {
                    **dict(zip(by, vals, strict=True)),
                    "slope_status": "degenerate",
                    "n_top": 0,
                    "slope_message": "the task is its own upstream task",
                }
            )
            continue  # fmt: skip
        group = group[~group["_own"].to_numpy()]
        up = group["upstream_metric"].dropna().unique()
        down = group["downstream_metric"].dropna().unique()
        base = dict(zip(by, vals, strict=True))
        if len(up) > 1 or len(down) > 1:
            rows.append({**base, "slope_status": "degenerate", "n_top": 0,
                         "slope_message": "the group mixes metrics"})  # fmt: skip
            continue
        sx = _sign(up[0] if len(up) else None)
        sy = _sign(down[0] if len(down) else None)
        x = sx * group["upstream_score"].to_numpy(dtype=float)
        y = sy * group["downstream_score"].to_numpy(dtype=float)
        slope, se, lo, hi, n_top, xlo, xhi, status, message = _one(x, y, top_share, ci_level)
        lo_x, hi_x = sorted((sx * xlo, sx * xhi)) if math.isfinite(xlo) else (xlo, xhi)
        rows.append(
            {**base, "slope": slope, "slope_se": se, "slope_ci_low": lo, "slope_ci_high": hi,
             "n_top": n_top, "top_upstream_min": lo_x, "top_upstream_max": hi_x,
             "slope_status": status, "slope_message": message}
        )  # fmt: skip
    out = pd.DataFrame(rows, columns=[*by, *TOP_SLOPE_COLUMNS])
    out["ci_level"] = ci_level
    for c in by:
        if c in runs:
            out[c] = out[c].astype(runs[c].dtype)
    out["n_top"] = out["n_top"].fillna(0).astype("int64")
    return out
