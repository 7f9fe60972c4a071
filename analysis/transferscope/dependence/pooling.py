"""Pool per-task dependence across tasks, per entity, with the model the data allow.

The per-task values of :func:`~transferscope.dependence.metrics.task_values` are pooled per
(context, entity) by :func:`pool_task_values`, choosing the model (column ``pool_model``):

- ``single_task``: one task: its own value and standard error (status ``no_se`` without one);
- ``three_level_cr2`` (the default when suites exist): tasks nested in suites
  (:mod:`~transferscope.dependence.suites`), the three-level model of
  :mod:`transferscope.stats.multilevel` fitted by REML, with CR2 cluster-robust standard errors
  and Satterthwaite degrees of freedom (``three_level`` with ``robust=False``). Used when the
  entity's tasks fall in two or more clusters (a task without a suite is a cluster of its own)
  and some suite holds two or more of them. Without sampling variances (VTAB: one run per
  model and task) the same model is fitted with ``v = 0``, so that ``sigma2_task`` holds all
  within-suite variation;
- ``random_effects``: no suite holds two of the tasks: the univariate random-effects model of
  :func:`transferscope.stats.pool_effects` with the tau^2 estimator ``method``;
- ``unweighted``: no suites and no sampling variances: the mean across tasks, with the standard
  error of the mean and a t interval with ``k - 1`` degrees of freedom.

:func:`joint_covariance` gives the covariance of the pooled estimates of the entities of one
context, which share tasks (and, for gains, the scratch baseline): it is what the ranking's
``p_best``, rank intervals and ``diff_se`` are drawn from.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from transferscope.dependence.cells import align_dtypes, worst_source
from transferscope.dependence.metrics import Metric, task_values
from transferscope.dependence.suites import Suites, check_suites, task_suites
from transferscope.engine import Engine, map_groups
from transferscope.errors import InputError
from transferscope.stats.meta import PoolMethod, pool_effects
from transferscope.stats.multilevel import pool_fit
from transferscope.stats.tau2 import check_method

FloatArray = npt.NDArray[np.float64]

POOL_MODELS: tuple[str, ...] = (
    "single_task",
    "three_level_cr2",
    "three_level",
    "random_effects",
    "unweighted",
)

POOLED_COLUMNS = [
    "metric",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "ci_level",
    "df",
    "pi_low",
    "pi_high",
    "tau2",
    "sigma2_suite",
    "sigma2_task",
    "i2",
    "q",
    "q_pvalue",
    "n_tasks",
    "n_suites",
    "pool_model",
    "pool_method",
    "knha",
    "se_source",
    "status",
    "message",
]


@dataclass
class EntityPool:
    """One entity's pooled value, with what the joint covariance needs.

    Attributes
    ----------
    record : dict
        The output columns (see :data:`POOLED_COLUMNS`) plus ``statistic`` and ``pvalue``.
    tasks : list of str
        The tasks pooled, in the order of ``weights``.
    clusters : list of str
        Their cluster labels.
    weights : ndarray
        ``estimate = weights @ y``.
    cov : ndarray
        Model covariance of the task values ``y`` (k x k).
    sigma2 : tuple of float
        Random-effect variances (suite, task) of the model (for an unweighted mean, the
        variance across tasks as the task's).
    """

    record: dict[str, Any]
    tasks: list[str] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)
    weights: FloatArray = field(default_factory=lambda: np.zeros(0))
    cov: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    sigma2: tuple[float, float] = (0.0, 0.0)


def _crit(level: float, df: float) -> float:
    upper = 0.5 + level / 2.0
    return float(stats.norm.ppf(upper) if math.isinf(df) else stats.t.ppf(upper, df))


def _pvalue(stat: float, df: float) -> float:
    if not math.isfinite(stat):
        return math.nan
    return float(2 * (stats.norm.sf(abs(stat)) if math.isinf(df) else stats.t.sf(abs(stat), df)))


def _record(est: float, se: float, df: float, level: float, **extra: Any) -> dict[str, Any]:
    crit = _crit(level, df) if math.isfinite(se) else math.nan
    stat = est / se if math.isfinite(se) and se > 0 else math.nan
    out = {
        "estimate": est, "se": se, "ci_low": est - crit * se, "ci_high": est + crit * se,
        "ci_level": level, "df": df, "statistic": stat, "pvalue": _pvalue(stat, df),
        "pi_low": math.nan, "pi_high": math.nan, "tau2": math.nan, "sigma2_suite": math.nan,
        "sigma2_task": math.nan, "i2": math.nan, "q": math.nan, "q_pvalue": math.nan,
        "knha": False, "status": "ok", "message": "",
    }  # fmt: skip
    out.update(extra)
    return out


def pool_entity(
    y: FloatArray,
    v: FloatArray,
    tasks: Sequence[str],
    clusters: Sequence[str],
    *,
    robust: bool,
    method: str,
    knha: bool,
    ci_level: float,
) -> EntityPool:
    """Pool one entity's task values with the model the data allow (module docstring).

    Parameters
    ----------
    y : ndarray, shape (k,)
        Task values.
    v : ndarray, shape (k,)
        Their sampling variances (NaN where unknown).
    tasks : sequence of str
        Task names.
    clusters : sequence of str
        Cluster label of each task (``task_suites``).
    robust : bool
        CR2 errors for the three-level model.
    method : str
        tau^2 estimator of the univariate model.
    knha : bool
        Knapp-Hartung adjustment of the univariate model.
    ci_level : float
        Confidence level.

    Returns
    -------
    EntityPool
        The pooled record and the pieces of the joint covariance.
    """
    k = y.size
    tasks, clusters = list(tasks), list(clusters)
    n_clusters = len(set(clusters))
    nested = n_clusters >= 2 and n_clusters < k
    known = bool(k) and bool(np.all(np.isfinite(v)) and np.all(v > 0))
    common: dict[str, Any] = {"n_tasks": k, "n_suites": n_clusters}
    if k == 0:
        rec = _record(math.nan, math.nan, math.inf, ci_level, **common)
        rec.update(pool_model="none", pool_method="none", status="no_tasks",
                   message="no task has a value")  # fmt: skip
        return EntityPool(rec)
    if k == 1:
        se = math.sqrt(v[0]) if known else math.nan
        rec = _record(float(y[0]), se, math.inf, ci_level, **common, pool_model="single_task")
        rec.update(tau2=0.0, pool_method="none")
        if not known:
            rec.update(status="no_se", message="one task without a standard error")
        cov = np.array([[v[0] if known else math.nan]])
        return EntityPool(rec, tasks, clusters, np.ones(1), cov)
    if nested and method != "FE":
        ml = pool_fit(y, v if known else np.zeros(k), np.asarray(clusters, dtype=object),
                       robust=robust, ci_level=ci_level)  # fmt: skip
        same = np.equal.outer(
            np.asarray(clusters, dtype=object), np.asarray(clusters, dtype=object)
        )
        vmat = np.diag(v if known else np.zeros(k)) + ml.sigma2_within * np.eye(k)
        vmat = vmat + ml.sigma2_cluster * same.astype(float)
        winv = np.linalg.inv(vmat)
        weights = winv.sum(axis=0) / winv.sum()
        robust_ok = robust and ml.status == "ok"
        rec = _record(
            ml.estimate, ml.se, ml.df, ci_level, **common,
            pool_model="three_level_cr2" if robust_ok else "three_level", pool_method="REML",
            pi_low=ml.pi_low, pi_high=ml.pi_high,
            tau2=ml.sigma2_cluster + ml.sigma2_within, sigma2_suite=ml.sigma2_cluster,
            sigma2_task=ml.sigma2_within, q=ml.q, q_pvalue=ml.q_pvalue, message=ml.message,
        )  # fmt: skip
        sigma2 = (ml.sigma2_cluster, ml.sigma2_within)
        return EntityPool(rec, tasks, clusters, weights, vmat, sigma2)
    if known:
        res = pool_effects(y, v, method=method, knha=knha, ci_level=ci_level)
        tau2 = float(res.tau2)
        w = 1.0 / (v + tau2)
        rec = _record(
            res.estimate, res.se, res.df, ci_level, **common, pool_model="random_effects",
            pool_method=method,
            pi_low=res.pi_low, pi_high=res.pi_high, tau2=tau2, sigma2_suite=0.0,
            sigma2_task=tau2, i2=res.i2, q=res.q, q_pvalue=res.q_pvalue, knha=bool(knha),
        )  # fmt: skip
        if n_clusters == 1 and k > 1:
            rec["message"] = "all tasks in one suite: a two-level model (suite variance unknown)"
        return EntityPool(rec, tasks, clusters, w / w.sum(), np.diag(v + tau2), (0.0, tau2))
    est = float(np.mean(y))
    s2 = float(np.var(y, ddof=1))
    se = math.sqrt(s2 / k)
    rec = _record(est, se, float(k - 1), ci_level, **common, pool_model="unweighted")
    spread = math.sqrt(s2 + se**2)
    crit = _crit(ci_level, float(k - 1))
    rec.update(pool_method="none", tau2=s2, sigma2_suite=0.0, sigma2_task=s2,
               pi_low=est - crit * spread, pi_high=est + crit * spread)  # fmt: skip
    if not se > 0:
        rec.update(status="no_se", message="the task values are all equal: no spread to use")
    return EntityPool(rec, tasks, clusters, np.full(k, 1.0 / k), s2 * np.eye(k), (0.0, s2))


def split_columns(values: pd.DataFrame) -> tuple[list[str], str]:
    """Context columns and the entity column of a task-values frame.

    Parameters
    ----------
    values : pandas.DataFrame
        Output of :func:`~transferscope.dependence.metrics.task_values`.

    Returns
    -------
    tuple
        The context columns (list) and the entity column (str).
    """
    head = list(values.columns[: list(values.columns).index("task")])
    return head[:-1], head[-1]


def group_key(key: Any) -> tuple[Any, ...]:
    """Turn a groupby key into a tuple whose missing values are ``None`` (so that keys compare).

    Parameters
    ----------
    key : object
        A key of ``DataFrame.groupby`` (a scalar or a tuple).

    Returns
    -------
    tuple
        The key, missing values replaced by ``None``.
    """
    parts = key if isinstance(key, tuple) else (key,)
    return tuple(None if pd.api.types.is_scalar(p) and pd.isna(p) else p for p in parts)


def pool_groups(
    values: pd.DataFrame,
    *,
    suites: Suites,
    robust: bool,
    method: str,
    knha: bool,
    ci_level: float,
    engine: Engine | str | None = None,
    n_jobs: int = 1,
) -> dict[Any, EntityPool]:
    """Pool every entity of a task-values frame (one context or several), context by context.

    Parameters
    ----------
    values : pandas.DataFrame
        Output of :func:`~transferscope.dependence.metrics.task_values`.
    suites, robust, method, knha, ci_level
        As in :func:`pool_task_values`.
    engine, n_jobs
        Where the contexts are pooled (see :mod:`transferscope.engine`).

    Returns
    -------
    dict
        ``(context..., entity) -> EntityPool``, in sorted order.
    """
    context, entity = split_columns(values)
    labels = task_suites(values["task"].astype(str), suites=suites).to_numpy()
    job = functools.partial(
        _pool_context,
        entity=entity,
        options={"robust": robust, "method": method, "knha": knha, "ci_level": ci_level},
    )
    frame = values.assign(_cluster=labels)
    out: dict[Any, EntityPool] = {}
    for key, pools in map_groups(frame, context, job, engine=engine, n_jobs=n_jobs):
        for label, pool in pools:
            out[(*group_key(key), label)] = pool
    return out


def _pool_context(
    key: tuple[Any, ...], frame: pd.DataFrame, *, entity: str, options: dict[str, Any]
) -> list[tuple[Any, EntityPool]]:
    """Pool each entity of one context (one job of an engine)."""
    out = []
    for raw, group in frame.groupby(entity, dropna=False, sort=True):
        pool = pool_entity(
            group["estimate"].to_numpy(dtype=float),
            group["variance"].to_numpy(dtype=float),
            group["task"].astype(str).tolist(),
            group["_cluster"].astype(str).tolist(),
            **options,
        )
        pool.record["metric"] = group["metric"].iloc[0]
        pool.record["se_source"] = worst_source(group["se_source"].tolist())
        out.append((group_key(raw)[0], pool))
    return out


def pool_task_values(
    values: pd.DataFrame,
    *,
    suites: Suites = "auto",
    robust: bool = True,
    method: PoolMethod | str = "DL",
    knha: bool = False,
    ci_level: float = 0.95,
    engine: Engine | str | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Pool per-task values across tasks, per context and entity (models: module docstring).

    Parameters
    ----------
    values : pandas.DataFrame
        Output of :func:`transferscope.dependence.metrics.task_values`.
    suites : "auto", mapping or None, default "auto"
        Suites of tasks (:func:`~transferscope.dependence.suites.suite_of`); ``None`` pools
        every task as independent.
    robust : bool, default True
        CR2 cluster-robust errors (clusters = suites) for the three-level model.
    method : {"DL", "REML", "PM", "FE"}, default "DL"
        tau^2 estimator of the univariate model (the three-level model is fitted by REML;
        ``"FE"`` pools every task as independent with fixed effect).
    knha : bool, default False
        Knapp-Hartung adjustment of the univariate model.
    ci_level : float, default 0.95
        Confidence level.
    engine : Engine, "local", "dask" or None
        Where the contexts are pooled (see :mod:`transferscope.engine`).
    n_jobs : int, default 1
        Local worker processes (or Dask workers of a local cluster).

    Returns
    -------
    pandas.DataFrame
        One row per (context, entity): the context columns, the entity column, ``metric``,
        ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``df`` (of the t interval;
        ``inf`` for z), ``pi_low``, ``pi_high`` (prediction interval for a new task),
        ``tau2`` (heterogeneity between tasks: ``sigma2_suite + sigma2_task``),
        ``sigma2_suite``, ``sigma2_task``, ``i2`` (percent; univariate model only), ``q``,
        ``q_pvalue``, ``n_tasks``, ``n_suites`` (clusters: suites, and tasks without one),
        ``pool_model`` (see :data:`POOL_MODELS`), ``pool_method`` (tau^2 estimator),
        ``knha``, ``se_source`` (weakest of the tasks'), ``status`` (``ok``, ``no_se``) and
        ``message``.
    """
    suites = check_suites(suites)
    method = check_method(method)
    if not 0 < ci_level < 1:
        raise InputError(f"confidence level {ci_level} must lie strictly between 0 and 1")
    context, entity = split_columns(values)
    pools = pool_groups(
        values,
        suites=suites,
        robust=robust,
        method=method,
        knha=knha,
        ci_level=ci_level,
        engine=engine,
        n_jobs=n_jobs,
    )
    rows = []
    for key, pool in pools.items():
        record = dict(zip([*context, entity], key, strict=True))
        record.update({c: pool.record.get(c) for c in POOLED_COLUMNS})
        rows.append(record)
    frame = pd.DataFrame(rows, columns=[*context, entity, *POOLED_COLUMNS])
    return align_dtypes(frame, values)


def pooled_dependence(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    *,
    by: Sequence[str] | str | None = None,
    entity: str = "method",
    suites: Suites = "auto",
    robust: bool = True,
    method: PoolMethod | str = "DL",
    knha: bool = False,
    ci_level: float = 0.95,
    engine: Engine | str | None = None,
    n_jobs: int = 1,
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
        Columns that keep analyses apart (replacing the default grouping; see
        :func:`~transferscope.dependence.metrics.measure_dependence`).
    entity : str, default "method"
        Column compared across.
    suites, robust, method, knha, ci_level, engine, n_jobs
        As in :func:`pool_task_values`.
    **options
        ``x``, ``downstream_metric``, ``hparams``, ``checkpoint``, ``checkpoints``,
        ``min_checkpoints``, ``min_span``, ``min_gain_se`` of
        :func:`transferscope.dependence.metrics.task_values`.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`pool_task_values`.
    """
    values = task_values(runs, metric, by=by, entity=entity, ci_level=ci_level, **options)
    return pool_task_values(
        values,
        suites=suites,
        robust=robust,
        method=method,
        knha=knha,
        ci_level=ci_level,
        engine=engine,
        n_jobs=n_jobs,
    )


def _residual_correlation(a: EntityPool, b: EntityPool, ya: dict[str, float],
                          yb: dict[str, float]) -> float:  # fmt: skip
    shared = [t for t in a.tasks if t in yb]
    if len(shared) < 3:
        return 0.0
    ra = np.array([ya[t] for t in shared]) - float(a.record["estimate"])
    rb = np.array([yb[t] for t in shared]) - float(b.record["estimate"])
    if np.std(ra) == 0 or np.std(rb) == 0:
        return 0.0
    return float(np.clip(np.corrcoef(ra, rb)[0, 1], -1.0, 1.0))


def joint_covariance(
    pools: Sequence[EntityPool],
    values: Sequence[pd.DataFrame],
) -> FloatArray:
    """Covariance of the pooled estimates of the entities of one context.

    Entity ``a``'s estimate is ``c_a' y_a`` (its pooling weights). Two entities' task values
    covary through (i) the scratch baseline, when both gains on a task were measured against
    the same scratch runs (its variance, ``baseline_variance``), and (ii) the tasks themselves:
    a task on which one method gains more than usual tends to favour the other too. (ii) is
    modelled as a correlation ``rho_ab`` of the two entities' random effects, estimated by the
    correlation of their residuals across the tasks they share (0 with fewer than three), so that
    ``cov(y_ai, y_bj) = rho_ab (sqrt(s_a s_b) + sqrt(t_a t_b))`` for the same task and
    ``rho_ab sqrt(s_a s_b)`` for two tasks of one suite (``s``: suite variance, ``t``: task
    variance of each entity's model). The implied correlation of the two estimates is then
    applied to their reported standard errors (robust ones where the model used them), and the
    correlation matrix is made positive semi-definite.

    Parameters
    ----------
    pools : sequence of EntityPool
        The entities, in ranking order.
    values : sequence of pandas.DataFrame
        Each entity's task-values rows (``task``, ``estimate``, ``baseline``,
        ``baseline_variance``), in the same order.

    Returns
    -------
    ndarray, shape (n, n)
        Covariance of the estimates (NaN rows and columns for entities without a standard
        error).
    """
    n = len(pools)
    se = np.array([float(p.record["se"]) for p in pools])
    corr = np.eye(n)
    ys = [
        dict(zip(v["task"].astype(str), v["estimate"].astype(float), strict=True)) for v in values
    ]
    base = [
        {
            t: (str(b), float(bv))
            for t, b, bv in zip(
                v["task"].astype(str), v["baseline"], v["baseline_variance"], strict=True
            )
            if b is not None and not pd.isna(b) and np.isfinite(bv)
        }
        for v in values
    ]
    var_model = np.array([float(p.weights @ p.cov @ p.weights) if p.weights.size else math.nan
                          for p in pools])  # fmt: skip
    for i in range(n):
        for j in range(i + 1, n):
            a, b = pools[i], pools[j]
            if not (a.weights.size and b.weights.size) or not (
                var_model[i] > 0 and var_model[j] > 0
            ):
                continue
            rho = _residual_correlation(a, b, ys[i], ys[j])
            suite_part = math.sqrt(max(a.sigma2[0], 0.0) * max(b.sigma2[0], 0.0))
            task_part = math.sqrt(max(a.sigma2[1], 0.0) * max(b.sigma2[1], 0.0))
            cross = np.zeros((a.weights.size, b.weights.size))
            for r, (ta, ca) in enumerate(zip(a.tasks, a.clusters, strict=True)):
                for s, (tb, cb) in enumerate(zip(b.tasks, b.clusters, strict=True)):
                    if ta == tb:
                        cross[r, s] = rho * (suite_part + task_part)
                        ba, bb = base[i].get(ta), base[j].get(tb)
                        if ba is not None and bb is not None and ba[0] == bb[0]:
                            cross[r, s] += ba[1]
                    elif ca == cb and ca.startswith("suite:"):
                        cross[r, s] = rho * suite_part
            cov = float(a.weights @ cross @ b.weights)
            corr[i, j] = corr[j, i] = cov / math.sqrt(var_model[i] * var_model[j])
    corr = np.clip(corr, -1.0, 1.0)
    values_, vectors = np.linalg.eigh(corr)
    if values_.min() < 0:
        fixed = (vectors * np.maximum(values_, 0.0)) @ vectors.T
        d = np.sqrt(np.maximum(np.diag(fixed), 1e-300))
        corr = fixed / np.outer(d, d)
    return np.asarray(corr * np.outer(se, se), dtype=np.float64)
