"""How stable a ranking is: Friedman / Nemenyi and Kendall's W across tasks; suites' agreement.

- :func:`friedman_nemenyi`: within each task the entities are ranked (1 = first in the ranking
  order, ties averaged); the Friedman test asks whether their mean ranks differ, the Nemenyi
  critical difference says which do (Demsar 2006), and Kendall's coefficient of concordance
  ``W = chi2_F / (N (k - 1))`` (0: the tasks order the entities at random, 1: every task gives
  the same order) measures the agreement of the tasks, tested by the same Friedman statistic.
- :func:`suite_agreement`: the entities are ranked within each suite of tasks (pooled as
  :func:`~transferscope.dependence.pooling.pool_task_values` does) and every pair of suites is
  compared by the weighted Kendall tau (Vigna 2015, :func:`scipy.stats.weightedtau`, hyperbolic
  weights that count agreement at the top most), with a permutation p-value.

Bootstrap intervals of each entity's rank are in
:func:`~transferscope.dependence.ranking.rank_methods` (``rank_low``, ``rank_high``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from transferscope.dependence.cells import align_dtypes
from transferscope.dependence.metrics import MORE_DEPENDENT, Metric, task_values
from transferscope.dependence.pooling import pool_groups, split_columns
from transferscope.dependence.ranking import Order, orientation
from transferscope.dependence.suites import Suites, check_suites, suite_of
from transferscope.errors import InputError
from transferscope.rng import make_rng
from transferscope.stats.meta import PoolMethod
from transferscope.stats.tau2 import check_method

#: Permutations beyond which the p-value of the weighted tau is estimated by random ones.
EXACT_PERMUTATIONS = 5040


def friedman_nemenyi_kernel(scores: np.ndarray, *, alpha: float = 0.05) -> dict[str, Any]:
    """Friedman test, Nemenyi critical difference and Kendall's W on a tasks x entities table.

    Parameters
    ----------
    scores : ndarray, shape (n_tasks, n_entities)
        Oriented values (larger ranks first), no missing values.
    alpha : float, default 0.05
        Level of the critical difference.

    Returns
    -------
    dict
        ``mean_rank`` (ndarray, 1 = first, ties averaged), ``statistic`` (Friedman chi-square
        with scipy's tie correction), ``df``, ``pvalue``, ``kendall_w`` (``statistic / (N (k -
        1))``), ``critical_difference`` (``q_alpha(k, inf) / sqrt(2) * sqrt(k (k + 1) / (6 N))``),
        ``nemenyi_pvalue`` (ndarray, of each entity against the first by mean rank),
        ``n_tasks``, ``n_entities``.
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
        "kendall_w": float(chisq / (n * (k - 1))),
        "critical_difference": q_crit / math.sqrt(2.0) * scale,
        "nemenyi_pvalue": nemenyi,
        "n_tasks": n,
        "n_entities": k,
    }


