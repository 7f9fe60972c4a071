"""Per-method slopes from one mixed model across tasks (statsmodels MixedLM).

``y ~ x * entity + (1 + x | task)``, fitted by REML: ``y = logit(DS)`` and ``x = logit(US)`` per
checkpoint cell (see :mod:`~transferscope.dependence.cells`), a fixed intercept and slope per
entity (the reference level's, plus the others' differences) and a random intercept and slope per
task with an unstructured 2 x 2 covariance. This is
``lmer(y ~ x * method + (1 + x | task), REML = TRUE)``; the tests reproduce lme4 on a reference
data set.

A fit that cannot be made is a status, not an exception: statsmodels' ``ConvergenceWarning`` is
caught; when L-BFGS does not converge, Powell and then Nelder-Mead are tried. ``status`` is
``ok``, ``boundary`` (converged with a singular random-effects covariance: a variance near zero
or a correlation near +/-1, or a Hessian that is not positive definite, so that standard errors
are doubtful), ``did_not_converge`` (estimates of the last attempt, to be
treated with caution) or ``failed`` (no estimates), and ``too_few`` when there are fewer than two
tasks or entities.
"""

from __future__ import annotations

import functools
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning, SingularMatrixWarning

from transferscope.dependence.cells import align_dtypes, checkpoint_cells, entity_labels
from transferscope.engine import Engine, map_groups
from transferscope.errors import InputError
from transferscope.records import Record

OPTIMIZERS: tuple[str, ...] = ("lbfgs", "powell", "nm")
_STATUS_WARNINGS = (ConvergenceWarning, SingularMatrixWarning)
#: ``warnings.catch_warnings`` swaps process-wide state: two contexts fitted at once in threads
#: (a Dask worker's threads) would record each other's warnings, and a singular fit's warning
#: would make another context's fit "boundary". The fits that read their warnings take turns.
_WARNINGS_LOCK = threading.Lock()


@dataclass(frozen=True, kw_only=True)
class SlopeModel(Record):
    """Result of :func:`fit_slope_model`.

    Attributes
    ----------
    terms : tuple of str
        Fixed-effect names, in lme4's order: ``intercept``, ``x``, ``{entity}[LEVEL]`` per
        non-reference level, ``x:{entity}[LEVEL]``.
    coef, se : tuple of float
        Fixed effects and their standard errors.
    entities : tuple of str
        Levels, the reference first.
    slopes, slopes_se : tuple of float
        Slope of each level (reference slope plus its difference) and its standard error.
    reference : str
        Reference level.
    var_intercept, var_slope, cov_intercept_slope : float
        Covariance of the random intercept and slope per group.
    sigma2 : float
        Residual variance.
    reml_criterion : float
        -2 times the restricted log-likelihood (lme4's ``REMLcrit``).
    n_obs, n_groups : int
        Points and groups (tasks).
    converged : bool
        Whether the optimizer reported convergence.
    optimizer : str
        The optimizer whose result is reported.
    status : str
        ``ok``, ``boundary``, ``did_not_converge``, ``failed`` or ``too_few``.
    """

    terms: tuple[str, ...]
    coef: tuple[float, ...]
    se: tuple[float, ...]
    entities: tuple[str, ...]
    slopes: tuple[float, ...]
    slopes_se: tuple[float, ...]
    reference: str
    var_intercept: float
    var_slope: float
    cov_intercept_slope: float
    sigma2: float
    reml_criterion: float
    n_obs: int
    n_groups: int
    converged: bool
    optimizer: str
    status: str

    def summary(self) -> pd.DataFrame:
        """One row per fixed effect.

        Returns
        -------
        pandas.DataFrame
            Columns ``term``, ``estimate``, ``se``.
        """
        return pd.DataFrame({"term": self.terms, "estimate": self.coef, "se": self.se})


