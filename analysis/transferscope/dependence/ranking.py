"""Rank entities by their dependence on pretraining, most dependent first; pairwise tests.

Every function takes canonical runs and returns a tidy DataFrame. Rankings are within a context
(``by``, and always ``downstream_metric``; see :mod:`~transferscope.dependence.metrics`): by
default all methods of one downstream metric, a method at several numbers of shots being one
entity per number (``linear_probe@10``, ``linear_probe@full``).

Which way is "more dependent on pretraining"
(:data:`~transferscope.dependence.metrics.MORE_DEPENDENT`) is stated in every table
(``more_dependent``) and the table is sorted most dependent first (``order="most"``;
``"least"`` reverses it). ``rank`` counts from 1 (the first row), as the mean
ranks of :func:`~transferscope.dependence.stability.friedman_nemenyi` and the critical-difference
chart do.

Pooling is :func:`~transferscope.dependence.pooling.pool_task_values` (the three-level model
with CR2 errors when suites exist). ``p_best`` (the probability of ranking first) and the rank
interval come from ``bootstrap`` draws of the entities' estimates from their joint sampling
distribution (:func:`~transferscope.dependence.pooling.joint_covariance`: a Gaussian copula with
each estimate's own t or normal marginal), a parametric bootstrap: within-task uncertainty
(seeds, published errors, the between-checkpoint fallback) enters every standard error and so
every draw, and a single task gives its own value and error, never a certainty.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from transferscope.dependence.cells import align_dtypes
from transferscope.dependence.metrics import METRICS, MORE_DEPENDENT, Metric, task_values
from transferscope.dependence.pooling import (
    EntityPool,
    group_key,
    joint_covariance,
    pool_entity,
    pool_groups,
    split_columns,
)
from transferscope.dependence.suites import Suites, check_suites, task_suites
from transferscope.engine import Engine, map_groups
from transferscope.errors import InputError
from transferscope.records import json_safe
from transferscope.rng import check_resamples, check_seed, keyed_seed, make_rng
from transferscope.stats.meta import PoolMethod
from transferscope.stats.tau2 import check_method

Order = Literal["most", "least"]

RANKING_COLUMNS = [
    "rank",
    "rank_low",
    "rank_high",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "ci_level",
    "df",
    "diff_from_best",
    "diff_se",
    "p_best",
    "n_tasks",
    "n_suites",
    "n_shared_tasks",
    "tau2",
    "sigma2_suite",
    "sigma2_task",
    "i2",
    "metric",
    "more_dependent",
    "order",
    "pool_model",
    "pool_method",
    "se_source",
    "status",
    "message",
]


def orientation(metric: str, order: str) -> float:
    """Sign that makes the first-ranked entity the largest: +1 or -1.

    Parameters
    ----------
    metric : {"gain", "slope", "retention"}
        Dependence metric.
    order : {"most", "least"}
        Most or least dependent first.

    Returns
    -------
    float
        ``+1.0`` when a larger value ranks first, else ``-1.0``.

    Raises
    ------
    InputError
        Unknown metric or order.
    """
    if metric not in METRICS:
        raise InputError(f"unknown dependence metric {metric!r}; expected one of {METRICS}")
    if order not in ("most", "least"):
        raise InputError(f"order must be 'most' or 'least' (dependent first), not {order!r}")
    higher = MORE_DEPENDENT[metric] == "higher"
    return 1.0 if higher == (order == "most") else -1.0


def _draws(
    est: np.ndarray, cov: np.ndarray, df: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Draws (n, entities) from a Gaussian copula with t (or normal) marginals."""
    se = np.sqrt(np.diag(cov))
    corr = cov / np.outer(se, se)
    values, vectors = np.linalg.eigh((corr + corr.T) / 2.0)
    root = vectors * np.sqrt(np.maximum(values, 0.0))
    z = rng.standard_normal((n, est.size)) @ root.T
    out = np.empty_like(z)
    for j in range(est.size):
        if math.isinf(df[j]):
            out[:, j] = est[j] + se[j] * z[:, j]
        else:
            out[:, j] = est[j] + se[j] * stats.t.ppf(stats.norm.cdf(z[:, j]), df[j])
    return out


