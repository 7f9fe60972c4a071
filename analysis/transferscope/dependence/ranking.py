"""Pool dependence across tasks and rank methods: pooled table, ranking, pairwise, Friedman.

Every function takes canonical runs and returns a tidy DataFrame. Analyses are kept apart by the
context columns of :mod:`~transferscope.dependence.metrics` (``by``, ``downstream_metric``,
``shots`` and, when the ranked column is not ``method``, ``method``); rankings are within a context.

Pooling across tasks (:func:`pool_task_values`) is random-effects meta-analysis
(:func:`transferscope.stats.pool_effects`) when every task value has a variance. When some do not
(no seeds, no published errors, no ladder to fall back on, as on VTAB-1k) the tasks are pooled
with equal weights: the mean, with the standard error of the mean across tasks and a t interval
(``pool_method="unweighted"``), which treats all variation between tasks as heterogeneity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from transferscope.dependence.metrics import (
    BETTER,
    METRICS,
    Metric,
    align_dtypes,
    task_values,
    worst_source,
)
from transferscope.errors import InputError
from transferscope.rng import check_resamples, make_rng
from transferscope.stats.meta import PoolMethod, pool_effects, pool_resampled

Better = Literal["higher", "lower"]

_POOLED_COLUMNS = [
    "metric",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "ci_level",
    "tau2",
    "i2",
    "h2",
    "q",
    "q_pvalue",
    "n_tasks",
    "pool_method",
    "knha",
    "se_source",
    "status",
]


def _pool_one(y: np.ndarray, v: np.ndarray, pool: str, knha: bool, level: float) -> dict[str, Any]:
    """Pool one entity's task values; equal weights when a variance is missing."""
    k = y.size
    if k and np.all(np.isfinite(v)) and np.all(v > 0):
        res = pool_effects(y, v, method=pool, knha=knha, ci_level=level)
        return {
            "estimate": res.estimate, "se": res.se, "ci_low": res.ci_low,
            "ci_high": res.ci_high, "ci_level": level, "tau2": res.tau2, "i2": res.i2,
            "h2": res.h2, "q": res.q, "q_pvalue": res.q_pvalue, "n_tasks": k,
            "pool_method": pool, "knha": knha, "status": res.status, "pvalue": res.pvalue,
            "statistic": res.statistic,
        }  # fmt: skip
    est = float(np.mean(y)) if k else math.nan
    se = float(np.std(y, ddof=1) / math.sqrt(k)) if k >= 2 else math.nan
    crit = float(stats.t.ppf(0.5 + level / 2, k - 1)) if k >= 2 else math.nan
    stat = est / se if k >= 2 and se > 0 else math.nan
    pvalue = float(2 * stats.t.sf(abs(stat), k - 1)) if np.isfinite(stat) else math.nan
    return {
        "estimate": est, "se": se, "ci_low": est - crit * se, "ci_high": est + crit * se,
        "ci_level": level, "tau2": math.nan, "i2": math.nan, "h2": math.nan, "q": math.nan,
        "q_pvalue": math.nan, "n_tasks": k, "pool_method": "unweighted", "knha": False,
        "status": "ok" if k >= 2 else ("single_effect" if k == 1 else "no_tasks"),
        "pvalue": pvalue, "statistic": stat,
    }  # fmt: skip


def _split(values: pd.DataFrame) -> tuple[list[str], str]:
    """Context columns and the entity column of a task-values frame."""
    head = list(values.columns[: list(values.columns).index("task")])
    return head[:-1], head[-1]


