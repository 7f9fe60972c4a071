"""Random-effects meta-analysis and meta-regression (numpy/scipy kernels, no pandas input).

The estimators follow R's metafor (``rma()``), whose reference values the tests reproduce:

- ``"FE"``: fixed effect, weights ``1 / v_i`` (tau^2 = 0).
- ``"DL"``: DerSimonian-Laird, the moment estimator
  ``tau^2 = max(0, (Q - (k - p)) / (sum w - tr((X'WX)^-1 X'W^2X)))``.
- ``"REML"``: restricted maximum likelihood: the root of the REML estimating equation
  ``y'PPy - tr(P) = 0`` with ``P = W - WX(X'WX)^-1X'W`` and ``W = diag(1 / (v_i + tau^2))``;
  zero when the equation is negative at zero (the boundary maximum).
- ``"PM"``: Paule-Mandel, the root of the generalized Q equation
  ``sum w_i (y_i - x_i'b)^2 = k - p``; zero when Q at zero is already below ``k - p``.

``solver="metafor"`` (the default) repeats metafor's algorithms step for step, so that the numbers
are R's: REML by Fisher scoring from the Hedges estimate until tau^2 changes by less than 1e-5
(with step halving at the boundary and metafor's check of the likelihood at zero), PM by R's
``uniroot()`` (Brent's zeroin, tolerance eps^0.25) on ``[0, max(100, 10 mad(y)^2)]``. These
stopping rules are loose: for a small tau^2 metafor's answer can differ from the exact root by
more than 1e-6 relative (a REML boundary maximum of 0 can come out as 5e-6).
``solver="exact"`` instead finds the roots by Brent's method on a bracket to machine precision
(and returns exactly zero at the boundary); when metafor's iteration fails (no convergence in 100
steps, or a PM root above its interval) the exact solution is used.

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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats

from transferscope.errors import InputError

PoolMethod = Literal["DL", "REML", "PM", "FE"]
POOL_METHODS: tuple[str, ...] = ("DL", "REML", "PM", "FE")
Solver = Literal["metafor", "exact"]
SOLVERS: tuple[str, ...] = ("metafor", "exact")

_EPS = float(np.finfo(np.float64).eps)
# metafor's rma() defaults: convergence threshold of Fisher scoring, uniroot() tolerance, iterations
_METAFOR_THRESHOLD = 1e-5
_METAFOR_TOL = _EPS**0.25
_METAFOR_MAXITER = 100

FloatArray = npt.NDArray[np.float64]


def _json_safe(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, tuple | list):
        return [_json_safe(v) for v in value]
    return value


def _check_method(method: str) -> str:
    name = str(method).upper()
    if name not in POOL_METHODS:
        raise InputError(f"unknown pooling method {method!r}; expected one of {POOL_METHODS}")
    return name


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


# --------------------------------------------------------------------------- kernels


@dataclass(frozen=True)
class _WLS:
    """Weighted least squares at a given tau^2."""

    coef: FloatArray
    cov_unscaled: FloatArray  # (X'WX)^-1
    weights: FloatArray
    resid: FloatArray


def _wls(y: FloatArray, v: FloatArray, x: FloatArray, tau2: float) -> _WLS:
    w = 1.0 / (v + tau2)
    xtw = x.T * w
    inv = np.asarray(np.linalg.inv(xtw @ x), dtype=np.float64)
    coef = inv @ (xtw @ y)
    return _WLS(coef, inv, w, y - x @ coef)


def _trace_p(fit: _WLS, x: FloatArray) -> float:
    w = fit.weights
    return float(np.sum(w) - np.trace(fit.cov_unscaled @ ((x.T * w**2) @ x)))


def _reml_score(y: FloatArray, v: FloatArray, x: FloatArray, tau2: float) -> float:
    """``y'PPy - tr(P)``: twice the derivative of the restricted log-likelihood in tau^2."""
    fit = _wls(y, v, x, tau2)
    return float(np.sum((fit.weights * fit.resid) ** 2) - _trace_p(fit, x))