def _nothing_to_rank(
    runs: pd.DataFrame, ctx: dict[str, Any], entity: str, label: str, absent: dict[Any, dict]
) -> str:
    """Why a context holds one entity, and how to compare."""
    if absent:
        why = "; ".join(f"{e}: {info['status']}" for e, info in absent.items())
        return (
            f"nothing to rank: {label} is the only {entity} with a value here ({why}); "
            f"{next(iter(absent.values()))['message']}"
        )
    rows = runs
    for col, val in ctx.items():
        if col in rows.columns:
            hit = rows[col].isna() if pd.isna(val) else rows[col] == val
            rows = rows[hit.fillna(False).to_numpy(dtype=bool)]
    pre = rows[rows["pretrained"].fillna(True).astype(bool)] if "pretrained" in rows else rows
    hints = []
    n_models = int(pre["model"].nunique()) if "model" in pre else 0
    if entity != "model" and n_models >= 2:
        hints.append(f"entity='model' (--entity model) ranks its {n_models} pretrained models")
    if "shots" in ctx:
        hints.append("leave 'shots' out of by, so that numbers of shots are compared")
    other = [c for c in ctx if c not in ("downstream_metric", "shots")]
    if other:
        hints.append(f"leave {other} out of by")
    how = "; ".join(hints) if hints else "add runs of another method"
    return f"nothing to rank: {label} is the only {entity} here. To compare: {how}"


def _excluded_rows(excluded: pd.DataFrame, context: list[str], ent: str) -> dict[Any, dict]:
    """One summary (status, message) per (context, entity) that has no usable task value."""
    out: dict[Any, dict] = {}
    if excluded.empty:
        return out
    for raw, group in excluded.groupby([*context, ent], dropna=False, sort=True):
        key = group_key(raw)
        status = group["status"].value_counts().index[0]
        first = group[group["status"] == status].iloc[0]
        n = int(group["task"].nunique())
        message = f"{status} on {n} task(s): {first['message']}"
        out[key] = {"status": status, "message": message}
    return out