def _design(
    frame: pd.DataFrame, y: str, x: str, entity: str, reference: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    levels = [reference, *sorted(str(v) for v in frame[entity].unique() if str(v) != reference)]
    labels = frame[entity].astype(str).to_numpy()
    xv = frame[x].to_numpy(dtype=float)
    dummies = [(labels == lv).astype(float) for lv in levels[1:]]
    exog = np.column_stack([np.ones(len(frame)), xv, *dummies, *[d * xv for d in dummies]])
    terms = ["intercept", "x"] + [f"{entity}[{lv}]" for lv in levels[1:]]
    terms += [f"x:{entity}[{lv}]" for lv in levels[1:]]
    exog_re = np.column_stack([np.ones(len(frame)), xv])
    return frame[y].to_numpy(dtype=float), exog, exog_re, terms, levels


def _on_boundary(result: Any) -> bool:
    """Whether the random-effects covariance is singular: a zero variance or a correlation of 1.

    statsmodels' own warning flags any variance below 0.01 in absolute terms, which on a logit
    scale is an ordinary value; the relative check here does not depend on the units.
    """
    cov = np.asarray(result.cov_re, dtype=float)
    scale = max(float(np.trace(cov)), float(result.scale), 1e-300)
    return bool(np.linalg.eigvalsh(cov).min() <= 1e-6 * scale)


def _empty(status: str, reference: str, n_obs: int, n_groups: int) -> SlopeModel:
    nan = math.nan
    return SlopeModel(
        terms=(),
        coef=(),
        se=(),
        entities=(),
        slopes=(),
        slopes_se=(),
        reference=reference,
        var_intercept=nan,
        var_slope=nan,
        cov_intercept_slope=nan,
        sigma2=nan,
        reml_criterion=nan,
        n_obs=n_obs,
        n_groups=n_groups,
        converged=False,
        optimizer="",
        status=status,
    )


def fit_slope_model(
    frame: pd.DataFrame,
    *,
    y: str = "y",
    x: str = "x",
    entity: str = "method",
    group: str = "task",
    reference: str | None = None,
    optimizers: Sequence[str] = OPTIMIZERS,
) -> SlopeModel:
    """Fit ``y ~ x * entity + (1 + x | group)`` by REML.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per point, with columns ``y``, ``x``, ``entity`` and ``group``.
    y, x, entity, group : str
        Column names.
    reference : str, optional
        Reference level of ``entity``: ``"full_ft"`` when present, else the first in sorted
        order.
    optimizers : sequence of str, default ("lbfgs", "powell", "nm")
        statsmodels optimizers tried in turn until one converges.

    Returns
    -------
    SlopeModel
        Frozen result; see its ``status``.

    Raises
    ------
    InputError
        Missing columns or an unknown reference level.
    """
    for col in (y, x, entity, group):
        if col not in frame.columns:
            raise InputError(f"no column {col!r} for the mixed model", column=col)
    data = frame[np.isfinite(frame[y].to_numpy(dtype=float))]
    data = data[np.isfinite(data[x].to_numpy(dtype=float))]
    levels = sorted(str(v) for v in data[entity].unique())
    if reference is None:
        reference = "full_ft" if "full_ft" in levels else (levels[0] if levels else "")
    elif reference not in levels:
        raise InputError(f"reference {reference!r} is not a level of {entity!r}: {levels}")
    n_groups = int(data[group].nunique())
    if len(levels) < 2 or n_groups < 2:
        return _empty("too_few", reference, len(data), n_groups)
    endog, exog, exog_re, terms, levels = _design(data, y, x, entity, reference)
    groups = data[group].astype(str).to_numpy()
    model = MixedLM(endog, exog, groups, exog_re=exog_re)
    result: Any = None
    status, used = "failed", ""
    for optimizer in optimizers:
        with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
            # statsmodels reports non-convergence, singular fits and its boundary heuristic as
            # ConvergenceWarning / SingularMatrixWarning; they become the status below
            warnings.simplefilter("always")
            try:
                attempt = model.fit(reml=True, method=[optimizer])
            except (np.linalg.LinAlgError, ValueError):
                attempt = None
        expected = [w for w in caught if issubclass(w.category, _STATUS_WARNINGS)]
        for w in caught:  # anything else is not ours to hide
            if not issubclass(w.category, _STATUS_WARNINGS):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if attempt is None:
            continue
        messages = [str(w.message).lower() for w in expected]
        result, used = attempt, optimizer
        failed = any("failed" in m or "did not converge" in m for m in messages)
        if attempt.converged and not failed:
            singular = any("positive definite" in m or "singular" in m for m in messages)
            status = "boundary" if singular or _on_boundary(attempt) else "ok"
            break
        status = "did_not_converge"
    if result is None:
        return _empty("failed", reference, len(data), n_groups)
    k = exog.shape[1]
    coef = np.asarray(result.fe_params, dtype=float)
    cov = np.asarray(result.cov_params(), dtype=float)[:k, :k]
    se = np.sqrt(np.diag(cov))
    n_lv = len(levels) - 1
    slopes, slopes_se = [coef[1]], [se[1]]
    for i in range(n_lv):
        j = 2 + n_lv + i
        slopes.append(coef[1] + coef[j])
        slopes_se.append(math.sqrt(cov[1, 1] + cov[j, j] + 2 * cov[1, j]))
    cov_re = np.asarray(result.cov_re, dtype=float)
    return SlopeModel(
        terms=tuple(terms),
        coef=tuple(map(float, coef)),
        se=tuple(map(float, se)),
        entities=tuple(levels),
        slopes=tuple(map(float, slopes)),
        slopes_se=tuple(map(float, slopes_se)),
        reference=reference,
        var_intercept=float(cov_re[0, 0]),
        var_slope=float(cov_re[1, 1]),
        cov_intercept_slope=float(cov_re[0, 1]),
        sigma2=float(result.scale),
        reml_criterion=float(-2.0 * result.llf),
        n_obs=len(data),
        n_groups=n_groups,
        converged=bool(result.converged),
        optimizer=used,
        status=status,
    )


def method_slopes(
    runs: pd.DataFrame,
    *,
    by: Sequence[str] | str | None = None,
    entity: str = "method",
    reference: str | None = None,
    x: str = "upstream_score",
    downstream_metric: str | None = None,
    hparams: Literal["best", "all"] = "best",
    ci_level: float = 0.95,
    engine: Engine | str | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Slope of ``logit(DS)`` on ``logit(US)`` per entity from one mixed model per context.

    The points are the pretrained checkpoint cells of
    :func:`~transferscope.dependence.cells.checkpoint_cells` (mean over seeds; ``x`` and ``y`` on
    the transformed scales described there).

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    by : str or sequence of str, optional
        Columns that keep analyses apart (replacing the default grouping, as in
        :func:`transferscope.dependence.metrics.measure_dependence`).
    entity : str, default "method"
        Column whose levels get their own slope (a method at several numbers of shots: one
        level per number, ``method@shots``).
    reference : str, optional
        Reference level (default ``"full_ft"`` when present).
    x, downstream_metric, hparams
        As in :func:`transferscope.dependence.metrics.measure_dependence`.
    ci_level : float, default 0.95
        Level of the (normal) confidence intervals.
    engine : Engine, "local", "dask" or None
        Where the contexts' models are fitted (see :mod:`transferscope.engine`).
    n_jobs : int, default 1
        Local worker processes (or Dask workers of a local cluster).

    Returns
    -------
    pandas.DataFrame
        One row per (context, entity level): the context columns, the entity column, ``slope``,
        ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``reference``, ``diff_from_reference``
        (fixed interaction), ``diff_se``, ``diff_pvalue`` (Wald), ``var_intercept``,
        ``var_slope``, ``cov_intercept_slope``, ``sigma2``, ``n_points``, ``n_tasks``,
        ``converged``, ``optimizer``, ``status``.
    """
    if not 0 < ci_level < 1:
        raise InputError(f"confidence level {ci_level} must lie strictly between 0 and 1")
    level = float(ci_level)
    cells, layout = checkpoint_cells(
        runs, entity=entity, by=by, x=x, downstream_metric=downstream_metric, hparams=hparams
    )
    cells = cells.assign(**{entity: entity_labels(cells, layout).to_numpy()})
    points = cells[cells["pretrained"] & np.isfinite(cells["x"]) & np.isfinite(cells["y"])]
    context = list(layout.context)
    job = functools.partial(
        _slopes_job, context=context, entity=entity, reference=reference, level=level
    )
    rows = [
        row
        for _, part in map_groups(points, context, job, engine=engine, n_jobs=n_jobs)
        for row in part
    ]
    columns = [
        *context, entity, "slope", "se", "ci_low", "ci_high", "ci_level", "reference",
        "diff_from_reference", "diff_se", "diff_pvalue", "var_intercept", "var_slope",
        "cov_intercept_slope", "sigma2", "n_points", "n_tasks", "converged", "optimizer",
        "status",
    ]  # fmt: skip
    return align_dtypes(pd.DataFrame(rows, columns=columns), points)


def _slopes_job(
    key: tuple[Any, ...],
    group: pd.DataFrame,
    *,
    context: list[str],
    entity: str,
    reference: str | None,
    level: float,
) -> list[dict[str, Any]]:
    """Fit the mixed model of one context; one row per entity level (one job of an engine)."""
    ctx = dict(zip(context, key, strict=True))
    z = float(stats.norm.ppf(0.5 + level / 2))
    ref = reference
    if ref is not None and ref not in set(group[entity].astype(str)):
        ref = None
    fit = fit_slope_model(group, y="y", x="x", entity=entity, group="task", reference=ref)
    common = {
        "reference": fit.reference, "var_intercept": fit.var_intercept,
        "var_slope": fit.var_slope, "cov_intercept_slope": fit.cov_intercept_slope,
        "sigma2": fit.sigma2, "n_tasks": fit.n_groups, "converged": fit.converged,
        "optimizer": fit.optimizer, "status": fit.status,
    }  # fmt: skip
    labels = group[entity].astype(str)
    if not fit.entities:
        return [
            {**ctx, entity: e, **common, "n_points": int((labels == e).sum())}
            for e in sorted(labels.unique())
        ]
    rows = []
    n_lv = len(fit.entities) - 1
    for i, e in enumerate(fit.entities):
        slope, se = fit.slopes[i], fit.slopes_se[i]
        if i == 0:
            diff, diff_se, diff_p = 0.0, 0.0, math.nan
        else:
            j = 2 + n_lv + i - 1
            diff, diff_se = fit.coef[j], fit.se[j]
            diff_p = float(2 * stats.norm.sf(abs(diff / diff_se))) if diff_se > 0 else math.nan
        rows.append(
            {
                **ctx,
                entity: e,
                "slope": slope,
                "se": se,
                "ci_low": slope - z * se,
                "ci_high": slope + z * se,
                "ci_level": level,
                "diff_from_reference": diff,
                "diff_se": diff_se,
                "diff_pvalue": diff_p,
                "n_points": int((labels == e).sum()),
                **common,
            }
        )
    return rows
