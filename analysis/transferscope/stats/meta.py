"""Random-effects meta-analysis and meta-regression (numpy/scipy kernels, no pandas input).

The tau^2 estimators (DL, REML, PM, FE) and their solvers are in :mod:`~transferscope.stats.tau2`;
the numbers match R's metafor (``rma()``), whose reference values the tests reproduce.

The Knapp-Hartung adjustment scales the variance of the coefficients by
``sum w_i e_i^2 / (k - p)`` (not truncated at one, as metafor's ``test="knha"``) and uses t
quantiles with ``k - p`` degrees of freedom.

I^2 and H^2 follow metafor: for random-effects fits ``I^2 = 100 tau^2 / (tau^2 + s^2)`` and
``H^2 = (tau^2 + s^2) / s^2`` with the typical within-study variance
``s^2 = (k - p) / tr(P_0)``; for the fixed-effect fit ``I^2 = max(0, 100 (Q - (k - p)) / Q)``
and ``H^2 = Q / (k - p)``.

Degenerate input: empty, mismatched, non-finite or non-positive variances raise
:class:`~transferscope.errors.InputError` naming the position. A single effect (k = 1) is not an
error: the result is the effect itself with its own standard error, tau^2 = 0, Q = 0, I^2, H^2
and the Q p-value undefined (NaN), and ``status="single_effect"``.

Extreme scales: variances far from 1 (a median below ``2**-60`` or above ``2**60``, e.g. 1e-300
or 1e300) are brought near 1 by an exact power of two (effects divided by ``s``, variances by
``s**2``) and the results scaled back; the analysis is equivariant under that change of units.
What double precision cannot hold even so (variances spanning hundreds of orders of magnitude,
effects near the largest float) gives ``status="degenerate"`` with a ``message`` and NaN numbers,
never an exception and never ``"ok"`` with a NaN.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from transferscope.errors import InputError
from transferscope.records import Record
from transferscope.stats.multilevel import (
    MultilevelEffect,
    MultilevelRegression,
    pool_multilevel,
    regression_fit,
)
from transferscope.stats.tau2 import (
    POOL_METHODS,
    SOLVERS,
    PoolMethod,
    Solver,
    check_method,
    estimate_tau2,
    pool_resampled,
    tau2_qprofile,
    trace_p,
    weighted_fit,
)

__all__ = [
    "POOL_METHODS",
    "SOLVERS",
    "MetaRegression",
    "PoolMethod",
    "PooledEffect",
    "Solver",
    "estimate_tau2",
    "meta_regression",
    "pool_effects",
    "pool_resampled",
]

FloatArray = npt.NDArray[np.float64]


def _as_inputs(effects: npt.ArrayLike, variances: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    try:
        y = np.asarray(effects, dtype=np.float64).ravel()
        v = np.asarray(variances, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"effects and variances must be numbers ({exc})") from None
    if y.size == 0:
        raise InputError("no effects to pool (expected at least one)")
    if y.size != v.size:
        raise InputError(f"{y.size} effects but {v.size} variances (expected one variance each)")
    for name, arr in (("effect", y), ("variance", v)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise InputError(f"{name} at position {bad[0]} is {arr[bad[0]]} (expected a number)")
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise InputError(
            f"variance at position {bad[0]} is {v[bad[0]]} (expected a positive sampling variance)"
        )
    return y, v


@dataclass(frozen=True)
class _Fit:
    coef: FloatArray
    cov: FloatArray
    tau2: float
    q: float
    q_pvalue: float
    i2: float
    h2: float
    df: float  # inf for z tests


def _fit(y: FloatArray, v: FloatArray, x: FloatArray, method: str, knha: bool, solver: str) -> _Fit:
    k, p = x.shape
    tau2 = estimate_tau2(y, v, x, method, solver)
    fe = weighted_fit(y, v, x, 0.0)
    q = float(np.sum(fe.weights * fe.resid**2))
    dfq = k - p
    q_pvalue = float(stats.chi2.sf(q, dfq)) if dfq > 0 else math.nan
    if dfq <= 0:
        i2 = h2 = math.nan
    elif method == "FE":
        i2 = max(0.0, 100.0 * (q - dfq) / q) if q > 0 else 0.0
        h2 = q / dfq
    else:
        typical = dfq / trace_p(fe, x)
        i2 = 100.0 * tau2 / (typical + tau2)
        h2 = (typical + tau2) / typical
    fit = weighted_fit(y, v, x, tau2)
    cov = fit.cov_unscaled
    df = math.inf
    if knha and dfq > 0:
        s2 = float(np.sum(fit.weights * fit.resid**2)) / dfq
        cov = cov * s2
        df = float(dfq)
    return _Fit(fit.coef, cov, tau2, q, q_pvalue, i2, h2, df)


def _quantile(level: float, df: float) -> float:
    upper = 0.5 + level / 2.0
    return float(stats.norm.ppf(upper) if math.isinf(df) else stats.t.ppf(upper, df))


def _two_sided(stat: float, df: float) -> float:
    if math.isnan(stat):
        return math.nan
    return float(2 * (stats.norm.sf(abs(stat)) if math.isinf(df) else stats.t.sf(abs(stat), df)))


#: Variances with a median outside [2**-_SCALE_BITS, 2**_SCALE_BITS] are rescaled first.
_SCALE_BITS = 60


def _unit(v: FloatArray) -> float:
    """Return a power of two ``s`` such that ``v / s**2`` has a median near 1 (often 1.0)."""
    exponent = float(np.median(np.log2(v)))  # the median of the logs cannot overflow
    if abs(exponent) <= _SCALE_BITS:
        return 1.0
    return math.ldexp(1.0, round(exponent / 2))


def _all_finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _degenerate_message(v: FloatArray, reason: str) -> str:
    low, high = float(np.min(v)), float(np.max(v))
    return (
        f"cannot be computed in double precision ({reason}; variances from {low:.3g} to "
        f"{high:.3g}); rescale the effects or leave out the extreme ones"
    )


#: What a failure of the arithmetic looks like: the numbers, not the program, are at fault.
_NUMERIC_FAILURES = (ArithmeticError, np.linalg.LinAlgError, ValueError)


def _check_level(level: float) -> float:
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must lie strictly between 0 and 1")
    return float(level)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, kw_only=True)
class PooledEffect(Record):
    """Result of :func:`pool_effects`: one pooled effect with its heterogeneity.

    Attributes
    ----------
    estimate, se : float
        Pooled effect and its standard error (Knapp-Hartung scaled when ``knha``).
    ci_low, ci_high, ci_level : float
        Confidence interval (normal, or t with ``k - 1`` degrees of freedom when ``knha``).
    statistic, pvalue : float
        z (or t) statistic of the test that the pooled effect is zero, and its two-sided p-value.
    df : float
        Degrees of freedom of the t reference (``inf`` for z).
    tau2 : float
        Between-study variance (0 for ``"FE"``).
    i2 : float
        I^2 in percent, as metafor.
    h2 : float
        H^2, as metafor.
    q, q_pvalue : float
        Cochran's Q (fixed-effect weights) and its chi-square p-value with ``k - 1`` df.
    k : int
        Number of effects.
    method : str
        ``"DL"``, ``"REML"``, ``"PM"`` or ``"FE"``.
    knha : bool
        Whether the Knapp-Hartung adjustment was applied.
    status : str
        ``"ok"``, ``"single_effect"`` (k = 1: the effect itself, tau^2 = 0, Q = 0), or
        ``"degenerate"`` (the numbers overflow double precision; every number is NaN).
    pi_low, pi_high : float
        Prediction interval for the effect of a new study (task):
        ``estimate +/- crit * sqrt(se^2 + tau2)``, as metafor's ``predict()`` (NaN for k = 1).
    tau2_ci_low, tau2_ci_high : float
        Q-profile confidence interval of tau^2, as metafor's ``confint()`` (NaN for ``"FE"``
        and k = 1; see :func:`~transferscope.stats.tau2.tau2_qprofile`).
    message : str
        Why the status is not ``"ok"`` (empty otherwise).
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    ci_level: float
    statistic: float
    pvalue: float
    df: float
    tau2: float
    i2: float
    h2: float
    q: float
    q_pvalue: float
    k: int
    method: str
    knha: bool
    status: str
    pi_low: float = math.nan
    pi_high: float = math.nan
    tau2_ci_low: float = math.nan
    tau2_ci_high: float = math.nan
    message: str = ""