def rank_methods(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    *,
    by: Sequence[str] | str | None = None,
    entity: str = "method",
    order: Order = "most",
    suites: Suites = "auto",
    robust: bool = True,
    method: PoolMethod | str = "DL",
    knha: bool = False,
    ci_level: float = 0.95,
    bootstrap: int = 1000,
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
    engine: Engine | str | None = None,
    n_jobs: int = 1,
    **options: Any,
) -> pd.DataFrame:
    """Rank methods (or any entity) by their dependence on pretraining, pooled across tasks.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    metric : {"gain", "slope", "retention"}, default "gain"
        Dependence metric ranked on.
    by : str or sequence of str, optional
        Columns that keep rankings apart, replacing the default grouping (by default, methods
        are compared within each downstream metric, one entity per number of shots); names that
        are not columns are read from ``hparams``.
    entity : str, default "method"
        Column ranked (``"model"`` to rank pretraining methods, as on VTAB-1k).
    order : {"most", "least"}, default "most"
        Most dependent on pretraining first, or least.
    suites : "auto", mapping or None, default "auto"
        Suites of tasks (:mod:`~transferscope.dependence.suites`): pooled by the three-level
        model; ``None`` pools tasks as independent.
    robust : bool, default True
        CR2 cluster-robust errors for the three-level model.
    method : {"DL", "REML", "PM", "FE"}, default "DL"
        tau^2 estimator of the univariate model (the three-level model is REML).
    knha : bool, default False
        Knapp-Hartung adjustment of the univariate model.
    ci_level : float, default 0.95
        Level of the confidence intervals and of the rank intervals.
    bootstrap : int, default 1000
        Draws from the joint sampling distribution of the estimates for ``p_best`` and the rank
        interval; 0 skips them (NaN).
    seed : int or None, default 0
        Seed of the draws when ``rng`` is not given; each context's draws derive from it and
        the context's key, so they do not depend on the other contexts or on the engine.
    rng : numpy.random.Generator, optional
        Draw the seed from this generator instead.
    engine : Engine, "local", "dask" or None
        Where the contexts are pooled and ranked (see :mod:`transferscope.engine`).
    n_jobs : int, default 1
        Local worker processes (or Dask workers of a local cluster).
    **options
        ``x``, ``downstream_metric``, ``hparams``, ``checkpoint``, ``checkpoints``,
        ``min_checkpoints``, ``min_span``, ``min_gain_se`` of
        :func:`transferscope.dependence.metrics.task_values`.

    Returns
    -------
    pandas.DataFrame
        One row per (context, entity), by context, then most dependent first (``order``).
        Columns: the context columns, the entity column, ``rank`` (1 = first; missing for an
        entity without a value), ``rank_low``, ``rank_high`` (interval of its rank over the
        draws, at ``ci_level``), ``estimate`` (pooled), ``se`` (its standard error), ``ci_low``,
        ``ci_high``, ``ci_level``, ``df`` (of the t interval; ``inf`` for z),
        ``diff_from_best`` (how far behind the first, >= 0, in the metric's units),
        ``diff_se`` (standard error of that difference, from the joint covariance; 0 for the
        first), ``p_best`` (share of draws in which it ranks first), ``n_tasks``, ``n_suites``,
        ``n_shared_tasks`` (tasks it shares with the first; when fewer than either has, the
        ``message`` says that the comparison is partly one of tasks), ``tau2``,
        ``sigma2_suite``, ``sigma2_task``, ``i2``, ``metric``, ``more_dependent`` (``"higher"``
        or ``"lower"``: which values mean more dependence on pretraining),
        ``order`` (``most_dependent_first`` or ``least_dependent_first``), ``pool_model``,
        ``pool_method``, ``se_source``, ``status`` (``ok``; ``single_entity`` when the context
        holds one entity: nothing to rank; ``no_se``; or why the entity has no value, e.g.
        ``no_baseline``) and ``message`` (why, and how to compare).

    Raises
    ------
    InputError
        Unknown metric, order or estimator, a ``bootstrap`` below 0 or above
        :data:`transferscope.rng.MAX_RESAMPLES`, a negative seed, missing columns.
    """
    sign = orientation(str(metric), str(order))
    check_resamples(bootstrap)
    suites = check_suites(suites)
    method = check_method(method)
    base_seed = _base_seed(seed, rng)
    values = task_values(runs, metric, by=by, entity=entity, ci_level=ci_level, **options)
    excluded: pd.DataFrame = values.attrs.get("excluded", pd.DataFrame())
    context, ent = split_columns(values if not values.empty or excluded.empty else excluded)
    job = functools.partial(
        _rank_job,
        context=context,
        ent=ent,
        sign=sign,
        pooling={
            "suites": suites, "robust": robust, "method": method, "knha": knha,
            "ci_level": ci_level,
        },
        bootstrap=bootstrap,
        seed=base_seed,
    )  # fmt: skip
    ranked = {
        group_key(key): rows
        for key, rows in map_groups(values, context, job, engine=engine, n_jobs=n_jobs)
    }
    missing = _excluded_rows(excluded, context, ent)
    keys = sorted(set(ranked) | {k[:-1] for k in missing}, key=lambda k: tuple(map(str, k)))
    direction = MORE_DEPENDENT[str(metric)]
    order_label = "most_dependent_first" if order == "most" else "least_dependent_first"
    tables = []
    for ctx_key in keys:
        ctx = dict(zip(context, ctx_key, strict=True))
        rows = ranked.get(ctx_key, [])
        labels = {row[ent] for row in rows}
        absent = {
            key[-1]: info
            for key, info in missing.items()
            if key[:-1] == ctx_key and key[-1] not in labels
        }
        if len(rows) == 1 and rows[0]["status"] == "ok":
            rows[0]["status"] = "single_entity"
            rows[0]["message"] = _nothing_to_rank(runs, ctx, ent, str(rows[0][ent]), absent)
            rows[0]["p_best"] = math.nan
            rows[0]["rank_low"] = rows[0]["rank_high"] = pd.NA
        for label, info in absent.items():
            rows.append({**ctx, ent: label, "rank": pd.NA, **info})
        for row in rows:
            row.update(ctx, metric=metric, more_dependent=direction, order=order_label)
        tables.append(pd.DataFrame(rows))
    columns = [*context, ent, *RANKING_COLUMNS]
    if not tables:
        return pd.DataFrame(columns=columns)
    table = pd.concat(tables, ignore_index=True).reindex(columns=columns)
    for col in ("rank", "rank_low", "rank_high", "n_tasks", "n_suites", "n_shared_tasks"):
        table[col] = table[col].astype("Int64")
    return align_dtypes(table, values if not values.empty else excluded)