def friedman_nemenyi(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    *,
    by: Sequence[str] | str | None = None,
    entity: str = "method",
    order: Order = "most",
    alpha: float = 0.05,
    **options: Any,
) -> pd.DataFrame:
    """Friedman test of the entities' ranks across tasks, Nemenyi critical difference, Kendall's W.

    Only tasks on which every entity of the context has a value are used (complete blocks).
    Within each task the first entity in the ranking order (most dependent, by default) gets
    rank 1 (ties averaged), as in :func:`~transferscope.dependence.ranking.rank_methods`.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    metric : {"gain", "slope", "retention"}, default "gain"
        Dependence metric.
    by, entity, order
        As in :func:`~transferscope.dependence.ranking.rank_methods`.
    alpha : float, default 0.05
        Level of the critical difference.
    **options
        ``x``, ``downstream_metric``, ``hparams``, ``checkpoint`` and the other options of
        :func:`transferscope.dependence.metrics.task_values`.

    Returns
    -------
    pandas.DataFrame
        One row per (context, entity), best mean rank first: the context columns, the entity
        column, ``mean_rank`` (1 = first), ``rank`` (1 = best mean rank), ``nemenyi_pvalue``
        (against the first), ``within_cd`` (mean rank within the critical difference of the
        first), ``statistic``, ``df``, ``pvalue`` (Friedman), ``kendall_w`` (agreement of the
        tasks' orders, 0 to 1, tested by the Friedman p-value), ``critical_difference``,
        ``alpha``, ``n_tasks`` (complete tasks), ``n_entities``, ``metric``,
        ``more_dependent``, ``order``, ``status`` (``ok``, or ``too_few`` with fewer than two
        entities or two complete tasks).
    """
    sign = orientation(str(metric), str(order))
    values = task_values(runs, metric, by=by, entity=entity, **options)
    context, ent = split_columns(values)
    base = {
        "metric": metric, "more_dependent": MORE_DEPENDENT[str(metric)], "alpha": alpha,
        "order": "most_dependent_first" if order == "most" else "least_dependent_first",
    }  # fmt: skip
    rows: list[dict[str, Any]] = []
    for key, group in values.groupby(context, dropna=False, sort=True):
        ctx = dict(zip(context, key if isinstance(key, tuple) else (key,), strict=True))
        wide = group.pivot_table(index="task", columns=ent, values="estimate", aggfunc="first")
        wide = wide.dropna(axis=0, how="any")
        entities = list(wide.columns)
        if len(entities) < 2 or len(wide) < 2:
            for e in sorted(group[ent].unique()):
                rows.append({**ctx, ent: e, **base, "n_tasks": len(wide), "status": "too_few",
                             "n_entities": len(entities)})  # fmt: skip
            continue
        res = friedman_nemenyi_kernel(sign * wide.to_numpy(dtype=float), alpha=alpha)
        order_idx = np.lexsort((np.array([str(e) for e in entities]), res["mean_rank"]))
        best = res["mean_rank"].min()
        for r, i in enumerate(order_idx):
            rows.append(
                {
                    **ctx, ent: entities[i], "mean_rank": float(res["mean_rank"][i]),
                    "rank": r + 1, "nemenyi_pvalue": float(res["nemenyi_pvalue"][i]),
                    "within_cd": bool(res["mean_rank"][i] - best <= res["critical_difference"]),
                    "statistic": res["statistic"], "df": res["df"], "pvalue": res["pvalue"],
                    "kendall_w": res["kendall_w"],
                    "critical_difference": res["critical_difference"], "n_tasks": res["n_tasks"],
                    "n_entities": res["n_entities"], "status": "ok", **base,
                }
            )  # fmt: skip
    columns = [
        *context, ent, "mean_rank", "rank", "nemenyi_pvalue", "within_cd", "statistic", "df",
        "pvalue", "kendall_w", "critical_difference", "alpha", "n_tasks", "n_entities", "metric",
        "more_dependent", "order", "status",
    ]  # fmt: skip
    return align_dtypes(pd.DataFrame(rows, columns=columns), values)


def _tau_pvalue(a: np.ndarray, b: np.ndarray, tau: float, n_perm: int,
                rng: np.random.Generator) -> float:  # fmt: skip
    """One-sided permutation p-value of a weighted tau at least as large as observed."""
    k = a.size
    if math.factorial(k) <= EXACT_PERMUTATIONS:
        perms: Any = itertools.permutations(range(k))
        taus = [stats.weightedtau(a, b[list(p)]).statistic for p in perms]
    else:
        taus = [stats.weightedtau(a, b[rng.permutation(k)]).statistic for _ in range(n_perm)]
        taus.append(tau)
    return float(np.mean(np.asarray(taus) >= tau - 1e-12))