@overload
def pool_effects(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    *,
    clusters: None = None,
    robust: bool = False,
    method: PoolMethod | str | None = None,
    knha: bool = False,
    ci_level: float = 0.95,
    solver: Solver | str = "metafor",
) -> PooledEffect: ...


@overload
def pool_effects(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    *,
    clusters: npt.ArrayLike | Sequence[Any],
    robust: bool = False,
    method: PoolMethod | str | None = None,
    knha: bool = False,
    ci_level: float = 0.95,
    solver: Solver | str = "metafor",
) -> MultilevelEffect: ...


def pool_effects(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    *,
    clusters: npt.ArrayLike | Sequence[Any] | None = None,
    robust: bool = False,
    method: PoolMethod | str | None = None,
    knha: bool = False,
    ci_level: float = 0.95,
    solver: Solver | str = "metafor",
) -> PooledEffect | MultilevelEffect:
    """Pool effects by random-effects (or fixed-effect) meta-analysis, as metafor's ``rma()``.

    With ``clusters`` the effects are nested in clusters (tasks in suites) and pooled by the
    three-level model of :mod:`~transferscope.stats.multilevel`
    (``rma.mv(yi, vi, random = ~ 1 | cluster/effect)``), with CR2 cluster-robust errors when
    ``robust``.

    Parameters
    ----------
    effects : array_like, shape (k,)
        Effect sizes (e.g. per-task gains).
    variances : array_like, shape (k,)
        Their sampling variances (squared standard errors), all positive.
    clusters : array_like, shape (k,), optional
        Cluster label of each effect (e.g. its task's suite): the three-level model.
    robust : bool, default False
        With ``clusters``: CR2 cluster-robust errors with Satterthwaite degrees of freedom
        (metafor's ``robust(..., clubSandwich = TRUE)``).
    method : {"DL", "REML", "PM", "FE"}, optional
        tau^2 estimator: DerSimonian-Laird (the default without ``clusters``), restricted
        maximum likelihood (the default, and the only one, with ``clusters``), Paule-Mandel, or
        fixed effect (tau^2 = 0).
    knha : bool, default False
        Knapp-Hartung adjustment of the standard error with a t-based interval.
    ci_level : float, default 0.95
        Confidence level of the interval.
    solver : {"metafor", "exact"}, default "metafor"
        ``"metafor"`` reproduces rma()'s REML and PM iterations (and so its numbers);
        ``"exact"`` solves their equations to machine precision (see the module docstring).

    Returns
    -------
    PooledEffect or MultilevelEffect
        Frozen result (a :class:`~transferscope.stats.multilevel.MultilevelEffect` with
        ``clusters``); ``summary()`` is a one-row DataFrame of its fields. Inputs that double
        precision cannot pool give ``status="degenerate"`` with a message (see the module
        docstring), not an exception.

    Raises
    ------
    InputError
        Empty input, lengths that differ, non-finite values or non-positive variances; with
        ``clusters``, labels of the wrong length or another ``method`` than REML.
    """
    if clusters is not None:
        if method is not None and check_method(method) != "REML":
            raise InputError(f"the three-level model is fitted by REML, not {method!r}")
        return pool_multilevel(effects, variances, clusters, robust=robust, ci_level=ci_level)
    if robust:
        raise InputError("robust=True needs clusters (cluster-robust errors)")
    method = check_method("DL" if method is None else method)
    level = _check_level(ci_level)
    y, v = _as_inputs(effects, variances)
    with np.errstate(all="ignore"):
        unit = _unit(v)
        result = _pool(y / unit, v / unit / unit, method, bool(knha), level, str(solver))
        if unit == 1.0 or result.status == "degenerate":
            return _checked_pool(result, v)
        return _checked_pool(
            replace(
                result,
                estimate=result.estimate * unit,
                se=result.se * unit,
                ci_low=result.ci_low * unit,
                ci_high=result.ci_high * unit,
                tau2=result.tau2 * unit * unit,
                pi_low=result.pi_low * unit,
                pi_high=result.pi_high * unit,
                tau2_ci_low=result.tau2_ci_low * unit * unit,
                tau2_ci_high=result.tau2_ci_high * unit * unit,
            ),
            v,
        )