def _pm_equation(y: FloatArray, v: FloatArray, x: FloatArray, tau2: float) -> float:
    fit = _wls(y, v, x, tau2)
    return float(np.sum(fit.weights * fit.resid**2) - (y.size - x.shape[1]))


def _root_from_zero(func: Any, start: float) -> float:
    """Root of a function positive at zero and negative for large tau^2, to machine precision."""
    hi = max(start, 1e-8)
    for _ in range(200):
        if func(hi) < 0:
            break
        hi *= 4.0
    else:  # pragma: no cover - both equations are negative for large tau^2
        return math.nan
    root = optimize.brentq(func, 0.0, hi, xtol=1e-300, rtol=4 * _EPS, maxiter=500)
    return float(root)


def _trace_pp(fit: _WLS, x: FloatArray) -> float:
    """``tr(PP)`` from p x p products only."""
    w = fit.weights
    inv = fit.cov_unscaled
    m2 = inv @ ((x.T * w**2) @ x)
    m3 = inv @ ((x.T * w**3) @ x)
    return float(np.sum(w**2) - 2.0 * np.trace(m3) + np.trace(m2 @ m2))


def _reml_loglik(y: FloatArray, v: FloatArray, x: FloatArray, tau2: float) -> float:
    k, p = x.shape
    fit = _wls(y, v, x, tau2)
    logdet = np.linalg.slogdet((x.T * fit.weights) @ x)[1]
    rss = float(np.sum(fit.weights * fit.resid**2))
    return float(
        -0.5 * (k - p) * math.log(2 * math.pi)
        - 0.5 * np.sum(np.log(v + tau2))
        - 0.5 * logdet
        - 0.5 * rss
    )