def pool_task_values(
    values: pd.DataFrame,
    pool: PoolMethod | str = "DL",
    knha: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Pool per-task values across tasks, per context and entity.

    Parameters
    ----------
    values : pandas.DataFrame
        Output of :func:`transferscope.dependence.metrics.task_values`.
    pool : {"DL", "REML", "PM", "FE"}, default "DL"
        tau^2 estimator of the random-effects meta-analysis.
    knha : bool, default False
        Knapp-Hartung adjustment.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per (context, entity): the context columns, the entity column, ``metric``,
        ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``tau2``, ``i2`` (percent),
        ``h2``, ``q``, ``q_pvalue``, ``n_tasks``, ``pool_method`` (the estimator, or
        ``"unweighted"`` when some task lacks a variance), ``knha``, ``se_source`` (weakest of
        the tasks'), ``status`` (``ok``, ``single_effect``).
    """
    context, entity = _split(values)
    rows = []
    for key, group in values.groupby([*context, entity], dropna=False, sort=True):
        record: dict[str, Any] = dict(zip([*context, entity], key, strict=True))
        y = group["estimate"].to_numpy(dtype=float)
        v = group["variance"].to_numpy(dtype=float)
        pooled = _pool_one(y, v, pool, knha, level)
        pooled.pop("pvalue")
        pooled.pop("statistic")
        record.update(pooled, metric=group["metric"].iloc[0])
        record["se_source"] = worst_source(group["se_source"].tolist())
        rows.append(record)
    return align_dtypes(pd.DataFrame(rows, columns=[*context, entity, *_POOLED_COLUMNS]), values)


def pooled_dependence(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    by: Sequence[str] | str | None = None,
    *,
    entity: str = "method",
    pool: PoolMethod | str = "DL",
    knha: bool = False,
    level: float = 0.95,
    **options: Any,
) -> pd.DataFrame:
    """Dependence per entity, pooled across tasks by meta-analysis.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    metric : {"gain", "slope", "retention"}, default "gain"
        Dependence metric.
    by : str or sequence of str, optional
        Extra columns that keep analyses apart.
    entity : str, default "method"
        Column compared across.
    pool, knha, level
        As in :func:`pool_task_values`.
    **options
        ``x``, ``downstream_metric``, ``hparams``, ``checkpoint`` of
        :func:`transferscope.dependence.metrics.task_values`.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`pool_task_values`.
    """
    values = task_values(runs, metric, by, entity=entity, **options)
    return pool_task_values(values, pool=pool, knha=knha, level=level)


def _better(metric: str, better: str | None) -> Better:
    choice = BETTER[metric] if better is None else better
    if choice not in ("higher", "lower"):
        raise InputError(f"better must be 'higher' or 'lower', not {better!r}")
    return "higher" if choice == "higher" else "lower"


def _matrix(
    group: pd.DataFrame, entity: str, order: list[Any]
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    tasks = sorted(group["task"].astype(str).unique())
    y = np.full((len(order), len(tasks)), np.nan)
    v = np.full_like(y, np.nan)
    pos = {t: j for j, t in enumerate(tasks)}
    where = {e: i for i, e in enumerate(order)}
    for e, t, est, var in zip(
        group[entity], group["task"].astype(str), group["estimate"], group["variance"],
        strict=True,
    ):  # fmt: skip
        y[where[e], pos[t]] = est
        v[where[e], pos[t]] = var
    return y, v, tasks


def _bootstrap(
    y: np.ndarray, v: np.ndarray, pool: str, sign: float, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Oriented pooled estimates (B, entities) over resamples of tasks."""
    n_ent, n_tasks = y.shape
    idx = rng.integers(0, n_tasks, size=(n_boot, n_tasks))
    counts = np.zeros((n_boot, n_tasks))
    np.add.at(counts, (np.arange(n_boot)[:, None], idx), 1.0)
    out = np.full((n_boot, n_ent), np.nan)
    for e in range(n_ent):
        have = np.isfinite(y[e])
        if not have.any():
            continue
        ve = v[e, have]
        variances = ve if np.all(np.isfinite(ve)) and np.all(ve > 0) else None
        out[:, e] = sign * pool_resampled(y[e, have], variances, counts[:, have], pool)
    return out


def rank_methods(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    pool: PoolMethod | str = "DL",
    bootstrap: int = 1000,
    seed: int | None = 0,
    entity: str = "method",
    *,
    by: Sequence[str] | str | None = None,
    better: Better | None = None,
    knha: bool = False,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Rank methods (or any entity) by their dependence on pretraining, pooled across tasks.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    metric : {"gain", "slope", "retention"}, default "gain"
        Dependence metric ranked on.
    pool : {"DL", "REML", "PM", "FE"}, default "DL"
        tau^2 estimator of the pooling.
    bootstrap : int, default 1000
        Resamples of tasks (with replacement, the same tasks for every entity) for ``p_best``
        and the standard error of ``diff_from_best``; 0 skips them (``p_best`` is then NaN and
        the standard error assumes independent pooled estimates).
    seed : int or None, default 0
        Seed of ``np.random.default_rng`` when ``rng`` is not given.
    entity : str, default "method"
        Column ranked (``"model"`` to rank pretraining methods, as on VTAB-1k).
    by : str or sequence of str, optional
        Extra columns that keep rankings apart.
    better : {"higher", "lower"}, optional
        Which direction is better; by default :data:`~transferscope.dependence.metrics.BETTER`: a
        higher gain, a higher retention, a lower slope (less sensitive to the checkpoint's quality).
    knha : bool, default False
        Knapp-Hartung adjustment of the pooled intervals.
    level : float, default 0.95
        Confidence level.
    rng : numpy.random.Generator, optional
        Random generator for the bootstrap (overrides ``seed``).
    **options
        ``x``, ``downstream_metric``, ``hparams``, ``checkpoint`` of
        :func:`transferscope.dependence.metrics.task_values`.

    Returns
    -------
    pandas.DataFrame
        One row per (context, entity), sorted by context and best first. Columns: the context
        columns, the entity column, ``rank`` (0 = best, within the context), ``estimate``
        (pooled), ``ci_low``, ``ci_high``, ``ci_level``, ``diff_from_best`` (how much worse than
        the best, >= 0, in the metric's units), ``se`` (standard error of ``diff_from_best``:
        bootstrap across tasks, paired; 0 for the best), ``estimate_se`` (standard error of
        ``estimate``), ``p_best`` (share of bootstrap resamples in which it ranks first; ties
        shared), ``n_tasks``, ``tau2``, ``i2``, ``metric``, ``better`` (``"higher"`` or
        ``"lower"``), ``pool_method``, ``se_source``, ``status``.
    """
    if metric not in METRICS:
        raise InputError(f"unknown dependence metric {metric!r}; expected one of {METRICS}")
    check_resamples(bootstrap)
    direction = _better(metric, better)
    sign = 1.0 if direction == "higher" else -1.0
    generator = make_rng(seed, rng)
    values = task_values(runs, metric, by, entity=entity, **options)
    context, ent = _split(values)
    tables = []
    for _, group in values.groupby(context, dropna=False, sort=True):
        table = pool_task_values(group, pool=pool, knha=knha, level=level)
        table = table.assign(_oriented=sign * table["estimate"]).sort_values(
            ["_oriented", ent], ascending=[False, True], na_position="last", kind="stable"
        )
        order = table[ent].tolist()
        table["rank"] = np.arange(len(table))
        table["diff_from_best"] = table["_oriented"].iloc[0] - table["_oriented"]
        table["estimate_se"] = table["se"]
        if bootstrap > 0:
            y, v, _ = _matrix(group, ent, order)
            boot = _bootstrap(y, v, str(pool), sign, bootstrap, generator)
            finite = np.where(np.isfinite(boot), boot, -np.inf)
            top = finite.max(axis=1, keepdims=True)
            winners = (finite == top) & np.isfinite(top)
            share = winners / np.maximum(winners.sum(axis=1, keepdims=True), 1)
            table["p_best"] = share.mean(axis=0)
            diffs = boot[:, [0]] - boot
            table["se"] = [
                float(np.std(d[np.isfinite(d)], ddof=1)) if np.isfinite(d).sum() > 1 else 0.0
                for d in diffs.T
            ]
        else:
            table["p_best"] = np.nan
            se0 = float(table["estimate_se"].iloc[0])
            table["se"] = np.sqrt(table["estimate_se"] ** 2 + se0**2)
            table.loc[table.index[0], "se"] = 0.0
        table["better"] = direction
        tables.append(table)
    columns = [
        *context, ent, "rank", "estimate", "ci_low", "ci_high", "ci_level", "diff_from_best",
        "se", "estimate_se", "p_best", "n_tasks", "tau2", "i2", "metric", "better",
        "pool_method", "se_source", "status",
    ]  # fmt: skip
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)[columns]


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values (NaN stays NaN and does not count).

    Parameters
    ----------
    pvalues : sequence of float
        Unadjusted p-values of one family of tests.

    Returns
    -------
    ndarray
        Adjusted p-values, in the input order.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def pairwise_comparisons(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    pool: PoolMethod | str = "DL",
    entity: str = "method",
    *,
    by: Sequence[str] | str | None = None,
    better: Better | None = None,
    knha: bool = False,
    level: float = 0.95,
    alpha: float = 0.05,
    **options: Any,
) -> pd.DataFrame:
    """Every pair of entities compared on their per-task differences, Holm-adjusted.

    For a pair (a, b) in a context, the difference ``value_a - value_b`` on each task both have
    is pooled across tasks like a single entity (random-effects meta-analysis with variance
    ``var_a + var_b``, minus twice the shared scratch baseline's variance when both gains use
    the same baseline; a paired t-test across tasks when variances are missing). The two-sided
    p-values of all pairs in a context are adjusted together by Holm's method.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    metric : {"gain", "slope", "retention"}, default "gain"
        Dependence metric.
    pool : {"DL", "REML", "PM", "FE"}, default "DL"
        tau^2 estimator.
    entity : str, default "method"
        Column compared.
    by : str or sequence of str, optional
        Extra columns that keep analyses apart.
    better : {"higher", "lower"}, optional
        Direction used to order each pair (a is the better-ranked one).
    knha : bool, default False
        Knapp-Hartung adjustment.
    level : float, default 0.95
        Confidence level.
    alpha : float, default 0.05
        Family-wise error rate for ``significant``.
    **options
        ``x``, ``downstream_metric``, ``hparams``, ``checkpoint`` of
        :func:`transferscope.dependence.metrics.task_values`.

    Returns
    -------
    pandas.DataFrame
        One row per pair: the context columns, ``{entity}_a``, ``{entity}_b`` (a ranked above
        b), ``metric``, ``estimate`` (pooled a - b), ``se``, ``ci_low``, ``ci_high``,
        ``ci_level``, ``statistic``, ``pvalue``, ``pvalue_holm``, ``significant``
        (``pvalue_holm < alpha``), ``alpha``, ``n_tasks``, ``tau2``, ``pool_method``.
    """
    if metric not in METRICS:
        raise InputError(f"unknown dependence metric {metric!r}; expected one of {METRICS}")
    sign = 1.0 if _better(metric, better) == "higher" else -1.0
    values = task_values(runs, metric, by, entity=entity, **options)
    context, ent = _split(values)
    name_a, name_b = f"{ent}_a", f"{ent}_b"
    rows: list[dict[str, Any]] = []
    for key, group in values.groupby(context, dropna=False, sort=True):
        ctx = dict(zip(context, key, strict=True))
        pooled = pool_task_values(group, pool=pool, knha=knha, level=level)
        pooled = pooled.assign(_o=sign * pooled["estimate"]).sort_values(
            ["_o", ent], ascending=[False, True], na_position="last", kind="stable"
        )
        order = pooled[ent].tolist()
        by_entity = {e: g.set_index(g["task"].astype(str)) for e, g in group.groupby(ent)}
        family = []
        for i, a in enumerate(order):
            for b in order[i + 1 :]:
                ga, gb = by_entity[a], by_entity[b]
                shared = ga.index.intersection(gb.index)
                ya, yb = ga.loc[shared], gb.loc[shared]
                diff = ya["estimate"].to_numpy(dtype=float) - yb["estimate"].to_numpy(dtype=float)
                var = ya["variance"].to_numpy(dtype=float) + yb["variance"].to_numpy(dtype=float)
                same = (
                    ya["baseline"].astype(str).to_numpy() == yb["baseline"].astype(str).to_numpy()
                )
                shared_var = np.where(same, ya["baseline_variance"].to_numpy(dtype=float), 0.0)
                var = var - 2.0 * np.nan_to_num(shared_var, nan=0.0)
                res = _pool_one(diff, var, str(pool), knha, level)
                family.append(
                    {
                        **ctx, name_a: a, name_b: b, "metric": metric,
                        "estimate": res["estimate"], "se": res["se"], "ci_low": res["ci_low"],
                        "ci_high": res["ci_high"], "ci_level": level,
                        "statistic": res["statistic"], "pvalue": res["pvalue"],
                        "n_tasks": int(shared.size), "tau2": res["tau2"],
                        "pool_method": res["pool_method"],
                    }
                )  # fmt: skip
        adjusted = holm([r["pvalue"] for r in family])
        for record, p_adj in zip(family, adjusted, strict=True):
            record["pvalue_holm"] = float(p_adj)
            record["significant"] = bool(np.isfinite(p_adj) and p_adj < alpha)
            record["alpha"] = alpha
        rows.extend(family)
    columns = [
        *context, name_a, name_b, "metric", "estimate", "se", "ci_low", "ci_high", "ci_level",
        "statistic", "pvalue", "pvalue_holm", "significant", "alpha", "n_tasks", "tau2",
        "pool_method",
    ]  # fmt: skip
    return align_dtypes(pd.DataFrame(rows, columns=columns), values)


def friedman_nemenyi_kernel(scores: np.ndarray, alpha: float = 0.05) -> dict[str, Any]:
    """Friedman test and Nemenyi critical difference on a complete tasks x entities table.

    Parameters
    ----------
    scores : ndarray, shape (n_tasks, n_entities)
        Oriented values (higher is better), no missing values.
    alpha : float, default 0.05
        Level of the critical difference.

    Returns
    -------
    dict
        ``mean_rank`` (ndarray, 1 = best, ties averaged), ``statistic`` (Friedman chi-square
        with scipy's tie correction), ``df``, ``pvalue``, ``critical_difference``
        (``q_alpha(k, inf) / sqrt(2) * sqrt(k (k + 1) / (6 N))``), ``nemenyi_pvalue`` (ndarray,
        of each entity against the best by mean rank), ``n_tasks``, ``n_entities``.
    """
    n, k = scores.shape
    ranks = np.vstack([stats.rankdata(-row, method="average") for row in scores])
    mean_rank = ranks.mean(axis=0)
    ties = 0.0
    for row in ranks:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts * (counts**2 - 1)))
    correction = 1.0 - ties / (k * (k**2 - 1) * n)
    ssbn = float(np.sum(ranks.sum(axis=0) ** 2))
    chisq = (12.0 / (k * n * (k + 1)) * ssbn - 3.0 * n * (k + 1)) / correction
    scale = math.sqrt(k * (k + 1) / (6.0 * n))
    q_crit = float(stats.studentized_range.ppf(1.0 - alpha, k, np.inf))
    gaps = (mean_rank - mean_rank.min()) / scale * math.sqrt(2.0)
    nemenyi = np.array(
        [float(stats.studentized_range.sf(g, k, np.inf)) if g > 0 else 1.0 for g in gaps]
    )
    return {
        "mean_rank": mean_rank,
        "statistic": float(chisq),
        "df": k - 1,
        "pvalue": float(stats.chi2.sf(chisq, k - 1)),
        "critical_difference": q_crit / math.sqrt(2.0) * scale,
        "nemenyi_pvalue": nemenyi,
        "n_tasks": n,
        "n_entities": k,
    }


def friedman_nemenyi(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    entity: str = "method",
    *,
    by: Sequence[str] | str | None = None,
    better: Better | None = None,
    alpha: float = 0.05,
    **options: Any,
) -> pd.DataFrame:
    """Friedman test of the entities' ranks across tasks, with the Nemenyi critical difference.

    Only tasks on which every entity of the context has a value are used (complete blocks).
    Within each task the best entity gets rank 1 (ties averaged).

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    metric : {"gain", "slope", "retention"}, default "gain"
        Dependence metric.
    entity : str, default "method"
        Column compared.
    by : str or sequence of str, optional
        Extra columns that keep analyses apart.
    better : {"higher", "lower"}, optional
        Which direction is better (default as in :func:`rank_methods`).
    alpha : float, default 0.05
        Level of the critical difference.
    **options
        ``x``, ``downstream_metric``, ``hparams``, ``checkpoint`` of
        :func:`transferscope.dependence.metrics.task_values`.

    Returns
    -------
    pandas.DataFrame
        One row per (context, entity), best mean rank first: the context columns, the entity
        column, ``mean_rank`` (1 = best), ``rank`` (0 = best mean rank), ``nemenyi_pvalue``
        (against the best), ``within_cd`` (mean rank within the critical difference of the
        best), ``statistic``, ``df``, ``pvalue`` (Friedman), ``critical_difference``, ``alpha``,
        ``n_tasks`` (complete tasks), ``n_entities``, ``metric``, ``better``, ``status``
        (``ok``, or ``too_few`` with fewer than two entities or two complete tasks).
    """
    if metric not in METRICS:
        raise InputError(f"unknown dependence metric {metric!r}; expected one of {METRICS}")
    direction = _better(metric, better)
    sign = 1.0 if direction == "higher" else -1.0
    values = task_values(runs, metric, by, entity=entity, **options)
    context, ent = _split(values)
    rows: list[dict[str, Any]] = []
    for key, group in values.groupby(context, dropna=False, sort=True):
        ctx = dict(zip(context, key, strict=True))
        wide = group.pivot_table(index="task", columns=ent, values="estimate", aggfunc="first")
        wide = wide.dropna(axis=0, how="any")
        entities = list(wide.columns)
        base = {"metric": metric, "better": direction, "alpha": alpha}
        if len(entities) < 2 or len(wide) < 2:
            for e in sorted(group[ent].unique()):
                rows.append({**ctx, ent: e, **base, "n_tasks": len(wide), "status": "too_few",
                             "n_entities": len(entities)})  # fmt: skip
            continue
        res = friedman_nemenyi_kernel(sign * wide.to_numpy(dtype=float), alpha)
        order = np.lexsort((np.array([str(e) for e in entities]), res["mean_rank"]))
        best = res["mean_rank"].min()
        for r, i in enumerate(order):
            rows.append(
                {
                    **ctx, ent: entities[i], "mean_rank": float(res["mean_rank"][i]), "rank": r,
                    "nemenyi_pvalue": float(res["nemenyi_pvalue"][i]),
                    "within_cd": bool(res["mean_rank"][i] - best <= res["critical_difference"]),
                    "statistic": res["statistic"], "df": res["df"], "pvalue": res["pvalue"],
                    "critical_difference": res["critical_difference"], "n_tasks": res["n_tasks"],
                    "n_entities": res["n_entities"], "status": "ok", **base,
                }
            )  # fmt: skip
    columns = [
        *context, ent, "mean_rank", "rank", "nemenyi_pvalue", "within_cd", "statistic", "df",
        "pvalue", "critical_difference", "alpha", "n_tasks", "n_entities", "metric", "better",
        "status",
    ]  # fmt: skip
    return align_dtypes(pd.DataFrame(rows, columns=columns), values)