def _checked_pool(result: PooledEffect, v: FloatArray) -> PooledEffect:
    """Return the result, or a degenerate one when a number that must be finite is not."""
    if result.status == "degenerate":
        return result
    needed = [result.estimate, result.se, result.ci_low, result.ci_high, result.tau2]
    if result.k > 1:
        needed.append(result.q)
    if _all_finite(*needed) and result.se > 0:
        return result
    what = "the pooled estimate or its standard error is not finite"
    return _degenerate_pool(result.k, result.method, result.knha, result.ci_level, v, what)


def _degenerate_pool(
    k: int, method: str, knha: bool, level: float, v: FloatArray, what: str
) -> PooledEffect:
    nan = math.nan
    return PooledEffect(
        estimate=nan,
        se=nan,
        ci_low=nan,
        ci_high=nan,
        ci_level=level,
        statistic=nan,
        pvalue=nan,
        df=nan,
        tau2=nan,
        i2=nan,
        h2=nan,
        q=nan,
        q_pvalue=nan,
        k=k,
        method=method,
        knha=knha,
        status="degenerate",
        message=_degenerate_message(v, what),
    )


def _pool(
    y: FloatArray, v: FloatArray, method: str, knha: bool, level: float, solver: str
) -> PooledEffect:
    k = y.size
    if k == 1:
        se = math.sqrt(v[0])
        z = _quantile(level, math.inf)
        return PooledEffect(
            estimate=float(y[0]),
            se=se,
            ci_low=float(y[0]) - z * se,
            ci_high=float(y[0]) + z * se,
            ci_level=level,
            statistic=float(y[0]) / se,
            pvalue=_two_sided(float(y[0]) / se, math.inf),
            df=math.inf,
            tau2=0.0,
            i2=math.nan,
            h2=math.nan,
            q=0.0,
            q_pvalue=math.nan,
            k=1,
            method=method,
            knha=bool(knha),
            status="single_effect",
        )
    try:
        fit = _fit(y, v, np.ones((k, 1)), method, knha, solver)
    except _NUMERIC_FAILURES as exc:
        return _degenerate_pool(k, method, knha, level, v, f"the fit failed: {exc}")
    est = float(fit.coef[0])
    se = math.sqrt(float(fit.cov[0, 0]))
    crit = _quantile(level, fit.df)
    stat = est / se if se > 0 else math.nan
    spread = math.sqrt(se**2 + fit.tau2)
    tau2_ci = (math.nan, math.nan)
    if method != "FE":
        # the interval of tau^2 is an extra: when double precision cannot profile it, it is
        # left empty and the pooled effect stands
        with contextlib.suppress(*_NUMERIC_FAILURES):
            tau2_ci = tau2_qprofile(y, v, np.ones((k, 1)), fit.tau2, level)
    return PooledEffect(
        estimate=est,
        se=se,
        ci_low=est - crit * se,
        ci_high=est + crit * se,
        ci_level=level,
        statistic=stat,
        pvalue=_two_sided(stat, fit.df),
        df=fit.df,
        tau2=fit.tau2,
        i2=fit.i2,
        h2=fit.h2,
        q=fit.q,
        q_pvalue=fit.q_pvalue,
        k=k,
        method=method,
        knha=bool(knha),
        status="ok",
        pi_low=est - crit * spread,
        pi_high=est + crit * spread,
        tau2_ci_low=tau2_ci[0],
        tau2_ci_high=tau2_ci[1],
    )