def _reml_fisher_scoring(y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    """REML as metafor: Fisher scoring from the Hedges estimate, change below 1e-5, step halving.

    Returns NaN when it does not converge within 100 iterations.
    """
    k, p = x.shape
    hat = x @ np.linalg.solve(x.T @ x, x.T)
    resid = y - hat @ y
    hedges = (float(resid @ resid) - float(np.sum((1.0 - np.diag(hat)) * v))) / (k - p)
    tau2 = max(0.0, hedges)
    change = _METAFOR_THRESHOLD + 1.0
    iterations = 0
    while change > _METAFOR_THRESHOLD:
        iterations += 1
        if iterations > _METAFOR_MAXITER:
            return math.nan
        old = tau2
        fit = _wls(y, v, x, tau2)
        score = float(np.sum((fit.weights * fit.resid) ** 2)) - _trace_p(fit, x)
        adj = score / _trace_pp(fit, x)
        while tau2 + adj < 0.0:  # step halving; underflows to 0 at the boundary, as in metafor
            adj /= 2.0
        tau2 = tau2 + adj
        change = abs(old - tau2)
    # metafor's ll0check: prefer the boundary when its restricted likelihood is clearly larger
    if (
        _reml_loglik(y, v, x, 0.0) - _reml_loglik(y, v, x, tau2) > _METAFOR_TOL
        and tau2 > _METAFOR_THRESHOLD
    ):
        tau2 = 0.0
    return max(0.0, tau2)


def _zeroin(func: Any, ax: float, bx: float, fa: float, fb: float, tol: float, maxit: int) -> float:
    """R's ``uniroot()`` (Brent's zeroin, ``R_zeroin2``), step for step."""
    a, b, c, fc = ax, bx, ax, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * _EPS * abs(b) + tol / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2.0) and p < abs(prev_step * q / 2.0):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = func(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return math.nan


def _pm_uniroot(y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    """Paule-Mandel as metafor: ``uniroot`` on [0, max(100, 10 mad(y)^2)], tol eps^0.25."""
    med = float(np.median(y))
    mad = 1.4826 * float(np.median(np.abs(y - med)))
    hi = max(100.0, 10.0 * mad**2)
    f_lo = _pm_equation(y, v, x, 0.0)
    f_hi = _pm_equation(y, v, x, hi)
    if f_hi > 0:
        return math.nan
    return _zeroin(
        lambda t: _pm_equation(y, v, x, t), 0.0, hi, f_lo, f_hi, _METAFOR_TOL, _METAFOR_MAXITER
    )


def estimate_tau2(
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    method: PoolMethod | str = "DL",
    solver: Solver | str = "metafor",
) -> float:
    """Estimate the between-study variance tau^2 of a (meta-)regression.

    Parameters
    ----------
    y : ndarray, shape (k,)
        Effects.
    v : ndarray, shape (k,)
        Their sampling variances (positive).
    x : ndarray, shape (k, p)
        Design matrix whose first column is the intercept (a column of ones for a plain
        meta-analysis).
    method : {"DL", "REML", "PM", "FE"}
        Estimator (see the module docstring).
    solver : {"metafor", "exact"}, default "metafor"
        How REML and PM are solved: ``"metafor"`` repeats rma()'s iterations and stopping rules
        (so that the numbers are R's); ``"exact"`` finds the root to machine precision.

    Returns
    -------
    float
        tau^2 >= 0 (exactly zero at the boundary and for ``"FE"``).
    """
    method = _check_method(method)
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; expected one of {SOLVERS}")
    k, p = x.shape
    if method == "FE" or k <= p:
        return 0.0
    y = y - float(np.mean(y))  # as metafor: centring changes nothing with an intercept
    fe = _wls(y, v, x, 0.0)
    q = float(np.sum(fe.weights * fe.resid**2))
    dl = max(0.0, (q - (k - p)) / _trace_p(fe, x))
    if method == "DL":
        return dl
    start = max(dl, float(np.var(y)) + float(np.mean(v)))
    if method == "REML":
        tau2 = _reml_fisher_scoring(y, v, x) if solver == "metafor" else math.nan
        if math.isnan(tau2):
            if _reml_score(y, v, x, 0.0) <= 0:
                return 0.0
            tau2 = _root_from_zero(lambda t: _reml_score(y, v, x, t), start)
        return tau2
    # PM
    if _pm_equation(y, v, x, 0.0) < 0:
        return 0.0
    tau2 = _pm_uniroot(y, v, x) if solver == "metafor" else math.nan
    if math.isnan(tau2):
        tau2 = _root_from_zero(lambda t: _pm_equation(y, v, x, t), start)
    return tau2


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
    fe = _wls(y, v, x, 0.0)
    q = float(np.sum(fe.weights * fe.resid**2))
    dfq = k - p
    q_pvalue = float(stats.chi2.sf(q, dfq)) if dfq > 0 else math.nan
    if dfq <= 0:
        i2 = h2 = math.nan
    elif method == "FE":
        i2 = max(0.0, 100.0 * (q - dfq) / q) if q > 0 else 0.0
        h2 = q / dfq
    else:
        typical = dfq / _trace_p(fe, x)
        i2 = 100.0 * tau2 / (typical + tau2)
        h2 = (typical + tau2) / typical
    fit = _wls(y, v, x, tau2)
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


def _check_level(level: float) -> float:
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must lie strictly between 0 and 1")
    return float(level)


# --------------------------------------------------------------------------- results


class _Record:
    """Shared behaviour of the frozen results: JSON-safe record, summary frame, HTML."""

    def to_record(self) -> dict[str, Any]:
        """One JSON-safe dict (NaN as ``None``; tuples as lists).

        Returns
        -------
        dict
            Field name to plain Python value.
        """
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    def summary(self) -> pd.DataFrame:
        """Tabular summary; see the class docstring for its columns.

        Returns
        -------
        pandas.DataFrame
            A tidy frame.
        """
        return pd.DataFrame([asdict(self)])  # type: ignore[call-overload]

    def _repr_html_(self) -> str:
        return str(self.summary().to_html(index=False))


@dataclass(frozen=True)
class PooledEffect(_Record):
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
        ``"ok"`` or ``"single_effect"`` (k = 1: the effect itself, tau^2 = 0, Q = 0).
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


def pool_effects(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    method: PoolMethod | str = "DL",
    knha: bool = False,
    level: float = 0.95,
    solver: Solver | str = "metafor",
) -> PooledEffect:
    """Pool effects by random-effects (or fixed-effect) meta-analysis, as metafor's ``rma()``.

    Parameters
    ----------
    effects : array_like, shape (k,)
        Effect sizes (e.g. per-task gains).
    variances : array_like, shape (k,)
        Their sampling variances (squared standard errors), all positive.
    method : {"DL", "REML", "PM", "FE"}, default "DL"
        tau^2 estimator: DerSimonian-Laird, restricted maximum likelihood, Paule-Mandel, or
        fixed effect (tau^2 = 0).
    knha : bool, default False
        Knapp-Hartung adjustment of the standard error with a t-based interval.
    level : float, default 0.95
        Confidence level of the interval.
    solver : {"metafor", "exact"}, default "metafor"
        ``"metafor"`` reproduces rma()'s REML and PM iterations (and so its numbers);
        ``"exact"`` solves their equations to machine precision (see the module docstring).

    Returns
    -------
    PooledEffect
        Frozen result; ``summary()`` is a one-row DataFrame of its fields.

    Raises
    ------
    InputError
        Empty input, lengths that differ, non-finite values or non-positive variances.
    """
    method = _check_method(method)
    level = _check_level(level)
    y, v = _as_inputs(effects, variances)
    k = y.size
    if k == 1:
        se = math.sqrt(v[0])
        z = _quantile(level, math.inf)
        return PooledEffect(
            float(y[0]), se, float(y[0]) - z * se, float(y[0]) + z * se, level,
            float(y[0]) / se, _two_sided(float(y[0]) / se, math.inf), math.inf,
            0.0, math.nan, math.nan, 0.0, math.nan, 1, method, bool(knha), "single_effect",
        )  # fmt: skip
    fit = _fit(y, v, np.ones((k, 1)), method, knha, solver)
    est = float(fit.coef[0])
    se = math.sqrt(float(fit.cov[0, 0]))
    crit = _quantile(level, fit.df)
    stat = est / se if se > 0 else math.nan
    return PooledEffect(
        est, se, est - crit * se, est + crit * se, level, stat, _two_sided(stat, fit.df),
        fit.df, fit.tau2, fit.i2, fit.h2, fit.q, fit.q_pvalue, k, method, bool(knha), "ok",
    )  # fmt: skip


@dataclass(frozen=True)
class MetaRegression(_Record):
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
        ``"ok"``, or ``"saturated"`` when ``k <= p`` (no residual degrees of freedom: tau^2 is
        set to zero and the tests are undefined).
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


def meta_regression(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    moderator: npt.ArrayLike | Sequence[Any],
    method: PoolMethod | str = "REML",
    knha: bool = False,
    level: float = 0.95,
    solver: Solver | str = "metafor",
) -> MetaRegression:
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
    method : {"REML", "DL", "PM", "FE"}, default "REML"
        Estimator of the residual tau^2.
    knha : bool, default False
        Knapp-Hartung adjustment (t tests, F omnibus test).
    level : float, default 0.95
        Confidence level for :meth:`MetaRegression.summary`.
    solver : {"metafor", "exact"}, default "metafor"
        How REML and PM are solved (see :func:`pool_effects`).

    Returns
    -------
    MetaRegression
        Frozen result with coefficients, standard errors, tau^2 and the omnibus test QM.

    Raises
    ------
    InputError
        Bad effects or variances (see :func:`pool_effects`), or a moderator of the wrong length,
        with missing values or with a single level.
    """
    method = _check_method(method)
    level = _check_level(level)
    y, v = _as_inputs(effects, variances)
    k = y.size
    x, terms = _design(moderator, k)
    p = x.shape[1]
    if np.linalg.matrix_rank(x) < p:
        raise InputError("the moderator is constant (expected values that differ)")
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
        tuple(terms), tuple(float(c) for c in coef), tuple(float(s) for s in se), level,
        fit.df, fit.tau2, qm, qm_p, fit.q, fit.q_pvalue, fit.i2, fit.h2, k, p, method,
        bool(knha), status,
    )  # fmt: skip


# --------------------------------------------------------------------------- resampling kernel


def _bisect_rows(func: Any, lo: FloatArray, hi: FloatArray, iterations: int = 200) -> FloatArray:
    """Vectorized bisection of decreasing-through-zero functions, one root per row."""
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        positive = func(mid) > 0
        lo = np.where(positive, mid, lo)
        hi = np.where(positive, hi, mid)
        if np.all(hi - lo <= 4 * _EPS * np.maximum(hi, 1e-300)):
            break
    return 0.5 * (lo + hi)


def pool_resampled(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike | None,
    counts: npt.ArrayLike,
    method: PoolMethod | str = "DL",
) -> FloatArray:
    """Pooled estimates of many resamples at once (for bootstraps), one per row of ``counts``.

    Each resample is the effects repeated ``counts[b, i]`` times, pooled as :func:`pool_effects`
    would pool that list with ``solver="exact"``. Without variances (``None`` or any NaN), the
    pooled estimate is the count-weighted mean (equal weights per effect).

    Parameters
    ----------
    effects : array_like, shape (k,)
        Effects (finite).
    variances : array_like, shape (k,), or None
        Their sampling variances.
    counts : array_like, shape (B, k)
        Non-negative multiplicities, e.g. ``np.bincount`` of resampled indices.
    method : {"DL", "REML", "PM", "FE"}, default "DL"
        tau^2 estimator.

    Returns
    -------
    ndarray, shape (B,)
        Pooled estimate per resample; NaN where a resample has no effect.
    """
    method = _check_method(method)
    y = np.asarray(effects, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 2 or n.shape[1] != y.size:
        raise InputError(f"counts must have shape (B, {y.size}), not {n.shape}")
    total = n.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if variances is None or np.any(~np.isfinite(np.asarray(variances, dtype=np.float64))):
            return np.asarray(np.where(total > 0, (n @ y) / total, np.nan))
        v = np.asarray(variances, dtype=np.float64)
        w0 = 1.0 / v
        sw = n @ w0
        mu0 = (n @ (w0 * y)) / sw
        q = n @ (w0 * y**2) - sw * mu0**2
        if method == "FE":
            tau2 = np.zeros(n.shape[0])
        elif method == "DL":
            denom = sw - (n @ w0**2) / sw
            tau2 = np.where(denom > 0, np.maximum(0.0, (q - (total - 1)) / denom), 0.0)
        else:

            def weights(tau: FloatArray) -> FloatArray:
                return np.asarray(1.0 / (v[None, :] + tau[:, None]))

            def equation(tau: FloatArray) -> FloatArray:
                w = weights(tau)
                nw = n * w
                s = nw.sum(axis=1)
                mu = (nw @ y) / s
                resid = y[None, :] - mu[:, None]
                if method == "PM":
                    return np.asarray((nw * resid**2).sum(axis=1) - (total - 1))
                return np.asarray((nw * w * resid**2).sum(axis=1) - (s - (nw * w).sum(axis=1) / s))

            zero = np.zeros(n.shape[0])
            active = (total > 1) & (equation(zero) > 0)
            hi = np.full(n.shape[0], max(float(np.var(y)) + float(np.mean(v)), 1e-8))
            for _ in range(200):
                grow = active & (equation(hi) > 0)
                if not grow.any():
                    break
                hi = np.where(grow, hi * 4.0, hi)
            root = _bisect_rows(equation, zero.copy(), hi)
            tau2 = np.where(active, root, 0.0)
        w = 1.0 / (v[None, :] + tau2[:, None])
        nw = n * w
        return np.asarray(np.where(total > 0, (nw @ y) / nw.sum(axis=1), np.nan))