def _base_seed(seed: int | None, rng: np.random.Generator | None) -> int:
    """Return the seed every context's draws derive from (drawn from ``rng`` when given)."""
    if rng is None and seed is not None:
        return check_seed(seed)
    return int(make_rng(seed, rng).integers(0, 2**63 - 1))


def _rank_job(
    key: tuple[Any, ...],
    values: pd.DataFrame,
    *,
    context: list[str],
    ent: str,
    sign: float,
    pooling: dict[str, Any],
    bootstrap: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Pool and rank the entities of one context (one job of an engine)."""
    ctx_key = group_key(key)
    ctx = dict(zip(context, ctx_key, strict=True))
    pools = pool_groups(values, **pooling)
    here = [(k[-1], p) for k, p in pools.items()]
    oriented = np.array([sign * float(p.record["estimate"]) for _, p in here])
    order = sorted(
        range(len(here)),
        key=lambda i: (-oriented[i] if np.isfinite(oriented[i]) else np.inf, str(here[i][0])),
    )
    here = [here[i] for i in order]
    if not here:
        return []
    generator = np.random.default_rng(keyed_seed(seed, {c: json_safe(v) for c, v in ctx.items()}))
    return _rank_context(
        here, values, context, ctx, ent, sign, bootstrap, generator, pooling["ci_level"]
    )


def _rank_context(
    here: list[tuple[Any, EntityPool]],
    values: pd.DataFrame,
    context: list[str],
    ctx: dict[str, Any],
    ent: str,
    sign: float,
    bootstrap: int,
    generator: np.random.Generator,
    level: float,
) -> list[dict[str, Any]]:
    """Rows of one context's ranking, the entities in ranking order."""
    mask = np.ones(len(values), dtype=bool)
    for col, val in ctx.items():
        hit = values[col].isna() if pd.isna(val) else values[col] == val
        mask &= hit.fillna(False).to_numpy(dtype=bool)
    sub = values[mask]
    per_entity = [sub[sub[ent] == e] for e, _ in here]
    cov = joint_covariance([p for _, p in here], per_entity)
    est = np.array([float(p.record["estimate"]) for _, p in here])
    df = np.array([float(p.record["df"]) for _, p in here])
    se = np.sqrt(np.diag(cov))
    n = len(here)
    usable = np.isfinite(est) & np.isfinite(se) & (se > 0)
    p_best = np.full(n, np.nan)
    rank_low = np.full(n, np.nan)
    rank_high = np.full(n, np.nan)
    if bootstrap > 0 and usable.sum() >= 1:
        idx = np.flatnonzero(usable)
        draws = sign * _draws(est[idx], cov[np.ix_(idx, idx)], df[idx], bootstrap, generator)
        ranks = np.argsort(np.argsort(-draws, axis=1, kind="stable"), axis=1) + 1
        p_best[idx] = (ranks == 1).mean(axis=0)
        alpha = 1.0 - level
        rank_low[idx] = np.quantile(ranks, alpha / 2.0, axis=0, method="lower")
        rank_high[idx] = np.quantile(ranks, 1.0 - alpha / 2.0, axis=0, method="higher")
    rows = []
    first = 0
    first_tasks = set(here[first][1].tasks)
    for i, (label, pool) in enumerate(here):
        rec = pool.record
        shared = len(first_tasks & set(pool.tasks))
        finite = np.isfinite(est[i])
        diff = sign * (est[first] - est[i]) if finite else math.nan
        if i == first:
            diff_se = 0.0 if finite else math.nan
        else:
            var = cov[first, first] + cov[i, i] - 2.0 * cov[first, i]
            diff_se = math.sqrt(var) if np.isfinite(var) and var > 0 else math.nan
        rows.append(
            {
                ent: label, "rank": i + 1 if finite else pd.NA,
                "rank_low": rank_low[i], "rank_high": rank_high[i],
                **{c: rec.get(c) for c in (
                    "estimate", "se", "ci_low", "ci_high", "ci_level", "df", "n_tasks",
                    "n_suites", "tau2", "sigma2_suite", "sigma2_task", "i2", "pool_model",
                    "pool_method", "se_source", "status", "message",
                )},
                "diff_from_best": diff, "diff_se": diff_se, "p_best": p_best[i],
                "n_shared_tasks": shared,
            }
        )  # fmt: skip
        if i != first and finite and shared < max(len(pool.tasks), len(first_tasks)):
            note = (
                f"pooled over {len(pool.tasks)} task(s), {shared} shared with {here[first][0]} "
                f"({len(first_tasks)}): the difference is partly one of tasks; "
                "pairwise_comparisons compares on the shared tasks"
            )
            rows[-1]["message"] = "; ".join(m for m in (rows[-1]["message"], note) if m)
    return rows


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
    *,
    by: Sequence[str] | str | None = None,
    entity: str = "method",
    order: Order = "most",
    suites: Suites = "auto",
    robust: bool = True,
    alpha: float = 0.05,
    method: PoolMethod | str = "DL",
    knha: bool = False,
    ci_level: float = 0.95,
    engine: Engine | str | None = None,
    n_jobs: int = 1,
    **options: Any,
) -> pd.DataFrame:
    """Every pair of entities compared on their per-task differences, Holm-adjusted.

    For a pair (a, b) in a context, the difference ``value_a - value_b`` on each task both have
    is pooled across tasks like a single entity (variance ``var_a + var_b``, minus twice the
    shared scratch baseline's variance when both gains use the same baseline), with the model
    :func:`~transferscope.dependence.pooling.pool_task_values` would choose (the three-level
    model with CR2 errors when the shared tasks fall in suites; the mean with a paired t
    interval when variances are missing). The two-sided p-values of all pairs in a context are
    adjusted together by Holm's method.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    metric : {"gain", "slope", "retention"}, default "gain"
        Dependence metric.
    by, entity, order, suites, robust
        As in :func:`rank_methods`.
    alpha : float, default 0.05
        Family-wise error rate for ``significant``.
    method, knha, ci_level, engine, n_jobs
        As in :func:`rank_methods`.
    **options
        As in :func:`rank_methods`.

    Returns
    -------
    pandas.DataFrame
        One row per pair: the context columns, ``{entity}_a``, ``{entity}_b`` (a ranked above
        b), ``metric``, ``estimate`` (pooled a - b), ``se``, ``ci_low``, ``ci_high``,
        ``ci_level``, ``df``, ``statistic``, ``pvalue``, ``pvalue_holm``, ``significant``
        (``pvalue_holm < alpha``), ``alpha``, ``n_tasks`` (shared), ``tau2``,
        ``more_dependent`` (which sign of the difference means a more dependent ``a``),
        ``pool_model``, ``pool_method``.
    """
    sign = orientation(str(metric), str(order))
    suites = check_suites(suites)
    method = check_method(method)
    values = task_values(runs, metric, by=by, entity=entity, ci_level=ci_level, **options)
    context, ent = split_columns(values)
    name_a, name_b = f"{ent}_a", f"{ent}_b"
    clusters = dict(
        zip(
            values["task"].astype(str),
            task_suites(values["task"].astype(str), suites=suites),
            strict=True,
        )
    )
    job = functools.partial(
        _pairwise_job,
        context=context,
        ent=ent,
        sign=sign,
        metric=str(metric),
        clusters=clusters,
        alpha=alpha,
        pooling={
            "suites": suites, "robust": robust, "method": method, "knha": knha,
            "ci_level": ci_level,
        },
    )  # fmt: skip
    rows = [
        row
        for _, family in map_groups(values, context, job, engine=engine, n_jobs=n_jobs)
        for row in family
    ]
    columns = [
        *context, name_a, name_b, "metric", "estimate", "se", "ci_low", "ci_high", "ci_level",
        "df", "statistic", "pvalue", "pvalue_holm", "significant", "alpha", "n_tasks", "tau2",
        "more_dependent", "pool_model", "pool_method",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _pairwise_job(
    key: tuple[Any, ...],
    group: pd.DataFrame,
    *,
    context: list[str],
    ent: str,
    sign: float,
    metric: str,
    clusters: dict[str, str],
    alpha: float,
    pooling: dict[str, Any],
) -> list[dict[str, Any]]:
    """Compare every pair of entities of one context, Holm-adjusted (one job of an engine)."""
    ctx = dict(zip(context, group_key(key), strict=True))
    name_a, name_b = f"{ent}_a", f"{ent}_b"
    ci_level = pooling["ci_level"]
    pools = pool_groups(group, **pooling)
    here = [(k[-1], p) for k, p in pools.items()]
    here.sort(key=lambda item: (-sign * float(item[1].record["estimate"]), str(item[0])))
    by_entity = {e: g.set_index(g["task"].astype(str)) for e, g in group.groupby(ent)}
    options = {k: v for k, v in pooling.items() if k != "suites"}
    family = []
    for i, (a, _) in enumerate(here):
        for b, _ in here[i + 1 :]:
            ga, gb = by_entity[a], by_entity[b]
            shared = ga.index.intersection(gb.index)
            ya, yb = ga.loc[shared], gb.loc[shared]
            diff = ya["estimate"].to_numpy(dtype=float) - yb["estimate"].to_numpy(dtype=float)
            var = ya["variance"].to_numpy(dtype=float) + yb["variance"].to_numpy(dtype=float)
            same = ya["baseline"].astype(str).to_numpy() == yb["baseline"].astype(str).to_numpy()
            shared_var = np.where(same, ya["baseline_variance"].to_numpy(dtype=float), 0.0)
            var = var - 2.0 * np.nan_to_num(shared_var, nan=0.0)
            res = pool_entity(
                diff, var, list(shared), [clusters[t] for t in shared], **options
            ).record
            family.append(
                {
                    **ctx, name_a: a, name_b: b, "metric": metric,
                    "estimate": res["estimate"], "se": res["se"], "ci_low": res["ci_low"],
                    "ci_high": res["ci_high"], "ci_level": ci_level, "df": res["df"],
                    "statistic": res["statistic"], "pvalue": res["pvalue"],
                    "n_tasks": int(shared.size), "tau2": res["tau2"],
                    "more_dependent": MORE_DEPENDENT[metric],
                    "pool_model": res["pool_model"], "pool_method": res["pool_method"],
                }
            )  # fmt: skip
    adjusted = holm([r["pvalue"] for r in family])
    for record, p_adj in zip(family, adjusted, strict=True):
        record["pvalue_holm"] = float(p_adj)
        record["significant"] = bool(np.isfinite(p_adj) and p_adj < alpha)
        record["alpha"] = alpha
    return family