@dataclass(frozen=True, kw_only=True)
class MetaRegression(Record):
    """Result of :func:`meta_regression`: a mixed-effects meta-regression on one moderator.

    Attributes
    ----------
    terms : tuple of str
        Coefficient names: ``"intercept"`` then ``"moderator[LEVEL]"`` per non-reference level
        (categorical moderator, reference = first level in sorted order) or ``"moderator"``.
    coef, se : tuple of float
        Coefficients and their standard errors (Knapp-Hartung scaled when ``knha``).
    ci_level : float
        Confidence level of the intervals in :meth:`summary`.
    df : float
        Degrees of freedom of the t reference (``inf`` for z).
    tau2 : float
        Residual between-study variance.
    qm, qm_pvalue : float
        Omnibus Wald test of all moderator coefficients (chi-square with ``p - 1`` df; an F test
        with ``(p - 1, k - p)`` df when ``knha``, where ``qm`` is the F statistic).
    qe, qe_pvalue : float
        Test of residual heterogeneity (chi-square with ``k - p`` df).
    i2, h2 : float
        Residual I^2 (percent) and H^2.
    k, p : int
        Number of effects and of coefficients.
    method : str
        tau^2 estimator.
    knha : bool
        Whether the Knapp-Hartung adjustment was applied.
    status : str
        ``"ok"``, ``"saturated"`` when ``k <= p`` (no residual degrees of freedom: tau^2 is
        set to zero and the tests are undefined), or ``"degenerate"`` (the numbers overflow
        double precision; every number is NaN).
    message : str
        Why the status is not ``"ok"`` (empty otherwise).
    """

    terms: tuple[str, ...]
    coef: tuple[float, ...]
    se: tuple[float, ...]
    ci_level: float
    df: float
    tau2: float
    qm: float
    qm_pvalue: float
    qe: float
    qe_pvalue: float
    i2: float
    h2: float
    k: int
    p: int
    method: str
    knha: bool
    status: str
    message: str = ""

    def summary(self) -> pd.DataFrame:
        """One row per coefficient.

        Returns
        -------
        pandas.DataFrame
            Columns ``term``, ``estimate``, ``se``, ``statistic``, ``pvalue``, ``ci_low``,
            ``ci_high``, ``ci_level``.
        """
        crit = _quantile(self.ci_level, self.df)
        rows = []
        for term, b, se in zip(self.terms, self.coef, self.se, strict=True):
            stat = b / se if se > 0 else math.nan
            rows.append(
                {
                    "term": term,
                    "estimate": b,
                    "se": se,
                    "statistic": stat,
                    "pvalue": _two_sided(stat, self.df),
                    "ci_low": b - crit * se,
                    "ci_high": b + crit * se,
                    "ci_level": self.ci_level,
                }
            )
        return pd.DataFrame(rows)