def suite_agreement(
    runs: pd.DataFrame,
    metric: Metric | str = "gain",
    *,
    by: Sequence[str] | str | None = None,
    entity: str = "method",
    order: Order = "most",
    suites: Suites = "auto",
    method: PoolMethod | str = "DL",
    bootstrap: int = 999,
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Agreement of the rankings made within different suites (weighted Kendall tau).

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    metric : {"gain", "slope", "retention"}, default "gain"
        Dependence metric.
    by, entity, order
        As in :func:`~transferscope.dependence.ranking.rank_methods`.
    suites : "auto" or mapping, default "auto"
        Suites of tasks (only suites with two or more tasks of the context are ranked).
    method : {"DL", "REML", "PM", "FE"}, default "DL"
        tau^2 estimator of the pooling within a suite.
    bootstrap : int, default 999
        Random permutations for the p-value when there are more than 7 entities (fewer are
        enumerated exactly).
    seed, rng
        Randomness of those permutations (``rng`` wins).
    **options
        The options of :func:`transferscope.dependence.metrics.task_values`.

    Returns
    -------
    pandas.DataFrame
        One row per context and pair of suites: the context columns, ``suite_a``, ``suite_b``,
        ``n_entities`` (ranked in both), ``weighted_tau`` (scipy's hyperbolic weighted tau of
        the oriented pooled estimates: 1 = the same order), ``pvalue`` (one-sided permutation
        test of agreement), ``top_a``, ``top_b`` (first entity within each suite: the most
        dependent with ``order="most"``), ``metric``, ``more_dependent``, ``status`` (``ok``,
        or ``too_few`` with fewer than three common entities).
    """
    sign = orientation(str(metric), str(order))
    suites = check_suites(suites)
    if suites is None:
        raise InputError("suite_agreement needs suites ('auto' or a mapping)")
    method = check_method(method)
    generator = make_rng(seed, rng)
    values = task_values(runs, metric, by=by, entity=entity, **options)
    context, _ = split_columns(values)
    names = {t: suite_of(str(t), suites=suites) for t in values["task"].astype(str).unique()}
    values = values.assign(_suite=values["task"].astype(str).map(names))
    values = values[values["_suite"].notna()]
    rows: list[dict[str, Any]] = []
    for key, group in values.groupby(context, dropna=False, sort=True):
        ctx = dict(zip(context, key if isinstance(key, tuple) else (key,), strict=True))
        sizes = group.groupby("_suite")["task"].nunique()
        ranked: dict[str, pd.Series] = {}
        for suite in sorted(sizes[sizes >= 2].index):
            part = group[group["_suite"] == suite].drop(columns="_suite")
            pools = pool_groups(part, suites=None, robust=False, method=method, knha=False,
                                ci_level=0.95)  # fmt: skip
            est = {k[-1]: sign * float(p.record["estimate"]) for k, p in pools.items()}
            ranked[suite] = pd.Series(est).dropna()
        for sa, sb in itertools.combinations(sorted(ranked), 2):
            common = ranked[sa].index.intersection(ranked[sb].index)
            a = ranked[sa].loc[common].to_numpy(dtype=float)
            b = ranked[sb].loc[common].to_numpy(dtype=float)
            record: dict[str, Any] = {
                **ctx, "suite_a": sa, "suite_b": sb, "n_entities": int(common.size),
                "weighted_tau": math.nan, "pvalue": math.nan, "top_a": None, "top_b": None,
                "metric": metric, "more_dependent": MORE_DEPENDENT[str(metric)],
                "status": "too_few",
            }  # fmt: skip
            if common.size >= 3:
                tau = float(stats.weightedtau(a, b).statistic)
                record.update(
                    weighted_tau=tau, pvalue=_tau_pvalue(a, b, tau, bootstrap, generator),
                    top_a=str(common[int(np.argmax(a))]), top_b=str(common[int(np.argmax(b))]),
                    status="ok",
                )  # fmt: skip
            rows.append(record)
    columns = [*context, "suite_a", "suite_b", "n_entities", "weighted_tau", "pvalue", "top_a",
               "top_b", "metric", "more_dependent", "status"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