def _design(moderator: npt.ArrayLike | Sequence[Any], k: int) -> tuple[FloatArray, list[str]]:
    values = np.asarray(moderator, dtype=object).ravel()
    if values.size != k:
        raise InputError(f"{values.size} moderator values but {k} effects (expected one each)")
    if any(val is None or (isinstance(val, float) and math.isnan(val)) for val in values):
        raise InputError("the moderator has missing values (expected one value per effect)")
    if all(isinstance(val, int | float | np.integer | np.floating) for val in values):
        column = values.astype(np.float64)
        return np.column_stack([np.ones(k), column]), ["intercept", "moderator"]
    labels = np.array([str(val) for val in values])
    levels = sorted(set(labels.tolist()))
    if len(levels) < 2:
        raise InputError(f"the moderator has one level ({levels[0]!r}); expected at least two")
    cols = [np.ones(k)] + [(labels == level).astype(np.float64) for level in levels[1:]]
    return np.column_stack(cols), ["intercept"] + [f"moderator[{lv}]" for lv in levels[1:]]


@overload
def meta_regression(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    moderator: npt.ArrayLike | Sequence[Any],
    *,
    clusters: None = None,
    robust: bool = False,
    method: PoolMethod | str = "REML",
    knha: bool = False,
    ci_level: float = 0.95,
    solver: Solver | str = "metafor",
) -> MetaRegression: ...


@overload
def meta_regression(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    moderator: npt.ArrayLike | Sequence[Any],
    *,
    clusters: npt.ArrayLike | Sequence[Any],
    robust: bool = False,
    method: PoolMethod | str = "REML",
    knha: bool = False,
    ci_level: float = 0.95,
    solver: Solver | str = "metafor",
) -> MultilevelRegression: ...


def meta_regression(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    moderator: npt.ArrayLike | Sequence[Any],
    *,
    clusters: npt.ArrayLike | Sequence[Any] | None = None,
    robust: bool = False,
    method: PoolMethod | str = "REML",
    knha: bool = False,
    ci_level: float = 0.95,
    solver: Solver | str = "metafor",
) -> MetaRegression | MultilevelRegression:
    """Mixed-effects meta-regression on one moderator, as ``rma(yi, vi, mods = ~ moderator)``.

    Parameters
    ----------
    effects : array_like, shape (k,)
        Effect sizes.
    variances : array_like, shape (k,)
        Their sampling variances, all positive.
    moderator : array_like, shape (k,)
        Numbers (a continuous moderator) or labels (a factor; dummy-coded against the first
        level in sorted order, like R's ``factor()``).
    clusters : array_like, shape (k,), optional
        Cluster label of each effect: the three-level model of
        :mod:`~transferscope.stats.multilevel` (``rma.mv(yi, vi, mods, random = ~ 1 |
        cluster/effect)``), fitted by REML.
    robust : bool, default False
        With ``clusters``: CR2 cluster-robust errors with Satterthwaite degrees of freedom.
    method : {"REML", "DL", "PM", "FE"}, default "REML"
        Estimator of the residual tau^2 (REML only with ``clusters``).
    knha : bool, default False
        Knapp-Hartung adjustment (t tests, F omnibus test).
    ci_level : float, default 0.95
        Confidence level for :meth:`MetaRegression.summary`.
    solver : {"metafor", "exact"}, default "metafor"
        How REML and PM are solved (see :func:`pool_effects`).

    Returns
    -------
    MetaRegression or MultilevelRegression
        Frozen result with coefficients, standard errors, tau^2 (or the two variances of the
        three-level model) and the omnibus test QM; ``status="degenerate"`` with a message
        when double precision cannot hold the numbers (without ``clusters``).

    Raises
    ------
    InputError
        Bad effects or variances (see :func:`pool_effects`), or a moderator of the wrong length,
        with missing values or with a single level.
    """
    method = check_method(method)
    level = _check_level(ci_level)
    y, v = _as_inputs(effects, variances)
    k = y.size
    x, terms = _design(moderator, k)
    p = x.shape[1]
    if np.linalg.matrix_rank(x) < p:
        raise InputError("the moderator is constant (expected values that differ)")
    if clusters is not None:
        if method != "REML":
            raise InputError(f"the three-level model is fitted by REML, not {method!r}")
        labels = np.asarray(clusters, dtype=object).ravel()
        if labels.size != k:
            raise InputError(f"{labels.size} cluster labels but {k} effects (expected one each)")
        return regression_fit(y, v, x, terms, labels, robust=robust, ci_level=level)
    if robust:
        raise InputError("robust=True needs clusters (cluster-robust errors)")
    with np.errstate(all="ignore"):
        unit = _unit(v)
        try:
            result = _regression(
                y / unit, v / unit / unit, x, terms, method, bool(knha), level, str(solver)
            )
        except _NUMERIC_FAILURES as exc:
            reason = f"the fit failed: {exc}"
            return _degenerate_regression(terms, k, p, method, bool(knha), level, v, reason)
    if unit != 1.0:
        result = replace(
            result,
            coef=tuple(c * unit for c in result.coef),
            se=tuple(s * unit for s in result.se),
            tau2=result.tau2 * unit * unit,
        )
    tests = (result.qe,) if result.status == "saturated" else (result.qm, result.qe)
    if _all_finite(*result.coef, *result.se, result.tau2, *tests):
        return result
    return _degenerate_regression(
        terms,
        k,
        p,
        method,
        bool(knha),
        level,
        v,
        "a coefficient or its standard error is not finite",
    )


def _degenerate_regression(
    terms: list[str],
    k: int,
    p: int,
    method: str,
    knha: bool,
    level: float,
    v: FloatArray,
    what: str,
) -> MetaRegression:
    nan = math.nan
    return MetaRegression(
        terms=tuple(terms),
        coef=(nan,) * p,
        se=(nan,) * p,
        ci_level=level,
        df=nan,
        tau2=nan,
        qm=nan,
        qm_pvalue=nan,
        qe=nan,
        qe_pvalue=nan,
        i2=nan,
        h2=nan,
        k=k,
        p=p,
        method=method,
        knha=knha,
        status="degenerate",
        message=_degenerate_message(v, what),
    )


def _regression(
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    terms: list[str],
    method: str,
    knha: bool,
    level: float,
    solver: str,
) -> MetaRegression:
    k, p = x.shape
    fit = _fit(y, v, x, method, knha, solver)
    coef = fit.coef
    se = np.sqrt(np.diag(fit.cov))
    sub = slice(1, p)
    b = coef[sub]
    wald = float(b @ np.linalg.solve(fit.cov[sub, sub], b))
    m = p - 1
    if k <= p:
        qm, qm_p, status = wald, math.nan, "saturated"
    elif knha:
        qm = wald / m
        qm_p, status = float(stats.f.sf(qm, m, k - p)), "ok"
    else:
        qm, qm_p, status = wald, float(stats.chi2.sf(wald, m)), "ok"
    return MetaRegression(
        terms=tuple(terms),
        coef=tuple(float(c) for c in coef),
        se=tuple(float(s) for s in se),
        ci_level=level,
        df=fit.df,
        tau2=fit.tau2,
        qm=qm,
        qm_pvalue=qm_p,
        qe=fit.q,
        qe_pvalue=fit.q_pvalue,
        i2=fit.i2,
        h2=fit.h2,
        k=k,
        p=p,
        method=method,
        knha=knha,
        status=status,
    )
